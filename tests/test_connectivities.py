import numpy as np
import pytest
from umap import umap_

from metrics.connectivities import connectivities
from metrics.scib import exact_neighbors


@pytest.mark.parametrize(("k", "duplicates"), [(30, False), (30, True), (15, False)])
def test_connectivities_equal_scib_metrics_umap_graph(sim, k, duplicates):
    """The cached serial kernels give UMAP's fuzzy union bit for bit, also where cells coincide
    (ρ = 0 rows: every neighbour at distance 0)."""
    X = np.vstack([sim.obsm["X_pca_unintegrated"][:, :10]] * 3).astype(np.float32)  # 900 cells
    X += np.random.default_rng(k).normal(0, 0.3, X.shape).astype(np.float32)
    if duplicates:
        X[:40] = X[0]  # 40 identical cells: more than k
    graph = exact_neighbors(X, k)
    expected = graph.knn_graph_connectivities.tocsr()
    ours = connectivities(graph)
    assert ours.dtype == expected.dtype == np.float32 and ours.nnz == expected.nnz > 0
    assert (ours != expected).nnz == 0
    _, rhos = umap_.smooth_knn_dist(graph.distances.astype(np.float32), float(k), local_connectivity=1.0)
    assert (rhos == 0).sum() == (40 if duplicates else 0)  # the ρ = 0 branch is taken where meant
