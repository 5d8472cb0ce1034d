import networkx as nx
import numpy as np
import obonet
import pytest

from benchmark.data.simulate import IMMUNE_TREE, _leaves, simulate_immune


def test_same_seed_same_counts_and_other_seed_differs():
    a, b, c = (
        simulate_immune(n_cells=200, seed=5),
        simulate_immune(n_cells=200, seed=5),
        simulate_immune(n_cells=200, seed=6),
    )
    assert (a.X != b.X).nnz == 0
    assert (a.X != c.X).nnz > 0


def test_counts_batches_labels():
    adata = simulate_immune(n_cells=600, n_batches=4, seed=0)
    values = adata.X.data
    assert np.all(values == np.round(values)) and values.min() > 0
    assert adata.obs["batch"].nunique() == 4
    assert set(adata.obs["cell_type_ontology_term_id"]) <= {n.term_id for n in _leaves(IMMUNE_TREE)}
    assert adata.var_names.is_unique and "CD3E" in adata.var_names
    depth = np.asarray(adata.X.sum(axis=1)).ravel()
    per_batch = [np.median(depth[(adata.obs["batch"] == b).to_numpy()]) for b in adata.obs["batch"].cat.categories]
    assert max(per_batch) / min(per_batch) > 1.2  # batches differ in sequencing depth


def _centroids(adata):
    X = np.log1p(adata.X.toarray() / adata.X.sum(axis=1).A * 1e4)
    return {t: X[(adata.obs["cell_type"] == t).to_numpy()].mean(axis=0) for t in adata.obs["cell_type"].unique()}


def test_ontology_distance_shows_in_expression():
    centroids = _centroids(simulate_immune(n_cells=3000, seed=0))

    def dist(a, b):
        return np.linalg.norm(centroids[a] - centroids[b])

    cd4, cd8 = "CD4-positive, alpha-beta T cell", "CD8-positive, alpha-beta T cell"
    classical, nonclassical = "classical monocyte", "non-classical monocyte"
    assert dist(cd4, cd8) < dist(cd4, classical)  # siblings closer than cousins across lineages
    assert dist(classical, nonclassical) < dist(classical, "naive B cell")


def test_tree_parents_are_true_cl_ancestors(data_dir):
    graph = obonet.read_obo(data_dir / "cell-ontology" / "cl-simple_v2026-03-26.obo")
    is_a = nx.DiGraph([(child, parent) for child, parent, key in graph.edges(keys=True) if key == "is_a"])
    for node in IMMUNE_TREE:
        assert graph.nodes[node.term_id]["name"] == node.name
        if node.parent:
            assert node.parent in nx.descendants(is_a, node.term_id), (node.term_id, node.parent)


def test_rejects_too_few_cells():
    with pytest.raises(ValueError, match="n_cells"):
        simulate_immune(n_cells=5, n_batches=3)


def test_seed_draws_cells_from_one_fixed_biology():
    """Two seeds share the cell-type programs (biology_seed): type centroids agree across draws."""
    a, b = _centroids(simulate_immune(n_cells=3000, seed=1)), _centroids(simulate_immune(n_cells=3000, seed=2))
    other = _centroids(simulate_immune(n_cells=3000, seed=1, biology_seed=5))
    t = "natural killer cell"
    assert np.corrcoef(a[t], b[t])[0, 1] > np.corrcoef(a[t], other[t])[0, 1] + 0.05
