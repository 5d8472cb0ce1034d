import numpy as np
import pandas as pd
import pytest

from benchmark.tasks.annotation import ANNOTATION_DEFAULT, evaluate_annotation, make_splits
from benchmark.tasks.context import TaskContext

CONFIG = {"n_splits": 3, "train_fraction": 0.3, "knn_neighbors": 5}


def annotate(dataset, X, ontology=None, config=CONFIG, seed=0):
    ctx = TaskContext(dataset, X, config, seed, ontology)
    rows = {r["metric"]: r for r in evaluate_annotation(ctx)}
    return rows, ctx.details


def oracle(dataset):
    codes = dataset.obs["cell_type"].cat.codes.to_numpy()
    return np.eye(codes.max() + 1)[codes] + np.random.default_rng(0).normal(0, 0.05, (len(codes), codes.max() + 1))


def test_splits_are_seeded_stratified_and_disjoint():
    labels = np.repeat(["a", "b", "c"], [50, 30, 20])
    first, again, other = make_splits(labels, 3, 0.2, 7), make_splits(labels, 3, 0.2, 7), make_splits(labels, 3, 0.2, 8)
    for (train, test), (train2, _) in zip(first, again, strict=True):
        assert np.array_equal(train, train2) and not set(train) & set(test)
        assert pd.Series(labels[train]).value_counts().to_dict() == {"a": 10, "b": 6, "c": 4}
    assert not np.array_equal(first[0][0], other[0][0])


def test_oracle_is_perfect_and_random_is_not(sim, sim_ontology):
    perfect, details = annotate(sim, oracle(sim), sim_ontology)
    assert set(perfect) == set(ANNOTATION_DEFAULT)
    for probe in ("knn", "logreg"):
        assert perfect[f"{probe}_accuracy"]["value"] == 1.0 and perfect[f"{probe}_kappa"]["value"] == 1.0
        assert perfect[f"{probe}_lcad"]["value"] == 0.0 and perfect[f"{probe}_misclassified"]["value"] == 0.0
    noise, _ = annotate(sim, np.random.default_rng(1).normal(size=(sim.n_obs, 5)), sim_ontology)
    assert noise["logreg_accuracy"]["value"] < 0.5 and noise["logreg_lcad"]["value"] > 1.0
    predictions = details[0]
    assert list(predictions.columns) == ["cell", "split", "probe", "true", "predicted"]
    assert set(predictions["cell"]) <= set(sim.obs_names)


def test_lcad_uses_the_ontology_of_the_labels(sim, sim_ontology):
    rows, details = annotate(sim, np.random.default_rng(1).normal(size=(sim.n_obs, 5)), sim_ontology)
    table = pd.concat([d for d in details if "probe" in d])
    term = dict(sim.obs[["cell_type", "cell_type_ontology_term_id"]].astype(str).drop_duplicates().to_numpy())
    per_split, per_cell = [], []
    for (probe, _), group in table.groupby(["probe", "split"]):
        if probe == "logreg":
            wrong = group[group["true"] != group["predicted"]]
            pairs = wrong[["true", "predicted"]].to_numpy()
            per_split.append(np.mean([sim_ontology.lcad.pair(term[t], term[p]) for t, p in pairs]))
            per_cell.append(len(wrong) / len(group) * per_split[-1])  # correct cells count 0
    assert rows["logreg_lcad"]["value"] == pytest.approx(np.mean(per_split))
    assert rows["logreg_lcad_per_cell"]["value"] == pytest.approx(np.mean(per_cell))


def test_without_ontology_lcad_is_not_applicable(pbmc68k):
    rows, _ = annotate(pbmc68k, pbmc68k.obsm["X_pca_unintegrated"])
    assert rows["knn_lcad"]["status"] == "not_applicable"
    assert rows["knn_lcad"]["message"] == "no Cell Ontology was configured for this run"
    assert rows["knn_accuracy"]["status"] == "ok" and 0.5 < rows["knn_accuracy"]["value"] <= 1.0


def test_rare_types_are_left_out_and_listed(pbmc68k):
    _, details = annotate(pbmc68k, pbmc68k.obsm["X_pca_unintegrated"], config={**CONFIG, "min_cells_per_type": 20})
    excluded = next(d for d in details if "excluded_type" in d)
    assert set(excluded["excluded_type"]) == {"CD34+", "CD4+/CD45RA+/CD25- Naive T", "CD4+/CD45RO+ Memory"}


def test_same_seed_same_scores(sim):
    X = sim.obsm["X_pca_unintegrated"]
    first, _ = annotate(sim, X)
    second, _ = annotate(sim, X)
    assert {k: v["value"] for k, v in first.items() if v["status"] == "ok"} == {
        k: v["value"] for k, v in second.items() if v["status"] == "ok"
    }
