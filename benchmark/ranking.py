"""ε-non-dominated fronts and bootstrap rank intervals.

Dominance (anchor study, with ε = 0.001): p dominates q when p is strictly better than q in at least
one objective and never worse by more than ε in any. With a tolerance, p and q can each "dominate"
the other (they differ by at most ε, in opposite directions); the published code leaves that case
undefined. Our rule: mutual domination is a tie — neither dominates, and both can share a front.
Fronts come from the usual non-dominated sort: front 1 = models nobody dominates; remove it; repeat.
"""

import numpy as np
import pandas as pd

EPSILON = 0.001


def dominates(p: np.ndarray, q: np.ndarray, epsilon: float = EPSILON) -> bool:
    """p ε-dominates q, and q does not ε-dominate p (mutual domination is a tie)."""

    def raw(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.all(a >= b - epsilon) and np.any(a > b))

    return raw(p, q) and not raw(q, p)


def fronts(objectives: pd.DataFrame, epsilon: float = EPSILON) -> pd.Series:
    """Front number (1 = best) of each row (model) of a models x objectives table, higher = better.

    Rows with a missing objective are left out (NaN front): they cannot be compared on every axis.
    """
    complete = objectives.dropna()
    points = complete.to_numpy(dtype=np.float64)
    n = len(points)
    dominated_by = np.zeros(n, dtype=int)
    beats: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(n):
            if i != j and dominates(points[i], points[j], epsilon):
                beats[i].append(j)
                dominated_by[j] += 1
    front = np.zeros(n, dtype=int)
    current = [i for i in range(n) if dominated_by[i] == 0]
    level = 1
    while current:
        following = []
        for i in current:
            front[i] = level
            for j in beats[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    following.append(j)
        current, level = following, level + 1
    return pd.Series(front, index=complete.index, dtype=float).reindex(objectives.index)


def bootstrap_rank_intervals(
    scores: pd.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """Rank intervals from resampling seeds: ``scores`` is models x seeds (overall score per seed).

    Each bootstrap draws the seeds with replacement, averages each model's score over the draw and
    ranks the models (1 = best); the interval is the central ``level`` range of those ranks.
    """
    rng = np.random.default_rng(seed)
    columns = scores.columns.to_numpy()
    ranks = []
    for _ in range(n_boot):
        draw = scores[rng.choice(columns, size=len(columns), replace=True)].mean(axis=1)
        ranks.append(draw.rank(ascending=False, method="min"))
    ranks = pd.concat(ranks, axis=1)
    tail = (1 - level) / 2 * 100
    return pd.DataFrame(
        {"rank_low": np.nanpercentile(ranks, tail, axis=1), "rank_high": np.nanpercentile(ranks, 100 - tail, axis=1)},
        index=scores.index,
    )
