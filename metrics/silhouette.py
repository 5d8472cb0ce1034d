"""Silhouette widths as scib-metrics defines them, computed with float64 matrix products.

scib-metrics evaluates every pairwise distance with JAX, one 256-row chunk at a time, and its
``isolated_labels`` and ``silhouette_label`` each recompute the same cell-type silhouettes. Here the
per-cell sums of distances to every group come from float64 BLAS: Euclidean distances tile by tile
(``|x|² + |y|² − 2x·y``, then ``D @ onehot``), each tile of the upper triangle once (the matrix is
symmetric); cosine distances need no pairs at all (the sum of ``1 − x̂·ŷ`` over a group is the group's
size minus ``x̂`` dotted with the sum of its unit vectors). One set of cell-type silhouettes serves
both metrics. The definitions (``nearest``, ``mean_other``, ``furthest`` between-cluster distances;
cosine distance clipped to [0, 2], which only rounding can leave; NaN → 0) are scib-metrics' own;
tests check equality with scib-metrics.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from metrics.base import available_cores

Distance = Literal["euclidean", "cosine"]
Between = Literal["nearest", "mean_other", "furthest"]
TILE = 1024  # rows and columns of one block of Euclidean distances (8 MB in float64)


def group_distance_sums(X: np.ndarray, codes: np.ndarray, n_groups: int, metric: Distance = "euclidean") -> np.ndarray:
    """Per cell, the sum of its distances to the cells of each group (n_cells x n_groups)."""
    X = np.asarray(X, dtype=np.float64)
    onehot = np.zeros((len(X), n_groups))
    onehot[np.arange(len(X)), codes] = 1.0
    if metric == "cosine":
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = X / np.linalg.norm(X, axis=1, keepdims=True)
        sizes, group_sums = onehot.sum(axis=0), onehot.T @ unit  # each group's size and sum of unit vectors
        sums = sizes[None, :] - unit @ group_sums.T
        # Its own group without the cell itself, so that its distance to itself is exactly 0: 1 - x.x rounds
        # to +-1e-16, which a lone cell's 0 others turned into an infinite silhouette (and BRAS into -1e305).
        own = (sizes[codes] - 1.0) - np.einsum("ij,ij->i", unit, group_sums[codes] - unit)
        sums[np.arange(len(X)), codes] = own
        return sums
    if metric != "euclidean":
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    return _euclidean_sums(X, onehot)


def _euclidean_sums(X: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Group sums of Euclidean distances from the upper-triangle tiles, spread over a thread per core
    (NumPy and BLAS release the GIL; BLAS single-threaded inside); each thread keeps its own sums."""
    n = len(X)
    squared = np.einsum("ij,ij->i", X, X)[:, None]  # one product gives |x|^2 + |y|^2 - 2 x.y
    left, right = np.hstack([-2.0 * X, squared, np.ones((n, 1))]), np.hstack([X, np.ones((n, 1)), squared])
    tiles = [(i, j) for i in range(0, n, TILE) for j in range(i, n, TILE)]

    def tile_sums(share: list[tuple[int, int]]) -> np.ndarray:
        sums = np.zeros_like(onehot)
        for i, j in share:
            rows, cols = slice(i, min(i + TILE, n)), slice(j, min(j + TILE, n))
            block = left[rows] @ right[cols].T
            np.maximum(block, 0.0, out=block)
            np.sqrt(block, out=block)
            if i == j:
                np.fill_diagonal(block, 0.0)  # exactly zero to itself
            sums[rows] += block @ onehot[cols]
            if i != j:
                sums[cols] += block.T @ onehot[rows]
        return sums

    threads = min(available_cores(), len(tiles))
    with threadpool_limits(1), ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(tile_sums, [tiles[k::threads] for k in range(threads)]))


def silhouette_samples(
    X: np.ndarray, groups: np.ndarray, metric: Distance = "euclidean", between: Between = "nearest"
) -> np.ndarray:
    """Silhouette width of every cell for the grouping ``groups`` (scib-metrics' ``silhouette_samples``)."""
    codes = pd.factorize(np.asarray(groups))[0]  # only the groups present: no empty group divides by 0
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
    X: np.ndarray, labels: np.ndarray, batches: np.ndarray, metric: Distance = "euclidean", between: Between = "nearest"
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
