"""The scFoundation family: auto-discretised continuous values, read-depth tokens, masked regression.

Embeddings: auto-discretisation (soft assignment of each value to 100 learned bins) + gene-position
embedding; a masked value's embedding is a learned mask vector. Head: a Linear to the value.
Objective: 30% of the gene values replaced by the mask embedding; mean squared error.
"""

import torch
from torch import nn
from torch.nn import functional as F

from models.foundation.family import Family, Masked, Shape
from models.foundation.tokenizers import ContinuousValueTokenizer, TokenBatch, Tokenizer


class AutoBinEmbeddings(nn.Module):
    """scFoundation's auto-discretisation: v -> softmax over learned bins -> mix of bin embeddings."""

    def __init__(self, n_positions: int, hidden: int, bins: int = 100) -> None:
        super().__init__()
        self.mlp = nn.Linear(1, bins)
        self.mlp2 = nn.Linear(bins, bins)
        self.bins = nn.Embedding(bins, hidden)
        self.mask = nn.Parameter(torch.zeros(hidden))
        self.gene = nn.Embedding(n_positions, hidden)

    def forward(self, batch: TokenBatch, masked: torch.Tensor | None = None) -> torch.Tensor:
        h = F.leaky_relu(self.mlp(batch.values.unsqueeze(-1)), 0.1)
        weights = torch.softmax(h + self.mlp2(h), dim=-1)
        values = weights @ self.bins.weight
        if masked is not None:
            values = torch.where(masked.unsqueeze(-1), self.mask.expand_as(values), values)
        return values + self.gene(batch.genes)


class ScFoundation(Family):
    name = "scfoundation"
    mask_rate = 0.3
    predicts_tokens = False
    # PyTorch's default init, as the published code: with BERT's zero biases Linear(1, bins) -> LeakyReLU is
    # proportional to the value and the near-uniform softmax after it erases the value
    default_init = ("mlp", "mlp2")
    weight_files = ("models.ckpt",)

    def tokenizer(self, vocabulary, corpus, params: dict) -> Tokenizer:
        return ContinuousValueTokenizer(vocabulary, int(params["context"]))

    def layers(self, shape: Shape) -> dict[str, nn.Module]:
        hidden = shape.encoder.hidden
        return {"embeddings": AutoBinEmbeddings(shape.n_genes + 3, hidden), "head": nn.Linear(hidden, 1)}

    def hidden_states(self, model: nn.Module, batch: TokenBatch, masked: torch.Tensor | None) -> list[torch.Tensor]:
        return model.encoder(model.embeddings(batch, masked), batch.keep)

    def predict(self, model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        return model.head(hidden).squeeze(-1)

    def corrupt(self, batch: TokenBatch, chosen: torch.Tensor, how: torch.Tensor, generator: torch.Generator,
                mask_id: int, n_tokens: int) -> Masked:  # fmt: skip
        return Masked(batch, chosen, embedding_mask=chosen)


FAMILY = ScFoundation()
