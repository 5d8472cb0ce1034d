"""Batch integration: the scIB metric set, scGraph-OntoRWR and ROGI on a zero-shot embedding.

Metrics that use labels see only the labelled cells; the others (batch mixing without labels) see all.
"""

import numpy as np

from benchmark.data.contract import label_problem, labelled_mask, n_batches
from benchmark.tasks.common import run_metrics, select
from benchmark.tasks.context import TaskContext
from metrics.base import Metric, available_cores
from metrics.integration import INTEGRATION_DEFAULT, INTEGRATION_METRICS, IntegrationInput
from metrics.jax_setup import configure_jax


def integration_metrics(task_config: dict) -> list[Metric]:
    return select(INTEGRATION_METRICS, "integration", task_config, INTEGRATION_DEFAULT)


def _inputs(ctx: TaskContext, cells: np.ndarray | slice) -> IntegrationInput:
    """The metrics' input for a subset of cells (a mask, or ``slice(None)`` for all)."""
    dataset, config, ontology_problem = ctx.dataset, ctx.settings("integration"), ctx.ontology_problem
    return IntegrationInput(
        X=np.asarray(ctx.X)[cells],
        labels=dataset.obs["cell_type"].to_numpy().astype(str)[cells],
        batches=dataset.obs["batch"].to_numpy().astype(str)[cells],
        X_pre=dataset.obsm["X_pca_unintegrated"][cells],
        cl_ids=None if ontology_problem else ctx.cl_ids[cells],
        ontology_distance=None if ontology_problem else ctx.ontology.distances,
        include_diagonal=bool(config["scgraph_include_diagonal"]),
        rogi_cells=int(config["rogi_cells"]),
        rogi_pcs=int(config["rogi_pcs"]),
        quadratic_cells=int(config["quadratic_cells"]),
        exact_knn_cells=int(config["exact_knn_cells"]),
        seed=ctx.seed,
    )


def evaluate_integration(ctx: TaskContext) -> list[dict]:
    configure_jax(available_cores())
    dataset = ctx.dataset
    problems = {
        "labels": label_problem(dataset),
        "batches": "" if n_batches(dataset) > 1 else "the dataset has a single batch",
        "ontology": ctx.ontology_problem,
    }
    labelled = labelled_mask(dataset)
    every_cell = _inputs(ctx, slice(None))
    labelled_cells = every_cell if labelled.all() or not labelled.any() else _inputs(ctx, labelled)
    rows = []
    for metric in integration_metrics(ctx.config):
        inputs = labelled_cells if "labels" in metric.requires else every_cell
        rows.extend(run_metrics([metric], inputs, problems))
    for inputs in [every_cell] if labelled_cells is every_cell else [every_cell, labelled_cells]:
        for name, table in inputs.details.items():
            ctx.details.append(table.assign(table=name))
    return rows
