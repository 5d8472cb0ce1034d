"""A pretraining corpus: raw counts of prepared datasets over one gene list (the vocabulary's genes)."""

from dataclasses import dataclass

import anndata as ad
import numpy as np
from scipy import sparse

from benchmark.errors import NotApplicable


@dataclass
class Corpus:
    counts: sparse.csr_matrix  # cells x genes, raw counts in ``genes`` order
    totals: np.ndarray  # each cell's total count over all of its dataset's genes
    genes: list[str]

    @property
    def n_cells(self) -> int:
        return self.counts.shape[0]

    def nonzero_medians(self) -> np.ndarray:
        """Per gene: the median of counts / total · 1e4 over the cells that express it (1 if none)."""
        normalised = sparse.csc_matrix(sparse.diags(1e4 / np.maximum(self.totals, 1.0)) @ self.counts)
        medians = np.ones(len(self.genes))
        for j in range(len(self.genes)):
            column = normalised.data[normalised.indptr[j] : normalised.indptr[j + 1]]
            if len(column):
                medians[j] = np.median(column)
        return medians


def build_corpus(datasets: list[ad.AnnData]) -> Corpus:
    """Stack prepared count datasets over the union of their genes (first-seen order)."""
    for data in datasets:
        if data.uns["dataset"]["x_kind"] != "counts":
            raise NotApplicable(f"pretraining needs raw counts; dataset '{data.uns['dataset']['id']}' has none")
    genes = list(dict.fromkeys(g for data in datasets for g in data.var_names))
    position = {g: i for i, g in enumerate(genes)}
    blocks, totals = [], []
    for data in datasets:
        X = sparse.csr_matrix(data.X)
        columns = np.array([position[g] for g in data.var_names])
        remap = sparse.csr_matrix(
            (np.ones(len(columns)), (np.arange(len(columns)), columns)), shape=(len(columns), len(genes))
        )
        blocks.append(X @ remap)
        totals.append(np.asarray(X.sum(axis=1)).ravel())
    return Corpus(sparse.csr_matrix(sparse.vstack(blocks)), np.concatenate(totals), genes)


def counts_over(adata: ad.AnnData, columns: np.ndarray, rows: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense counts of ``rows`` over the dataset ``columns`` and the cells' totals over all genes."""
    block = sparse.csr_matrix(adata.X[rows])
    return np.asarray(block[:, columns].todense(), dtype=np.float64), np.asarray(
        block.sum(axis=1), dtype=np.float64
    ).ravel()
