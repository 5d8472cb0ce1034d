"""The Geneformer (BERT) family: rank-value gene tokens, BERT embeddings, masked gene modelling.

Embeddings: gene token + learned position + token type 0, LayerNorm. Head: BERT's MLM head (dense,
activation, LayerNorm, decoder tied to the token embedding) over the gene vocabulary. Objective: 15% of
gene tokens; 80% -> <mask>, 10% -> a random gene, 10% kept; cross-entropy. LangCell and scCello
checkpoints are BERT models of this family.
"""

import numpy as np
import torch
from torch import nn

from models.foundation.family import Family, Masked, Shape, token_table
from models.foundation.tokenizers import RankValueTokenizer, TokenBatch, Tokenizer
from models.foundation.transformer import ACTIVATIONS

FIRST_GENE_ID = 3  # ids 0-2 are <pad>, <mask>, <cls>


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


class Geneformer(Family):
    name = "geneformer"
    mask_rate = 0.15
    weight_files = ("model.safetensors", "pytorch_model.bin")

    def tokenizer(self, vocabulary, corpus, params: dict) -> Tokenizer:
        return RankValueTokenizer(vocabulary, int(params["context"]), corpus.nonzero_medians(), cls=True)

    def layers(self, shape: Shape) -> dict[str, nn.Module]:
        encoder = shape.encoder
        return {
            "embeddings": BertEmbeddings(shape.n_tokens, encoder.hidden, shape.max_positions, encoder.eps,
                                         shape.pad_id, shape.token_types),
            "head": MaskedTokenHead(shape.n_tokens, encoder.hidden, encoder.activation, encoder.eps),
        }  # fmt: skip

    def predict(self, model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        return model.head(hidden, model.embeddings.word.weight)

    def corrupt(self, batch: TokenBatch, chosen: torch.Tensor, how: torch.Tensor, generator: torch.Generator,
                mask_id: int, n_tokens: int) -> Masked:  # fmt: skip
        ids = batch.ids.clone()
        ids[chosen & (how < 0.8)] = mask_id
        random_ids = torch.randint(FIRST_GENE_ID, n_tokens, ids.shape, generator=generator, device=ids.device)
        randomised = chosen & (how >= 0.8) & (how < 0.9)
        ids[randomised] = random_ids[randomised]
        return Masked(TokenBatch(ids, batch.genes, batch.values, batch.keep, batch.special), chosen)

    def baseline_key(self, batch: TokenBatch) -> torch.Tensor:
        """Nothing: which gene sits at a masked rank is predicted from the genes' frequencies."""
        return torch.zeros_like(batch.ids)

    def gene_table(self, model: nn.Module, tokenizer: Tokenizer) -> np.ndarray:
        return token_table(model.embeddings.word.weight, tokenizer)


FAMILY = Geneformer()
