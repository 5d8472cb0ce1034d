import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy.stats import special_ortho_group

from metrics.scgraph import dca_embedding, ontology_vectors, random_walk_with_restart, scgraph_ontorwr

TYPES = ["A", "B", "C", "D"]
# Hand-built ontology distances: a path A - B - C - D (edge counts).
ONTOLOGY = pd.DataFrame(
    [[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0, 1], [3, 2, 1, 0]], index=TYPES, columns=TYPES, dtype=float
)


def one_dimensional_cells():
    """10 identical cells per type at 1-D positions A=0, B=1, C=3, D=6 (trimmed means are exact)."""
    positions = {"A": 0.0, "B": 1.0, "C": 3.0, "D": 6.0}
    labels = np.repeat(TYPES, 10)
    return np.array([[positions[t]] for t in labels]), labels


def test_scgraph_by_hand():
    X, labels = one_dimensional_cells()
    # Centroid distances: A [0,1,3,6], B [1,0,2,5], C [3,2,0,3], D [6,5,3,0]; columns divided by max (6,5,3,6).
    # Without the diagonal, each column pairs the other three types' values:
    by_hand = {
        "A": np.corrcoef([1 / 6, 3 / 6, 6 / 6], [1, 2, 3])[0, 1],  # rows B, C, D
        "B": np.corrcoef([1 / 5, 2 / 5, 5 / 5], [1, 1, 2])[0, 1],  # rows A, C, D
        "C": np.corrcoef([3 / 3, 2 / 3, 3 / 3], [2, 1, 1])[0, 1],  # rows A, B, D
        "D": np.corrcoef([6 / 6, 5 / 6, 3 / 6], [3, 2, 1])[0, 1],  # rows A, B, C
    }
    result = scgraph_ontorwr(X, labels, ONTOLOGY)
    assert result.per_type.to_dict() == pytest.approx(by_hand)
    assert result.score == pytest.approx(np.mean(list(by_hand.values())))
    assert by_hand["A"] == pytest.approx(0.9934, abs=1e-4)  # (x - 5/9) . (-1, 0, 1) / (|x - 5/9| * sqrt 2)


def test_published_variant_keeps_the_diagonal():
    X, labels = one_dimensional_cells()
    with_diagonal = scgraph_ontorwr(X, labels, ONTOLOGY, include_diagonal=True)
    expected_a = np.corrcoef([0, 1 / 6, 3 / 6, 6 / 6], [0, 1, 2, 3])[0, 1]
    assert with_diagonal.per_type["A"] == pytest.approx(expected_a)
    assert with_diagonal.score > scgraph_ontorwr(X, labels, ONTOLOGY).score  # the (0, 0) point inflates it


def test_small_types_are_dropped_and_reported():
    X, labels = one_dimensional_cells()
    X = np.vstack([X, [[2.0]] * 4])
    labels = np.concatenate([labels, ["E"] * 4])
    result = scgraph_ontorwr(X, labels, ONTOLOGY.reindex(index=TYPES + ["E"], columns=TYPES + ["E"]).fillna(1.0))
    assert result.dropped == ["E"] and list(result.per_type.index) == TYPES


def test_invariant_to_scaling_and_nearly_to_rotation():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (6, 8))
    labels = np.repeat([f"t{i}" for i in range(6)], 40)
    X = centres[np.repeat(np.arange(6), 40)] + rng.normal(0, 1, (240, 8))
    types = sorted(set(labels))
    ontology = pd.DataFrame(rng.random((6, 6)), index=types, columns=types)
    ontology = (ontology + ontology.T) / 2
    base = scgraph_ontorwr(X, labels, ontology).score
    assert scgraph_ontorwr(X * 7.5, labels, ontology).score == pytest.approx(base, abs=1e-12)
    rotated = X @ special_ortho_group.rvs(8, random_state=1)
    # per-dimension trimming is not exactly rotation-equivariant; the score moves only marginally
    assert scgraph_ontorwr(rotated, labels, ontology).score == pytest.approx(base, abs=0.02)


def test_rwr_converges_to_the_closed_form():
    # Path a - b - c: P (row-stochastic) and the fixed point Q = r (I - (1 - r) P)^-1.
    adjacency = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    transition = adjacency / adjacency.sum(axis=0, keepdims=True)
    fixed_point = 0.7 * np.linalg.inv(np.eye(3) - 0.3 * transition.T)
    profile = random_walk_with_restart(adjacency, tolerance=1e-12, max_iterations=200)
    np.testing.assert_allclose(profile, fixed_point, atol=1e-10)
    np.testing.assert_allclose(profile.sum(axis=1), 1.0)  # each row is a probability distribution


def test_isolated_node_walks_to_itself():
    profile = random_walk_with_restart(np.zeros((2, 2)))
    np.testing.assert_allclose(profile, np.eye(2))


def test_dca_distances_match_a_full_svd():
    rng = np.random.default_rng(3)
    adjacency = np.triu(rng.random((40, 40)) < 0.1, 1).astype(float)
    profile = random_walk_with_restart(adjacency + adjacency.T)
    logged = np.log(profile + 1 / 40**2) - np.log(1 / 40**2)
    u, s, _ = np.linalg.svd(logged)
    reference = u[:, :10] * np.sqrt(s[:10])
    ours = dca_embedding(profile, 10)
    from scipy.spatial.distance import pdist

    np.testing.assert_allclose(pdist(ours), pdist(reference), atol=1e-9)


def test_ontology_distance_follows_the_tree():
    tree = nx.DiGraph([("root", "a"), ("root", "b"), ("a", "a1"), ("a", "a2"), ("b", "b1"), ("b", "b2")])
    nodes, vectors = ontology_vectors(tree, dims=5)
    position = dict(zip(nodes, vectors, strict=True))

    def distance(x, y):
        return np.linalg.norm(position[x] - position[y])

    assert distance("a1", "a2") < distance("a1", "b1")
