"""The in-repo scFM: a family's input embeddings + the shared encoder + the family's pretraining head.

What differs between families (embeddings, heads, how hidden states and predictions are computed) is
asked of the family object (``models/foundation/family.py``; the families: ``models/foundation/families.py``).
"""

import torch
from torch import nn

from models.foundation.families import family_of
from models.foundation.family import Shape
from models.foundation.tokenizers import TokenBatch
from models.foundation.transformer import EncoderConfig, TransformerEncoder


def _init_weights(module: nn.Module) -> None:
    """BERT's initialisation: N(0, 0.02) weights, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            nn.init.zeros_(module.weight[module.padding_idx])
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def reinitialise(model: "FoundationModel", seed: int) -> None:
    """Replace a loaded model's weights by a fresh seeded initialisation (a published scFM's random-init
    twin), as at construction (``FoundationModel.initialise``; zeros for bare parameters such as the MLM
    bias and scFoundation's mask embedding). The family's ``fixed_inputs`` keep their values."""
    fixed = {name: p.detach().clone() for name, p in model.named_parameters() if name in model.spec.fixed_inputs}
    covered = {id(p) for m in model.modules() if isinstance(m, nn.Linear | nn.Embedding | nn.LayerNorm)
               for p in m.parameters()}  # fmt: skip
    with torch.no_grad():
        for parameter in model.parameters():
            if id(parameter) not in covered:
                parameter.zero_()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.initialise()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name in fixed:
                parameter.copy_(fixed[name])


class FoundationModel(nn.Module):
    """Input embeddings + encoder + pretraining head of one family (``family``: its registered name)."""

    def __init__(self, family: str, encoder: EncoderConfig, n_tokens: int, n_genes: int, pad_id: int,
                 max_positions: int, token_types: int = 2, token_dim: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.family = family
        self.spec = family_of(family)
        self.n_tokens = n_tokens
        self.readout: nn.Module | None = None  # a published model's map from pooled state to cell embedding
        shape = Shape(encoder, n_tokens, n_genes, pad_id, max_positions, token_types, token_dim)
        for name, module in self.spec.layers(shape).items():
            self.add_module(name, module)
        self.encoder = TransformerEncoder(encoder)
        self.initialise()

    def initialise(self) -> None:
        """BERT's scheme everywhere except the family's ``default_init`` layers (value encoders), which keep
        PyTorch's default initialisation as the published code does."""
        self.apply(_init_weights)
        for name in self.spec.default_init:
            getattr(self.embeddings, name).reset_parameters()

    def hidden_states(self, batch: TokenBatch, masked: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Every layer's output; ``masked`` (scFoundation) swaps those values' embeddings for the mask."""
        return self.spec.hidden_states(self, batch, masked)

    def predict(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.spec.predict(self, hidden)
