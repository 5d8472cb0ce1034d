"""The scIB integration metrics as scib-metrics (pinned) defines them, with exact kNN from scikit-learn.

We call scib-metrics' metric functions one by one (not its Benchmarker) so that each metric gets
its own status and a single-batch dataset can mark batch metrics not applicable. Faster equivalents
of scib-metrics' own code: the silhouette metrics (isolated labels, silhouette label, BRAS, batch
silhouette; metrics/silhouette.py, float64 BLAS; isolated labels and silhouette label share one
computation), k-means (metrics/kmeans.py) and kBET's per-label loop (metrics/kbet.py, in parallel).
One exact neighbour graph per embedding serves every graph metric. Metrics whose cost grows faster
than the number of cells (silhouettes, kBET) use ``d.quadratic``: all cells, or on atlases a seeded
subsample (recorded). Values are raw: no min-max scaling happens here (the equivalent of
``Benchmarker.get_results(min_max_scale=False)``); scaling between controls happens in the aggregate
step. A test checks equality with the Benchmarker.
"""

import numpy as np
import scib_metrics
from scib_metrics.nearest_neighbors import NeighborsResults, pynndescent
from sklearn.neighbors import NearestNeighbors

from metrics import silhouette
from metrics.base import Metric, available_cores
from metrics.kbet import kbet_per_label

N_NEIGHBORS = 90  # scib-metrics' Benchmarker: 90, subset to 15 (graph), 50 (kBET), 90 (LISI)
KBET_NEIGHBORS = 50
EXACT_KNN_CELLS = 100_000  # above: pynndescent (exact search is quadratic: ~200 s at 200k cells on 2 cores)


def exact_neighbors(X: np.ndarray, n_neighbors: int) -> NeighborsResults:
    """Exact Euclidean kNN (each cell is its own first neighbour, as with pynndescent)."""
    n_neighbors = min(n_neighbors, X.shape[0])
    search = NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute", n_jobs=available_cores()).fit(X)
    distances, indices = search.kneighbors(X)
    return NeighborsResults(indices=indices, distances=distances)


def neighbors(X: np.ndarray, n_neighbors: int, exact_max: int = EXACT_KNN_CELLS, seed: int = 0) -> NeighborsResults:
    """Exact kNN up to ``exact_max`` cells; above, pynndescent (scib-metrics' own default) on all cores."""
    if len(X) <= exact_max:
        return exact_neighbors(X, n_neighbors)
    return pynndescent(X, n_neighbors=n_neighbors, random_state=seed, n_jobs=available_cores())


def _kbet(d) -> float:
    graph, cells = d.kbet_input
    return kbet_per_label(graph, cells.batches, cells.labels, d.workers)


def _bio(name, label, fn, description, needs_batches=False, value_range=(0.0, 1.0)) -> Metric:
    requires = ("labels", "batches") if needs_batches else ("labels",)
    return Metric(name, label, "bio", True, value_range, fn, requires, description)


def _batch(name, label, fn, description, needs_labels=True) -> Metric:
    requires = ("labels", "batches") if needs_labels else ("batches",)
    return Metric(name, label, "batch", True, (0.0, 1.0), fn, requires, description)


SCIB_METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        _bio(
            "isolated_labels",
            "Isolated labels",
            lambda d: silhouette.isolated_labels(d.label_silhouettes, d.quadratic.labels, d.quadratic.batches),
            "rescaled silhouette of the labels present in the fewest batches",
            needs_batches=True,
        ),
        _bio(
            "kmeans_nmi",
            "KMeans NMI",
            lambda d: d.kmeans_nmi_ari["nmi"],
            "NMI between labels and k-means clusters (k = number of labels)",
        ),
        _bio(
            "kmeans_ari",
            "KMeans ARI",
            lambda d: d.kmeans_nmi_ari["ari"],
            "ARI between labels and k-means clusters (k = number of labels)",
            value_range=(-0.5, 1.0),  # below chance is negative; -0.5 is ARI's lower bound
        ),
        _bio(
            "silhouette_label",
            "Silhouette label",
            lambda d: silhouette.silhouette_label(d.label_silhouettes),
            "cell-type silhouette width, rescaled to [0, 1]",
        ),
        _bio(
            "clisi",
            "cLISI",
            lambda d: scib_metrics.clisi_knn(d.knn(90), d.labels),
            "cell-type LISI on the 90-NN graph, scaled so 1 = pure neighbourhoods",
        ),
        _batch(
            "bras",
            "BRAS",
            lambda d: silhouette.batch_silhouette(*d.quadratic, metric="cosine", between="mean_other"),
            "batch removal adapted silhouette (cosine, mean of other batches)",
        ),
        _batch(
            "silhouette_batch",
            "Silhouette batch",
            lambda d: silhouette.batch_silhouette(*d.quadratic),
            "per-label 1 - |batch silhouette| (scIB's original batch ASW)",
        ),
        _batch(
            "ilisi",
            "iLISI",
            lambda d: scib_metrics.ilisi_knn(d.knn(90), d.batches),
            "batch LISI on the 90-NN graph, scaled so 1 = batches fully mixed",
            needs_labels=False,
        ),
        _batch(
            "kbet",
            "kBET",
            _kbet,
            "kBET acceptance rate per label on the 50-NN graph",
        ),
        _batch(
            "graph_connectivity",
            "Graph connectivity",
            lambda d: scib_metrics.graph_connectivity(d.knn(15), d.labels),
            "mean share of each label's cells in its largest connected 15-NN component",
        ),
        _batch(
            "pcr_comparison",
            "PCR comparison",
            lambda d: scib_metrics.pcr_comparison(d.X_pre, d.X, d.batches, categorical=True),
            "reduction of the variance explained by batch, relative to the unintegrated PCA",
            needs_labels=False,
        ),
    ]
}

# scib-metrics 0.5.10 Benchmarker defaults (BioConservation() and BatchCorrection()).
SCIB_DEFAULT: tuple[str, ...] = (
    "isolated_labels",
    "kmeans_nmi",
    "kmeans_ari",
    "silhouette_label",
    "clisi",
    "bras",
    "ilisi",
    "kbet",
    "graph_connectivity",
    "pcr_comparison",
)

# Our metric name -> its row in scib-metrics' Benchmarker.get_results().
BENCHMARKER_ROW = {
    "isolated_labels": "isolated_labels",
    "kmeans_nmi": "nmi_ari_cluster_labels_kmeans_nmi",
    "kmeans_ari": "nmi_ari_cluster_labels_kmeans_ari",
    "silhouette_label": "silhouette_label",
    "clisi": "clisi_knn",
    "bras": "bras",
    "ilisi": "ilisi_knn",
    "kbet": "kbet_per_label",
    "graph_connectivity": "graph_connectivity",
    "pcr_comparison": "pcr_comparison",
}
