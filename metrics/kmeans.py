"""scib-metrics' k-means (``scib_metrics.utils.KMeans``: k-means++ start, Lloyd iterations), run faster.

scib-metrics runs at least ``max_iter`` (300) Lloyd iterations in JAX, each building an
(n_cells, k, d) selection to average the clusters, and stops after that only once the inertia
changes by at most ``tol`` x the mean feature variance. Here the start is scib-metrics' own
(``KMeans(max_iter=0)`` returns its k-means++ centroids unchanged), and the iterations are float64
BLAS products on the centred data. Once an assignment repeats, the centroids repeat and so does every
later iteration, so the loop stops there with the labels scib-metrics' loop ends with; without a
repeat it follows scib-metrics' rule (at least ``max_iter`` iterations, then until the inertia settles).
The input is never modified (scib-metrics' ``fit`` subtracts the mean from X in place and adds it back).
"""

import numpy as np
from scib_metrics.utils import KMeans
from sklearn.metrics.cluster import adjusted_rand_score, normalized_mutual_info_score

MAX_ITER = 300  # scib-metrics' KMeans default
TOL = 1e-4  # scib-metrics' KMeans default, relative to the mean feature variance


def kmeans_plus_plus(X: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """scib-metrics' k-means++ centroids (its default seed 0), without Lloyd iterations."""
    return KMeans(n_clusters, max_iter=0, seed=seed).fit(np.array(X, dtype=np.float32)).cluster_centroids_


def _assign(X: np.ndarray, squared_norms: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, float]:
    """Nearest centroid of every row and the inertia (sum of squared distances to it)."""
    distances = centroids @ X.T  # (k, n): argmin over the short axis
    distances *= -2.0
    distances += np.einsum("ij,ij->i", centroids, centroids)[:, None]
    labels = np.argmin(distances, axis=0)
    inertia = float(np.maximum(distances[labels, np.arange(len(labels))] + squared_norms, 0.0).sum())
    return labels, inertia


def _means(X: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Cluster means; an empty cluster's centroid is 0 (the data mean), as in scib-metrics."""
    counts = np.maximum(np.bincount(labels, minlength=n_clusters), 1)
    sums = np.column_stack([np.bincount(labels, weights=column, minlength=n_clusters) for column in X.T])
    return sums / counts[:, None]


def kmeans_labels(X: np.ndarray, n_clusters: int, max_iter: int = MAX_ITER, tol: float = TOL) -> np.ndarray:
    """Cluster labels of scib-metrics' ``KMeans(n_clusters).fit(X).labels_``."""
    X32 = np.asarray(X, dtype=np.float32)
    threshold = float(np.mean(np.var(X32, axis=0))) * tol
    mean = X32.mean(axis=0)
    centred = (X32 - mean).astype(np.float64)  # scib-metrics centres in float32, then iterates
    centroids = kmeans_plus_plus(X32, n_clusters).astype(np.float64) - mean
    squared_norms = np.einsum("ij,ij->i", centred, centred)
    labels, previous, inertia, iterations = None, np.inf, np.inf, 0
    while iterations < max_iter or abs(previous - inertia) > threshold:
        new_labels, new_inertia = _assign(centred, squared_norms, centroids)
        if labels is not None and np.array_equal(new_labels, labels):
            return labels  # a fixed point: every later iteration repeats this one
        labels, previous, inertia = new_labels, inertia, new_inertia
        centroids = _means(centred, labels, n_clusters)
        iterations += 1
    return _assign(centred, squared_norms, centroids)[0]


def nmi_ari_cluster_labels_kmeans(X: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """scib-metrics' ``nmi_ari_cluster_labels_kmeans``: NMI and ARI of k-means with k = number of labels."""
    predicted = kmeans_labels(X, len(np.unique(labels)))
    nmi = normalized_mutual_info_score(labels, predicted, average_method="arithmetic")
    return {"nmi": float(nmi), "ari": float(adjusted_rand_score(labels, predicted))}
