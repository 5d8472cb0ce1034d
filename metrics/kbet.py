"""kBET per cell-type label, as scib-metrics' ``kbet_per_label`` defines it, with labels in parallel.

For each label (in sorted order): labels under 10 cells or from one batch score NaN; ``k0`` is a
quarter of the mean cells per batch, clipped to [10, 70]; a connected label subgraph gets kBET on its
diffusion-map neighbours (``metrics.diffusion``), a disconnected one on its components of at least
``3 k0`` cells if they hold 75% of the label (else 0); the score is the mean over labels. Each label's
diffusion map (an ARPACK eigendecomposition, most of kBET's time) is independent of the others, so
they run in ``workers`` processes (largest first). The acceptance test is scib-metrics' own jitted
test (``_kbet``, float32), fed fixed shapes: neighbour rows in blocks of ``TEST_ROWS`` and the label's
batches padded with a code that its ``bincount`` drops, so it compiles once per (k, number of batches)
instead of once per label (about 1 s of compilation each); per row the arithmetic is unchanged (a test
checks equal p-values). The connectivities are UMAP's, from kernels compiled once per machine
(``metrics.connectivities``). scib-metrics lowers the number of diffusion components to a label's size
minus one and keeps it lowered for the labels after it; that is kept.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from scib_metrics.metrics._kbet import _kbet
from scib_metrics.nearest_neighbors import NeighborsResults
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from metrics.connectivities import connectivities
from metrics.diffusion import diffusion_neighbours

ALPHA = 0.05
DIFFUSION_COMPONENTS = 100
SIZE_MAX = 2**31 - 1  # scib-metrics' bound on k0 x cells
TEST_ROWS = 4096  # rows of one call of the jitted acceptance test


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


def _padded_length(n: int) -> int:
    """The batches length the acceptance test is compiled for: a power of two, at least TEST_ROWS."""
    return max(TEST_ROWS, 1 << (n - 1).bit_length())


def acceptance_rate(indices: np.ndarray, batches: np.ndarray, alpha: float = ALPHA, length: int = 0) -> float:
    """scib-metrics' ``kbet(NeighborsResults(indices, ...), batches, alpha)[0]``: the share of cells whose
    neighbours' batch counts pass the chi-squared test, computed by its jitted test on fixed shapes
    (``length``: the padded batches length, shared by the labels of one call; 0 = this label's own)."""
    codes = np.asarray(pd.Categorical(batches).codes)  # as scib-metrics' kbet: codes of this label's batches
    n_batches = len(np.unique(codes))
    padded = np.full(max(length, _padded_length(len(codes))), n_batches, dtype=codes.dtype)  # dropped by bincount
    padded[: len(codes)] = codes
    neighbour_batches = codes[indices]
    p_values = []
    for start in range(0, len(indices), TEST_ROWS):
        rows = neighbour_batches[start : start + TEST_ROWS]
        block = np.zeros((TEST_ROWS, rows.shape[1]), dtype=rows.dtype)
        block[: len(rows)] = rows
        p_values.append(np.asarray(_kbet(block, padded, n_batches)[1])[: len(rows)])
    return float((np.concatenate(p_values) >= alpha).mean())


def kbet_per_label(neighbors: NeighborsResults, batches: np.ndarray, labels: np.ndarray, workers: int = 1) -> float:
    """scib-metrics' ``kbet_per_label(neighbors, batches, labels)``, diffusion maps in ``workers`` processes."""
    graph = connectivities(neighbors)
    codes = np.asarray(pd.Categorical(batches).codes)
    plans = plan_labels(graph, codes, np.asarray(labels))
    todo = sorted((i for i, plan in enumerate(plans) if plan.graph is not None), key=lambda i: -plans[i].graph.shape[0])
    with parallel_config(backend="loky", inner_max_num_threads=1):
        found = Parallel(n_jobs=min(workers, max(len(todo), 1)))(
            delayed(diffusion_neighbours)(plans[i].graph, plans[i].k0, plans[i].n_comps) for i in todo
        )
    length = _padded_length(max((plans[i].graph.shape[0] for i in todo), default=1))
    for i, indices in zip(todo, found, strict=True):
        if indices is None:
            plans[i].score = 0.0  # the decomposition failed: 100% rejection, as in scib-metrics
        else:
            plans[i].score = acceptance_rate(indices, plans[i].batches, ALPHA, length)
    return float(np.nanmean([plan.score for plan in plans]))
