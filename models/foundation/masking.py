"""Pretraining objectives: a family decides which positions it may mask (``maskable``), how it hides
them (``corrupt``), what they should be reconstructed as (``target``) and the loss (``reconstruction_loss``
plus an ``extra_loss`` such as scGPT's MVC); see each family's module (``models/<family>/family.py``).
Shared here: the draw of the masked positions, at the family's ``mask_rate`` unless a rate is given.
"""

from dataclasses import dataclass

import torch

from models.foundation.architectures import FoundationModel
from models.foundation.families import family_of
from models.foundation.family import Masked
from models.foundation.tokenizers import TokenBatch


def mask_batch(family: str, batch: TokenBatch, generator: torch.Generator, mask_id: int, vocab_size: int,
               rate: float | None = None) -> Masked:  # fmt: skip
    """Choose positions among the family's maskable ones with probability ``rate`` and corrupt them;
    ``vocab_size`` bounds the random tokens of families that randomise some masked positions."""
    spec = family_of(family)
    rate = spec.mask_rate if rate is None else rate
    candidates = spec.maskable(batch)
    draw = torch.rand(candidates.shape, generator=generator, device=candidates.device)
    chosen = candidates & (draw < rate)
    how = torch.rand(candidates.shape, generator=generator, device=candidates.device)
    return spec.corrupt(batch, chosen, how, generator, mask_id, vocab_size)


@dataclass
class Reconstruction:
    """The model's outputs at the masked positions of one batch and what they should have been."""

    masked: Masked
    output: torch.Tensor  # logits (token targets) or values (value targets), one row per masked position
    target: torch.Tensor  # token ids or values
    last: torch.Tensor  # the last layer's hidden states of the corrupted batch


def reconstruct(model: FoundationModel, batch: TokenBatch, generator: torch.Generator, mask_id: int,
                rate: float | None = None) -> Reconstruction | None:  # fmt: skip
    """Mask as the model's family does and predict the masked positions; None when nothing was masked."""
    masked = mask_batch(model.family, batch, generator, mask_id, model.n_tokens, rate)
    if not masked.chosen.any():
        return None
    last = model.hidden_states(masked.batch, masked.embedding_mask)[-1]
    output = model.predict(last[masked.chosen])
    return Reconstruction(masked, output, model.spec.target(batch)[masked.chosen], last)


def masked_loss(model: FoundationModel, batch: TokenBatch, generator: torch.Generator, mask_id: int,
                rate: float | None = None) -> torch.Tensor:  # fmt: skip
    """The pretraining loss: the reconstruction loss of the masked positions plus the family's extra term."""
    result = reconstruct(model, batch, generator, mask_id, rate)
    if result is None:
        return torch.zeros((), device=batch.ids.device, requires_grad=True)
    loss = model.spec.reconstruction_loss(result.output, result.target)
    extra = model.spec.extra_loss(model, batch, result.masked, result.last, result.target)
    return loss if extra is None else loss + extra
