"""ROGI, the roughness index of Aldeghi et al. (J. Chem. Inf. Model. 2022), ported to numpy/scipy.

For a property y over points X: normalise y to [0, 1]; divide pairwise distances by the largest
achievable one (Euclidean: the norm of the per-dimension ranges); cluster with complete linkage;
for thresholds t (merge heights kept >= ``min_dt`` apart, plus 0 and 1), σ(t) = 2 · the size-weighted
std of the cluster means of y; ROGI = σ(0) − ∫₀¹ σ(t) dt (trapezoids). Higher = rougher.
scipy's complete linkage replaces fastcluster's (same merge heights). Several properties over the
same points share one tree and one set of cuts.
"""

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist


def _normalise(Y: np.ndarray) -> np.ndarray:
    low, span = Y.min(axis=0), Y.max(axis=0) - Y.min(axis=0)
    return np.where(span > 1e-10, (Y - low) / np.where(span > 1e-10, span, 1.0), Y - low)


def _dispersion(clusters: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per column of Y: 2 · size-weighted std of its per-cluster means."""
    _, codes = np.unique(clusters, return_inverse=True)
    sizes = np.bincount(codes).astype(np.float64)
    sums = np.zeros((len(sizes), Y.shape[1]))
    np.add.at(sums, codes, Y)
    means = sums / sizes[:, None]
    centre = (sizes @ means) / sizes.sum()
    variance = (sizes @ (means - centre) ** 2) / sizes.sum()
    return 2.0 * np.sqrt(variance)


def _thresholds(heights: np.ndarray, min_dt: float) -> list[float]:
    kept, previous = [], -1.0
    for height in heights:
        if height - min_dt >= previous:
            kept.append(float(height))
            previous = height
    return kept


def rogi_scores(Y: np.ndarray, distances: np.ndarray, min_dt: float = 0.01, normalise_y: bool = True) -> np.ndarray:
    """ROGI of each column of ``Y`` (n_points x k) for a condensed distance vector scaled to [0, 1]."""
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    Y = _normalise(Y) if normalise_y else Y
    distances = np.asarray(distances, dtype=np.float64)
    if np.any(distances > 1.0 + 1e-12):
        raise ValueError("distances must be divided by the largest achievable distance (got values > 1)")
    tree = linkage(distances, method="complete")
    cuts = _thresholds(tree[:, 2], min_dt)
    t = np.array([0.0, *cuts, 1.0])
    sigma = np.stack([_dispersion(fcluster(tree, t=c, criterion="distance"), Y) for c in (-0.1, *cuts, 1.1)])
    area = ((sigma[:-1] + sigma[1:]) * 0.5 * np.diff(t)[:, None]).sum(axis=0)
    return sigma[0] - area


def rogi(y: np.ndarray, X: np.ndarray, min_dt: float = 0.01) -> float:
    """ROGI of property ``y`` over points ``X`` with Euclidean distances (d_max from the column ranges)."""
    return float(rogi_scores(np.asarray(y)[:, None], euclidean_distances_scaled(X), min_dt)[0])


def euclidean_distances_scaled(X: np.ndarray) -> np.ndarray:
    """Condensed Euclidean distances divided by the norm of the per-dimension ranges (ROGI's d_max)."""
    X = np.asarray(X, dtype=np.float64)
    max_distance = float(np.sqrt(np.sum((X.max(axis=0) - X.min(axis=0)) ** 2)))
    if max_distance == 0:
        raise ValueError("all points coincide; ROGI is undefined")
    return pdist(X) / max_distance


def label_rogi(X: np.ndarray, labels: np.ndarray, min_dt: float = 0.01) -> dict[str, float]:
    """ROGI of every one-vs-rest indicator of ``labels`` over ``X`` (one tree for all labels)."""
    names = np.unique(labels)
    indicators = (np.asarray(labels)[:, None] == names[None, :]).astype(np.float64)
    scores = rogi_scores(indicators, euclidean_distances_scaled(X), min_dt)
    return dict(zip(names.tolist(), scores.tolist(), strict=True))
