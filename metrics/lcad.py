"""LCAD, the lowest-common-ancestor distance of a misclassification in the Cell Ontology.

For a cell of true type t predicted as p (t != p), on the parent -> child ontology graph: the number of
edges from the lowest common ancestor of t and p down to t (a node counts as its own ancestor, so a
prediction that is a descendant of the truth scores 0 and one that is an ancestor scores the depth
difference). Where t and p have several lowest common ancestors, the clean variant takes the one closest
to t (deterministic); ``method="networkx"`` takes the one ``nx.lowest_common_ancestor`` returns, as the
published code does. Averaged over misclassified cells only; lower is better.
"""

from functools import cache

import networkx as nx
import numpy as np


class LCAD:
    """LCAD on one ontology graph, with the per-pair values cached."""

    def __init__(self, graph: nx.DiGraph, method: str = "closest") -> None:
        if method not in ("closest", "networkx"):
            raise ValueError(f"LCAD method must be 'closest' or 'networkx', got {method!r}")
        self.graph = graph
        self.method = method
        self.pair = cache(self._pair)

    def _depths_above(self, term: str) -> dict[str, int]:
        """Every ancestor of ``term`` (itself included) with its edge distance down to ``term``."""
        return nx.single_source_shortest_path_length(self.graph.reverse(copy=False), term)

    def _pair(self, true: str, predicted: str) -> float:
        if true == predicted:
            return 0.0
        if true not in self.graph or predicted not in self.graph:
            return float("nan")
        if self.method == "networkx":
            ancestor = nx.lowest_common_ancestor(self.graph, true, predicted)
            return float("nan") if ancestor is None else float(nx.shortest_path_length(self.graph, ancestor, true))
        above_true = self._depths_above(true)
        shared = set(above_true) & set(self._depths_above(predicted))
        return float(min(above_true[a] for a in shared)) if shared else float("nan")

    def mean(self, true: np.ndarray, predicted: np.ndarray) -> float:
        """Mean LCAD over misclassified cells (NaN when there are none)."""
        wrong = np.asarray(true) != np.asarray(predicted)
        if not wrong.any():
            return float("nan")
        values = [self.pair(t, p) for t, p in zip(np.asarray(true)[wrong], np.asarray(predicted)[wrong], strict=True)]
        return float(np.nanmean(values)) if not np.all(np.isnan(values)) else float("nan")
