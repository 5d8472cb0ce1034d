"""Batch integration: the scIB metric set on a zero-shot embedding."""

import logging
import time

import anndata as ad
import numpy as np

from benchmark.data.contract import is_labelled, n_batches
from metrics.base import Metric
from metrics.scib import INTEGRATION_DEFAULT, INTEGRATION_METRICS, IntegrationInput

log = logging.getLogger(__name__)


def integration_metrics(task_config: dict) -> list[Metric]:
    names = task_config.get("metrics") or INTEGRATION_DEFAULT
    unknown = [n for n in names if n not in INTEGRATION_METRICS]
    if unknown:
        raise ValueError(
            f"config key `tasks.integration.metrics` names unknown metrics {unknown}; "
            f"known: {', '.join(INTEGRATION_METRICS)}"
        )
    return [INTEGRATION_METRICS[n] for n in names]


def evaluate_integration(dataset: ad.AnnData, X: np.ndarray, task_config: dict) -> list[dict]:
    """One result dict (metric, value, status, message, seconds) per configured metric."""
    inputs = IntegrationInput(
        X=X,
        labels=dataset.obs["cell_type"].to_numpy().astype(str),
        batches=dataset.obs["batch"].to_numpy().astype(str),
        X_pre=dataset.obsm["X_pca_unintegrated"],
    )
    rows = []
    for metric in integration_metrics(task_config):
        row = {"metric": metric.name, "value": np.nan, "status": "ok", "message": "", "seconds": 0.0}
        if not is_labelled(dataset):
            row.update(status="not_applicable", message="the dataset has no cell-type labels")
        elif metric.needs_batches and n_batches(dataset) < 2:
            row.update(status="not_applicable", message="the dataset has a single batch")
        else:
            start = time.perf_counter()
            try:
                row["value"] = float(metric.fn(inputs))
            except Exception as error:  # one broken metric never hides the others
                log.exception("metric %s failed", metric.name)
                row.update(status="failed", message=f"{type(error).__name__}: {error}")
            row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows
