"""Batch integration: the scIB metric set, scGraph-OntoRWR and ROGI on a zero-shot embedding."""

from benchmark.data.contract import label_problem, n_batches
from benchmark.tasks.common import run_metrics, select
from benchmark.tasks.context import TaskContext
from metrics.base import Metric, available_cores
from metrics.integration import INTEGRATION_DEFAULT, INTEGRATION_METRICS, IntegrationInput
from metrics.jax_setup import configure_jax
from metrics.scib import EXACT_KNN_CELLS


def integration_metrics(task_config: dict) -> list[Metric]:
    return select(INTEGRATION_METRICS, task_config.get("metrics"), INTEGRATION_DEFAULT, "tasks.integration.metrics")


def evaluate_integration(ctx: TaskContext) -> list[dict]:
    configure_jax(available_cores())
    dataset, config = ctx.dataset, ctx.config
    ontology_problem = ctx.ontology_problem
    inputs = IntegrationInput(
        X=ctx.X,
        labels=dataset.obs["cell_type"].to_numpy().astype(str),
        batches=dataset.obs["batch"].to_numpy().astype(str),
        X_pre=dataset.obsm["X_pca_unintegrated"],
        cl_ids=None if ontology_problem else ctx.cl_ids,
        ontology_distance=None if ontology_problem else ctx.ontology.distances,
        include_diagonal=bool(config.get("scgraph_include_diagonal", False)),
        rogi_cells=int(config.get("rogi_cells", 1000)),
        rogi_pcs=int(config.get("rogi_pcs", 10)),
        quadratic_cells=int(config.get("quadratic_cells", 50_000)),
        exact_knn_cells=int(config.get("exact_knn_cells", EXACT_KNN_CELLS)),
        seed=ctx.seed,
    )
    problems = {
        "labels": label_problem(dataset),
        "batches": "" if n_batches(dataset) > 1 else "the dataset has a single batch",
        "ontology": ontology_problem,
    }
    rows = run_metrics(integration_metrics(config), inputs, problems)
    for name, table in inputs.details.items():
        ctx.details.append(table.assign(table=name))
    return rows
