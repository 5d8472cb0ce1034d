"""ε-non-dominated fronts and bootstrap rank intervals.

Dominance (anchor study, with ε = 0.001): p ε-dominates q when p is strictly better than q in at least
one objective and never worse by more than ε in any. With a tolerance the relation can cycle: p and q
can each dominate the other (they differ by at most ε, in opposite directions), and with three or more
objectives A can dominate B, B dominate C and C dominate A. The published code leaves both cases
undefined (its peeling never reaches such models). Our rule, the same in leaderboard.js:

- Models in one strongly connected component of the domination graph (each reaches every other one
  through dominations) **tie**: they share a front.
- Fronts layer the graph of those components, which has no cycles: front 1 holds the components that
  nothing outside them dominates; remove them; the next front is what is then undominated; repeat.

So every model with all objectives gets a front ≥ 1, and a model on front k is dominated only by
models on fronts < k or by models it ties with. Without cycles this is the usual non-dominated sort.
"""

import networkx as nx
import numpy as np
import pandas as pd

EPSILON = 0.001


def epsilon_dominates(p: np.ndarray, q: np.ndarray, epsilon: float = EPSILON) -> bool:
    """p is better than q in some objective and worse by at most ε in none (the relation that can cycle)."""
    return bool(np.all(p >= q - epsilon) and np.any(p > q))


def dominates(p: np.ndarray, q: np.ndarray, epsilon: float = EPSILON) -> bool:
    """p ε-dominates q and q does not ε-dominate p (a pair that dominates both ways ties)."""
    return epsilon_dominates(p, q, epsilon) and not epsilon_dominates(q, p, epsilon)


def domination_graph(points: np.ndarray, epsilon: float = EPSILON) -> nx.DiGraph:
    """Edge i -> j when row i ε-dominates row j."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(points)))
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            if i != j and epsilon_dominates(p, q, epsilon):
                graph.add_edge(i, j)
    return graph


def fronts(objectives: pd.DataFrame, epsilon: float = EPSILON) -> pd.Series:
    """Front number (1 = best) of each row (model) of a models x objectives table, higher = better.

    Rows with a missing objective are left out (NaN front): they cannot be compared on every axis.
    """
    complete = objectives.dropna()
    condensed = nx.condensation(domination_graph(complete.to_numpy(dtype=np.float64), epsilon))
    front = np.zeros(len(complete), dtype=float)
    for level, components in enumerate(nx.topological_generations(condensed), start=1):
        for component in components:
            front[list(condensed.nodes[component]["members"])] = level
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
