import networkx as nx
import numpy as np
import pytest

from metrics.lcad import LCAD

# root
#  ├─ A ─┬─ A1 ── A1a
#  │     └─ A2
#  └─ B ── B1
TREE = nx.DiGraph([("root", "A"), ("root", "B"), ("A", "A1"), ("A", "A2"), ("A1", "A1a"), ("B", "B1")])


@pytest.mark.parametrize("method", ["lowest", "networkx"])
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


# root -> a -> t, a -> b -> c -> t, b -> p (the issue's DAG). Common ancestors of t and p: a, b, root.
# The lowest is b (a and root are above it): 2 edges down to t (b -> c -> t). The closest common ancestor, a,
# is 1 edge above t: taking it would score this mistake as finer than it is.
ISSUE_DAG = nx.DiGraph([("root", "a"), ("a", "t"), ("a", "b"), ("b", "c"), ("c", "t"), ("b", "p")])


@pytest.mark.parametrize("method", ["lowest", "networkx"])
def test_the_lowest_common_ancestor_not_the_closest_common_one(method):
    lcad = LCAD(ISSUE_DAG, method)
    assert lcad.lowest_common_ancestors("t", "p") == {"b"}
    assert lcad.pair("t", "p") == 2  # not 1 (through a)
    assert lcad.pair("p", "t") == 1  # b -> p


def test_several_lowest_common_ancestors_take_the_closest_to_the_truth():
    # t has parents l1 and u (u's parent is l2); p has parents l1 and l2. Lowest common ancestors: l1 and l2
    # (neither is above the other). l1 is 1 edge above t, l2 is 2: the default takes 1; networkx returns one of them.
    dag = nx.DiGraph([("r", "l1"), ("r", "l2"), ("l1", "t"), ("l2", "u"), ("u", "t"), ("l1", "p"), ("l2", "p")])
    lowest = LCAD(dag)
    assert lowest.lowest_common_ancestors("t", "p") == {"l1", "l2"}
    assert lowest.pair("t", "p") == 1
    picked = nx.lowest_common_ancestor(dag, "t", "p")
    assert LCAD(dag, "networkx").pair("t", "p") == nx.shortest_path_length(dag, picked, "t")


def test_published_averaging_drops_zeros():
    # Misclassified: A1a as A2 (2), A1 as A1a (0: a descendant of the truth), A1a as B1 (3).
    true = np.array(["A1a", "A1", "A1a", "A2"])
    predicted = np.array(["A2", "A1a", "B1", "A2"])
    assert LCAD(TREE).mean(true, predicted) == pytest.approx((2 + 0 + 3) / 3)
    assert LCAD(TREE, drop_zero=True).mean(true, predicted) == pytest.approx((2 + 3) / 2)
    assert LCAD(TREE, drop_zero=True).mean(true, predicted, drop_zero=False) == pytest.approx(5 / 3)
    only_zero = LCAD(TREE, drop_zero=True).mean(np.array(["A1"]), np.array(["A1a"]))
    assert np.isnan(only_zero)  # nothing left to average


def test_terms_outside_the_ontology_give_nan():
    assert np.isnan(LCAD(TREE).pair("A1", "Z"))


def test_method_is_checked():
    with pytest.raises(ValueError, match="LCAD method must be"):
        LCAD(TREE, "furthest")
