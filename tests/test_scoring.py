"""Scaling, task scores and the like-with-like comparison on hand-built tables (expected values by hand)."""

import numpy as np
import pandas as pd
import pytest

from benchmark.scoring import (
    compare_models,
    rankable,
    rogi_vs_f1,
    scale_scores,
    shared_cells,
    summarize_over_seeds,
    task_scores,
)

INFO = {
    "bio1": {"kind": "bio", "higher_is_better": True},
    "bio2": {"kind": "bio", "higher_is_better": True},
    "batch1": {"kind": "batch", "higher_is_better": True},
    "rough": {"kind": "bio", "higher_is_better": False},
}
ROLES = {
    "random": {"bio": "negative"},
    "batch_only": {"batch": "negative"},
    "label_oracle": {"bio": "positive", "batch": "positive"},
}
CONTROLS = {"random", "batch_only", "label_oracle"}


def table(values: dict[tuple, float | None], dataset="d", seed=0) -> pd.DataFrame:
    """(model, metric) or (model, metric, seed) -> raw value; None = failed."""
    rows = []
    for key, value in values.items():
        model, metric, row_seed = key if len(key) == 3 else (*key, seed)
        rows.append({"dataset": dataset, "task": "integration", "model": model, "seed": row_seed, "metric": metric,
                     "value": np.nan if value is None else value, "status": "ok" if value is not None else "failed",
                     "message": "" if value is not None else "RuntimeError: boom", "degenerate": ""})  # fmt: skip
    return pd.DataFrame(rows)


def scaled_of(frame, model, metric, seed=0):
    row = frame[(frame["model"] == model) & (frame["metric"] == metric) & (frame["seed"] == seed)]
    return float(row["scaled"].iloc[0]), row["scaling"].iloc[0]


# ---------- scaling ----------


def test_scaling_between_controls_by_hand():
    scores = scale_scores(
        table(
            {
                ("random", "bio1"): 0.2,
                ("label_oracle", "bio1"): 1.0,
                ("A", "bio1"): 0.6,
                ("batch_only", "bio1"): 0.3,
                ("batch_only", "batch1"): 0.1,
                ("label_oracle", "batch1"): 0.9,
                ("A", "batch1"): 0.5,
                ("random", "batch1"): 0.7,
            }
        ),  # fmt: skip
        INFO,
        ROLES,
    )
    assert scaled_of(scores, "A", "bio1") == (pytest.approx(0.5), "controls")  # (0.6-0.2)/(1.0-0.2)
    assert scaled_of(scores, "batch_only", "bio1")[0] == pytest.approx(0.125)  # (0.3-0.2)/0.8
    assert scaled_of(scores, "A", "batch1")[0] == pytest.approx(0.5)  # (0.5-0.1)/(0.9-0.1)
    assert scaled_of(scores, "random", "batch1")[0] == pytest.approx(0.75)  # (0.7-0.1)/0.8


def test_min_max_without_controls_and_orientation():
    values = {(m, metric): v for metric in ("bio1", "rough") for m, v in zip("ABC", (0.2, 0.6, 1.0), strict=True)}
    scores = scale_scores(table(values), INFO, ROLES)
    assert [scaled_of(scores, m, "bio1")[0] for m in "ABC"] == pytest.approx([0.0, 0.5, 1.0])
    assert [scaled_of(scores, m, "rough")[0] for m in "ABC"] == pytest.approx([1.0, 0.5, 0.0])  # lower is better
    assert scaled_of(scores, "A", "bio1")[1] == "min-max"


def test_lower_is_better_metric_between_controls():
    scores = scale_scores(
        table({("random", "rough"): 0.8, ("label_oracle", "rough"): 0.2, ("A", "rough"): 0.35}), INFO, ROLES
    )
    assert scaled_of(scores, "A", "rough") == (pytest.approx(0.75), "controls")  # (0.35-0.8)/(0.2-0.8)


def test_controls_in_the_wrong_order_fall_back_to_min_max():
    scores = scale_scores(
        table({("random", "bio1"): 0.9, ("label_oracle", "bio1"): 0.1, ("A", "bio1"): 0.5}), INFO, ROLES
    )
    assert scaled_of(scores, "A", "bio1") == (pytest.approx(0.5), "min-max")


def test_nearly_equal_controls_fall_back_to_min_max():
    scores = scale_scores(
        table({("random", "bio1"): 0.50, ("label_oracle", "bio1"): 0.51, ("A", "bio1"): 0.0, ("B", "bio1"): 1.0}),
        INFO,
        ROLES,
    )
    assert scaled_of(scores, "A", "bio1") == (pytest.approx(0.0), "min-max")


@pytest.mark.parametrize("values", [{("A", "bio1"): 0.7}, {("A", "bio1"): 0.7, ("B", "bio1"): 0.7}])
def test_fewer_than_two_distinct_values_are_not_scored(values):
    """One model, or several equal ones: no scale, never 1.0; the task has nothing to be scored on."""
    scores = scale_scores(table(values), INFO, ROLES)
    assert scores["scaling"].eq("constant").all() and scores["scaled"].isna().all()
    tasks = task_scores(scores, 0.6)
    assert tasks["score"].isna().all() and not tasks["complete"].any() and not rankable(tasks).any()


def test_a_constant_metric_drops_out_for_every_model():
    scores = scale_scores(
        table({("A", "bio1"): 0.5, ("B", "bio1"): 0.5, ("A", "batch1"): 0.2, ("B", "batch1"): 0.6}), INFO, ROLES
    )
    tasks = task_scores(scores, 0.6).set_index("model")
    assert tasks["complete"].all()  # bio1 is scored for nobody, so nobody lacks it
    assert tasks.loc["A", "score"] == pytest.approx(0.0) and tasks.loc["B", "score"] == pytest.approx(1.0)  # batch only


def test_one_scale_per_metric_across_seeds():
    # Seed 1's controls alone would not separate (equal): the scale pools both seeds' controls.
    scores = scale_scores(
        table(
            {
                ("random", "bio1", 0): 0.0,
                ("label_oracle", "bio1", 0): 1.0,
                ("A", "bio1", 0): 0.5,
                ("random", "bio1", 1): 0.5,
                ("label_oracle", "bio1", 1): 0.5,
                ("A", "bio1", 1): 0.7,
            }
        ),  # fmt: skip
        INFO,
        ROLES,
    )
    assert set(scores["scaling"]) == {"controls"}
    # negative = mean(0.0, 0.5) = 0.25, positive = mean(1.0, 0.5) = 0.75
    assert scaled_of(scores, "A", "bio1", 0)[0] == pytest.approx((0.5 - 0.25) / 0.5)
    assert scaled_of(scores, "A", "bio1", 1)[0] == pytest.approx((0.7 - 0.25) / 0.5)


def test_min_max_bounds_pool_the_seeds():
    scores = scale_scores(
        table({("A", "bio1", 0): 0.2, ("B", "bio1", 0): 0.4, ("A", "bio1", 1): 0.6, ("B", "bio1", 1): 1.0}), INFO, ROLES
    )
    got = [scaled_of(scores, m, "bio1", s)[0] for m, s in (("A", 0), ("B", 0), ("A", 1), ("B", 1))]
    assert got == pytest.approx([0.0, 0.25, 0.5, 1.0])  # low 0.2, high 1.0 over both seeds


def test_rows_outside_the_reference_do_not_set_the_scale():
    raw = table({("A", "bio1"): 0.2, ("B", "bio1"): 0.6, ("D", "bio1"): 1.0})
    scores = scale_scores(raw, INFO, ROLES, reference=raw["model"] != "D")
    assert scaled_of(scores, "D", "bio1")[0] == pytest.approx((1.0 - 0.2) / 0.4)  # scaled, but A and B set the scale
    assert scaled_of(scores, "B", "bio1")[0] == pytest.approx(1.0)


# ---------- task scores ----------


def test_integration_score_weights_bio_and_batch():
    scores = scale_scores(
        table(
            {
                ("random", "bio1"): 0.0,
                ("label_oracle", "bio1"): 1.0,
                ("A", "bio1"): 0.9,
                ("batch_only", "batch1"): 0.0,
                ("label_oracle", "batch1"): 1.0,
                ("A", "batch1"): 0.4,
                ("random", "batch1"): 0.5,
                ("batch_only", "bio1"): 0.1,
            }
        ),  # fmt: skip
        INFO,
        ROLES,
    )
    tasks = task_scores(scores, bio_weight=0.6).set_index("model")
    assert tasks.loc["A", "score"] == pytest.approx(0.6 * 0.9 + 0.4 * 0.4)
    assert tasks.loc["random", "score"] == pytest.approx(0.6 * 0.0 + 0.4 * 0.5)
    assert not any(c.startswith("raw_") for c in tasks.columns)  # raw values are never averaged


def test_partly_failed_metrics_are_shown_but_not_ranked():
    scores = scale_scores(
        table(
            {
                ("A", "bio1"): 0.2,
                ("A", "batch1"): None,
                ("B", "bio1"): 0.8,
                ("B", "batch1"): 0.5,
                ("C", "bio1"): 0.5,
                ("C", "batch1"): 0.9,
            }
        ),  # fmt: skip
        INFO,
        ROLES,
    )
    tasks = task_scores(scores, 0.6)
    by_model = tasks.set_index("model")
    assert by_model.loc["A", "status"] == "ok" and not by_model.loc["A", "complete"] and by_model.loc["B", "complete"]
    assert by_model.loc["A", "score"] == pytest.approx(0.0)  # shown: its bio alone
    comparison = compare_models(tasks, {}, ["A", "B", "C"], set(), [0])
    assert comparison.ranked == ["B", "C"]
    assert {r["model"]: r["group"] for r in comparison.rows}["A"] == "apart"


def test_a_failed_metric_row_that_keeps_its_value_scales_no_one():
    """A value outside a metric's range is a failed row that keeps the value (benchmark/tasks/common.py):
    it must scale and score exactly as a failed row without one."""
    values = {("A", "bio1"): 0.2, ("A", "batch1"): 0.1, ("B", "bio1"): 0.8, ("B", "batch1"): 0.5,
              ("C", "bio1"): 0.5, ("C", "batch1"): None}  # fmt: skip
    failed = table(values)
    kept = failed.copy()
    kept.loc[kept["status"] == "failed", "value"] = -5.7e305  # BRAS's lone-cell bug, as reported
    expected = task_scores(scale_scores(failed, INFO, ROLES), 0.6)
    pd.testing.assert_frame_equal(task_scores(scale_scores(kept, INFO, ROLES), 0.6), expected)
    assert scaled_of(scale_scores(kept, INFO, ROLES), "A", "batch1")[0] == pytest.approx(0.0)


def test_seed_summary_gives_mean_and_sd():
    tasks = pd.DataFrame([{"dataset": "d", "task": "integration", "model": "A", "seed": s, "score": v, "status": "ok",
                           "message": "", "complete": True, "degenerate": ""}
                          for s, v in ((0, 0.4), (1, 0.6))])  # fmt: skip
    summary = summarize_over_seeds(tasks).iloc[0]
    assert summary["score"] == pytest.approx(0.5) and summary["score_sd"] == pytest.approx(np.std([0.4, 0.6], ddof=1))


# ---------- comparing models on the same cells ----------


def cells(scores: dict[tuple[str, str], float | str], seeds=(0,), task="integration") -> pd.DataFrame:
    """(model, dataset) -> task score, or a status ('not_applicable', 'failed', 'degenerate')."""
    rows = []
    for (model, dataset), value in scores.items():
        for seed in seeds:
            number = isinstance(value, float)
            rows.append({"dataset": dataset, "task": task, "model": model, "seed": seed,
                         "score": value if number else (0.9 if value == "degenerate" else np.nan),
                         "status": "ok" if number or value == "degenerate" else value, "message": "",
                         "complete": number or value == "degenerate",
                         "degenerate": "constant" if value == "degenerate" else ""})  # fmt: skip
    return pd.DataFrame(rows)


def rows_of(comparison) -> dict[str, dict]:
    return {row["model"]: row for row in comparison.rows}


def test_a_model_missing_a_dataset_cannot_outrank_one_that_beat_it_on_the_shared_ones():
    """The issue's case: X is not applicable on d2 (a hard dataset where Y scores 0). Averaged over what each
    model has, X (0.4) would rank above Y ((0.5 + 0) / 2 = 0.25), though Y beats X on d1, the dataset they share."""
    tasks = cells({("Y", "d1"): 0.5, ("Y", "d2"): 0.0, ("X", "d1"): 0.4, ("X", "d2"): "not_applicable",
                   ("random", "d1"): 0.45, ("random", "d2"): 0.0})  # fmt: skip
    rows = rows_of(compare_models(tasks, {}, ["random", "Y", "X"], {"random"}, [0]))
    assert (
        rows["Y"]["group"] == "ranked"
        and rows["Y"]["rank"] == 1
        and rows["Y"]["cells"] == ["d1/integration", "d2/integration"]
    )
    assert rows["X"]["group"] == "apart" and rows["X"]["cells"] == ["d1/integration"]
    assert rows["X"]["rank"] == 2 and rows["X"]["rank_of"] == 2  # on d1, below Y
    assert rows["X"]["score"] == pytest.approx(0.4) and rows["X"]["controls_above"] == ["random"]
    assert rows["random"]["group"] == "control" and rows["random"]["rank"] is None


def test_the_shared_cells_compare_the_most_scores():
    # Four models share d1; only E also has d2: comparing 5 models on 1 cell (5 scores) beats 1 model on 2.
    tasks = cells({**{(m, "d1"): v for m, v in zip("ABCDE", (0.1, 0.2, 0.3, 0.4, 0.5), strict=True)}, ("E", "d2"): 0.9})
    comparison = compare_models(tasks, {}, list("ABCDE"), set(), [0])
    assert comparison.shared == ["d1\u0000integration"] and comparison.ranked == list("ABCDE")
    assert rows_of(comparison)["E"]["score"] == pytest.approx(0.5)  # d2 is not averaged in
    # ...but a model that failed on nine of ten cells does not shrink the comparison to one cell for the others
    # (2 models x 10 cells > 3 models x 1 cell), while one that lacks one cell of ten keeps its place (3 x 9 > 2 x 10).
    everywhere = {(m, f"d{i}"): 0.5 for m in "ABC" for i in range(10)}
    many = cells(everywhere | {("C", f"d{i}"): "failed" for i in range(1, 10)})
    assert len(compare_models(many, {}, list("ABC"), set(), [0]).shared) == 10
    one_missing = cells(everywhere | {("C", "d3"): "failed"})
    assert compare_models(one_missing, {}, list("ABC"), set(), [0]).ranked == list("ABC")


def test_the_shared_cells_can_be_an_intersection_no_model_has_alone():
    covered = {"A": {"1", "2"}, "B": {"2", "3"}, "C": {"2", "4"}}
    assert shared_cells(covered) == ["2"]  # 3 models x 1 cell beat any 1 model x 2 cells
    assert shared_cells({"A": {"x", "y"}, "B": {"y", "z"}}) == ["x", "y"]  # a tie: the first in sorted order
    assert shared_cells({"A": set()}) == []


def test_every_seed_must_be_there():
    tasks = pd.concat([cells({("A", "d1"): 0.5, ("B", "d1"): 0.4}, seeds=(0, 1)), cells({("C", "d1"): 0.9})])
    rows = rows_of(compare_models(tasks, {}, list("ABC"), set(), [0, 1]))
    assert rows["C"]["group"] == "apart" and rows["C"]["n_cells"] == 0 and rows["C"]["score"] is None


def test_failed_results_are_never_zero():
    tasks = cells({("A", "d1"): 0.2, ("B", "d1"): 0.8, ("F", "d1"): "failed"})
    rows = rows_of(compare_models(tasks, {}, ["A", "B", "F"], set(), [0]))
    assert rows["B"]["rank"] == 1 and rows["A"]["rank"] == 2
    assert rows["F"]["rank"] is None and rows["F"]["score"] is None and rows["F"]["group"] == "apart"


def test_seeds_give_mean_and_sd_and_ties_share_a_rank():
    tasks = pd.concat([cells({("A", "d1"): 0.4, ("B", "d1"): 0.5, ("C", "d1"): 0.1}, seeds=(0,)),
                       cells({("A", "d1"): 0.6, ("B", "d1"): 0.5, ("C", "d1"): 0.1}, seeds=(1,))])  # fmt: skip
    comparison = compare_models(tasks, {}, list("ABC"), set(), [0, 1])
    rows = rows_of(comparison)
    assert rows["A"]["score"] == pytest.approx(0.5)
    assert rows["A"]["score_sd"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert (rows["A"]["rank"], rows["B"]["rank"], rows["C"]["rank"]) == (1, 1, 3)
    assert comparison.per_seed["A"] == pytest.approx([0.4, 0.6])


def test_task_weights_then_the_mean_over_datasets():
    tasks = pd.concat([cells({("A", "d1"): 0.2, ("A", "d2"): 1.0, ("B", "d1"): 0.0, ("B", "d2"): 0.0}),
                       cells({("A", "d1"): 0.6, ("B", "d1"): 0.0}, task="annotation")])  # fmt: skip
    rows = rows_of(compare_models(tasks, {"integration": 1.0, "annotation": 3.0}, ["A", "B"], set(), [0]))
    # d1: (1 x 0.2 + 3 x 0.6) / 4 = 0.5; d2: 1.0; mean 0.75
    assert rows["A"]["score"] == pytest.approx(0.75) and rows["A"]["n_cells"] == 3
    zero = rows_of(compare_models(tasks, {"integration": 1.0, "annotation": 0.0}, ["A", "B"], set(), [0]))
    assert zero["A"]["score"] == pytest.approx(0.6) and zero["A"]["n_cells"] == 2  # (0.2 + 1.0) / 2


def test_degenerate_embeddings_are_not_ranked_unless_kept():
    tasks = cells({("A", "d1"): 0.5, ("B", "d1"): 0.4, ("K", "d1"): "degenerate"})
    assert compare_models(tasks, {}, list("ABK"), set(), [0]).ranked == ["A", "B"]
    kept = compare_models(tasks, {}, list("ABK"), set(), [0], keep_degenerate=True)
    assert kept.ranked == ["A", "B", "K"] and rows_of(kept)["K"]["rank"] == 1


def test_tasks_only_some_models_take_part_in_default_to_weight_zero():
    from benchmark.aggregate import effective_task_weights

    tasks = pd.DataFrame({"task": ["integration", "integration", "finetune", "cancer", "cancer"],
                          "model": ["a", "b", "a", "a", "b"]})  # fmt: skip
    config = {"models": ["a", "b"], "tasks": {"integration": {}, "finetune": {}, "cancer": {}},
              "scoring": {"task_weights": {}}}  # fmt: skip
    assert effective_task_weights(tasks, config) == {"integration": 1.0, "finetune": 0.0, "cancer": 1.0}
    config["scoring"]["task_weights"] = {"finetune": 2.0, "integration": 0.5}
    assert effective_task_weights(tasks, config) == {"integration": 0.5, "finetune": 2.0, "cancer": 1.0}


# ---------- ROGI vs F1 ----------


def rogi_table(values: dict[str, tuple[float, float]]) -> pd.DataFrame:
    metrics = ("rogi_pca", "logreg_macro_f1")
    rows = [{"dataset": "d", "model": m, "metric": metric, "value": v, "status": "ok"}
            for m, pair in values.items() for metric, v in zip(metrics, pair, strict=True)]  # fmt: skip
    return pd.DataFrame(rows)


def test_rogi_f1_leaves_the_controls_out_and_needs_five_models_to_conclude():
    # The controls (extremes) alone would make a perfect negative correlation; the models are positively related.
    values = {"random": (0.9, 0.0), "label_oracle": (0.0, 1.0), "A": (0.3, 0.4), "B": (0.4, 0.5), "C": (0.5, 0.7)}
    row = rogi_vs_f1(rogi_table(values), {"random", "label_oracle"})[0]
    assert row["n_models"] == 3 and row["models"] == ["A", "B", "C"] and not row["conclusive"]
    assert row["pearson"] == pytest.approx(np.corrcoef([0.3, 0.4, 0.5], [0.4, 0.5, 0.7])[0, 1])
    assert row["spearman"] == pytest.approx(1.0)
    five = {**values, "D": (0.6, 0.1), "E": (0.1, 0.9)}
    assert rogi_vs_f1(rogi_table(five), {"random", "label_oracle"})[0]["conclusive"]
    two = rogi_vs_f1(rogi_table({"A": (0.3, 0.4), "B": (0.4, 0.5)}), set())[0]
    assert two["pearson"] is None and two["n_models"] == 2
