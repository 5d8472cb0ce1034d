"""Drug sensitivity: per drug, sensitive vs resistant cells, a probe on frozen embeddings with folds
split by the catalog's ``keys.group`` (cell line), so no line is on both sides.

Labels in the shared test data are measured per cell line (bulk GDSC2) and broadcast to its cells:
the task then asks whether an embedding places each cell line near lines that respond alike, a
cell-line-level question. Cells without a label are left out. A drug whose labelled cells hold one
class, or whose split leaves a training part with one class, is skipped with the reason (details).
Scores: AUROC and AUPRC of the pooled out-of-fold probabilities, averaged over the drugs scored.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from benchmark.tasks.common import run_metrics, select
from benchmark.tasks.context import TaskContext
from benchmark.tasks.folds import leave_one_group_out, out_of_fold_probabilities
from metrics.base import Metric

PREFIX = "drug_"


@dataclass
class DrugResults:
    auroc: dict[str, float] = field(default_factory=dict)
    auprc: dict[str, float] = field(default_factory=dict)


DRUG_METRICS = {
    m.name: m
    for m in (
        Metric("drug_auroc", "Drug AUROC", "drug", True, (0.0, 1.0), lambda d: np.mean(list(d.auroc.values())),
               description="mean over drugs of the AUROC of sensitive vs resistant (folds split by cell line)"),
        Metric("drug_auprc", "Drug AUPRC", "drug", True, (0.0, 1.0), lambda d: np.mean(list(d.auprc.values())),
               description="mean over drugs of the average precision (sensitive = positive), folds split by cell line"),
    )
}  # fmt: skip


def drug_metrics(task_config: dict) -> list[Metric]:
    return select(DRUG_METRICS, task_config.get("metrics"), tuple(DRUG_METRICS), "tasks.drug.metrics")


def score_drug(X: np.ndarray, labels: pd.Series, groups: np.ndarray, seed: int) -> dict:
    """One drug: its AUROC and AUPRC, or the reason it is skipped."""
    labelled = (labels != "unlabelled").to_numpy()
    sensitive = (labels == "sensitive").to_numpy()[labelled]
    row = {"n_cells": int(labelled.sum()), "n_groups": int(len(np.unique(groups[labelled])))}
    if len(np.unique(sensitive)) < 2:
        return {**row, "reason": "the labelled cells hold a single class"}
    if row["n_groups"] < 2:
        return {**row, "reason": "a single labelled group: the folds need at least two"}
    folds = leave_one_group_out(groups[labelled])
    probability, single_class = out_of_fold_probabilities(X[labelled], sensitive, folds, seed)
    if single_class:
        held_out = sorted({str(groups[labelled][folds[i][1][0]]) for i in single_class})
        return {**row, "reason": f"fewer than two classes in the training part when holding out {held_out}"}
    return {**row, "reason": "", "auroc": roc_auc_score(sensitive, probability),
            "auprc": average_precision_score(sensitive, probability)}  # fmt: skip


def evaluate_drug(ctx: TaskContext) -> list[dict]:
    obs = ctx.dataset.obs
    drugs = [c for c in obs.columns if c.startswith(PREFIX)]
    problem = ""
    if not drugs or "group" not in obs:
        problem = "the dataset declares no drug responses and group (catalog drug_response, keys.group)"
        return run_metrics(drug_metrics(ctx.config), None, {"labels": problem})
    groups = obs["group"].astype(str).to_numpy()
    results, rows = DrugResults(), []
    for column in drugs:
        row = {
            "drug": column[len(PREFIX) :],
            **score_drug(np.asarray(ctx.X), obs[column].astype(str), groups, ctx.seed),
        }
        rows.append(row)
        if not row["reason"]:
            results.auroc[row["drug"]], results.auprc[row["drug"]] = row["auroc"], row["auprc"]
    ctx.details.append(pd.DataFrame(rows))
    if not results.auroc:
        problem = "no drug could be scored: " + "; ".join(f"{r['drug']}: {r['reason']}" for r in rows)
    return run_metrics(drug_metrics(ctx.config), results, {"labels": problem})
