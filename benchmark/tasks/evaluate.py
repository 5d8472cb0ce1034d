"""The evaluate step: one score table (and one details table) per (dataset, model, seed), every task of
that model's outputs on that dataset scored in one process."""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from benchmark.config import task_settings
from benchmark.data.contract import is_labelled, read_dataset
from benchmark.embedding import read_embedding
from benchmark.ontology import OntologyView, load_view
from benchmark.tasks.annotation import annotation_metrics, evaluate_annotation, evaluate_finetuned, finetune_metrics
from benchmark.tasks.cancer import cancer_metrics, evaluate_cancer
from benchmark.tasks.context import TaskContext
from benchmark.tasks.degenerate import degenerate_reason
from benchmark.tasks.drug import drug_metrics, evaluate_drug
from benchmark.tasks.gene_function import evaluate_gene_function, gene_function_metrics
from benchmark.tasks.integration import evaluate_integration, integration_metrics
from benchmark.tasks.perturbation import evaluate_perturbation, perturbation_metrics
from metrics.base import Metric

SCORE_COLUMNS = ["dataset", "task", "model", "seed", "metric", "value", "status", "message", "seconds", "degenerate"]
CELL_EMBEDDING_TASKS = ("integration", "annotation", "cancer", "drug", "perturbation")  # X_emb: degeneracy checked

TASKS: dict[str, tuple[Callable[[TaskContext], list[dict]], Callable[[dict], list[Metric]]]] = {
    "integration": (evaluate_integration, integration_metrics),
    "annotation": (evaluate_annotation, annotation_metrics),
    "cancer": (evaluate_cancer, cancer_metrics),
    "drug": (evaluate_drug, drug_metrics),
    "perturbation": (evaluate_perturbation, perturbation_metrics),
}
NEEDS_EXPRESSION = {"perturbation"}  # tasks that read the (log-normalised) counts, not only obs and obsm
log = logging.getLogger(__name__)
METRICS: dict[str, Callable[[dict], list[Metric]]] = {
    **{task: metrics for task, (_, metrics) in TASKS.items()},
    "gene_function": gene_function_metrics,
    "finetune": finetune_metrics,
}


@dataclass(frozen=True)
class TaskJob:
    """One task to score: its settings and its seed (the same for every model of a (dataset, task), so that
    models see identical folds and subsamples)."""

    config: dict
    seed: int


def evaluate_tasks(
    dataset_path: str | Path,
    tasks: dict[str, TaskJob],
    model: str,
    seed: int,
    embedding_path: str | Path | None = None,
    predictions_path: str | Path | None = None,
    ontology_paths: tuple[str, str] | None = None,
    resources: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score one model's outputs on one dataset for every task in ``tasks``, in one process (the dataset,
    the embedding and the ontology are read once); return the score rows and the details, each with a
    `task` column.

    ``seed`` is the replicate seed written into the rows. ``embedding_path`` holds the cell embedding
    (``varm["gene_emb"]`` for gene function); ``predictions_path`` the fine-tune step's predictions (task
    ``finetune``). An embedding that failed or was not applicable gives rows with its status. A cell
    embedding is first checked (``benchmark.tasks.degenerate``): the reason it is degenerate, if any, goes
    into the ``degenerate`` column of every row (scoring then leaves it out of the ranking). A task that
    raises gets `failed` rows with the error; the other tasks are scored. Inputs that cannot be read (an
    embedding whose cells differ from the dataset's) raise.
    """
    dataset = read_dataset(str(dataset_path), x=bool(NEEDS_EXPRESSION & set(tasks)))  # else obs, obsm, var_names
    outputs = {"embedding": read_embedding(embedding_path, dataset) if embedding_path is not None else None,
               "predictions": read_predictions(predictions_path) if predictions_path is not None else None}  # fmt: skip
    views: dict[tuple, OntologyView] = {}  # by LCAD settings: annotation and fine-tuning may differ
    scores, details = [], []
    for task, job in tasks.items():
        settings = task_settings(task, job.config)
        lcad = tuple((k, settings[k]) for k in ("lcad_method", "lcad_drop_zero") if k in settings)
        if ontology_paths and lcad not in views:
            views[lcad] = load_view(*ontology_paths, **dict(lcad))
        try:
            rows, detail = _evaluate_task(task, settings, job.seed, dataset, outputs, embedding_path,
                                          views.get(lcad), resources or {})  # fmt: skip
        except Exception as error:  # one broken task never hides the others
            log.exception("task %s failed for %s", task, model)
            rows = _status_rows(task, settings, "failed", f"{type(error).__name__}: {error}")
            detail = pd.DataFrame({"note": [f"failed: {type(error).__name__}: {error}"]})
        frame = pd.DataFrame(rows)
        X = outputs["embedding"][0] if outputs["embedding"] is not None else None
        checked = X is not None and task in CELL_EMBEDDING_TASKS
        frame["degenerate"] = check_embedding(X, dataset, job.seed) if checked else ""
        for column, value in (("seed", seed), ("model", model), ("task", task),
                              ("dataset", dataset.uns["dataset"]["id"])):  # fmt: skip
            frame.insert(0, column, value)
        scores.append(frame[SCORE_COLUMNS])
        details.append(detail.assign(task=task)[["task", *detail.columns]])
    return pd.concat(scores, ignore_index=True), pd.concat(details, ignore_index=True)


def _status_rows(task: str, settings: dict, status: str, message: str) -> list[dict]:
    return [{"metric": m.name, "value": np.nan, "status": status, "message": message, "seconds": 0.0}
            for m in METRICS[task](settings)]  # fmt: skip


def _evaluate_task(task: str, settings: dict, task_seed: int, dataset: ad.AnnData, outputs: dict,
                   embedding_path: str | Path | None, ontology: OntologyView | None,
                   resources: dict[str, str]) -> tuple[list[dict], pd.DataFrame]:  # fmt: skip
    """One task's rows and details table."""
    X, status, message = outputs["predictions" if task == "finetune" else "embedding"]
    if X is None:
        return _status_rows(task, settings, status, message), pd.DataFrame({"note": ["no details"]})
    if task == "gene_function":
        rows, details = evaluate_gene_function(read_gene_embedding(embedding_path), list(dataset.var_names), settings,
                                               resources, task_seed)  # fmt: skip
    else:
        # Each task gets its own copy: a metric may change its input in place (scib-metrics' k-means rounds
        # it), and the next task must see the embedding as written.
        cells = X.copy() if task != "finetune" else np.zeros((dataset.n_obs, 0))
        ctx = TaskContext(dataset, cells, settings, task_seed, ontology)
        rows = evaluate_finetuned(ctx, X) if task == "finetune" else TASKS[task][0](ctx)
        details = ctx.details
    return rows, pd.concat(details, ignore_index=True) if details else pd.DataFrame({"note": ["no details"]})


def evaluate(
    dataset_path: str | Path,
    embedding_path: str | Path,
    task: str,
    task_config: dict,
    model: str,
    seed: int,
    task_seed: int,
    ontology_paths: tuple[str, str] | None = None,
    resources: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`evaluate_tasks` for one task; for ``finetune``, ``embedding_path`` is the fine-tune step's predictions.
    The details come without the `task` column."""
    paths = {"predictions_path" if task == "finetune" else "embedding_path": embedding_path}
    scores, details = evaluate_tasks(dataset_path, {task: TaskJob(task_config, task_seed)}, model, seed,
                                     ontology_paths=ontology_paths, resources=resources, **paths)  # fmt: skip
    return scores, details.drop(columns="task")


def check_embedding(X: np.ndarray, dataset: ad.AnnData, seed: int) -> str:
    """The embedding's degeneracy reason ('' when it passes), with the labels when the dataset has them."""
    labels = dataset.obs["cell_type"].to_numpy() if is_labelled(dataset) else None
    return degenerate_reason(X, labels, seed)


def read_gene_embedding(path: str | Path) -> pd.DataFrame | None:
    """The embedding file's gene embeddings (genes x dims; NaN rows for genes without one), or None."""
    emb = ad.read_h5ad(path)
    if "gene_emb" not in emb.varm:
        return None
    return pd.DataFrame(np.asarray(emb.varm["gene_emb"]), index=emb.var_names)


def read_predictions(predictions_path: str | Path) -> tuple[pd.DataFrame | None, str, str]:
    """The predictions with the run's status and message (the run record sits beside them)."""
    record = json.loads(Path(str(predictions_path).replace(".tsv.gz", ".json")).read_text())
    if record["status"] != "ok":
        return None, record["status"], record["message"]
    return pd.read_csv(predictions_path, sep="\t"), "ok", ""
