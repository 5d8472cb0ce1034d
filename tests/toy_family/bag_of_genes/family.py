"""A toy scFM family, the worked example of models/README.md ("Adding an scFM family"): a cell is the set
of its most expressed genes (no order, no positions), some genes are masked and predicted back.

Tokens: the cell's ``context`` top genes (Geneformer's ranking: counts normalised by depth and by the gene's
median), no <cls>. Embeddings: the
gene token only, so the encoder sees a set. Head: an untied Linear over the vocabulary. Objective: 25%
of the genes -> <mask>, cross-entropy. Everything else (mean pooling in model.yaml, the held-out
check's baseline: gene frequencies) is the interface's default.
"""

import numpy as np
import torch
from torch import nn

from models.foundation.family import Family, Masked, Shape, token_table
from models.foundation.tokenizers import RankValueTokenizer, TokenBatch, Tokenizer


class GeneSetEmbeddings(nn.Module):
    def __init__(self, n_tokens: int, hidden: int, pad_id: int) -> None:
        super().__init__()
        self.token = nn.Embedding(n_tokens, hidden, padding_idx=pad_id)

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        return self.token(batch.ids)


class BagOfGenes(Family):
    name = "bag_of_genes"
    mask_rate = 0.25

    def tokenizer(self, vocabulary, corpus, params: dict) -> Tokenizer:
        return RankValueTokenizer(vocabulary, int(params["context"]), corpus.nonzero_medians(), cls=False)

    def layers(self, shape: Shape) -> dict[str, nn.Module]:
        hidden = shape.encoder.hidden
        return {"embeddings": GeneSetEmbeddings(shape.n_tokens, hidden, shape.pad_id),
                "head": nn.Linear(hidden, shape.n_tokens)}  # fmt: skip

    def corrupt(self, batch: TokenBatch, chosen: torch.Tensor, how: torch.Tensor, generator: torch.Generator,
                mask_id: int, n_tokens: int) -> Masked:  # fmt: skip
        ids = batch.ids.masked_fill(chosen, mask_id)
        return Masked(TokenBatch(ids, batch.genes, batch.values, batch.keep, batch.special), chosen)

    def gene_table(self, model: nn.Module, tokenizer: Tokenizer) -> np.ndarray:
        return token_table(model.embeddings.token.weight, tokenizer)


FAMILY = BagOfGenes()
