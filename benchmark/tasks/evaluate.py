"""The evaluate step: one score table per (dataset, task, model, seed)."""

from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from benchmark.data.contract import read_dataset
from benchmark.runner import read_embedding
from benchmark.tasks.integration import evaluate_integration, integration_metrics

SCORE_COLUMNS = ["dataset", "task", "model", "seed", "metric", "value", "status", "message", "seconds"]

TaskFn = Callable[[ad.AnnData, np.ndarray, dict], list[dict]]
TASKS: dict[str, tuple[TaskFn, Callable[[dict], list]]] = {
    "integration": (evaluate_integration, integration_metrics),
}


def evaluate(
    dataset_path: str | Path,
    embedding_path: str | Path,
    task: str,
    task_config: dict,
    model: str,
    seed: int,
) -> pd.DataFrame:
    """Score one embedding; an embedding that failed or was not applicable gives rows with its status."""
    dataset = read_dataset(str(dataset_path))
    X, status, message = read_embedding(embedding_path, dataset)
    evaluate_fn, metrics_of = TASKS[task]
    if X is None:
        rows = [
            {"metric": m.name, "value": np.nan, "status": status, "message": message, "seconds": 0.0}
            for m in metrics_of(task_config)
        ]
    else:
        rows = evaluate_fn(dataset, X, task_config)
    frame = pd.DataFrame(rows)
    frame.insert(0, "seed", seed)
    frame.insert(0, "model", model)
    frame.insert(0, "task", task)
    frame.insert(0, "dataset", dataset.uns["dataset"]["id"])
    return frame[SCORE_COLUMNS]
