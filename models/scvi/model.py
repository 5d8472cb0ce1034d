"""Baseline: scVI on raw counts (needs counts; batch-aware when there are batches)."""

import anndata as ad
import numpy as np

from benchmark.data.contract import n_batches
from benchmark.data.preprocess import highly_variable, log_normalized
from benchmark.model import Model


class ScVI(Model):
    def embed(self, adata: ad.AnnData) -> np.ndarray:
        import scvi  # imported here: slow, and only this model needs it

        scvi.settings.seed = self.seed
        scvi.settings.verbosity = 30
        genes = highly_variable(log_normalized(adata), int(self.params["n_top_genes"])).var_names
        counts = adata[:, genes].copy()
        batch_key = "batch" if n_batches(counts) > 1 else None
        scvi.model.SCVI.setup_anndata(counts, batch_key=batch_key)
        model = scvi.model.SCVI(counts, n_latent=int(self.params["n_latent"]), n_layers=int(self.params["n_layers"]))
        model.train(
            max_epochs=int(self.params["max_epochs"]),
            batch_size=int(self.params["batch_size"]),
            accelerator="gpu" if self.device == "cuda" else "cpu",
            devices=1,
            enable_progress_bar=True,
        )
        return np.asarray(model.get_latent_representation(), dtype=np.float32)
