"""Positive control: the cell-type label and noise."""

import anndata as ad
import numpy as np
import pandas as pd

from benchmark.model import Model


def noisy_one_hot(labels: pd.Series, noise: float, seed: int) -> np.ndarray:
    """One column per category (at least 2) plus Gaussian noise of standard deviation ``noise``."""
    codes = pd.Categorical(labels).codes
    width = max(int(codes.max()) + 1, 2)
    rng = np.random.default_rng(seed)
    return (np.eye(width)[codes] + rng.normal(0.0, noise, (len(codes), width))).astype(np.float32)


class LabelOracleEmbedding(Model):
    def embed(self, adata: ad.AnnData) -> np.ndarray:
        return noisy_one_hot(adata.obs["cell_type"], float(self.params["noise"]), self.seed)
