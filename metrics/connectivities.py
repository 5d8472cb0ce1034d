"""UMAP's fuzzy connectivities of a kNN graph, as scib-metrics' ``NeighborsResults.knn_graph_connectivities``
returns them (kBET's input), without UMAP's per-process compilation.

UMAP compiles its two kernels (``smooth_knn_dist``: each cell's ρ and σ by bisection;
``compute_membership_strengths``: exp(−(d − ρ)/σ) per edge) with ``parallel=True`` in every process
and never caches them: about 5 s of CPU per evaluate job on a quiet core, 10 s on a busy one. Here the
same Python functions are compiled serially and cached on disk, so a process after the first loads
them; the fuzzy union (A + Aᵀ − A∘Aᵀ) is UMAP's own SciPy expression. Each cell's row is computed on
its own, so the serial kernels give UMAP's numbers: the bisection compiled plainly (its parallel loop
does not run in the float32 that its ``locals`` declare: with them 7 of 300 σ differ, without none),
and where every neighbour of a cell coincides with it (ρ = 0) σ differs (UMAP's parallel mean over all
distances sums in another order) but is unused, each strength being 1. Tests check equality.
"""

from functools import cache

import numba
import numpy as np
from scib_metrics.nearest_neighbors import NeighborsResults
from scipy import sparse
from umap import umap_

LOCAL_CONNECTIVITY = 1.0  # scib-metrics' choice
SET_OP_MIX_RATIO = 1.0  # scib-metrics' choice: the fuzzy union


@cache
def _serial(kernel: numba.core.registry.CPUDispatcher, typed: bool) -> numba.core.registry.CPUDispatcher:
    """UMAP's kernel compiled without parallel loops (with its declared ``locals`` if ``typed``), cached on disk."""
    return numba.njit(locals=kernel.locals if typed else {}, parallel=False, cache=True)(kernel.py_func)


def connectivities(neighbors: NeighborsResults) -> sparse.csr_matrix:
    """The fuzzy union of each cell's UMAP membership strengths to its neighbours (float32, n x n)."""
    n = neighbors.indices.shape[0]
    distances = np.ascontiguousarray(neighbors.distances, dtype=np.float32)
    sigmas, rhos = _serial(umap_.smooth_knn_dist, False)(
        distances, float(distances.shape[1]), 64, LOCAL_CONNECTIVITY, 1.0
    )  # UMAP's defaults: 64 bisection steps, bandwidth 1
    rows, cols, values, _ = _serial(umap_.compute_membership_strengths, True)(
        neighbors.indices, distances, sigmas, rhos, False, False
    )
    strengths = sparse.coo_matrix((values, (rows, cols)), shape=(n, n))
    strengths.eliminate_zeros()
    transpose = strengths.transpose()
    product = strengths.multiply(transpose)
    union = SET_OP_MIX_RATIO * (strengths + transpose - product) + (1.0 - SET_OP_MIX_RATIO) * product
    union.eliminate_zeros()
    return sparse.csr_matrix(union)
