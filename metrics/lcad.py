"""LCAD, the lowest-common-ancestor distance of a misclassification in the Cell Ontology.

For a cell of true type t predicted as p (t != p), on the parent -> child ontology graph: the number of
edges from the lowest common ancestor of t and p down to t (a node counts as its own ancestor, so a
prediction that is a descendant of the truth scores 0 and one that is an ancestor scores the depth
difference).

- ``method="lowest"`` (default): the lowest common ancestors are the common ancestors with no common
  ancestor below them; in a DAG there can be several, and we take the one closest to t (the smallest
  value, deterministic). Only lowest ones count: a common ancestor higher up can be closer to t along
  another branch (root -> a -> t, a -> b -> c -> t, b -> p: a is 1 edge above t, but the lowest
  common ancestor is b, 2 edges above t), and taking it would measure a coarser mistake as a finer one.
- ``method="networkx"``: the one ancestor ``nx.lowest_common_ancestor`` returns, as the published code does.

Averaged over misclassified cells (lower is better). ``drop_zero=True`` reproduces the published
averaging, which re-reads the values from a table where correct cells are written as 0 and then
averages over ``LCAD != 0``: it also drops misclassified cells with LCAD 0 (predicted a descendant of
the truth). The default keeps them.
"""

from functools import cache

import networkx as nx
import numpy as np

METHODS = ("lowest", "networkx")


class LCAD:
    """LCAD on one ontology graph, with the per-pair values cached."""

    def __init__(self, graph: nx.DiGraph, method: str = "lowest", drop_zero: bool = False) -> None:
        if method not in METHODS:
            raise ValueError(f"LCAD method must be one of {', '.join(METHODS)}, got {method!r}")
        self.graph = graph
        self.method = method
        self.drop_zero = drop_zero
        self.pair = cache(self._pair)
        self._distances_up = cache(self._distances_up)

    def _distances_up(self, term: str) -> dict[str, int]:
        """Every ancestor of ``term`` (itself included) with its edge distance down to ``term``."""
        return nx.single_source_shortest_path_length(self.graph.reverse(copy=False), term)

    def lowest_common_ancestors(self, a: str, b: str) -> set[str]:
        """Common ancestors of a and b (each its own ancestor) that are no ancestor of another common one."""
        shared = set(self._distances_up(a)) & set(self._distances_up(b))
        return {c for c in shared if not any(other != c and c in self._distances_up(other) for other in shared)}

    def _pair(self, true: str, predicted: str) -> float:
        if true == predicted:
            return 0.0
        if true not in self.graph or predicted not in self.graph:
            return float("nan")
        if self.method == "networkx":
            ancestor = nx.lowest_common_ancestor(self.graph, true, predicted)
            return float("nan") if ancestor is None else float(nx.shortest_path_length(self.graph, ancestor, true))
        up = self._distances_up(true)
        lowest = self.lowest_common_ancestors(true, predicted)
        return float(min(up[a] for a in lowest)) if lowest else float("nan")

    def mean(self, true: np.ndarray, predicted: np.ndarray, drop_zero: bool | None = None) -> float:
        """Mean LCAD over misclassified cells (NaN when there are none); ``drop_zero`` defaults to the instance's."""
        drop_zero = self.drop_zero if drop_zero is None else drop_zero
        wrong = np.asarray(true) != np.asarray(predicted)
        values = np.array(
            [self.pair(t, p) for t, p in zip(np.asarray(true)[wrong], np.asarray(predicted)[wrong], strict=True)],
            dtype=float,
        )
        if drop_zero:
            values = values[values != 0]
        return float(np.nanmean(values)) if values.size and not np.all(np.isnan(values)) else float("nan")
