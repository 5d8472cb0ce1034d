"""The family interface: everything that makes one in-repo scFM family differ from another.

Shared code (``architectures``, ``pretrain``, ``masking``, ``heldout``, ``extract``, ``plugin``) asks a
``Family`` object and never compares family names. A family is one module, ``models/<name>/family.py``,
holding ``FAMILY = MyFamily()``, plus one line in ``models/foundation/families.py`` (the registry).
The defaults below are those most families share; a family overrides what it does differently.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.foundation.tokenizers import TokenBatch, Tokenizer
from models.foundation.transformer import EncoderConfig
from models.foundation.vocabulary import Vocabulary

if TYPE_CHECKING:
    from models.foundation.corpus import Corpus


@dataclass(frozen=True)
class Shape:
    """The sizes a family's input embeddings and heads are built from."""

    encoder: EncoderConfig
    n_tokens: int  # rows of the token table
    n_genes: int  # vocabulary genes
    pad_id: int
    max_positions: int
    token_types: int = 2
    token_dim: int = 0  # width of a fixed token table (UCE's protein embeddings)


@dataclass
class Masked:
    """A corrupted batch and the positions to reconstruct."""

    batch: TokenBatch  # the corrupted input
    chosen: torch.Tensor  # positions to reconstruct
    embedding_mask: torch.Tensor | None = None  # positions whose input embedding is the mask (scFoundation)


class Family:
    """One scFM family. Objective defaults: masked token ids, cross-entropy, no extra term."""

    name = ""
    mask_rate: float | None = None  # the published masking rate; None: published checkpoints only
    predicts_tokens = True  # the target of a masked position: its token id (else its value)
    default_init: tuple[str, ...] = ()  # layers of ``model.embeddings`` that keep PyTorch's default init
    fixed_inputs: tuple[str, ...] = ()  # parameters never re-initialised (fixed gene features)
    weight_files: tuple[str, ...] = ()  # the published checkpoint's weight file names

    def tokenizer(self, vocabulary: Vocabulary, corpus: "Corpus", params: dict) -> Tokenizer:
        """The tokenizer for pretraining on ``corpus`` with model.yaml ``params``."""
        raise ValueError(f"the {self.name} family runs from published checkpoints only: it has no pretraining")

    def layers(self, shape: Shape) -> dict[str, nn.Module]:
        """``embeddings``, ``head`` and any other family module, in registration (and initialisation) order."""
        raise NotImplementedError

    def hidden_states(self, model: nn.Module, batch: TokenBatch, masked: torch.Tensor | None) -> list[torch.Tensor]:
        """Every layer's output; ``masked``: the positions whose input embedding is the mask (if the family has one)."""
        return model.encoder(model.embeddings(batch), batch.keep)

    def predict(self, model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        return model.head(hidden)

    def maskable(self, batch: TokenBatch) -> torch.Tensor:
        """The positions the objective may mask: real gene tokens."""
        return batch.keep & ~batch.special

    def corrupt(self, batch: TokenBatch, chosen: torch.Tensor, how: torch.Tensor, generator: torch.Generator,
                mask_id: int, n_tokens: int) -> Masked:  # fmt: skip
        """Hide the ``chosen`` positions; ``how`` is a uniform draw per position (e.g. mask, randomise or keep)."""
        raise NotImplementedError

    def target(self, batch: TokenBatch) -> torch.Tensor:
        """What each position should be reconstructed as (of the uncorrupted batch)."""
        return batch.ids if self.predicts_tokens else batch.values

    def reconstruction_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy for token targets, mean squared error for value targets."""
        if self.predicts_tokens:
            return F.cross_entropy(output.float(), target)
        return F.mse_loss(output.float(), target)

    def extra_loss(self, model: nn.Module, batch: TokenBatch, masked: Masked, last: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor | None:  # fmt: skip
        """A further pretraining term (scGPT's cell-level MVC); not part of the held-out check."""
        return None

    def baseline_key(self, batch: TokenBatch) -> torch.Tensor:
        """What the held-out check's marginal predictor conditions on: by default the masked gene."""
        return batch.genes

    def target_classes(self, tokenizer: Tokenizer) -> torch.Tensor:
        """The token ids a masked position can hold, which the marginal predictor smooths over (by
        default the vocabulary genes' tokens)."""
        return torch.from_numpy(tokenizer.gene_ids)

    def gene_table(self, model: nn.Module, tokenizer: Tokenizer) -> np.ndarray:
        """The input embedding of each vocabulary gene, in ``tokenizer.vocabulary.genes`` order."""
        return model.embeddings.gene.weight[: len(tokenizer.vocabulary.genes)].detach().cpu().numpy()


def token_table(table: torch.Tensor, tokenizer: Tokenizer) -> np.ndarray:
    """Rows of a token-indexed table at the vocabulary genes' token ids."""
    return table[torch.from_numpy(tokenizer.gene_ids).to(table.device)].detach().cpu().numpy()
