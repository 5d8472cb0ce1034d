"""Cell and gene embeddings from an in-repo scFM, streamed over cells in length-sorted batches.

Pooling: ``cls`` (position 0), ``mean`` (over non-padding, non-special tokens), or ``all``
(scFoundation: concatenation of the S token, the T token, the max and the mean over gene tokens).
``layer`` indexes the hidden states: -1 = last layer, -2 = second-to-last (Geneformer's default).
Each cell's tokens come from a random stream seeded by (seed, cell index), so the embedding of a cell
does not depend on the batch or chunk it falls in.
"""

import anndata as ad
import numpy as np
import torch
from tqdm import tqdm

from models.foundation.architectures import FoundationModel
from models.foundation.corpus import counts_over
from models.foundation.tokenizers import CellTokens, TokenBatch, Tokenizer
from models.foundation.vocabulary import GeneMap

CHUNK_CELLS = 2048  # cells tokenized at a time: memory does not grow with the dataset


def pool(states: torch.Tensor, batch: TokenBatch, pooling: str) -> torch.Tensor:
    genes = (batch.keep & ~batch.special).unsqueeze(-1)
    if pooling == "cls":
        return states[:, 0]
    mean = (states * genes).sum(1) / genes.sum(1).clamp(min=1)
    if pooling == "mean":
        return mean
    if pooling == "all":
        lengths = batch.keep.sum(1)
        rows = torch.arange(len(states), device=states.device)
        source, target = states[rows, lengths - 1], states[rows, lengths - 2]
        maximum = states.masked_fill(~genes, float("-inf")).amax(1)
        return torch.cat([source, target, maximum, mean], dim=1)
    raise ValueError(f"unknown pooling {pooling!r}; use cls, mean or all")


@torch.no_grad()
def embed_cells(
    model: FoundationModel,
    tokenizer: Tokenizer,
    adata: ad.AnnData,
    gene_map: GeneMap,
    pooling: str,
    layer: int = -1,
    batch_size: int = 32,
    seed: int = 0,
    device: str = "cpu",
    normalize: bool = False,
    offset: int = 0,
) -> np.ndarray:
    """(n_cells, d) float32 embeddings of every cell of ``adata`` (raw counts in X).

    ``offset`` is the index of ``adata``'s first cell in the whole dataset (for embedding it in parts):
    cell i's random stream is seeded by (seed, offset + i).
    """
    model.eval().to(device)
    out = None
    for start in tqdm(range(0, adata.n_obs, CHUNK_CELLS), desc="embed", disable=adata.n_obs <= CHUNK_CELLS):
        rows = np.arange(start, min(start + CHUNK_CELLS, adata.n_obs))
        cells = tokenize_cells(tokenizer, adata, gene_map, rows, seed, offset)
        order = np.argsort([len(c.ids) for c in cells], kind="stable")
        for first in range(0, len(order), batch_size):
            members = order[first : first + batch_size]
            batch = tokenizer.collate([cells[m] for m in members]).to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
                states = model.hidden_states(batch)[layer]
            vectors = pool(states.float(), batch, pooling)
            if model.readout is not None:
                vectors = model.readout(vectors)
            if normalize:
                vectors = torch.nn.functional.normalize(vectors, dim=1)
            if out is None:
                out = np.zeros((adata.n_obs, vectors.shape[1]), dtype=np.float32)
            out[rows[members]] = vectors.cpu().numpy()
    return out


def cell_stream(seed: int, cell: int) -> np.random.Generator:
    """The random stream of one cell, seeded by (seed, the cell's index in the whole dataset)."""
    return np.random.default_rng([seed, cell])


def tokenize_cells(tokenizer: Tokenizer, adata: ad.AnnData, gene_map: GeneMap, rows: np.ndarray, seed: int,
                   offset: int = 0) -> list[CellTokens]:  # fmt: skip
    """Tokens of ``adata``'s cells ``rows``; cell i draws from a random stream seeded by (seed, offset + i)."""
    vocabulary = tokenizer.vocabulary
    slot_of = {gene: slot for slot, gene in enumerate(vocabulary.genes)}
    gene_slot = np.array([slot_of[vocabulary.tokens[t]] for t in gene_map.token_ids])
    counts, totals = counts_over(adata, gene_map.columns, rows)
    cells = []
    for i, cell in enumerate(rows):
        full = np.zeros(len(vocabulary.genes))
        full[gene_slot] = counts[i]
        cells.append(tokenizer.cell(full, totals[i], cell_stream(seed, offset + int(cell))))
    return cells


def gene_embeddings(model: FoundationModel, tokenizer: Tokenizer) -> tuple[list[str], np.ndarray]:
    """The input embedding of every vocabulary gene (the family's token or gene-position table)."""
    return tokenizer.vocabulary.genes, model.spec.gene_table(model, tokenizer)
