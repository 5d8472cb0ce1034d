"""The base class every model plugin subclasses."""

from typing import Any

import anndata as ad
import numpy as np
import pandas as pd


class Model:
    """A model plugin. Subclasses implement :meth:`embed`; raise ``NotApplicable`` for inputs they can't use.

    ``adata`` is a prepared dataset (see the dataset contract): raw counts (or log-normalised values
    when ``adata.uns['dataset']['x_kind'] == 'log_normalized'``) in a CSR ``X``, and ``obs`` columns
    ``batch``, ``cell_type`` and, when known, ``cell_type_ontology_term_id``.
    """

    def __init__(
        self,
        params: dict[str, Any],
        seed: int,
        device: str = "cpu",
        ontology: Any = None,
        checkpoint: str | dict | None = None,
    ) -> None:
        self.params = params
        self.seed = seed
        self.device = device
        self.ontology = ontology  # a benchmark.ontology.OntologyView for models with `needs: {ontology: true}`
        self.checkpoint = checkpoint  # our checkpoint folder, or a published checkpoint's settings (dict)
        self.notes: dict[str, Any] = {}  # facts worth keeping with the embedding (e.g. gene overlap)

    def embed(self, adata: ad.AnnData) -> np.ndarray:
        """Return a float array of shape (n_cells, n_dims), one row per cell of ``adata`` in order."""
        raise NotImplementedError

    def finetune(self, adata: ad.AnnData, labels: np.ndarray, splits: list, settings: dict) -> pd.DataFrame:
        """Models with the ``finetune`` capability: train on each split's training cells and return the
        test cells' predictions (columns cell, split, true, predicted). ``splits`` are the annotation
        task's (train, test) index pairs, so fine-tuned and probed results compare on the same cells."""
        raise NotImplementedError
