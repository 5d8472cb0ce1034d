"""The integration task's metrics: the scIB set, scGraph-OntoRWR and ROGI, on one embedding."""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np
import pandas as pd
from scib_metrics.nearest_neighbors import NeighborsResults
from sklearn.decomposition import PCA

from metrics import silhouette
from metrics.base import Metric, available_cores
from metrics.kmeans import nmi_ari_cluster_labels_kmeans
from metrics.rogi import label_rogi
from metrics.scgraph import scgraph_ontorwr
from metrics.scib import (
    EXACT_KNN_CELLS,
    KBET_NEIGHBORS,
    N_NEIGHBORS,
    SCIB_DEFAULT,
    SCIB_METRICS,
    exact_neighbors,
    neighbors,
)


class Cells(NamedTuple):
    """An embedding's rows with their labels and batches (all cells, or a subsample)."""

    X: np.ndarray
    labels: np.ndarray
    batches: np.ndarray


@dataclass
class IntegrationInput:
    """One embedding plus what its metrics need; expensive intermediates are computed once."""

    X: np.ndarray
    labels: np.ndarray
    batches: np.ndarray
    X_pre: np.ndarray
    cl_ids: np.ndarray | None = None
    ontology_distance: Callable[[list[str]], pd.DataFrame] | None = None
    include_diagonal: bool = False
    rogi_cells: int = 1000
    rogi_pcs: int = 10
    quadratic_cells: int = 50_000
    exact_knn_cells: int = EXACT_KNN_CELLS
    workers: int = field(default_factory=available_cores)  # processes for kBET's per-label diffusion maps
    seed: int = 0
    details: dict[str, pd.DataFrame] = field(default_factory=dict)

    @cached_property
    def neighbors(self) -> NeighborsResults:
        """The one kNN graph of this embedding: exact up to ``exact_knn_cells``, else pynndescent (recorded)."""
        if len(self.X) > self.exact_knn_cells:
            self._record("neighbours", "pynndescent (approximate)", len(self.X))
        return neighbors(self.X, N_NEIGHBORS, self.exact_knn_cells, self.seed)

    def _record(self, step: str, method: str, n_used: int) -> None:
        """Note in details how an atlas-sized input was handled (subsample size, approximate search)."""
        row = pd.DataFrame({"step": [step], "method": [method], "n_cells": [len(self.X)], "n_used": [n_used],
                            "seed": [self.seed]})  # fmt: skip
        self.details["scale"] = pd.concat([self.details.get("scale"), row], ignore_index=True)

    def knn(self, k: int) -> NeighborsResults:
        return self.neighbors.subset_neighbors(n=min(k, self.neighbors.indices.shape[1]))

    @cached_property
    def quadratic(self) -> Cells:
        """What metrics that grow faster than the number of cells (silhouettes, kBET) see: every cell up
        to ``quadratic_cells``, above that a seeded uniform subsample of that size (recorded in details)."""
        n = len(self.X)
        if n <= self.quadratic_cells:
            return Cells(self.X, self.labels, self.batches)
        cells = np.sort(np.random.default_rng(self.seed).choice(n, size=self.quadratic_cells, replace=False))
        self._record("silhouettes", "seeded uniform subsample", self.quadratic_cells)
        return Cells(self.X[cells], self.labels[cells], self.batches[cells])

    @cached_property
    def kbet_input(self) -> tuple[NeighborsResults, Cells]:
        """kBET's 50-NN graph and cells: the embedding's graph, or that of ``quadratic``'s subsample
        (exact search on the subsample alone, recorded), so each label's diffusion map stays bounded."""
        cells = self.quadratic
        if len(cells.X) == len(self.X):
            return self.knn(KBET_NEIGHBORS), cells
        self._record("kbet", "seeded uniform subsample (as silhouettes), its own exact 50-NN graph", len(cells.X))
        return exact_neighbors(cells.X, KBET_NEIGHBORS), cells

    @cached_property
    def label_silhouettes(self) -> np.ndarray:
        """Cell-type silhouettes of ``quadratic``, shared by silhouette label and isolated labels."""
        return silhouette.label_silhouettes(self.quadratic.X, self.quadratic.labels)

    @cached_property
    def kmeans_nmi_ari(self) -> dict[str, float]:
        return nmi_ari_cluster_labels_kmeans(self.X, self.labels)

    @cached_property
    def rogi_per_label(self) -> pd.DataFrame:
        """ROGI of each one-vs-rest label on a seeded subsample, on the embedding and on its first PCs."""
        rng = np.random.default_rng(self.seed)
        size = min(self.rogi_cells, len(self.X))
        cells = np.sort(rng.choice(len(self.X), size=size, replace=False))
        X, labels = np.asarray(self.X[cells], dtype=np.float64), self.labels[cells]
        n_pcs = min(self.rogi_pcs, X.shape[1], size - 1)
        pcs = PCA(n_components=n_pcs, random_state=self.seed).fit_transform(X) if n_pcs < X.shape[1] else X
        raw, reduced = label_rogi(X, labels), label_rogi(pcs, labels)
        table = pd.DataFrame({"label": list(raw), "rogi": list(raw.values()), "rogi_pca": list(reduced.values())})
        table["n_cells"], table["n_pcs"] = size, n_pcs
        self.details["rogi"] = table
        return table


def _scgraph(d: IntegrationInput) -> float:
    result = scgraph_ontorwr(
        d.X, d.cl_ids, d.ontology_distance(sorted(set(d.cl_ids))), include_diagonal=d.include_diagonal
    )
    table = result.per_type.rename("pearson_r").rename_axis("cell_type_ontology_term_id").reset_index()
    dropped = pd.DataFrame({"cell_type_ontology_term_id": result.dropped, "pearson_r": np.nan})
    d.details["scgraph_ontorwr"] = pd.concat([table, dropped], ignore_index=True).assign(
        dropped=lambda t: t["cell_type_ontology_term_id"].isin(result.dropped)
    )
    return result.score


ONTOLOGY_AND_LANDSCAPE = [
    Metric(
        "scgraph_ontorwr",
        "scGraph-OntoRWR",
        "ontology",
        True,
        (-1.0, 1.0),
        _scgraph,
        ("labels", "ontology"),
        "mean over cell types of the Pearson r between centroid distances and Cell Ontology (RWR/DCA) distances",
    ),
    Metric(
        "rogi",
        "ROGI (raw dims)",
        "landscape",
        False,
        (0.0, 1.0),
        lambda d: float(d.rogi_per_label["rogi"].mean()),
        ("labels",),
        "mean one-vs-rest ROGI over the embedding's own dimensions (depends on the dimension: not compared)",
        scored=False,
    ),
    Metric(
        "rogi_pca",
        "ROGI (PCs)",
        "landscape",
        False,
        (0.0, 1.0),
        lambda d: float(d.rogi_per_label["rogi_pca"].mean()),
        ("labels",),
        "mean one-vs-rest ROGI over the embedding's first k PCs (same k for every model; lower = smoother)",
    ),
]

INTEGRATION_METRICS: dict[str, Metric] = {**SCIB_METRICS, **{m.name: m for m in ONTOLOGY_AND_LANDSCAPE}}
INTEGRATION_DEFAULT: tuple[str, ...] = (*SCIB_DEFAULT, "scgraph_ontorwr", "rogi", "rogi_pca")
