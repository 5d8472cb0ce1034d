"""The scIB integration metrics as scib-metrics (pinned) defines them, with exact kNN from scikit-learn.

We call scib-metrics' metric functions one by one (not its Benchmarker) so that each metric gets
its own status and a single-batch dataset can mark batch metrics not applicable. The silhouette
metrics (isolated labels, silhouette label, BRAS, batch silhouette) use our BLAS implementation of
scib-metrics' silhouette (metrics/silhouette.py, several times faster; isolated labels and
silhouette label share one computation) on ``d.quadratic`` (all cells, or a seeded subsample on
atlases). One exact neighbour graph per embedding serves every graph metric. Values are raw: no
min-max scaling happens here (the equivalent of ``Benchmarker.get_results(min_max_scale=False)``);
scaling between controls happens in the aggregate step. A test checks equality with the Benchmarker.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
import pandas as pd
import scib_metrics
import scib_metrics.nearest_neighbors
import scipy.sparse.linalg
from joblib import Parallel, delayed
from scib_metrics.nearest_neighbors import NeighborsResults
from scipy import sparse
from sklearn.neighbors import NearestNeighbors

from metrics import silhouette
from metrics.base import Metric, available_cores

N_NEIGHBORS = 90  # scib-metrics' Benchmarker: 90, subset to 15 (graph), 50 (kBET), 90 (LISI)
EXACT_KNN_CELLS = 100_000  # above: pynndescent (exact search is quadratic: ~200 s at 200k cells on 2 cores)
PYNNDESCENT = scib_metrics.nearest_neighbors.pynndescent
EIGSH = scipy.sparse.linalg.eigsh

# Reuse JAX's compiled kernels across evaluate jobs (each is a new process): ~13 s saved per job.
if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    jax.config.update("jax_compilation_cache_dir", str(Path("~/.cache/scfm-bench/jax").expanduser()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def exact_neighbors(X: np.ndarray, n_neighbors: int) -> NeighborsResults:
    """Exact Euclidean kNN (each cell is its own first neighbour, as with pynndescent)."""
    n_neighbors = min(n_neighbors, X.shape[0])
    search = NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute", n_jobs=-1).fit(X)
    distances, indices = search.kneighbors(X)
    return NeighborsResults(indices=indices, distances=distances)


def neighbors(X: np.ndarray, n_neighbors: int, exact_max: int = EXACT_KNN_CELLS, seed: int = 0) -> NeighborsResults:
    """Exact kNN up to ``exact_max`` cells; above, pynndescent (scib-metrics' own default) on all cores."""
    if len(X) <= exact_max:
        return exact_neighbors(X, n_neighbors)
    return PYNNDESCENT(X, n_neighbors=n_neighbors, random_state=seed, n_jobs=available_cores())


def _seeded_eigsh(A, k: int = 6, **kwargs):
    """``scipy.sparse.linalg.eigsh`` with a fixed start vector unless one is given (ARPACK's default
    start is drawn from fresh entropy, so kBET's diffusion maps could differ from run to run)."""
    if kwargs.get("v0") is None:
        kwargs["v0"] = np.random.default_rng(0).uniform(-1.0, 1.0, A.shape[0])
    return EIGSH(A, k, **kwargs)


@contextmanager
def reproducible_kbet(exact_max: int = EXACT_KNN_CELLS) -> Iterator[None]:
    """Inside: kBET's diffusion maps start ARPACK from a seeded vector, and their kNN is exact search
    (up to ``exact_max`` cells) instead of pynndescent.

    scib-metrics' ``kbet_per_label`` finds neighbours in a diffusion-map embedding with pynndescent,
    whose numba kernels recompile in every new process (~20 s here). Exact search gives the true
    neighbour sets (pynndescent approximates them) at a fraction of the cost on benchmark-sized data.
    """
    original = scib_metrics.nearest_neighbors.pynndescent
    scib_metrics.nearest_neighbors.pynndescent = lambda X, n_neighbors, **_: neighbors(X, n_neighbors, exact_max)
    scipy.sparse.linalg.eigsh = _seeded_eigsh
    try:
        yield
    finally:
        scib_metrics.nearest_neighbors.pynndescent = original
        scipy.sparse.linalg.eigsh = EIGSH


def _label_kbet(connectivities: sparse.csr_matrix, batches: np.ndarray, label: str, exact_max: int) -> float:
    """scib-metrics' ``kbet_per_label`` body for one label, given that label's connectivity subgraph."""
    one_label = SimpleNamespace(indices=np.empty((len(batches), 0)), knn_graph_connectivities=connectivities)
    with reproducible_kbet(exact_max):
        return float(scib_metrics.kbet_per_label(one_label, batches, np.full(len(batches), label)))


def kbet_per_label(
    neighbors: NeighborsResults, batches: np.ndarray, labels: np.ndarray, exact_max: int, workers: int
) -> float:
    """scib-metrics' ``kbet_per_label`` with its per-label loop spread over ``workers`` processes.

    Each label's diffusion map (an ARPACK eigendecomposition, most of kBET's time) is independent of
    the others, so labels run in parallel (joblib's loky processes, largest label first); each worker
    runs scib-metrics' own code on the label's subgraph of the same connectivity graph, so the value
    is the same as the serial one.
    """
    connectivities = sparse.csr_matrix(neighbors.knn_graph_connectivities)
    codes = np.asarray(pd.Categorical(batches).codes)
    names, sizes = np.unique(labels, return_counts=True)
    jobs = []
    for label in names:
        inside = np.flatnonzero(labels == label)
        jobs.append((connectivities[inside][:, inside], codes[inside], str(label), exact_max))
    order = np.argsort(-sizes, kind="stable")
    ordered = Parallel(n_jobs=workers, backend="loky")(delayed(_label_kbet)(*jobs[i]) for i in order)
    scores = np.empty(len(jobs))
    scores[order] = ordered
    return float(np.nanmean(scores))


def _kbet(d) -> float:
    return kbet_per_label(d.knn(50), d.batches, d.labels, d.exact_knn_cells, d.workers)


def _bio(name, label, fn, description, needs_batches=False) -> Metric:
    requires = ("labels", "batches") if needs_batches else ("labels",)
    return Metric(name, label, "bio", True, (0.0, 1.0), fn, requires, description)


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
