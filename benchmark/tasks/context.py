"""What a task sees: the prepared dataset, one embedding, its settings, and shared resources."""

from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd

from benchmark.config import task_settings
from benchmark.ontology import OntologyView, ontology_problem


@dataclass
class TaskContext:
    dataset: ad.AnnData
    X: np.ndarray
    config: dict
    seed: int
    ontology: OntologyView | None = None
    details: list[pd.DataFrame] = field(default_factory=list)  # per-cell or per-type tables to save

    def settings(self, task: str) -> dict:
        """``config`` with the task's defaults from the config schema."""
        return task_settings(task, self.config)

    @property
    def ontology_problem(self) -> str:
        return ontology_problem(self.dataset, self.ontology)

    @property
    def cl_ids(self) -> np.ndarray:
        return self.dataset.obs["cell_type_ontology_term_id"].astype(str).to_numpy()
