"""The four model families: input embeddings + the shared encoder + a pretraining head.

- Geneformer: BERT embeddings (gene token + learned position + token type 0, LayerNorm); MLM head
  (dense, activation, LayerNorm, decoder tied to the token embedding) over the gene vocabulary.
- scGPT: gene embedding (LayerNorm'd) + continuous value encoder (Linear-ReLU-Linear-LayerNorm of the
  binned value); no positions; expression decoder (MLP -> value) for masked value regression (GEP)
  and the cell-embedding decoder (MVC) that predicts the values from the <cls> output.
- scBERT: bin-token embedding + learned gene-position embedding; classification over bins.
- scFoundation: auto-discretised value embedding (soft assignment to 100 learned bins) + gene-position
  embedding; regression of masked values.
- UCE (published checkpoints only): protein-embedding tokens, projected, plus sinusoidal positions.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from models.foundation.tokenizers import TokenBatch
from models.foundation.transformer import ACTIVATIONS, EncoderConfig, TransformerEncoder


class BertEmbeddings(nn.Module):
    def __init__(self, vocab_size: int, hidden: int, max_positions: int, eps: float, pad_id: int,
                 token_types: int = 2) -> None:  # fmt: skip
        super().__init__()
        self.word = nn.Embedding(vocab_size, hidden, padding_idx=pad_id)
        self.position = nn.Embedding(max_positions, hidden)
        self.token_type = nn.Embedding(token_types, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        positions = torch.arange(batch.ids.shape[1], device=batch.ids.device)
        x = self.word(batch.ids) + self.position(positions)[None] + self.token_type.weight[0]
        return self.norm(x)


class MaskedTokenHead(nn.Module):
    """BERT's MLM head; its decoder is the token embedding (tied), passed in at call time."""

    def __init__(self, vocab_size: int, hidden: int, activation: str, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.activation = ACTIVATIONS[activation]
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: torch.Tensor, decoder: torch.Tensor) -> torch.Tensor:
        return self.norm(self.activation(self.dense(hidden))) @ decoder.T + self.bias


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


class BinGeneEmbeddings(nn.Module):
    def __init__(self, n_tokens: int, n_positions: int, hidden: int) -> None:
        super().__init__()
        self.token = nn.Embedding(n_tokens, hidden)
        self.gene = nn.Embedding(n_positions, hidden)

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        return self.token(batch.ids) + self.gene(batch.genes)


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


FIXED_INPUTS = ("embeddings.table.weight",)  # UCE's ESM2 protein embeddings: fixed gene features, never trained


def reinitialise(model: "FoundationModel", seed: int) -> None:
    """Replace a loaded model's weights by a fresh seeded initialisation (a published scFM's random-init
    twin), as at construction (``FoundationModel.initialise``; zeros for bare parameters such as the MLM
    bias and scFoundation's mask embedding). ``FIXED_INPUTS`` keep their values."""
    fixed = {name: p.detach().clone() for name, p in model.named_parameters() if name in FIXED_INPUTS}
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
    """Input embeddings + encoder + pretraining head of one family."""

    def __init__(self, family: str, encoder: EncoderConfig, n_tokens: int, n_genes: int, pad_id: int,
                 max_positions: int, token_types: int = 2, token_dim: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.family = family
        self.readout: nn.Module | None = None  # a published model's map from pooled state to cell embedding
        hidden = encoder.hidden
        if family == "geneformer":
            self.embeddings = BertEmbeddings(n_tokens, hidden, max_positions, encoder.eps, pad_id, token_types)
            self.head = MaskedTokenHead(n_tokens, hidden, encoder.activation, encoder.eps)
        elif family == "scgpt":
            self.embeddings = GeneValueEmbeddings(n_tokens, hidden, pad_id, encoder.dropout)
            self.head = ValueRegressionHead(hidden)
            self.cell_head = CellExpressionHead(hidden)
        elif family == "scbert":
            self.embeddings = BinGeneEmbeddings(n_tokens, n_genes + 2, hidden)
            self.head = nn.Linear(hidden, n_tokens)
        elif family == "scfoundation":
            self.embeddings = AutoBinEmbeddings(n_genes + 3, hidden)
            self.head = nn.Linear(hidden, 1)
        elif family == "uce":  # published checkpoints only: no pretraining head here
            self.embeddings = ProteinTokenEmbeddings(n_tokens, token_dim, hidden, max_positions)
            self.head = nn.Identity()
        else:
            raise ValueError(f"unknown model family {family!r}")
        self.encoder = TransformerEncoder(encoder)
        self.initialise()

    def initialise(self) -> None:
        """BERT's scheme everywhere except the value encoders, which keep PyTorch's default Linear
        initialisation as the published scGPT and scFoundation code does: with BERT's zero biases a
        Linear(1, d) -> ReLU/LeakyReLU map is proportional to the value, and the LayerNorm or a near-uniform
        softmax after it erases the value (every bin of a cell looked alike to an untrained model)."""
        self.apply(_init_weights)
        value_layers = {"scgpt": ("value_in", "value_out"), "scfoundation": ("mlp", "mlp2")}.get(self.family, ())
        for name in value_layers:
            getattr(self.embeddings, name).reset_parameters()

    def hidden_states(self, batch: TokenBatch, masked: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Every layer's output; ``masked`` (scFoundation) swaps those values' embeddings for the mask."""
        x = self.embeddings(batch, masked) if self.family == "scfoundation" else self.embeddings(batch)
        if self.family == "uce":  # UCE's float padding mask adds +1 to padded keys' logits instead of masking
            return self.encoder(x, torch.ones_like(batch.keep), (~batch.keep).to(x.dtype))
        return self.encoder(x, batch.keep)

    def predict(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.family == "geneformer":
            return self.head(hidden, self.embeddings.word.weight)
        out = self.head(hidden)
        return out.squeeze(-1) if self.family == "scfoundation" else out
