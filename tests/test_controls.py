"""The controls bracket the ontology metric: the ontology oracle near 1, random near 0."""

import numpy as np

from benchmark.registry import discover, load_class
from benchmark.tasks.context import TaskContext
from benchmark.tasks.integration import evaluate_integration

SPECS = discover()


def scgraph(dataset, X, ontology) -> float:
    ctx = TaskContext(dataset, X, {"metrics": ["scgraph_ontorwr"]}, 0, ontology)
    (row,) = evaluate_integration(ctx)
    assert row["status"] == "ok", row["message"]
    return row["value"]


def embed(model_id, dataset, ontology, seed=0):
    spec = SPECS[model_id]
    return load_class(spec)(spec.params, seed=seed, ontology=ontology).embed(dataset)


def test_ontology_oracle_scores_near_one(sim, sim_ontology):
    assert scgraph(sim, embed("ontology_oracle", sim, sim_ontology), sim_ontology) > 0.95


def test_random_scores_near_zero(sim, sim_ontology):
    scores = [scgraph(sim, embed("random", sim, sim_ontology, seed), sim_ontology) for seed in range(5)]
    assert abs(np.mean(scores)) < 0.15


def test_expression_beats_random(sim, sim_ontology):
    """The simulation inherits programs down the ontology, so expression PCs track ontology distances."""
    assert scgraph(sim, embed("hvg_pca", sim, sim_ontology), sim_ontology) > 0.3
