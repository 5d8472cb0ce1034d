"""Negative control: a random embedding of cells, and of genes (the gene-function control)."""

import anndata as ad
import numpy as np

from benchmark.model import Model


class RandomEmbedding(Model):
    def embed(self, adata: ad.AnnData) -> np.ndarray:
        self.genes = list(adata.var_names)
        rng = np.random.default_rng(self.seed)
        return rng.standard_normal((adata.n_obs, int(self.params["n_dims"]))).astype(np.float32)

    def gene_embeddings(self) -> tuple[list[str], np.ndarray]:
        rng = np.random.default_rng([self.seed, 1])
        return self.genes, rng.standard_normal((len(self.genes), int(self.params["n_dims"]))).astype(np.float32)
