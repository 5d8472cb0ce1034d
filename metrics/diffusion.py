"""kBET's diffusion-map neighbours of one label, as scib-metrics' ``diffusion_nn`` defines them.

The label's connectivity subgraph is density-normalised into a symmetric transition matrix (scanpy's
``_compute_transitions``), its ``n_comps`` largest-magnitude eigenpairs come from ARPACK, and the
eigenvectors scaled by ``λ / (1 − λ)`` (the diffusion time integrated out) are the embedding whose
``k + 1`` nearest neighbours (self included) kBET tests. Two choices scib-metrics leaves open are
fixed here: ARPACK starts from a seeded vector (SciPy otherwise draws it from fresh entropy), and
the neighbours are exact (scib-metrics uses pynndescent, approximate, compiled anew in each process).
This module imports no JAX, so the worker processes that run it start quickly.
"""

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import eigsh
from sklearn.neighbors import NearestNeighbors

EPS = 1e-8  # scib-metrics' guard against λ = 1 in λ / (1 − λ)


def arpack_start(n: int) -> np.ndarray:
    """The seeded ARPACK start vector (uniform on [-1, 1], as ARPACK's own)."""
    return np.random.default_rng(0).uniform(-1.0, 1.0, n)


def transitions(connectivities: sparse.csr_matrix) -> sparse.csr_matrix:
    """The symmetric, density-normalised transition matrix (Coifman et al. 2005), in float64."""
    density = np.asarray(connectivities.sum(axis=0)).ravel()
    inverse_density = sparse.diags(1.0 / density)
    kernel = inverse_density @ connectivities @ inverse_density
    scale = sparse.diags(1.0 / np.sqrt(np.asarray(kernel.sum(axis=0)).ravel()))
    return (scale @ kernel @ scale).astype(np.float64)


def diffusion_embedding(connectivities: sparse.csr_matrix, n_comps: int) -> np.ndarray:
    """Eigenvectors of the ``n_comps`` largest-magnitude eigenvalues λ, scaled by λ / (1 − λ) (float32)."""
    matrix = transitions(connectivities)
    n_comps = min(matrix.shape[0] - 1, n_comps)
    values, vectors = eigsh(matrix, k=n_comps, which="LM", v0=arpack_start(matrix.shape[0]))
    values, vectors = values.astype(np.float32)[::-1], vectors.astype(np.float32)[:, ::-1]
    values += EPS
    scaled = np.array([value if value == 1 else value / (1 - value) for value in values])
    return vectors * scaled


def diffusion_neighbours(graph: sparse.csr_matrix, k: int, n_comps: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices and distances of each cell's ``k + 1`` nearest cells in the diffusion embedding of the
    connectivity graph ``graph``; None where the decomposition fails with a ValueError (scib-metrics
    then scores the label 0)."""
    try:
        embedding = diffusion_embedding(graph, n_comps)
    except ValueError:
        return None
    search = NearestNeighbors(n_neighbors=min(k + 1, len(embedding)), algorithm="brute").fit(embedding)
    distances, indices = search.kneighbors(embedding)
    return indices, distances
