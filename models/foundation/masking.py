"""Pretraining objectives: what each family masks and how it scores the reconstruction."""

import torch
from torch.nn import functional as F

from models.foundation.architectures import FoundationModel
from models.foundation.tokenizers import TokenBatch

MASK_RATES = {"geneformer": 0.15, "scgpt": 0.4, "scbert": 0.15, "scfoundation": 0.3}


def _choose(candidates: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    draw = torch.rand(candidates.shape, generator=generator, device=candidates.device)
    return candidates & (draw < rate)


def masked_loss(model: FoundationModel, batch: TokenBatch, generator: torch.Generator, rate: float | None = None,
                mask_id: int = 1, n_genes_first_id: int = 3) -> torch.Tensor:  # fmt: skip
    """Mask a batch as the model's family does in pretraining and return the reconstruction loss.

    geneformer: 15% of gene tokens; 80% -> <mask>, 10% -> a random gene, 10% kept; cross-entropy.
    scgpt: a share of the non-<cls> values set to -1; mean squared error on the binned values.
    scbert: 15% of the expressed (non-zero bin) positions; 90% -> <mask>, 10% kept; cross-entropy.
    scfoundation: 30% of the gene values replaced by the mask embedding; mean squared error.
    """
    family = model.family
    rate = MASK_RATES[family] if rate is None else rate
    candidates = batch.keep & ~batch.special
    if family == "scbert":
        candidates = candidates & (batch.ids > 0)
    chosen = _choose(candidates, rate, generator)
    if not chosen.any():
        return torch.zeros((), device=batch.ids.device, requires_grad=True)
    if family in ("geneformer", "scbert"):
        ids = batch.ids.clone()
        draw = torch.rand(ids.shape, generator=generator, device=ids.device)
        replace_share = 0.8 if family == "geneformer" else 0.9
        ids[chosen & (draw < replace_share)] = mask_id
        if family == "geneformer":
            randomised = chosen & (draw >= 0.8) & (draw < 0.9)
            random_ids = torch.randint(n_genes_first_id, model.embeddings.word.num_embeddings, ids.shape,
                                       generator=generator, device=ids.device)  # fmt: skip
            ids[randomised] = random_ids[randomised]
        masked = TokenBatch(ids, batch.genes, batch.values, batch.keep, batch.special)
        logits = model.predict(model.hidden_states(masked)[-1])
        return F.cross_entropy(logits[chosen], batch.ids[chosen])
    if family == "scgpt":
        values = batch.values.masked_fill(chosen, -1.0)
        masked = TokenBatch(batch.ids, batch.genes, values, batch.keep, batch.special)
        prediction = model.predict(model.hidden_states(masked)[-1])
        return F.mse_loss(prediction[chosen], batch.values[chosen])
    prediction = model.predict(model.hidden_states(batch, masked=chosen)[-1])
    return F.mse_loss(prediction[chosen], batch.values[chosen])
