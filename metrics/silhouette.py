"""Silhouette widths as scib-metrics defines them, computed with float64 matrix products.

scib-metrics evaluates every pairwise distance with JAX, one 256-row chunk at a time, and its
``isolated_labels`` and ``silhouette_label`` each recompute the same cell-type silhouettes. Here the
per-cell sums of distances to every group come from BLAS (``|x|² + |y|² − 2x·y``, then ``D @ onehot``)
in float64, and one set of cell-type silhouettes serves both metrics. The definitions (``nearest``,
``mean_other``, ``furthest`` between-cluster distances; cosine distance clipped to [0, 2]; NaN → 0)
are scib-metrics' own; tests check equality with scib-metrics.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from metrics.base import available_cores

Metric = Literal["euclidean", "cosine"]
Between = Literal["nearest", "mean_other", "furthest"]
CHUNK_ELEMENTS = 2**22  # distances per block and thread (32 MB in float64)


def group_distance_sums(X: np.ndarray, codes: np.ndarray, n_groups: int, metric: Metric = "euclidean") -> np.ndarray:
    """Per cell, the sum of its distances to the cells of each group (n_cells x n_groups).

    Row blocks run on a thread per core (NumPy and BLAS release the GIL), BLAS single-threaded inside.
    """
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    if metric == "euclidean":  # one product gives |x|^2 + |y|^2 - 2 x.y
        squared = np.einsum("ij,ij->i", X, X)[:, None]
        left, right = np.hstack([-2.0 * X, squared, np.ones((n, 1))]), np.hstack([X, np.ones((n, 1)), squared])
    elif metric == "cosine":
        with np.errstate(invalid="ignore", divide="ignore"):
            left = right = X / np.linalg.norm(X, axis=1, keepdims=True)
    else:
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    onehot = np.zeros((n, n_groups))
    onehot[np.arange(n), codes] = 1.0
    sums = np.empty((n, n_groups))
    rows = max(1, CHUNK_ELEMENTS // max(n, 1))

    def block_sums(start: int) -> None:
        stop = min(start + rows, n)
        block = left[start:stop] @ right.T
        if metric == "euclidean":
            np.maximum(block, 0.0, out=block)
            np.sqrt(block, out=block)
            block[np.arange(stop - start), np.arange(start, stop)] = 0.0  # exactly zero to itself
        else:
            np.subtract(1.0, block, out=block)
            np.clip(block, 0.0, 2.0, out=block)
        sums[start:stop] = block @ onehot

    with threadpool_limits(1), ThreadPoolExecutor(available_cores()) as pool:
        list(pool.map(block_sums, range(0, n, rows)))
    return sums


def silhouette_samples(
    X: np.ndarray, groups: np.ndarray, metric: Metric = "euclidean", between: Between = "nearest"
) -> np.ndarray:
    """Silhouette width of every cell for the grouping ``groups`` (scib-metrics' ``silhouette_samples``)."""
    codes = np.asarray(pd.Categorical(groups).codes)
    sizes = np.bincount(codes).astype(np.float64)
    sums = group_distance_sums(X, codes, len(sizes), metric)
    cells = np.arange(len(codes))
    with np.errstate(invalid="ignore", divide="ignore"):
        intra = sums[cells, codes] / np.maximum(sizes[codes] - 1.0, 0.0)
        others = sums.copy()
        if between == "mean_other":
            others[cells, codes] = 0.0
            inter = others.sum(axis=1) / (sizes.sum() - sizes[codes])
        elif between in ("nearest", "furthest"):
            others[cells, codes] = np.inf if between == "nearest" else -np.inf
            others /= sizes
            inter = others.min(axis=1) if between == "nearest" else others.max(axis=1)
        else:
            raise ValueError(f"between must be 'nearest', 'mean_other' or 'furthest', got {between!r}")
        widths = (inter - intra) / np.maximum(intra, inter)
    return np.nan_to_num(widths)


def label_silhouettes(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cell-type silhouettes rescaled to [0, 1]; shared by silhouette_label and isolated_labels."""
    return (silhouette_samples(X, labels) + 1.0) / 2.0


def silhouette_label(widths: np.ndarray) -> float:
    """scib-metrics' ``silhouette_label`` from :func:`label_silhouettes`."""
    return float(np.mean(widths))


def isolated_labels(widths: np.ndarray, labels: np.ndarray, batches: np.ndarray) -> float:
    """scib-metrics' ``isolated_labels`` (ASW variant) from :func:`label_silhouettes`."""
    pairs = pd.DataFrame({"label": labels, "batch": batches}).drop_duplicates()
    batches_per_label = pairs.groupby("label")["batch"].count()
    isolated = batches_per_label.index[batches_per_label <= batches_per_label.min()]
    return float(pd.Series({label: np.mean(widths[labels == label]) for label in isolated}).mean())


def batch_silhouette(
    X: np.ndarray, labels: np.ndarray, batches: np.ndarray, metric: Metric = "euclidean", between: Between = "nearest"
) -> float:
    """scib-metrics' ``silhouette_batch``; with cosine and ``mean_other`` it is BRAS."""
    means = []
    for label in np.unique(labels):
        inside = labels == label
        n_batches = len(np.unique(batches[inside]))
        if n_batches == 1 or n_batches == inside.sum():
            continue
        widths = silhouette_samples(X[inside], batches[inside], metric, between)
        means.append(np.mean(1.0 - np.abs(widths)))
    if not means:
        raise ValueError("no label has cells from more than one batch (and fewer batches than cells)")
    return float(np.mean(means))
