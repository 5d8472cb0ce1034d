import networkx as nx
import numpy as np
import pytest

from metrics.lcad import LCAD

# root
#  ├─ A ─┬─ A1 ── A1a
#  │     └─ A2
#  └─ B ── B1
TREE = nx.DiGraph([("root", "A"), ("root", "B"), ("A", "A1"), ("A", "A2"), ("A1", "A1a"), ("B", "B1")])


@pytest.mark.parametrize("method", ["closest", "networkx"])
def test_pairs_by_hand(method):
    lcad = LCAD(TREE, method)
    assert lcad.pair("A1a", "A2") == 2  # LCA A; A -> A1 -> A1a
    assert lcad.pair("A1a", "B1") == 3  # LCA root; root -> A -> A1 -> A1a
    assert lcad.pair("A1", "A1a") == 0  # predicted a descendant of the truth: LCA is the truth
    assert lcad.pair("A1a", "A1") == 1  # predicted the parent: depth difference
    assert lcad.pair("A2", "A2") == 0


def test_mean_over_misclassified_cells_only():
    lcad = LCAD(TREE)
    true = np.array(["A1a", "A1a", "A1a", "A2", "B1"])
    predicted = np.array(["A1a", "A2", "B1", "A2", "B1"])
    assert lcad.mean(true, predicted) == pytest.approx((2 + 3) / 2)
    assert np.isnan(lcad.mean(true, true))


def test_several_lowest_common_ancestors_take_the_closest_to_the_truth():
    # x has two parents p (near the root) and q (deep); y shares both: closest LCA to x is q (1 edge)...
    dag = nx.DiGraph([("r", "p"), ("r", "m"), ("m", "q"), ("p", "x"), ("q", "x"), ("p", "y"), ("q", "y")])
    assert LCAD(dag).pair("x", "y") == 1


def test_terms_outside_the_ontology_give_nan():
    assert np.isnan(LCAD(TREE).pair("A1", "Z"))


def test_method_is_checked():
    with pytest.raises(ValueError, match="LCAD method must be"):
        LCAD(TREE, "furthest")
