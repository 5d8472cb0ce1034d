"""Template model: truncated SVD of log-normalised counts. Replace ``embed`` with your method."""

import anndata as ad
import numpy as np
from sklearn.decomposition import TruncatedSVD

from benchmark import NotApplicable
from benchmark.data.preprocess import log_normalized
from benchmark.model import Model


class MyModel(Model):
    """``self.params`` (model.yaml + config), ``self.seed`` (per job), ``self.device`` ("cpu"/"cuda")."""

    def embed(self, adata: ad.AnnData) -> np.ndarray:
        # adata: the prepared dataset (raw counts in a CSR X; obs "batch", "cell_type"); one row per cell.
        n_comps = int(self.params["n_comps"])
        if adata.n_vars <= n_comps:
            raise NotApplicable(f"needs more than {n_comps} genes; the dataset has {adata.n_vars}")
        svd = TruncatedSVD(n_components=n_comps, random_state=self.seed)
        return svd.fit_transform(log_normalized(adata).X).astype(np.float32)
