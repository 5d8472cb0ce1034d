"""The evaluate step: one score table (and one details table) per (dataset, task, model, seed)."""

import json
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from benchmark.config import task_settings
from benchmark.data.contract import is_labelled, read_dataset
from benchmark.ontology import load_view
from benchmark.embedding import read_embedding
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
METRICS: dict[str, Callable[[dict], list[Metric]]] = {
    **{task: metrics for task, (_, metrics) in TASKS.items()},
    "gene_function": gene_function_metrics,
    "finetune": finetune_metrics,
}


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
    """Score one embedding; an embedding that failed or was not applicable gives rows with its status.

    ``seed`` is the replicate seed written into the rows; ``task_seed`` drives folds and subsamples and
    is the same for every model of a (dataset, task), so that models see identical splits. For
    ``finetune``, ``embedding_path`` is the fine-tune step's predictions; for ``gene_function``, the
    embedding's ``varm["gene_emb"]`` is scored with the label files in ``resources``. A cell embedding
    is first checked (``benchmark.tasks.degenerate``): the reason it is degenerate, if any, goes into
    the ``degenerate`` column of every row (scoring then leaves it out of the ranking).
    """
    dataset = read_dataset(str(dataset_path), x=task in NEEDS_EXPRESSION)  # others read obs, obsm and var_names
    if task == "finetune":
        X, status, message = read_predictions(embedding_path)
    else:
        X, status, message = read_embedding(embedding_path, dataset)
    details: list[pd.DataFrame] = []
    if X is None:
        rows = [
            {"metric": m.name, "value": np.nan, "status": status, "message": message, "seconds": 0.0}
            for m in METRICS[task](task_config)
        ]
    elif task == "gene_function":
        rows, details = evaluate_gene_function(
            read_gene_embedding(embedding_path), list(dataset.var_names), task_config, resources or {}, task_seed
        )
    else:
        lcad = {k: v for k, v in task_settings(task, task_config).items() if k in ("lcad_method", "lcad_drop_zero")}
        ontology = load_view(*ontology_paths, **lcad) if ontology_paths else None
        ctx = TaskContext(dataset, X if task != "finetune" else np.zeros((dataset.n_obs, 0)), task_config, task_seed,
                          ontology)  # fmt: skip
        rows = evaluate_finetuned(ctx, X) if task == "finetune" else TASKS[task][0](ctx)
        details = ctx.details
    frame = pd.DataFrame(rows)
    checked = X is not None and task in CELL_EMBEDDING_TASKS
    frame["degenerate"] = check_embedding(X, dataset, task_seed) if checked else ""
    for column, value in (("seed", seed), ("model", model), ("task", task), ("dataset", dataset.uns["dataset"]["id"])):
        frame.insert(0, column, value)
    detail = pd.concat(details, ignore_index=True) if details else pd.DataFrame({"note": ["no details"]})
    return frame[SCORE_COLUMNS], detail


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
