"""Our BLAS silhouettes against scib-metrics' JAX ones (the reference), and the atlas subsample."""

import numpy as np
import pytest
import scib_metrics
from scib_metrics.utils import silhouette_samples as reference_samples

from metrics import scib, silhouette
from metrics.integration import INTEGRATION_METRICS, IntegrationInput


@pytest.fixture(scope="module")
def cells():
    rng = np.random.default_rng(3)
    labels = rng.choice(["a", "b", "c", "d"], size=900, p=[0.4, 0.3, 0.2, 0.1])
    batches = rng.choice(["x", "y", "z"], size=900)
    centres = {"a": 0.0, "b": 1.5, "c": 3.0, "d": -2.0}
    X = rng.normal(size=(900, 12)) + np.array([centres[label] for label in labels])[:, None]
    X[:, 0] += (batches == "y") * 0.7
    labels[batches == "z"] = np.where(labels[batches == "z"] == "d", "a", labels[batches == "z"])  # d: 2 batches
    return X.astype(np.float32), labels, batches


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("between", ["nearest", "mean_other", "furthest"])
def test_samples_equal_scib_metrics(cells, metric, between):
    X, labels, _ = cells
    ours = silhouette.silhouette_samples(X, labels, metric, between)
    reference = reference_samples(X, labels, metric=metric, between_cluster_distances=between)
    np.testing.assert_allclose(ours, reference, atol=2e-6)


@pytest.mark.parametrize("tile", [7, 300, 899])  # tiles that do not divide the cells; one tile and a sliver
def test_small_tiles_give_the_same_sums(cells, monkeypatch, tile):
    X, labels, _ = cells
    codes = np.unique(labels, return_inverse=True)[1]
    whole = silhouette.group_distance_sums(X, codes, 4)
    monkeypatch.setattr(silhouette, "TILE", tile)
    np.testing.assert_allclose(silhouette.group_distance_sums(X, codes, 4), whole, rtol=1e-12)


def test_sums_equal_a_direct_pairwise_sum(cells):
    from scipy.spatial.distance import cdist

    X, labels, _ = cells
    codes = np.unique(labels, return_inverse=True)[1]
    onehot = np.eye(4)[codes]
    for metric in ("euclidean", "cosine"):
        direct = np.clip(
            cdist(X.astype(np.float64), X.astype(np.float64), metric), 0.0, 2.0 if metric == "cosine" else None
        )
        np.testing.assert_allclose(
            silhouette.group_distance_sums(X, codes, 4, metric), direct @ onehot, rtol=1e-9, atol=1e-9
        )


def test_singleton_group_scores_zero_as_in_scib_metrics():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [9.0, 9.0]])
    labels = np.array(["a", "a", "b", "b", "lonely"])
    ours = silhouette.silhouette_samples(X, labels)
    assert ours[-1] == 0.0
    np.testing.assert_allclose(ours, reference_samples(X, labels), atol=1e-6)


def test_a_lone_cell_of_a_batch_scores_like_scib_metrics_under_cosine():
    """A batch with one cell inside a label: its own-group distance sum is 0/0 (silhouette 0). The cosine sums
    must leave the cell's distance to itself out exactly: rounding of 1 - x.x made -inf, and BRAS -1e305."""
    rng = np.random.default_rng(0)
    labels = np.repeat([f"t{i}" for i in range(40)], 6)
    batches = np.tile(["x"] * 5 + ["y"], 40)
    X = rng.normal(size=(len(labels), 8)).astype(np.float32)
    for between in ("nearest", "mean_other", "furthest"):
        ours = silhouette.silhouette_samples(X, batches, "cosine", between)
        np.testing.assert_allclose(ours, reference_samples(X, batches, metric="cosine",
                                                           between_cluster_distances=between), atol=2e-6)  # fmt: skip
        lone = silhouette.silhouette_samples(X[:6], batches[:6], "cosine", between)
        assert lone[-1] == 0.0
    bras = silhouette.batch_silhouette(X, labels, batches, "cosine", "mean_other")
    assert bras == pytest.approx(scib_metrics.bras(X, labels, batches), abs=1e-6)


def test_unused_categories_change_nothing(cells):
    """A categorical grouping with a category no cell has (as a subset of a label keeps them) gives the same widths."""
    import pandas as pd

    X, labels, _ = cells
    grouped = pd.Categorical(labels, categories=["absent", *sorted(set(labels))])
    for between in ("nearest", "mean_other"):
        np.testing.assert_array_equal(
            silhouette.silhouette_samples(X, grouped, "euclidean", between),
            silhouette.silhouette_samples(X, labels, "euclidean", between),
        )


def test_metric_values_equal_scib_metrics(cells):
    X, labels, batches = cells
    widths = silhouette.label_silhouettes(X, labels)
    assert silhouette.silhouette_label(widths) == pytest.approx(scib_metrics.silhouette_label(X, labels), abs=1e-6)
    assert silhouette.isolated_labels(widths, labels, batches) == pytest.approx(
        scib_metrics.isolated_labels(X, labels, batches), abs=1e-6
    )
    assert silhouette.batch_silhouette(X, labels, batches) == pytest.approx(
        scib_metrics.silhouette_batch(X, labels, batches), abs=1e-6
    )
    assert silhouette.batch_silhouette(X, labels, batches, "cosine", "mean_other") == pytest.approx(
        scib_metrics.bras(X, labels, batches), abs=1e-6
    )


def test_batch_silhouette_without_any_mixed_label_is_an_error():
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(ValueError, match="more than one batch"):
        silhouette.batch_silhouette(X, np.array(["a", "a", "b", "b"]), np.array(["x", "x", "y", "y"]))


def test_atlas_subsample_is_seeded_recorded_and_used(cells):
    X, labels, batches = cells
    inputs = IntegrationInput(X, labels, batches, X, quadratic_cells=300, seed=4)
    value = INTEGRATION_METRICS["silhouette_label"].fn(inputs)
    chosen = np.sort(np.random.default_rng(4).choice(len(X), size=300, replace=False))
    assert value == pytest.approx(scib_metrics.silhouette_label(X[chosen], labels[chosen]), abs=1e-6)
    record = inputs.details["scale"].iloc[0]
    assert (record["step"], record["n_cells"], record["n_used"], record["seed"]) == ("silhouettes", 900, 300, 4)
    full = IntegrationInput(X, labels, batches, X)
    assert INTEGRATION_METRICS["silhouette_label"].fn(full) != pytest.approx(value, abs=1e-6)
    assert "scale" not in full.details


def test_neighbour_graph_is_approximate_only_above_the_threshold_and_recorded(cells, monkeypatch):
    X, labels, batches = cells
    calls = []

    def fake_pynndescent(X, n_neighbors, random_state, n_jobs):
        calls.append((len(X), n_neighbors, random_state))
        return scib.exact_neighbors(X, n_neighbors)

    monkeypatch.setattr(scib, "pynndescent", fake_pynndescent)
    assert IntegrationInput(X, labels, batches, X, exact_knn_cells=900).neighbors.indices.shape == (900, 90)
    assert calls == []
    large = IntegrationInput(X, labels, batches, X, exact_knn_cells=899, seed=2)
    assert large.neighbors.indices.shape == (900, 90)
    assert calls == [(900, 90, 2)]
    assert large.details["scale"]["method"].tolist() == ["pynndescent (approximate)"]


def test_kmeans_leaves_the_embedding_unchanged(cells):
    """scib-metrics' own k-means changes X in place by float32 rounding; ours must not (later metrics
    would see a rounded array, and values would depend on metric order)."""
    X, labels, batches = cells
    X = X + 3.0
    original = X.copy()
    INTEGRATION_METRICS["kmeans_nmi"].fn(IntegrationInput(X, labels, batches, X))
    np.testing.assert_array_equal(X, original)
