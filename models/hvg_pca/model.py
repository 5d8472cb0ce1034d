"""Baseline: log-normalised HVGs -> PCA (scIB's unintegrated embedding); gene loadings as gene embeddings."""

import anndata as ad
import numpy as np

from benchmark.data.preprocess import highly_variable, log_normalized, pca_with_loadings
from benchmark.model import Model

ARPACK_START = 0  # the seed of ARPACK's start vector: fixed, so the embedding does not depend on the run's seed


class HvgPca(Model):
    def embed(self, adata: ad.AnnData) -> np.ndarray:
        hvg = highly_variable(log_normalized(adata), int(self.params["n_top_genes"]))
        scores, self.loadings = pca_with_loadings(hvg, int(self.params["n_comps"]), ARPACK_START)
        return scores

    def gene_embeddings(self) -> tuple[list[str], np.ndarray]:
        """The PCA's gene loadings (highly variable genes only; other genes have none)."""
        return list(self.loadings.index), self.loadings.to_numpy(dtype=np.float32)
