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
TOKEN_FAMILIES = ("geneformer", "scbert")  # they predict token ids; the others predict values


@dataclass
class Masked:
    batch: TokenBatch  # the corrupted input
    chosen: torch.Tensor  # positions to reconstruct
    embedding_mask: torch.Tensor | None = None  # scFoundation: positions whose value embedding is masked


def maskable(family: str, batch: TokenBatch) -> torch.Tensor:
    """The positions a family may mask: real gene tokens (scBERT: expressed ones only)."""
    candidates = batch.keep & ~batch.special
    return candidates & (batch.ids > 0) if family == "scbert" else candidates


def mask_batch(family: str, batch: TokenBatch, generator: torch.Generator, mask_id: int, vocab_size: int,
               rate: float | None = None) -> Masked:  # fmt: skip
    rate = MASK_RATES[family] if rate is None else rate
    candidates = maskable(family, batch)
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


@dataclass
class Reconstruction:
    """The model's outputs at the masked positions of one batch and what they should have been."""

    masked: Masked
    output: torch.Tensor  # logits (token families) or values (value families), one row per masked position
    target: torch.Tensor  # token ids or values
    last: torch.Tensor  # the last layer's hidden states of the corrupted batch


def reconstruct(model: FoundationModel, batch: TokenBatch, generator: torch.Generator, mask_id: int,
                rate: float | None = None) -> Reconstruction | None:  # fmt: skip
    """Mask as the model's family does and predict the masked positions; None when nothing was masked."""
    vocab_size = model.embeddings.word.num_embeddings if model.family == "geneformer" else 0
    masked = mask_batch(model.family, batch, generator, mask_id, vocab_size, rate)
    if not masked.chosen.any():
        return None
    last = model.hidden_states(masked.batch, masked.embedding_mask)[-1]
    output = model.predict(last)[masked.chosen]
    target = batch.ids[masked.chosen] if model.family in TOKEN_FAMILIES else batch.values[masked.chosen]
    return Reconstruction(masked, output, target, last)


def reconstruction_loss(family: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for the token families, mean squared error for the value families."""
    if family in TOKEN_FAMILIES:
        return F.cross_entropy(output.float(), target)
    return F.mse_loss(output.float(), target)


def masked_loss(model: FoundationModel, batch: TokenBatch, generator: torch.Generator, mask_id: int,
                rate: float | None = None) -> torch.Tensor:  # fmt: skip
    """The pretraining loss: the reconstruction loss of the masked positions (scGPT adds its MVC term)."""
    result = reconstruct(model, batch, generator, mask_id, rate)
    if result is None:
        return torch.zeros((), device=batch.ids.device, requires_grad=True)
    loss = reconstruction_loss(model.family, result.output, result.target)
    if model.family == "scgpt":
        genes = model.embeddings.gene_norm(model.embeddings.gene(batch.ids))
        cell = model.cell_head(genes, result.last[:, 0])[result.masked.chosen]
        loss = loss + F.mse_loss(cell.float(), result.target)
    return loss
