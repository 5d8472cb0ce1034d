"""Baseline: log-normalised HVG expression as the cell representation."""

import anndata as ad
import numpy as np

from benchmark.data.preprocess import highly_variable, log_normalized
from benchmark.model import Model


class HvgExpression(Model):
    def embed(self, adata: ad.AnnData) -> np.ndarray:
        hvg = highly_variable(log_normalized(adata), int(self.params["n_top_genes"]))
        return np.asarray(hvg.X.toarray(), dtype=np.float32)
