"""kBET per cell-type label, as scib-metrics' ``kbet_per_label`` defines it, with labels in parallel.

For each label (in sorted order): labels under 10 cells or from one batch score NaN; ``k0`` is a
quarter of the mean cells per batch, clipped to [10, 70]; a connected label subgraph gets kBET on its
diffusion-map neighbours (``metrics.diffusion``), a disconnected one on its components of at least
``3 k0`` cells if they hold 75% of the label (else 0); the score is the mean over labels. Each label's
diffusion map (an ARPACK eigendecomposition, most of kBET's time) is independent of the others, so
they run in ``workers`` processes (largest first); the acceptance test itself is scib-metrics' ``kbet``.
scib-metrics lowers the number of diffusion components to a label's size minus one and keeps it
lowered for the labels after it; that is kept.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scib_metrics
from joblib import Parallel, delayed, parallel_config
from scib_metrics.nearest_neighbors import NeighborsResults
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from metrics.diffusion import diffusion_neighbours

ALPHA = 0.05
DIFFUSION_COMPONENTS = 100
SIZE_MAX = 2**31 - 1  # scib-metrics' bound on k0 x cells


@dataclass
class LabelPlan:
    """What kBET computes for one label: a score already known, or a diffusion map to run."""

    score: float
    graph: sparse.csr_matrix | None = None
    batches: np.ndarray | None = None
    k0: int = 0
    n_comps: int = 0


def _k0(batches: np.ndarray, n_obs: int) -> int:
    quarter_mean = int(np.floor(np.mean(pd.Series(batches).value_counts()) / 4))
    k0 = min(70, max(10, quarter_mean))
    return int(np.floor(SIZE_MAX / n_obs)) if k0 * n_obs >= SIZE_MAX else k0


def plan_labels(connectivities: sparse.csr_matrix, batches: np.ndarray, labels: np.ndarray) -> list[LabelPlan]:
    """scib-metrics' per-label decisions, in its label order, up to the diffusion maps."""
    plans, n_comps = [], DIFFUSION_COMPONENTS
    for label in np.unique(labels):
        inside = labels == label
        graph = connectivities[inside][:, inside]
        graph.sort_indices()
        label_batches = batches[inside]
        if graph.shape[0] < 10 or len(np.unique(label_batches)) == 1:
            plans.append(LabelPlan(np.nan))
            continue
        k0 = _k0(label_batches, graph.shape[0])
        n_components, component = connected_components(graph, connection="strong")
        if n_components > 1:
            sizes = pd.Series(component).value_counts()
            kept = np.flatnonzero(np.isin(component, sizes[sizes >= 3 * k0].index))
            if len(kept) / len(component) < 0.75:
                plans.append(LabelPlan(0.0))  # too many small components: 100% rejection
                continue
            graph, label_batches = graph[kept][:, kept], label_batches[kept]
            graph.sort_indices()
        n_comps = min(n_comps, graph.shape[0] - 1)
        plans.append(LabelPlan(np.nan, graph, label_batches, k0, n_comps))
    return plans


def kbet_per_label(neighbors: NeighborsResults, batches: np.ndarray, labels: np.ndarray, workers: int = 1) -> float:
    """scib-metrics' ``kbet_per_label(neighbors, batches, labels)``, diffusion maps in ``workers`` processes."""
    connectivities = sparse.csr_matrix(neighbors.knn_graph_connectivities)
    codes = np.asarray(pd.Categorical(batches).codes)
    plans = plan_labels(connectivities, codes, np.asarray(labels))
    todo = sorted((i for i, plan in enumerate(plans) if plan.graph is not None), key=lambda i: -plans[i].graph.shape[0])
    with parallel_config(backend="loky", inner_max_num_threads=1):
        found = Parallel(n_jobs=min(workers, max(len(todo), 1)))(
            delayed(diffusion_neighbours)(plans[i].graph, plans[i].k0, plans[i].n_comps) for i in todo
        )
    for i, result in zip(todo, found, strict=True):
        if result is None:
            plans[i].score = 0.0  # the decomposition failed: 100% rejection, as in scib-metrics
        else:
            indices, distances = result
            graph = NeighborsResults(indices=indices, distances=distances)
            plans[i].score = float(scib_metrics.kbet(graph, plans[i].batches, alpha=ALPHA)[0])
    return float(np.nanmean([plan.score for plan in plans]))
