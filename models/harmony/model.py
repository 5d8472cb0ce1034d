"""Baseline: Harmony on the HVG -> PCA embedding (harmonypy called directly, see docs)."""

import anndata as ad
import harmonypy
import numpy as np

from benchmark.data.preprocess import highly_variable, log_normalized, pca_with_loadings
from benchmark.model import Model


class Harmony(Model):
    def embed(self, adata: ad.AnnData) -> np.ndarray:
        hvg = highly_variable(log_normalized(adata), int(self.params["n_top_genes"]))
        components, self.loadings = pca_with_loadings(hvg, int(self.params["n_comps"]), self.seed)
        result = harmonypy.run_harmony(
            components,
            adata.obs[["batch"]],
            "batch",
            max_iter_harmony=int(self.params["max_iter_harmony"]),
            random_state=self.seed,
            verbose=False,
        )
        corrected = np.asarray(result.Z_corr)
        if corrected.shape[0] != adata.n_obs:  # harmonypy < 2 returns dims x cells
            corrected = corrected.T
        return corrected.astype(np.float32)

    def gene_embeddings(self) -> tuple[list[str], np.ndarray]:
        """The gene loadings of the PCA that Harmony corrects (Harmony changes cell scores only)."""
        return list(self.loadings.index), self.loadings.to_numpy(dtype=np.float32)
