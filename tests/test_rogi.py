import numpy as np
import pytest
from scipy.spatial.distance import pdist

from metrics.rogi import label_rogi, rogi, rogi_scores


def test_published_reference_value():
    """coleygroup/rogi tests/test_rogi.py: Y = 0..4, precomputed distances 0.1..1.0."""
    assert rogi_scores(np.arange(5.0), np.arange(1, 11) / 10)[0] == pytest.approx(0.1530913965143058, abs=1e-15)


def test_columns_are_independent_properties():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    Y = rng.random((60, 3))
    distances = pdist(X) / np.sqrt(np.sum(np.ptp(X, axis=0) ** 2))
    together = rogi_scores(Y, distances)
    alone = [rogi_scores(Y[:, j], distances)[0] for j in range(3)]
    np.testing.assert_allclose(together, alone)


def test_smooth_landscape_is_less_rough_than_a_shuffled_one():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    smooth = (X[:, 0] > 0).astype(float)
    assert rogi(smooth, X) < rogi(rng.permutation(smooth), X)


def test_constant_property_has_zero_roughness():
    X = np.random.default_rng(2).normal(size=(30, 2))
    assert rogi(np.ones(30), X) == pytest.approx(0.0)


def test_label_rogi_one_vs_rest():
    X = np.array([[0.0, 0], [0.1, 0], [5, 5], [5.1, 5], [9, 0], [9.1, 0]])
    labels = np.array(["a", "a", "b", "b", "c", "c"])
    scores = label_rogi(X, labels)
    assert set(scores) == {"a", "b", "c"} and all(0 <= v <= 1 for v in scores.values())


def test_unscaled_distances_are_rejected():
    with pytest.raises(ValueError, match="largest achievable distance"):
        rogi_scores(np.arange(3.0), np.array([0.5, 2.0, 1.0]))
