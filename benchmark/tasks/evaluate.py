"""The evaluate step: one score table (and one details table) per (dataset, task, model, seed)."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.contract import read_dataset
from benchmark.ontology import load_view
from benchmark.runner import read_embedding
from benchmark.tasks.annotation import annotation_metrics, evaluate_annotation
from benchmark.tasks.context import TaskContext
from benchmark.tasks.integration import evaluate_integration, integration_metrics
from metrics.base import Metric

SCORE_COLUMNS = ["dataset", "task", "model", "seed", "metric", "value", "status", "message", "seconds"]

TASKS: dict[str, tuple[Callable[[TaskContext], list[dict]], Callable[[dict], list[Metric]]]] = {
    "integration": (evaluate_integration, integration_metrics),
    "annotation": (evaluate_annotation, annotation_metrics),
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
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score one embedding; an embedding that failed or was not applicable gives rows with its status.

    ``seed`` is the replicate seed written into the rows; ``task_seed`` drives folds and subsamples and
    is the same for every model of a (dataset, task), so that models see identical splits.
    """
    dataset = read_dataset(str(dataset_path))
    X, status, message = read_embedding(embedding_path, dataset)
    evaluate_fn, metrics_of = TASKS[task]
    details: list[pd.DataFrame] = []
    if X is None:
        rows = [
            {"metric": m.name, "value": np.nan, "status": status, "message": message, "seconds": 0.0}
            for m in metrics_of(task_config)
        ]
    else:
        ontology = load_view(*ontology_paths, task_config.get("lcad_method", "closest")) if ontology_paths else None
        ctx = TaskContext(dataset, X, task_config, task_seed, ontology)
        rows = evaluate_fn(ctx)
        details = ctx.details
    frame = pd.DataFrame(rows)
    for column, value in (("seed", seed), ("model", model), ("task", task), ("dataset", dataset.uns["dataset"]["id"])):
        frame.insert(0, column, value)
    detail = pd.concat(details, ignore_index=True) if details else pd.DataFrame({"note": ["no details"]})
    return frame[SCORE_COLUMNS], detail
