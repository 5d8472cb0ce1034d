"""Pretraining objectives: what each family masks and how it scores the reconstruction.

geneformer: 15% of gene tokens; 80% -> <mask>, 10% -> a random gene, 10% kept; cross-entropy.
scgpt: 40% of the non-<cls> values set to -1; mean squared error on the binned values, from each
  gene's output (GEP) plus from the <cls> cell embedding (MVC).
scbert: 15% of the expressed (non-zero bin) positions; 90% -> <mask>, 10% kept; cross-entropy.
scfoundation: 30% of the gene values replaced by the mask embedding; mean squared error.
"""

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from models.foundation.architectures import FoundationModel
from models.foundation.tokenizers import TokenBatch

MASK_RATES = {"geneformer": 0.15, "scgpt": 0.4, "scbert": 0.15, "scfoundation": 0.3}
FIRST_GENE_ID = 3  # ids 0-2 are <pad>, <mask>, <cls>


@dataclass
class Masked:
    batch: TokenBatch  # the corrupted input
    chosen: torch.Tensor  # positions to reconstruct
    embedding_mask: torch.Tensor | None = None  # scFoundation: positions whose value embedding is masked


def mask_batch(family: str, batch: TokenBatch, generator: torch.Generator, mask_id: int, vocab_size: int,
               rate: float | None = None) -> Masked:  # fmt: skip
    rate = MASK_RATES[family] if rate is None else rate
    candidates = batch.keep & ~batch.special
    if family == "scbert":
        candidates = candidates & (batch.ids > 0)
    draw = torch.rand(candidates.shape, generator=generator, device=candidates.device)
    chosen = candidates & (draw < rate)
    how = torch.rand(candidates.shape, generator=generator, device=candidates.device)
    if family in ("geneformer", "scbert"):
        ids = batch.ids.clone()
        ids[chosen & (how < (0.8 if family == "geneformer" else 0.9))] = mask_id
        if family == "geneformer":
            random_ids = torch.randint(FIRST_GENE_ID, vocab_size, ids.shape, generator=generator, device=ids.device)
            randomised = chosen & (how >= 0.8) & (how < 0.9)
            ids[randomised] = random_ids[randomised]
        return Masked(TokenBatch(ids, batch.genes, batch.values, batch.keep, batch.special), chosen)
    if family == "scgpt":
        values = batch.values.masked_fill(chosen, -1.0)
        return Masked(TokenBatch(batch.ids, batch.genes, values, batch.keep, batch.special), chosen)
    return Masked(batch, chosen, embedding_mask=chosen)


def masked_loss(model: FoundationModel, batch: TokenBatch, generator: torch.Generator, mask_id: int,
                rate: float | None = None) -> torch.Tensor:  # fmt: skip
    """Mask as the model's family does and return the reconstruction loss of the masked positions."""
    vocab_size = model.embeddings.word.num_embeddings if model.family == "geneformer" else 0
    masked = mask_batch(model.family, batch, generator, mask_id, vocab_size, rate)
    if not masked.chosen.any():
        return torch.zeros((), device=batch.ids.device, requires_grad=True)
    last = model.hidden_states(masked.batch, masked.embedding_mask)[-1]
    output = model.predict(last)[masked.chosen]
    if model.family in ("geneformer", "scbert"):
        return F.cross_entropy(output, batch.ids[masked.chosen])
    target = batch.values[masked.chosen]
    loss = F.mse_loss(output, target)
    if model.family == "scgpt":
        genes = model.embeddings.gene_norm(model.embeddings.gene(batch.ids))
        loss = loss + F.mse_loss(model.cell_head(genes, last[:, 0])[masked.chosen], target)
    return loss
