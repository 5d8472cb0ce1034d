"""Cancer cell identification: malignant vs normal cells, a probe on frozen embeddings, leave one
group (tumour or patient, the catalog's ``keys.group``) out, so no tumour is on both sides.

Out-of-fold probabilities of every cell are pooled over the folds (a held-out tumour may hold one
class only), then scored: accuracy (threshold 0.5), AUROC and AUPRC (average precision).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from benchmark.tasks.common import run_metrics, select
from benchmark.tasks.context import TaskContext
from benchmark.tasks.folds import leave_one_group_out, out_of_fold_probabilities
from metrics.base import Metric


@dataclass
class Pooled:
    truth: np.ndarray
    probability: np.ndarray


CANCER_METRICS = {
    m.name: m
    for m in (
        Metric("cancer_accuracy", "Cancer accuracy", "cancer", True, (0.0, 1.0),
               lambda d: accuracy_score(d.truth, d.probability >= 0.5),
               description="malignant vs normal, leave-one-tumour-out probe, threshold 0.5"),
        Metric("cancer_auroc", "Cancer AUROC", "cancer", True, (0.0, 1.0),
               lambda d: roc_auc_score(d.truth, d.probability),
               description="area under the ROC curve of the pooled out-of-fold malignancy probabilities"),
        Metric("cancer_auprc", "Cancer AUPRC", "cancer", True, (0.0, 1.0),
               lambda d: average_precision_score(d.truth, d.probability),
               description="average precision (malignant = positive) of the pooled out-of-fold probabilities"),
    )
}  # fmt: skip


def cancer_metrics(task_config: dict) -> list[Metric]:
    return select(CANCER_METRICS, "cancer", task_config, tuple(CANCER_METRICS))


def cancer_problem(obs: pd.DataFrame) -> str:
    if "malignant" not in obs or "group" not in obs:
        return "the dataset declares no malignant flag and group (catalog keys.malignant, keys.group)"
    if obs["malignant"].nunique() < 2:
        return "all cells have the same malignant flag"
    if obs["group"].nunique() < 2:
        return "a single tumour/patient group: leave-one-group-out needs at least two"
    return ""


def evaluate_cancer(ctx: TaskContext) -> list[dict]:
    obs = ctx.dataset.obs
    problem = cancer_problem(obs)
    if problem:
        return run_metrics(cancer_metrics(ctx.config), None, {"labels": problem})
    truth = (obs["malignant"].astype(str) == "True").to_numpy()
    groups = obs["group"].astype(str).to_numpy()
    folds = leave_one_group_out(groups)
    probability, single_class = out_of_fold_probabilities(np.asarray(ctx.X), truth, folds, ctx.seed)
    scored = np.isfinite(probability)
    ctx.details.append(pd.DataFrame({"cell": obs.index, "group": groups, "malignant": truth,
                                     "probability": probability}))  # fmt: skip
    skipped = sorted({str(groups[folds[i][1][0]]) for i in single_class})
    if skipped:
        ctx.details.append(pd.DataFrame({"held_out_group_not_scored": skipped,
                                         "reason": "its training part has a single class"}))  # fmt: skip
    problem = "" if len(np.unique(truth[scored])) == 2 else "the scored cells hold a single class"
    return run_metrics(cancer_metrics(ctx.config), Pooled(truth[scored], probability[scored]), {"labels": problem})
