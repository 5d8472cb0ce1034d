"""Negative control: a random embedding."""

import anndata as ad
import numpy as np

from benchmark.model import Model


class RandomEmbedding(Model):
    def embed(self, adata: ad.AnnData) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        return rng.standard_normal((adata.n_obs, int(self.params["n_dims"]))).astype(np.float32)
