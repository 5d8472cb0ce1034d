"""Scaling, aggregation and ranking on hand-built score tables (expected values computed by hand)."""

import numpy as np
import pandas as pd
import pytest

from benchmark.scoring import overall_scores, rank_models, scale_scores, summarize_over_seeds, task_scores

INFO = {
    "bio1": {"kind": "bio", "higher_is_better": True},
    "batch1": {"kind": "batch", "higher_is_better": True},
    "rough": {"kind": "bio", "higher_is_better": False},
}
ROLES = {
    "random": {"bio": "negative"},
    "batch_only": {"batch": "negative"},
    "label_oracle": {"bio": "positive", "batch": "positive"},
}


def table(values: dict[tuple[str, str], float | None], dataset="d", seed=0) -> pd.DataFrame:
    rows = []
    for (model, metric), value in values.items():
        status = "ok" if value is not None else "failed"
        rows.append(
            {
                "dataset": dataset,
                "task": "integration",
                "model": model,
                "seed": seed,
                "metric": metric,
                "value": np.nan if value is None else value,
                "status": status,
                "message": "" if value is not None else "RuntimeError: boom",
            }
        )
    return pd.DataFrame(rows)


def scaled_of(frame, model, metric):
    row = frame[(frame["model"] == model) & (frame["metric"] == metric)]
    return float(row["scaled"].iloc[0]), row["scaling"].iloc[0]


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
        ),
        INFO,
        ROLES,
    )
    assert scaled_of(scores, "A", "bio1") == (pytest.approx(0.5), "controls")  # (0.6-0.2)/(1.0-0.2)
    assert scaled_of(scores, "batch_only", "bio1")[0] == pytest.approx(0.125)  # (0.3-0.2)/0.8
    assert scaled_of(scores, "A", "batch1")[0] == pytest.approx(0.5)  # (0.5-0.1)/(0.9-0.1)
    assert scaled_of(scores, "random", "batch1")[0] == pytest.approx(0.75)  # (0.7-0.1)/0.8


def test_min_max_without_controls_and_orientation():
    scores = scale_scores(
        table(
            {
                ("A", "bio1"): 0.2,
                ("B", "bio1"): 0.6,
                ("C", "bio1"): 1.0,
                ("A", "rough"): 0.2,
                ("B", "rough"): 0.6,
                ("C", "rough"): 1.0,
            }
        ),
        INFO,
        ROLES,
    )
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
        ),
        INFO,
        ROLES,
    )
    tasks = task_scores(scores, bio_weight=0.6).set_index("model")
    assert tasks.loc["A", "score"] == pytest.approx(0.6 * 0.9 + 0.4 * 0.4)
    assert tasks.loc["A", "raw_score"] == pytest.approx(0.6 * 0.9 + 0.4 * 0.4)
    assert tasks.loc["random", "score"] == pytest.approx(0.6 * 0.0 + 0.4 * 0.5)


def test_failed_results_are_never_zero():
    scores = scale_scores(table({("A", "bio1"): 0.2, ("B", "bio1"): 0.8, ("F", "bio1"): None}), INFO, ROLES)
    tasks = task_scores(scores, 0.6).set_index("model")
    assert tasks.loc["F", "status"] == "failed" and np.isnan(tasks.loc["F", "score"])
    assert tasks.loc["F", "message"] == "RuntimeError: boom"
    ranking = rank_models(overall_scores(tasks.reset_index(), {}), ["A", "B", "F"], 1).set_index("model")
    assert ranking.loc["B", "rank"] == 1 and ranking.loc["A", "rank"] == 2
    assert np.isnan(ranking.loc["F", "rank"]) and ranking.loc["F", "n_datasets"] == 0
    assert list(ranking.index) == ["B", "A", "F"]


def test_partly_failed_metrics_mark_task_incomplete():
    scores = scale_scores(
        table({("A", "bio1"): 0.2, ("A", "batch1"): None, ("B", "bio1"): 0.8, ("B", "batch1"): 0.5}), INFO, ROLES
    )
    tasks = task_scores(scores, 0.6).set_index("model")
    assert tasks.loc["A", "status"] == "ok" and not tasks.loc["A", "complete"] and tasks.loc["B", "complete"]


def test_task_weights_and_dataset_average():
    tasks = pd.DataFrame(
        [
            {"dataset": "d1", "task": "integration", "model": "A", "seed": 0, "score": 0.2},
            {"dataset": "d1", "task": "annotation", "model": "A", "seed": 0, "score": 0.6},
            {"dataset": "d2", "task": "integration", "model": "A", "seed": 0, "score": 1.0},
        ]
    )
    overall = overall_scores(tasks, {"integration": 1.0, "annotation": 3.0}).iloc[0]
    # d1: (1*0.2 + 3*0.6)/4 = 0.5; d2: 1.0; mean = 0.75
    assert overall["score"] == pytest.approx(0.75) and overall["n_datasets"] == 2


def test_seeds_give_mean_and_sd():
    tasks = pd.DataFrame(
        [
            {
                "dataset": "d",
                "task": "integration",
                "model": "A",
                "seed": s,
                "score": v,
                "status": "ok",
                "message": "",
                "complete": True,
            }
            for s, v in ((0, 0.4), (1, 0.6))
        ]
    )
    summary = summarize_over_seeds(tasks).iloc[0]
    assert summary["score"] == pytest.approx(0.5) and summary["score_sd"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    ranking = rank_models(overall_scores(tasks, {}), ["A"], 1).iloc[0]
    assert ranking["score"] == pytest.approx(0.5) and ranking["n_seeds"] == 2


def test_ties_share_a_rank():
    overall = pd.DataFrame({"model": ["A", "B", "C"], "seed": 0, "score": [0.5, 0.5, 0.1], "n_datasets": 1})
    ranks = rank_models(overall, ["A", "B", "C"], 1).set_index("model")["rank"]
    assert ranks.to_dict() == {"A": 1.0, "B": 1.0, "C": 3.0}


def test_tasks_only_some_models_take_part_in_default_to_weight_zero():
    from benchmark.aggregate import effective_task_weights

    tasks = pd.DataFrame({"task": ["integration", "integration", "finetune", "cancer", "cancer"],
                          "model": ["a", "b", "a", "a", "b"]})  # fmt: skip
    config = {"models": ["a", "b"], "tasks": {"integration": {}, "finetune": {}, "cancer": {}},
              "scoring": {"task_weights": {}}}  # fmt: skip
    assert effective_task_weights(tasks, config) == {"integration": 1.0, "finetune": 0.0, "cancer": 1.0}
    config["scoring"]["task_weights"] = {"finetune": 2.0, "integration": 0.5}
    assert effective_task_weights(tasks, config) == {"integration": 0.5, "finetune": 2.0, "cancer": 1.0}
