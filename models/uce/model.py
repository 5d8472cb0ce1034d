"""UCE: the published model and token table, loaded into the in-repo encoder.

``original_filter: true`` (params) applies what ``eval_single_anndata.py`` does by default (``--filter``):
``sc.pp.filter_genes(min_cells=10)`` over the dataset, then ``sc.pp.filter_cells(min_genes=25)``. The
genes are dropped as there; the cells the original would drop are still embedded, from their remaining
genes, because the benchmark needs a row for every cell of the prepared dataset: they are counted in
the run's notes (``original_filter``) and logged.
"""

import logging

import anndata as ad
import numpy as np
from scipy import sparse

from benchmark.errors import NotApplicable
from models.foundation.plugin import FoundationPlugin
from models.foundation.published import Published
from models.foundation.vocabulary import GeneMap

log = logging.getLogger(__name__)
MIN_CELLS = 10  # a gene is kept when at least this many cells express it
MIN_GENES = 25  # the original drops cells expressing fewer of the kept genes
ROWS_AT_ONCE = 65_536  # cells counted at a time: memory does not grow with the dataset


def expression_counts(X: sparse.spmatrix, kept_genes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per gene, the cells expressing it (> 0); per cell, the expressed genes among ``kept_genes`` (all if None)."""
    n_cells, n_genes = X.shape
    cells_per_gene = np.zeros(n_genes, dtype=np.int64)
    genes_per_cell = np.zeros(n_cells, dtype=np.int64)
    for start in range(0, n_cells, ROWS_AT_ONCE):
        block = sparse.csr_matrix(X[start : start + ROWS_AT_ONCE])
        positive = block.data > 0
        cells_per_gene += np.bincount(block.indices[positive], minlength=n_genes)
        if kept_genes is not None:
            positive &= kept_genes[block.indices]
        rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
        genes_per_cell[start : start + block.shape[0]] = np.bincount(rows[positive], minlength=block.shape[0])
    return cells_per_gene, genes_per_cell


def original_filter(adata: ad.AnnData, gene_map: GeneMap) -> tuple[GeneMap, dict]:
    """``gene_map`` without the genes UCE's default filter drops, and what the filter did."""
    cells_per_gene, _ = expression_counts(adata.X)
    kept_genes = cells_per_gene >= MIN_CELLS
    _, genes_per_cell = expression_counts(adata.X, kept_genes)
    keep = kept_genes[gene_map.columns]
    filtered = GeneMap(gene_map.columns[keep], gene_map.token_ids[keep], gene_map.n_dataset_genes,
                       gene_map.n_vocabulary_genes)  # fmt: skip
    report = {
        "min_cells": MIN_CELLS,
        "min_genes": MIN_GENES,
        "genes_dropped": int((~kept_genes).sum()),
        "matched_genes_dropped": int((~keep).sum()),
        "cells_below_min_genes": int((genes_per_cell < MIN_GENES).sum()),
    }
    if not len(filtered.columns):
        raise NotApplicable(
            f"uce: original_filter keeps none of the model's genes (each is expressed in fewer than {MIN_CELLS} "
            "cells); set `model_params.uce.original_filter: false`"
        )
    return filtered, report


class Uce(FoundationPlugin):
    family = "uce"

    def _setup(self, adata: ad.AnnData) -> tuple[Published, GeneMap, dict]:
        published, gene_map, extraction = super()._setup(adata)
        if self.params.get("original_filter"):
            gene_map, report = original_filter(adata, gene_map)
            self.notes["original_filter"] = report
            self.notes["gene_overlap"] = gene_map.report()
            if report["cells_below_min_genes"]:
                log.warning(
                    "uce: %d cells express fewer than %d genes after the gene filter; the original script drops "
                    "them, here they are embedded from their remaining genes",
                    report["cells_below_min_genes"], MIN_GENES,
                )  # fmt: skip
        return published, gene_map, extraction
