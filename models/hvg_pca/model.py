"""Baseline: log-normalised HVGs -> PCA (scIB's unintegrated embedding)."""

import anndata as ad
import numpy as np

from benchmark.data.preprocess import highly_variable, log_normalized, pca
from benchmark.model import Model


class HvgPca(Model):
    def embed(self, adata: ad.AnnData) -> np.ndarray:
        hvg = highly_variable(log_normalized(adata), int(self.params["n_top_genes"]))
        return pca(hvg, int(self.params["n_comps"]), self.seed)
