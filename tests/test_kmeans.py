"""Our k-means against scib-metrics' KMeans (the reference): the same labels, NMI and ARI."""

import numpy as np
import pytest
import scib_metrics
from scib_metrics.utils import KMeans

from metrics import kmeans


@pytest.fixture(scope="module")
def blobs():
    """Five overlapping clusters of unequal size in 8 dimensions, away from the origin."""
    rng = np.random.default_rng(7)
    sizes = [400, 250, 150, 120, 80]
    centres = rng.normal(0, 2.5, (5, 8)) + 10.0
    X = np.vstack([rng.normal(centre, 1.0, (size, 8)) for centre, size in zip(centres, sizes, strict=True)])
    labels = np.repeat(np.array(list("abcde")), sizes)
    return X.astype(np.float32), labels


def test_labels_equal_scib_metrics_kmeans(blobs):
    X, labels = blobs
    expected = KMeans(5).fit(X.copy()).labels_
    np.testing.assert_array_equal(kmeans.kmeans_labels(X, 5), expected)


@pytest.mark.parametrize("max_iter", [2])
def test_before_the_fixed_point_scib_metrics_stopping_rule_is_followed(blobs, max_iter):
    """Few iterations: the loop ends by scib-metrics' rule (max_iter, then a settled inertia), not by
    a repeated assignment; a large tol makes any change small enough to stop at max_iter."""
    X, _ = blobs
    for tol in (1e-4, 10.0):
        expected = KMeans(5, max_iter=max_iter, tol=tol).fit(X.copy()).labels_
        np.testing.assert_array_equal(kmeans.kmeans_labels(X, 5, max_iter=max_iter, tol=tol), expected)


def test_nmi_ari_equal_scib_metrics_and_input_is_untouched(blobs):
    X, labels = blobs
    original = X.copy()
    ours = kmeans.nmi_ari_cluster_labels_kmeans(X, labels)
    np.testing.assert_array_equal(X, original)
    reference = scib_metrics.nmi_ari_cluster_labels_kmeans(X.copy(), labels)
    assert ours["nmi"] == pytest.approx(reference["nmi"], abs=1e-12)
    assert ours["ari"] == pytest.approx(reference["ari"], abs=1e-12)
    assert 0.3 < ours["ari"] < 0.99  # overlapping clusters: not trivially perfect


def test_an_empty_cluster_sits_at_the_data_mean_as_in_scib_metrics():
    X = np.arange(12.0).reshape(6, 2)
    labels = np.array([0, 0, 2, 2, 2, 0])
    means = kmeans._means(X - X.mean(axis=0), labels, 3)
    np.testing.assert_array_equal(means[1], [0.0, 0.0])
    np.testing.assert_allclose(means[0], (X[[0, 1, 5]] - X.mean(axis=0)).mean(axis=0))
