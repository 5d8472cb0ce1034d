"""Drug response: per drug, sensitive vs resistant cells, a probe on frozen embeddings, under one of two
protocols the catalog declares (``drug_response.protocol``):

- ``line_disjoint`` (default): labels measured per cell line (e.g. bulk GDSC2) and broadcast to its
  cells; folds split by the catalog's ``keys.group`` (cell line), so no line is on both sides. The
  task asks whether an embedding places each line near lines that respond alike, a line-level question.
- ``within_line``: labels per cell within one line (e.g. drug-surviving vs untreated cells); seeded
  stratified folds over cells (``tasks.drug.n_splits``), identical for every model. Such labels are
  treatment conditions, so where condition and sequencing sample coincide a sample-identity embedding
  separates them too: the report compares every model with the ``batch_only`` control.

Cells without a label are left out. A drug whose labelled cells hold one class, or whose folds leave a
training part with one class, is skipped with the reason (details). Scores: AUROC and AUPRC
(sensitive = positive) of the pooled out-of-fold probabilities, averaged over the drugs scored; with
per-cell labels also the Brier score of those probabilities after correcting the balanced probe to
each training part's class prevalence (reported beside the score, not in it).
"""

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from benchmark.tasks.common import run_metrics, select
from benchmark.tasks.context import TaskContext
from benchmark.tasks.folds import leave_one_group_out, out_of_fold_probabilities, stratified_folds
from metrics.base import Metric

PREFIX = "drug_"
PROTOCOLS = ("line_disjoint", "within_line")


@dataclass
class DrugResults:
    auroc: dict[str, float] = field(default_factory=dict)
    auprc: dict[str, float] = field(default_factory=dict)
    brier: dict[str, float] = field(default_factory=dict)


DRUG_METRICS = {
    m.name: m
    for m in (
        Metric("drug_auroc", "Drug AUROC", "drug", True, (0.0, 1.0), lambda d: np.mean(list(d.auroc.values())),
               description="mean over drugs of the AUROC of sensitive vs resistant (folds per the dataset's protocol)"),
        Metric("drug_auprc", "Drug AUPRC", "drug", True, (0.0, 1.0), lambda d: np.mean(list(d.auprc.values())),
               description="mean over drugs of the average precision (sensitive = positive), folds per the protocol"),
        Metric("drug_brier", "Drug Brier", "drug", False, (0.0, 1.0), lambda d: np.mean(list(d.brier.values())),
               requires=("labels", "calibration"), scored=False,
               description="mean over drugs of the Brier score of the prevalence-corrected out-of-fold probabilities "
                           "(per-cell labels only; lower is better)"),
    )
}  # fmt: skip


def drug_metrics(task_config: dict) -> list[Metric]:
    return select(DRUG_METRICS, "drug", task_config, tuple(DRUG_METRICS))


def drug_protocol(dataset_info: dict) -> str:
    """The protocol a prepared dataset's catalog entry declares (``uns['dataset']`` or its summary)."""
    entry = json.loads(dataset_info.get("catalog_entry") or "{}")
    protocol = entry.get("drug_response", {}).get("protocol", "line_disjoint")
    if protocol not in PROTOCOLS:
        raise ValueError(f"catalog field `drug_response.protocol` is {protocol!r}; expected one of {PROTOCOLS}")
    return protocol


def prevalence_corrected(probability: np.ndarray, prevalence: np.ndarray) -> np.ndarray:
    """P(y = 1) of a class-balanced probe moved to the class prevalence ``prevalence`` (prior shift:
    the balanced probe's odds times the prior odds)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = probability / (1 - probability) * prevalence / (1 - prevalence)
        return np.where(np.isinf(odds), 1.0, odds / (1 + odds))


def score_drug(X: np.ndarray, labels: pd.Series, groups: np.ndarray, seed: int, protocol: str, n_splits: int) -> dict:
    """One drug: its AUROC and AUPRC (and Brier score within a line), or the reason it is skipped."""
    labelled = (labels != "unlabelled").to_numpy()
    sensitive = (labels == "sensitive").to_numpy()[labelled]
    row = {"protocol": protocol, "n_cells": int(labelled.sum()), "n_groups": int(len(np.unique(groups[labelled])))}
    if len(np.unique(sensitive)) < 2:
        return {**row, "reason": "the labelled cells hold a single class"}
    if protocol == "within_line":
        minority = int(min(sensitive.sum(), (~sensitive).sum()))
        if minority < n_splits:
            return {**row, "reason": f"the smaller class has {minority} cells, fewer than the {n_splits} folds"}
        folds = stratified_folds(sensitive, n_splits, seed)
    else:
        if row["n_groups"] < 2:
            return {**row, "reason": "a single labelled group: the folds need at least two"}
        folds = leave_one_group_out(groups[labelled])
    probability, single_class = out_of_fold_probabilities(X[labelled], sensitive, folds, seed)
    if single_class:
        held_out = sorted({str(groups[labelled][folds[i][1][0]]) for i in single_class})
        return {**row, "reason": f"fewer than two classes in the training part when holding out {held_out}"}
    row.update(reason="", auroc=roc_auc_score(sensitive, probability),
               auprc=average_precision_score(sensitive, probability))  # fmt: skip
    if protocol == "within_line":
        prevalence = np.empty(len(sensitive))
        for train, test in folds:
            prevalence[test] = sensitive[train].mean()
        row["brier"] = brier_score_loss(sensitive, prevalence_corrected(probability, prevalence))
    return row


def evaluate_drug(ctx: TaskContext) -> list[dict]:
    obs = ctx.dataset.obs
    drugs = [c for c in obs.columns if c.startswith(PREFIX)]
    protocol = drug_protocol(ctx.dataset.uns["dataset"])
    problems = {"labels": "", "calibration": ""}
    if protocol == "line_disjoint":
        problems["calibration"] = "per-cell calibration needs per-cell labels; this dataset's are per cell line"
    if not drugs or (protocol == "line_disjoint" and "group" not in obs):
        problems["labels"] = "the dataset declares no drug responses and group (catalog drug_response, keys.group)"
        return run_metrics(drug_metrics(ctx.config), None, problems)
    groups = obs["group"].astype(str).to_numpy() if "group" in obs else np.full(ctx.dataset.n_obs, "all")
    n_splits = int(ctx.settings("drug")["n_splits"])
    results, rows = DrugResults(), []
    for column in drugs:
        scored = score_drug(np.asarray(ctx.X), obs[column].astype(str), groups, ctx.seed, protocol, n_splits)
        row = {"drug": column[len(PREFIX) :], **scored}
        rows.append(row)
        if not row["reason"]:
            results.auroc[row["drug"]], results.auprc[row["drug"]] = row["auroc"], row["auprc"]
            if "brier" in row:
                results.brier[row["drug"]] = row["brier"]
    ctx.details.append(pd.DataFrame(rows))
    if not results.auroc:
        problems["labels"] = "no drug could be scored: " + "; ".join(f"{r['drug']}: {r['reason']}" for r in rows)
    return run_metrics(drug_metrics(ctx.config), results, problems)
