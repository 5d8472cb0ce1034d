"""Checks that an embedding carries information before it is scored.

A constant embedding gets BRAS 1.0, isolated labels 0.5 and silhouette 0.5, better than a random
one: metrics measure geometry, and a collapsed geometry fools several of them. ``degenerate_reason``
returns why an embedding is degenerate ('' when it passes); the evaluate step writes the reason into
every score row, and scoring leaves such embeddings out of the ranking unless
``scoring.keep_degenerate`` is true. The checks, each reported when it applies:

- **constant**: every dimension's range (max - min) is at most ``NEAR_CONSTANT`` x the largest
  absolute value (all cells at one point, up to rounding);
- **effective rank below 2**: the centred embedding (a seeded subsample of ``RANK_CELLS`` cells) has
  fewer than two singular values above ``RANK_TOLERANCE`` x the largest (all cells on one line);
- **duplicated rows**: more than ``MAX_DUPLICATED`` of the cells share their exact vector with another cell;
- **identical within every label**: the cells of each cell type (with at least two cells) share one
  vector, so the embedding is the labels themselves, whatever the other checks say.
"""

import numpy as np
import pandas as pd

NEAR_CONSTANT = 1e-6
RANK_TOLERANCE = 1e-4
RANK_CELLS = 2000
MAX_DUPLICATED = 0.5


def _row_keys(X: np.ndarray, seed: int) -> pd.DataFrame:
    """Two random projections per row: equal rows get equal keys (the same arithmetic), others differ."""
    projection = np.random.default_rng(seed).normal(size=(X.shape[1], 2)).astype(X.dtype)
    return pd.DataFrame(X @ projection)


def effective_rank(X: np.ndarray, seed: int = 0) -> int:
    """Singular values of the centred embedding above ``RANK_TOLERANCE`` x the largest (on a subsample)."""
    if len(X) > RANK_CELLS:
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), RANK_CELLS, replace=False))]
    X = np.asarray(X, dtype=np.float64)
    singular = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    if singular.size == 0 or singular[0] <= 0:
        return 0
    return int(np.sum(singular > RANK_TOLERANCE * singular[0]))


def degenerate_reason(X: np.ndarray, labels: np.ndarray | None = None, seed: int = 0) -> str:
    """Why the embedding (cells x dims) is degenerate, '' when it passes every check."""
    X = np.asarray(X)  # no float64 copy: at a million cells that is gigabytes
    reasons = []
    low, high = X.min(axis=0, initial=np.inf), X.max(axis=0, initial=-np.inf)
    largest = float(max(np.abs(low).max(initial=0.0), np.abs(high).max(initial=0.0)))
    if float((high.astype(np.float64) - low).max(initial=0.0)) <= NEAR_CONSTANT * largest:
        reasons.append("constant: every cell has the same vector")
    else:
        rank = effective_rank(X, seed)
        if rank < 2:
            reasons.append(f"effective rank {rank} (< 2): the cells lie on one line")
    keys = _row_keys(X, seed)
    duplicated = float(keys.duplicated(keep=False).mean()) if len(keys) else 0.0
    if duplicated > MAX_DUPLICATED and not reasons:
        reasons.append(f"duplicated rows: {duplicated:.0%} of the cells share their vector with another cell")
    if labels is not None and len(labels) == len(X):
        keys["label"] = np.asarray(labels, dtype=str)
        sizes = keys.groupby("label", sort=False).size()
        distinct = keys.drop_duplicates().groupby("label", sort=False).size()
        groups = sizes[sizes >= 2].index
        if len(groups) >= 2 and (distinct.loc[groups] == 1).all():
            reasons.append("identical within every label: the cells of each cell type share one vector")
    return "; ".join(reasons)
