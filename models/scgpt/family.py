"""The scGPT family: binned values, gene + value embeddings, masked value regression plus MVC.

Embeddings: gene embedding (LayerNorm'd) + continuous value encoder (Linear-ReLU-Linear-LayerNorm of the
binned value); no positions. Heads: the expression decoder (MLP -> value, GEP) and the cell-embedding
decoder (MVC) that predicts the values from the <cls> output. Objective: 40% of the non-<cls> values set
to -1; mean squared error on the binned values from each gene's output (GEP) plus from <cls> (MVC).
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.foundation.family import Family, Masked, Shape, token_table
from models.foundation.tokenizers import BinnedValueTokenizer, TokenBatch, Tokenizer


class GeneValueEmbeddings(nn.Module):
    def __init__(self, vocab_size: int, hidden: int, pad_id: int, dropout: float, max_value: float = 512.0) -> None:
        super().__init__()
        self.gene = nn.Embedding(vocab_size, hidden, padding_idx=pad_id)
        self.gene_norm = nn.LayerNorm(hidden)
        self.value_in = nn.Linear(1, hidden)
        self.value_out = nn.Linear(hidden, hidden)
        self.value_norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)
        self.max_value = max_value

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        values = batch.values.clamp(max=self.max_value).unsqueeze(-1)
        encoded = self.dropout(self.value_norm(self.value_out(F.relu(self.value_in(values)))))
        return self.gene_norm(self.gene(batch.ids)) + encoded


class ValueRegressionHead(nn.Module):
    """MLP hidden -> hidden -> 1 (LeakyReLU), as scGPT's expression decoder."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(), nn.Linear(hidden, 1))  # fmt: skip

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.net(hidden).squeeze(-1)


class CellExpressionHead(nn.Module):
    """scGPT's MVC decoder: each gene's value predicted from the cell embedding (<cls>) as
    <W · sigmoid(Linear(gene embedding)), cell embedding>; it is what trains the <cls> token."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gene2query = nn.Linear(hidden, hidden)
        self.W = nn.Linear(hidden, hidden, bias=False)

    def forward(self, gene_embeddings: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        queries = self.W(torch.sigmoid(self.gene2query(gene_embeddings)))
        return (queries * cell.unsqueeze(1)).sum(-1)


class ScGPT(Family):
    name = "scgpt"
    mask_rate = 0.4
    predicts_tokens = False
    # PyTorch's default init, as the published code: with BERT's zero biases Linear(1, d) -> ReLU is
    # proportional to the value and the LayerNorm after it erases the value
    default_init = ("value_in", "value_out")
    weight_files = ("best_model.pt",)

    def tokenizer(self, vocabulary, corpus, params: dict) -> Tokenizer:
        return BinnedValueTokenizer(vocabulary, int(params["context"]), int(params.get("n_bins", 51)))

    def layers(self, shape: Shape) -> dict[str, nn.Module]:
        hidden = shape.encoder.hidden
        return {"embeddings": GeneValueEmbeddings(shape.n_tokens, hidden, shape.pad_id, shape.encoder.dropout),
                "head": ValueRegressionHead(hidden), "cell_head": CellExpressionHead(hidden)}  # fmt: skip

    def corrupt(self, batch: TokenBatch, chosen: torch.Tensor, how: torch.Tensor, generator: torch.Generator,
                mask_id: int, n_tokens: int) -> Masked:  # fmt: skip
        values = batch.values.masked_fill(chosen, -1.0)
        return Masked(TokenBatch(batch.ids, batch.genes, values, batch.keep, batch.special), chosen)

    def extra_loss(self, model: nn.Module, batch: TokenBatch, masked: Masked, last: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """MVC: the masked values predicted from the <cls> output."""
        genes = model.embeddings.gene_norm(model.embeddings.gene(batch.ids))
        cell = model.cell_head(genes, last[:, 0])[masked.chosen]
        return F.mse_loss(cell.float(), target)

    def baseline_key(self, batch: TokenBatch) -> torch.Tensor:
        return batch.ids  # the gene token

    def gene_table(self, model: nn.Module, tokenizer: Tokenizer) -> np.ndarray:
        return token_table(model.embeddings.gene.weight, tokenizer)


FAMILY = ScGPT()
