"""Scale raw metric values between controls, aggregate them into task and overall scores, rank.

- Orientation: every scaled value is "higher is better".
- Scaling per (dataset, task, metric, seed): 0 at the negative control and 1 at the positive
  control of the metric's kind (declared by ``control_roles`` in each control's model.yaml) when
  both ran, order the right way and differ by at least ``MIN_CONTROL_GAP`` of the models' spread;
  otherwise min-max over the models that ran (the ``scaling`` column says which). Values outside the controls are
  kept (below 0 / above 1), so the scale shows where models land relative to the controls. Metrics
  flagged ``scaled_by_task`` arrive scaled between the task's own references and are kept as they are.
- Integration: ``bio_weight`` x mean(bio) + (1 - bio_weight) x mean(batch) (scIB's 0.6/0.4); a
  single-batch dataset has no batch metrics and scores on bio alone. scGraph-OntoRWR (ontology) and
  ROGI (landscape) are reported beside it, not mixed into it.
- Other tasks: the mean of their scored metrics.
- Overall: task scores weighted by ``task_weights`` (default 1 each) per dataset, then averaged over
  the datasets where the model produced a score (the coverage is reported beside it).
- Failed and not-applicable results carry no number and are never averaged as zero.
"""

import numpy as np
import pandas as pd

GROUP = ["dataset", "task", "metric", "seed"]


MIN_CONTROL_GAP = 0.25  # controls must span at least this share of the models' spread


def _controls_usable(negative: float, positive: float, values: pd.Series, higher: bool) -> bool:
    """Both controls ran, point the right way for the metric, and are not nearly equal."""
    if not (np.isfinite(negative) and np.isfinite(positive)):
        return False
    gap = (positive - negative) if higher else (negative - positive)
    spread = values.max() - values.min()
    return gap > 1e-12 and gap >= MIN_CONTROL_GAP * spread


def _scale_group(group: pd.DataFrame, roles: dict[str, dict[str, str]], higher: bool, kind: str) -> pd.DataFrame:
    ok = group["status"] == "ok"
    values = group["value"].where(ok)
    role = group["model"].map(lambda m: roles.get(m, {}).get(kind))
    negative = values[role == "negative"].mean()
    positive = values[role == "positive"].mean()
    if _controls_usable(negative, positive, values, higher):
        scaled, method = (values - negative) / (positive - negative), "controls"
    else:
        low, high = values.min(), values.max()
        span = high - low
        if not np.isfinite(span):
            scaled = values * np.nan
        elif span <= 1e-12:
            scaled = values * 0.0 + 1.0
        else:
            scaled = (values - low) / span if higher else (high - values) / span
        method = "min-max"
    return group.assign(scaled=scaled, scaling=np.where(ok, method, ""))


def _scaled_by_task(group: pd.DataFrame) -> pd.DataFrame:
    """Metrics the task already placed between its own references (e.g. perturbation: no change 0,
    observed 1) keep their value."""
    ok = group["status"] == "ok"
    return group.assign(scaled=group["value"].where(ok), scaling=np.where(ok, "task references", ""))


def scale_scores(scores: pd.DataFrame, metric_info: dict[str, dict], roles: dict[str, dict[str, str]]) -> pd.DataFrame:
    """Add ``kind``, ``scaled`` and ``scaling`` columns to a long score table."""
    scores = scores.assign(
        kind=scores["metric"].map(lambda m: metric_info[m]["kind"]),
        scored=scores["metric"].map(lambda m: bool(metric_info[m].get("scored", True))),
    )
    parts = [
        _scaled_by_task(group)
        if metric_info[key[2]].get("scaled_by_task")
        else _scale_group(group, roles, metric_info[key[2]]["higher_is_better"], metric_info[key[2]]["kind"])
        for key, group in scores.groupby(GROUP, sort=True)
    ]
    return pd.concat(parts).sort_index() if parts else scores.assign(scaled=np.nan, scaling="")


def task_scores(scaled: pd.DataFrame, bio_weight: float) -> pd.DataFrame:
    """Per (dataset, task, model, seed): mean scaled value per kind and the task score (scaled and raw).

    Only metrics with ``scored`` count; kinds other than bio/batch in the integration task (ontology,
    landscape) are reported as their own columns but the integration score stays scIB's bio/batch mix.
    """
    ok = scaled[(scaled["status"] == "ok") & scaled["scored"]]
    rows = []
    for (dataset, task, model, seed), group in scaled.groupby(["dataset", "task", "model", "seed"], sort=True):
        good = ok.loc[ok.index.intersection(group.index)]
        row = {"dataset": dataset, "task": task, "model": model, "seed": seed}
        statuses = group["status"]
        row["status"] = "ok" if (statuses == "ok").any() else statuses.iloc[0]
        row["message"] = "" if row["status"] == "ok" else group["message"].iloc[0]
        row["complete"] = bool((statuses != "failed").all())
        for value_column, prefix in (("scaled", ""), ("value", "raw_")):
            kinds = good.groupby("kind")[value_column].mean()
            for kind, mean in kinds.items():
                row[f"{prefix}{kind}"] = mean
            row[f"{prefix}score"] = _combine(kinds, bio_weight)
        rows.append(row)
    return pd.DataFrame(rows)


def _combine(kind_means: pd.Series, bio_weight: float) -> float:
    if kind_means.empty:
        return np.nan
    if {"bio", "batch"} <= set(kind_means.index):
        return bio_weight * kind_means["bio"] + (1 - bio_weight) * kind_means["batch"]
    if "bio" in kind_means.index:  # single batch: biology alone
        return float(kind_means["bio"])
    return float(kind_means.mean())


def overall_scores(tasks: pd.DataFrame, task_weights: dict[str, float]) -> pd.DataFrame:
    """Per (model, seed): task scores weighted per dataset, then averaged over datasets."""
    scored = tasks.dropna(subset=["score"])
    weight = scored["task"].map(lambda t: float(task_weights.get(t, 1.0)))
    scored = scored.assign(weighted=scored["score"] * weight, weight=weight)
    per_dataset = scored.groupby(["model", "seed", "dataset"])[["weighted", "weight"]].sum()
    per_dataset["score"] = per_dataset["weighted"] / per_dataset["weight"]
    overall = per_dataset.groupby(["model", "seed"])["score"].agg(["mean", "count"]).reset_index()
    return overall.rename(columns={"mean": "score", "count": "n_datasets"})


def rank_models(overall: pd.DataFrame, all_models: list[str], n_datasets: int) -> pd.DataFrame:
    """Mean ± sd over seeds and a rank (1 = best); models without any score come last, unranked."""
    stats = overall.groupby("model").agg(
        score=("score", "mean"),
        score_sd=("score", "std"),
        n_datasets=("n_datasets", "max"),
        n_seeds=("seed", "nunique"),
    )
    stats = stats.reindex(all_models)
    stats["score_sd"] = stats["score_sd"].fillna(0.0).where(stats["score"].notna())
    stats["n_datasets"] = stats["n_datasets"].fillna(0).astype(int)
    stats["datasets_total"] = n_datasets
    stats["rank"] = stats["score"].rank(ascending=False, method="min")
    stats = stats.sort_values(["rank", "score"], ascending=[True, False], na_position="last")
    return stats.reset_index().rename(columns={"index": "model"})


def summarize_over_seeds(tasks: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds of every numeric column of the task table."""
    keys = ["dataset", "task", "model"]
    numeric = [c for c in tasks.columns if c not in keys + ["seed", "status", "message", "complete"]]
    grouped = tasks.groupby(keys, sort=True)
    summary = grouped[numeric].mean()
    spread = grouped[numeric].std().fillna(0.0).add_suffix("_sd")
    meta = grouped.agg(status=("status", "first"), message=("message", "first"), complete=("complete", "all"))
    return pd.concat([meta, summary, spread], axis=1).reset_index()


def rogi_vs_f1(scores: pd.DataFrame, rogi_metric: str = "rogi_pca", f1_metric: str = "logreg_macro_f1") -> list[dict]:
    """Per dataset, the correlation across models between ROGI and annotation macro-F1 (raw values).

    The anchor study proposes ROGI as a label-free proxy for how well a model will annotate: a strong
    negative correlation (smoother = better F1) supports using it to pick a model without labels.
    """
    ok = scores[scores["status"] == "ok"]
    rows = []
    for dataset, group in ok.groupby("dataset", sort=True):
        pairs = group.pivot_table(index="model", columns="metric", values="value", aggfunc="mean")
        if rogi_metric not in pairs or f1_metric not in pairs:
            continue
        pairs = pairs[[rogi_metric, f1_metric]].dropna()
        row = {"dataset": dataset, "n_models": len(pairs), "pearson": None, "spearman": None}
        if len(pairs) >= 3 and pairs.std().gt(0).all():
            row["pearson"] = float(pairs[rogi_metric].corr(pairs[f1_metric]))
            row["spearman"] = float(pairs[rogi_metric].corr(pairs[f1_metric], method="spearman"))
        rows.append(row)
    return rows
