"""The UCE family (published checkpoints only): protein-embedding tokens, projected, plus sinusoidal
positions; no pretraining head or objective here.

UCE passes its padding mask as floats, which PyTorch adds (+1) to padded keys' logits instead of masking
them; that is replicated, so a cell's embedding depends a little on the padding of its batch, as in the
original.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from models.foundation.family import Family, Shape
from models.foundation.tokenizers import TokenBatch


class ProteinTokenEmbeddings(nn.Module):
    """UCE: rows of a fixed protein-embedding token table, L2-normalised, projected (Linear, GELU,
    LayerNorm), scaled by sqrt(hidden), plus fixed sinusoidal positions (a buffer, as published)."""

    def __init__(self, n_tokens: int, token_dim: int, hidden: int, max_positions: int) -> None:
        super().__init__()
        self.table = nn.Embedding(n_tokens, token_dim)
        self.project = nn.Linear(token_dim, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.register_buffer("positions", sinusoidal_positions(max_positions, hidden))

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        tokens = F.normalize(self.table(batch.ids), dim=-1)
        x = self.norm(F.gelu(self.project(tokens))) * self.project.out_features**0.5
        return x + self.positions[: batch.ids.shape[1]]


def sinusoidal_positions(length: int, hidden: int) -> torch.Tensor:
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, hidden, 2, dtype=torch.float32) * (-math.log(10000.0) / hidden))
    table = torch.zeros(length, hidden)
    table[:, 0::2], table[:, 1::2] = torch.sin(position * frequency), torch.cos(position * frequency)
    return table


class Uce(Family):
    name = "uce"
    fixed_inputs = ("embeddings.table.weight",)  # the ESM2 protein embeddings: fixed gene features, never trained
    weight_files = ("4layer_model.torch", "33l_8ep_1024t_1280.torch")

    def layers(self, shape: Shape) -> dict[str, nn.Module]:
        embeddings = ProteinTokenEmbeddings(shape.n_tokens, shape.token_dim, shape.encoder.hidden, shape.max_positions)
        return {"embeddings": embeddings, "head": nn.Identity()}

    def hidden_states(self, model: nn.Module, batch: TokenBatch, masked: torch.Tensor | None) -> list[torch.Tensor]:
        x = model.embeddings(batch)
        return model.encoder(x, torch.ones_like(batch.keep), (~batch.keep).to(x.dtype))


FAMILY = Uce()
