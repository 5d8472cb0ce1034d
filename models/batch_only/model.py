"""Negative control for batch correction: the batch label and noise."""

import anndata as ad
import numpy as np

from benchmark.model import Model
from models.label_oracle.model import noisy_one_hot


class BatchOnlyEmbedding(Model):
    def embed(self, adata: ad.AnnData) -> np.ndarray:
        return noisy_one_hot(adata.obs["batch"], float(self.params["noise"]), self.seed)
