"""Scale raw metric values, combine them into task scores, and compare models on the same cells.

- Orientation: every scaled value is "higher is better".
- One scale per (dataset, task, metric), the same for every seed: 0 at the negative control and 1 at
  the positive control of the metric's kind (``control_roles`` in each control's model.yaml; their
  values averaged over seeds) when both ran, point the right way and differ by at least
  ``MIN_CONTROL_GAP`` of the models' spread; otherwise min-max over every model and seed (the
  ``scaling`` column says which). Values outside the controls are kept (below 0 / above 1). Fewer
  than two distinct values (one model, or all equal) cannot be scaled: ``scaling`` is "constant" and
  the metric is not scored (never 1.0). Rows in ``reference=False`` (degenerate embeddings) are
  scaled but do not set the scale. Metrics flagged ``scaled_by_task`` arrive scaled between the
  task's own references (e.g. perturbation: no change 0, observed 1) and are kept as they are.
- Integration: ``bio_weight`` x mean(bio) + (1 - bio_weight) x mean(batch) (scIB's 0.6/0.4); a
  single-batch dataset has no batch metrics and scores on bio alone. scGraph-OntoRWR (ontology) and
  ROGI (landscape) are reported beside it, not mixed into it. Other tasks: the mean of their scored
  metrics. Raw values are never averaged: metrics differ in direction and unit.
- A task score is **complete** when the model has a scaled value for every scaled metric of its
  (dataset, task); only complete scores, of embeddings that are not degenerate, are **rankable**.
- Comparison (``compare_models``; leaderboard.js does the same when the reader ticks things out):
  a *cell* is a (dataset, task) with a positive task weight. A model covers a cell when it has a
  rankable score there in every seed. The ranked models are the models (controls aside) that cover
  the *shared cells*, the cell set that compares the most (model, cell) scores: among every
  intersection of the models' coverages, the one with the largest number of models covering it x
  its number of cells (ties: more cells, then more models, then the first in sorted order). Each
  score is: per dataset, the task-weighted mean of its cells, then the mean over datasets. A model
  that does not cover the shared cells is never averaged over other cells: it is listed apart with
  its score and rank on its own cells among the models that have them. Controls are references:
  never ranked, shown with their score on the same cells.
- Failed and not-applicable results carry no number and are never averaged as zero.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

GROUP = ["dataset", "task", "metric"]
MIN_CONTROL_GAP = 0.25  # controls must span at least this share of the models' spread
TOLERANCE = 1e-12
SCALED = ("controls", "min-max", "task references")  # scalings of values that count ("constant", "no value" do not)
CELL = "\u0000"  # joins dataset and task into a cell key (ids never contain it)
MIN_MODELS_FOR_CONCLUSION = 5  # ROGI-F1: fewer models (controls excluded) give no conclusion


def _controls_usable(negative: float, positive: float, values: pd.Series, higher: bool) -> bool:
    """Both controls ran, point the right way for the metric, and are not nearly equal."""
    if not (np.isfinite(negative) and np.isfinite(positive)):
        return False
    gap = (positive - negative) if higher else (negative - positive)
    spread = values.max() - values.min()
    return gap > TOLERANCE and gap >= MIN_CONTROL_GAP * spread


def _scale_group(group: pd.DataFrame, roles: dict[str, dict[str, str]], higher: bool, kind: str) -> pd.DataFrame:
    values = group["value"].where((group["status"] == "ok") & np.isfinite(group["value"]))
    reference = values.where(group["reference"]).dropna()
    role = group["model"].map(lambda m: roles.get(m, {}).get(kind))
    negative = reference[role.loc[reference.index] == "negative"].mean()
    positive = reference[role.loc[reference.index] == "positive"].mean()
    if reference.empty or reference.max() - reference.min() <= TOLERANCE * max(1.0, abs(reference.max())):
        scaled, method = values * np.nan, "constant"
    elif _controls_usable(negative, positive, reference, higher):
        scaled, method = (values - negative) / (positive - negative), "controls"
    else:
        low, high = reference.min(), reference.max()
        scaled = (values - low) / (high - low) if higher else (high - values) / (high - low)
        method = "min-max"
    ok = group["status"] == "ok"
    scaling = np.where(ok & values.notna(), method, np.where(ok, "no value", ""))
    return group.assign(scaled=scaled, scaling=scaling)


def _scaled_by_task(group: pd.DataFrame) -> pd.DataFrame:
    """Metrics the task already placed between its own references (e.g. perturbation: no change 0,
    observed 1) keep their value."""
    ok = group["status"] == "ok"
    return group.assign(scaled=group["value"].where(ok), scaling=np.where(ok, "task references", ""))


def scale_scores(
    scores: pd.DataFrame,
    metric_info: dict[str, dict],
    roles: dict[str, dict[str, str]],
    reference: pd.Series | None = None,
) -> pd.DataFrame:
    """Add ``kind``, ``scored``, ``scaled`` and ``scaling`` columns to a long score table.

    ``reference`` (boolean, aligned with ``scores``) marks the rows allowed to set the scale (default: all).
    """
    scores = scores.assign(
        kind=scores["metric"].map(lambda m: metric_info[m]["kind"]),
        scored=scores["metric"].map(lambda m: bool(metric_info[m].get("scored", True))),
        reference=True if reference is None else reference.astype(bool),
    )
    parts = [
        _scaled_by_task(group)
        if metric_info[key[2]].get("scaled_by_task")
        else _scale_group(group, roles, metric_info[key[2]]["higher_is_better"], metric_info[key[2]]["kind"])
        for key, group in scores.groupby(GROUP, sort=True)
    ]
    scaled = pd.concat(parts).sort_index() if parts else scores.assign(scaled=np.nan, scaling="")
    return scaled.drop(columns=["reference"])


def task_scores(scaled: pd.DataFrame, bio_weight: float) -> pd.DataFrame:
    """Per (dataset, task, model, seed): mean scaled value per kind, the task score, and whether it is complete.

    Only metrics with ``scored`` and a scale count. ``degenerate`` carries the embedding's degeneracy
    reason ('' when it passed the checks).
    """
    if "degenerate" not in scaled:
        scaled = scaled.assign(degenerate="")
    counted = scaled["scored"] & scaled["scaling"].isin(SCALED)
    rows = []
    for (dataset, task), cell in scaled.groupby(["dataset", "task"], sort=True):
        needed = set(cell.loc[counted.loc[cell.index], "metric"])  # the metrics this cell is scored on
        for (model, seed), group in cell.groupby(["model", "seed"], sort=True):
            good = group[counted.loc[group.index]]
            statuses = group["status"]
            row = {"dataset": dataset, "task": task, "model": model, "seed": seed}
            row["status"] = "ok" if (statuses == "ok").any() else statuses.iloc[0]
            row["message"] = "" if row["status"] == "ok" else group["message"].iloc[0]
            row["complete"] = bool(needed) and set(good["metric"]) == needed
            row["degenerate"] = next((r for r in group["degenerate"] if r), "")
            kinds = {kind: _mean(part["scaled"]) for kind, part in good.groupby("kind", sort=True)}
            row.update(kinds)
            row["score"] = _combine(kinds, bio_weight)
            rows.append(row)
    return pd.DataFrame(rows)


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def _combine(kind_means: dict[str, float], bio_weight: float) -> float:
    if not kind_means:
        return math.nan
    if "bio" in kind_means and "batch" in kind_means:
        return bio_weight * kind_means["bio"] + (1 - bio_weight) * kind_means["batch"]
    if "bio" in kind_means:  # single batch: biology alone
        return kind_means["bio"]
    return _mean(kind_means.values())


def rankable(tasks: pd.DataFrame, keep_degenerate: bool = False) -> pd.Series:
    """Task scores that can be ranked: ok, complete, a number, and (unless kept) not of a degenerate embedding."""
    ok = (tasks["status"] == "ok") & tasks["complete"] & tasks["score"].notna()
    return ok if keep_degenerate else ok & (tasks["degenerate"].fillna("") == "")


def summarize_over_seeds(tasks: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds of every numeric column of the task table."""
    keys = ["dataset", "task", "model"]
    numeric = [c for c in tasks.columns if c not in keys + ["seed", "status", "message", "complete", "degenerate"]]
    grouped = tasks.groupby(keys, sort=True)
    summary = grouped[numeric].mean()
    spread = grouped[numeric].std().fillna(0.0).add_suffix("_sd")
    meta = grouped.agg(status=("status", "first"), message=("message", "first"), complete=("complete", "all"),
                       degenerate=("degenerate", "first"))  # fmt: skip
    return pd.concat([meta, summary, spread], axis=1).reset_index()


# ---------- comparing models on the same cells (mirrored in leaderboard.js) ----------


def cell_key(dataset: str, task: str) -> str:
    return dataset + CELL + task


@dataclass
class Comparison:
    """The shared cells, the ranked models, and every model's row (see the module docstring)."""

    shared: list[str]  # cell keys, sorted
    ranked: list[str]
    rows: list[dict]
    per_seed: dict[str, list[float]]  # ranked model -> its score on the shared cells, per seed
    objectives: pd.DataFrame = field(default_factory=pd.DataFrame)  # ranked models x tasks (for fronts)


def coverage(
    tasks: pd.DataFrame, weights: dict[str, float], seeds: list, keep_degenerate: bool = False
) -> dict[str, dict[str, list[float]]]:
    """model -> cell key -> its rankable task score per seed (in ``seeds`` order), for the cells it covers."""
    usable = tasks[rankable(tasks, keep_degenerate) & tasks["task"].map(lambda t: weights.get(t, 1.0) > 0)]
    by_seed: dict[str, dict[str, dict]] = {}
    for row in usable.itertuples():
        by_seed.setdefault(row.model, {}).setdefault(cell_key(row.dataset, row.task), {})[row.seed] = row.score
    return {
        model: {cell: [per[s] for s in seeds] for cell, per in cells.items() if all(s in per for s in seeds)}
        for model, cells in by_seed.items()
    }


def shared_cells(covered: dict[str, set[str]]) -> list[str]:
    """The cell set that compares the most (model, cell) scores (module docstring); [] when none."""
    sets = {frozenset(cells) for cells in covered.values() if cells}
    closure, frontier = set(sets), set(sets)
    while frontier:  # every intersection of coverages
        frontier = {a & b for a in frontier for b in closure if a & b} - closure
        closure |= frontier

    def order(cells: frozenset) -> tuple:
        models = sum(1 for c in covered.values() if cells <= c)
        return (-models * len(cells), -len(cells), -models, sorted(cells))

    return sorted(min(closure, key=order)) if closure else []


def score_on(cells: list[str], scores: dict[str, list[float]], weights: dict[str, float], n_seeds: int) -> list[float]:
    """Per seed: per dataset the task-weighted mean of the cells, then the mean over datasets."""
    by_dataset: dict[str, list[str]] = {}
    for cell in cells:
        by_dataset.setdefault(cell.split(CELL)[0], []).append(cell)
    out = []
    for seed in range(n_seeds):
        per_dataset = []
        for dataset_cells in by_dataset.values():
            numerator = denominator = 0.0
            for cell in dataset_cells:
                weight = float(weights.get(cell.split(CELL)[1], 1.0))
                numerator += weight * scores[cell][seed]
                denominator += weight
            per_dataset.append(numerator / denominator)
        out.append(_mean(per_dataset))
    return out


def _sd(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    m = _mean(values)
    return math.sqrt(sum((x - m) ** 2 for x in values) / (len(values) - 1))


def _ranks(scores: dict[str, float]) -> dict[str, int]:
    """1 = best; equal scores share the best rank of their group."""
    return {m: 1 + sum(1 for other in scores.values() if other > s) for m, s in scores.items()}


def compare_models(
    tasks: pd.DataFrame,
    weights: dict[str, float],
    models: list[str],
    controls: set[str],
    seeds: list,
    keep_degenerate: bool = False,
) -> Comparison:
    """Rank the models on their shared cells; every other model on its own cells (module docstring)."""
    covered = coverage(tasks, weights, seeds, keep_degenerate)
    own = {m: sorted(covered.get(m, {})) for m in models}
    candidates = {m: set(own[m]) for m in models if m not in controls}
    shared = shared_cells(candidates)
    ranked = [m for m in models if m not in controls and shared and set(shared) <= candidates[m]]
    n_seeds = len(seeds)

    def stats(model: str, cells: list[str]) -> tuple[float, float, list[float]]:
        per_seed = score_on(cells, covered[model], weights, n_seeds)
        return _mean(per_seed), _sd(per_seed), per_seed

    rank_of = _ranks({m: stats(m, shared)[0] for m in ranked})
    rows = []
    for model in models:
        is_control = model in controls
        in_shared = bool(shared) and set(shared) <= set(own[model])
        cells = shared if (model in ranked or (is_control and in_shared)) else own[model]
        row = {"model": model, "group": "control" if is_control else "ranked" if model in ranked else "apart",
               "cells": [c.replace(CELL, "/") for c in cells], "n_cells": len(cells),
               "score": None, "score_sd": None, "n_seeds": n_seeds if cells else 0, "rank": None, "rank_of": None,
               "controls_above": []}  # fmt: skip
        if cells:
            row["score"], row["score_sd"], _ = stats(model, cells)
            peers = [m for m in models if m not in controls and set(cells) <= set(own[m])]
            if not is_control:
                ranks = rank_of if model in ranked else _ranks({m: stats(m, cells)[0] for m in peers})
                row["rank"], row["rank_of"] = ranks[model], len(peers)
                references = [c for c in models if c in controls and set(cells) <= set(own[c])]
                row["controls_above"] = [c for c in references if stats(c, cells)[0] > row["score"]]
        rows.append(row)
    per_seed = {m: stats(m, shared)[2] for m in ranked}
    return Comparison(shared, ranked, rows, per_seed, _objectives(ranked, shared, covered, tasks))


def _objectives(ranked: list[str], shared: list[str], covered: dict, tasks: pd.DataFrame) -> pd.DataFrame:
    """Ranked models x tasks: each task's seed-mean score, averaged over the shared datasets that have it."""
    task_order = list(dict.fromkeys(tasks["task"]))
    columns = [t for t in task_order if any(c.split(CELL)[1] == t for c in shared)]
    table = {
        model: [_mean([_mean(covered[model][c]) for c in shared if c.split(CELL)[1] == t]) for t in columns]
        for model in ranked
    }
    return pd.DataFrame.from_dict(table, orient="index", columns=columns)


def rogi_vs_f1(
    scores: pd.DataFrame,
    controls: set[str],
    rogi_metric: str = "rogi_pca",
    f1_metric: str = "logreg_macro_f1",
) -> list[dict]:
    """Per dataset, the correlation across models (controls excluded) between ROGI and annotation macro-F1.

    The anchor study proposes ROGI as a label-free proxy for how well a model will annotate. Controls
    are left out (their extremes would make any correlation look strong); the report draws no
    conclusion from fewer than ``MIN_MODELS_FOR_CONCLUSION`` models.
    """
    ok = scores[(scores["status"] == "ok") & ~scores["model"].isin(controls)]
    rows = []
    for dataset, group in ok.groupby("dataset", sort=True):
        pairs = group.pivot_table(index="model", columns="metric", values="value", aggfunc="mean")
        if rogi_metric not in pairs or f1_metric not in pairs:
            continue
        pairs = pairs[[rogi_metric, f1_metric]].dropna()
        row = {"dataset": dataset, "n_models": len(pairs), "models": sorted(pairs.index), "pearson": None,
               "spearman": None, "conclusive": len(pairs) >= MIN_MODELS_FOR_CONCLUSION}  # fmt: skip
        if len(pairs) >= 3 and pairs.std().gt(0).all():
            row["pearson"] = float(pairs[rogi_metric].corr(pairs[f1_metric]))
            row["spearman"] = float(pairs[rogi_metric].corr(pairs[f1_metric], method="spearman"))
        rows.append(row)
    return rows
