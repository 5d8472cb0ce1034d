"""The scBERT family: expression-bin tokens over the whole panel, gene-position embedding, bin MLM.

Embeddings: bin-token embedding + learned gene-position embedding. Head: classification over the bins.
Objective: 15% of the expressed (non-zero bin) positions; 90% -> <mask>, 10% kept; cross-entropy.
"""

import torch
from torch import nn

from models.foundation.family import Family, Masked, Shape
from models.foundation.tokenizers import ScBertTokenizer, TokenBatch, Tokenizer


class BinGeneEmbeddings(nn.Module):
    def __init__(self, n_tokens: int, n_positions: int, hidden: int) -> None:
        super().__init__()
        self.token = nn.Embedding(n_tokens, hidden)
        self.gene = nn.Embedding(n_positions, hidden)

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        return self.token(batch.ids) + self.gene(batch.genes)


class ScBERT(Family):
    name = "scbert"
    mask_rate = 0.15

    def tokenizer(self, vocabulary, corpus, params: dict) -> Tokenizer:
        return ScBertTokenizer(vocabulary, int(params.get("bin_num", 5)))

    def layers(self, shape: Shape) -> dict[str, nn.Module]:
        hidden = shape.encoder.hidden
        return {"embeddings": BinGeneEmbeddings(shape.n_tokens, shape.n_genes + 2, hidden),
                "head": nn.Linear(hidden, shape.n_tokens)}  # fmt: skip

    def maskable(self, batch: TokenBatch) -> torch.Tensor:
        """Expressed genes only (a non-zero bin)."""
        return super().maskable(batch) & (batch.ids > 0)

    def target_classes(self, tokenizer: Tokenizer) -> torch.Tensor:
        """The expressed bins, 1 to ``bin_num``."""
        return torch.arange(1, tokenizer.bin_num + 1)

    def corrupt(self, batch: TokenBatch, chosen: torch.Tensor, how: torch.Tensor, generator: torch.Generator,
                mask_id: int, n_tokens: int) -> Masked:  # fmt: skip
        ids = batch.ids.clone()
        ids[chosen & (how < 0.9)] = mask_id
        return Masked(TokenBatch(ids, batch.genes, batch.values, batch.keep, batch.special), chosen)


FAMILY = ScBERT()
