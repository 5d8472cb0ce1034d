import numpy as np
import pandas as pd
import pytest

from benchmark.ranking import bootstrap_rank_intervals, dominates, fronts


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
