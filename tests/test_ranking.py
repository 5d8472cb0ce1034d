import numpy as np
import pandas as pd
import pytest

from benchmark.ranking import bootstrap_rank_intervals, dominates, epsilon_dominates, fronts


def table(rows: dict[str, tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=["bio", "batch"])


def test_fronts_by_hand():
    # A (0.9, 0.5) and B (0.6, 0.9) trade off: front 1. C (0.55, 0.5) is dominated by both: front 2.
    # D (0.5, 0.4) is dominated by C as well: front 3. E lacks an objective: no front.
    objectives = table({"A": (0.9, 0.5), "B": (0.6, 0.9), "C": (0.55, 0.5), "D": (0.5, 0.4), "E": (0.7, np.nan)})
    assert fronts(objectives).to_dict() == pytest.approx({"A": 1, "B": 1, "C": 2, "D": 3, "E": np.nan}, nan_ok=True)


def test_within_epsilon_worse_still_dominated():
    # P is better on bio by 0.2 and worse on batch by only 0.0005 (< ε = 0.001): P dominates Q.
    p, q = np.array([0.8, 0.5]), np.array([0.6, 0.5005])
    assert dominates(p, q) and not dominates(q, p)
    assert fronts(table({"P": (0.8, 0.5), "Q": (0.6, 0.5005)})).to_dict() == {"P": 1, "Q": 2}


def test_mutual_domination_within_epsilon_is_a_tie():
    # X and Y differ by 0.0004 in opposite directions: each would dominate the other; our rule: tie.
    x, y = np.array([0.5, 0.5004]), np.array([0.5004, 0.5])
    assert not dominates(x, y) and not dominates(y, x)
    assert fronts(table({"X": (0.5, 0.5004), "Y": (0.5004, 0.5), "Z": (0.1, 0.1)})).to_dict() == {
        "X": 1,
        "Y": 1,
        "Z": 2,
    }


def test_equal_points_share_a_front():
    assert fronts(table({"A": (0.5, 0.5), "B": (0.5, 0.5)})).to_dict() == {"A": 1, "B": 1}


def test_anchor_pancreas_example():
    """The anchor study's Pancreas (AvgBio, AvgBatch) table gives its published fronts."""
    published = table({
        "HVG": (0.7187, 0.9515), "scVI": (0.8040, 0.9313), "Harmony": (0.8508, 0.9145),
        "Seurat": (0.8305, 0.9128), "Geneformer": (0.2986, 0.6121), "scGPT": (0.5194, 0.8827),
        "UCE": (0.5161, 0.8774), "scFoundation": (0.4865, 0.8345), "LangCell": (0.4679, 0.8301),
        "scCello": (0.7314, 0.9044),
    })  # fmt: skip
    expected = {"HVG": 1, "scVI": 1, "Harmony": 1, "Seurat": 2, "scCello": 3, "scGPT": 4, "UCE": 5,
                "scFoundation": 6, "LangCell": 7, "Geneformer": 8}  # fmt: skip
    assert fronts(published).to_dict() == expected


def test_bootstrap_intervals_cover_the_ranks():
    scores = pd.DataFrame({0: [0.9, 0.5, 0.1], 1: [0.8, 0.6, 0.2], 2: [0.85, 0.55, 0.15]}, index=["A", "B", "C"])
    intervals = bootstrap_rank_intervals(scores, n_boot=200)
    assert intervals.loc["A"].tolist() == [1, 1] and intervals.loc["C"].tolist() == [3, 3]
    close = pd.DataFrame({0: [0.5, 0.6], 1: [0.6, 0.5]}, index=["A", "B"])
    assert bootstrap_rank_intervals(close, n_boot=200).loc["A"].tolist() == [1, 2]


def test_a_domination_cycle_ties_and_shares_a_front():
    # A over B over C over A (each strictly, within ε): the published peeling never reaches them (front 0).
    cycle = {"A": (-0.0019, 0.0006, 0.0007), "B": (-0.0014, -0.0006, 0.0011), "C": (-0.0005, 0.0001, -0.0002)}
    points = {m: np.array(v) for m, v in cycle.items()}
    assert dominates(points["A"], points["B"]) and dominates(points["B"], points["C"])
    assert dominates(points["C"], points["A"])
    objectives = pd.DataFrame.from_dict(
        {**cycle, "top": (0.01, 0.01, 0.01), "low": (-0.01, -0.01, -0.01)}, orient="index"
    )
    assert fronts(objectives).to_dict() == {"A": 2, "B": 2, "C": 2, "top": 1, "low": 3}


def reaches(points: np.ndarray) -> np.ndarray:
    """reach[i, j]: a chain of ε-dominations leads from i to j (written independently of ranking.py)."""
    n = len(points)
    reach = np.array([[i != j and epsilon_dominates(points[i], points[j]) for j in range(n)] for i in range(n)])
    for k in range(n):  # Floyd-Warshall on booleans
        reach |= reach[:, [k]] & reach[[k], :]
    return reach


@pytest.mark.parametrize("n_objectives", [2, 3, 8])
def test_fronts_are_a_proper_layering_on_random_near_ties(n_objectives):
    """Thousands of near-tie tables (values ~ N(0, 0.001), rounded so that exact ties occur): every complete
    row gets a front >= 1; a model is dominated only by models on earlier fronts or ones it ties with
    (mutually reachable); every front k > 1 holds a model dominated from front k - 1; fronts are 1..K."""
    rng = np.random.default_rng(n_objectives)
    cycles = 0
    for _ in range(1500):
        n = int(rng.integers(2, 8))
        points = np.round(rng.normal(0.0, 0.001, size=(n, n_objectives)), 4)
        front = fronts(pd.DataFrame(points)).to_numpy()
        reach = reaches(points)
        tie = reach & reach.T
        cycles += bool((tie.sum(axis=1) >= 2).any())  # a tie of three or more: a longer cycle
        assert np.all(front >= 1)
        assert sorted(set(front)) == list(range(1, int(front.max()) + 1))
        for i in range(n):
            for j in range(n):
                if i != j and epsilon_dominates(points[i], points[j]):
                    assert front[i] < front[j] or (tie[i, j] and front[i] == front[j]), (points, front)
            assert np.all(front[tie[i]] == front[i])
            if front[i] > 1:
                members = np.flatnonzero(tie[i]).tolist() + [i]
                above = [p for p in range(n) if front[p] == front[i] - 1]
                assert any(epsilon_dominates(points[p], points[q]) for p in above for q in members)
    assert cycles > 0  # the draws do contain cycles of three or more models
