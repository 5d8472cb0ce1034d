"""Labels: whitespace stripped; empty, NaN, 'nan', 'None', 'unknown' mean unlabelled (unless the catalog
keeps them as classes); unlabelled cells are counted and left out of every label metric."""

import numpy as np
import pandas as pd
import pytest

from benchmark.data.contract import UNLABELLED, label_problem, labelled_mask
from benchmark.data.prepare import prepare_dataset, standardize, summarize
from benchmark.errors import ContractError
from benchmark.ontology import ontology_problem
from benchmark.tasks.annotation import annotation_cells, evaluate_annotation
from benchmark.tasks.context import TaskContext
from benchmark.tasks.integration import evaluate_integration
from tests.test_prepare import KEYS, entry, raw_input

MESSY = ["T cell", " T cell", "T cell ", "B cell", "B cell\t", "", np.nan, "nan", "None", "unknown", "Unknown", "  "]


def _messy(n_cells: int = 60, n_genes: int = 30):
    raw = raw_input(n_cells, n_genes)
    raw.obs["celltype"] = [MESSY[i % len(MESSY)] for i in range(n_cells)]
    ids = {"T": "CL:0000084", "B": "CL:0000236"}
    raw.obs["cl"] = [ids.get(str(v).strip()[:1], np.nan) for v in raw.obs["celltype"]]
    return raw


def test_whitespace_is_stripped_and_placeholders_are_unlabelled():
    out = standardize(_messy(), "toy", entry(), "x")
    assert sorted(out.obs["cell_type"].unique()) == ["B cell", "T cell", UNLABELLED]  # not 12 types
    unlabelled = (out.obs["cell_type"] == UNLABELLED).to_numpy()
    assert unlabelled.sum() == 60 * 7 // 12
    assert set(out.obs["cell_type_ontology_term_id"][unlabelled]) == {UNLABELLED}  # NaN CL ids allowed there
    assert set(out.obs["cell_type_ontology_term_id"][~unlabelled]) == {"CL:0000084", "CL:0000236"}


def test_the_catalog_can_keep_a_placeholder_as_a_real_class():
    keys = {**KEYS, "ontology_id": None}  # 'Unknown' is a class now, and has no CL id
    out = standardize(_messy(), "toy", entry(keys=keys, keep_placeholder_labels=["Unknown"]), "x")
    assert (out.obs["cell_type"] == "Unknown").sum() == 5
    assert sorted(out.obs["cell_type"].unique()) == ["B cell", "T cell", "Unknown", UNLABELLED]
    with pytest.raises(ContractError, match="`keep_placeholder_labels` cannot keep 'unlabelled'.*`derive_obs`"):
        standardize(_messy(), "toy", entry(keep_placeholder_labels=["Unlabelled"]), "x")


def test_a_labelled_cell_without_a_cl_id_is_still_an_error():
    raw = _messy()
    raw.obs.loc["c0", "cl"] = np.nan  # c0 is a T cell
    with pytest.raises(ContractError, match=r"obs\['cl'\] .* has 1 missing values in labelled cells"):
        standardize(raw, "toy", entry(), "x")


def test_label_ontology_ids_need_no_id_for_unlabelled_cells():
    mapping = {"T cell": "CL:0000084", "B cell": "CL:0000236"}
    out = standardize(_messy(), "toy", entry(keys={**KEYS, "ontology_id": None}, label_ontology_ids=mapping), "x")
    assert (out.obs["cell_type_ontology_term_id"] == UNLABELLED).sum() == 35


def test_unlabelled_cells_are_counted_in_the_summary(tmp_path):
    _messy().write_h5ad(tmp_path / "x.h5ad")
    adata = prepare_dataset("toy", entry(), tmp_path, tmp_path, {"min_genes": 1, "min_cells": 1})
    info = summarize(adata)
    assert info["labelled"] and info["n_cell_types"] == 2 and info["n_unlabelled_cells"] == 35
    assert labelled_mask(adata).sum() == 25 and label_problem(adata) == ""


def test_all_placeholder_labels_mean_an_unlabelled_dataset(tmp_path):
    raw = raw_input(40, 30)
    raw.obs["celltype"] = "unknown"
    raw.write_h5ad(tmp_path / "x.h5ad")
    adata = prepare_dataset("toy", entry(keys={**KEYS, "ontology_id": None}), tmp_path, tmp_path, {"min_genes": 1})
    assert not adata.uns["dataset"]["labelled"] and summarize(adata)["n_cell_types"] == 0
    assert label_problem(adata) == "the dataset has no cell-type labels"


def _partly_unlabelled(sim, n: int = 60):
    """``sim`` with its first ``n`` cells unlabelled, and the same dataset without them."""
    messy = sim.copy()
    for column in ("cell_type", "cell_type_ontology_term_id"):
        values = messy.obs[column].astype(str).to_numpy()
        values[:n] = UNLABELLED
        messy.obs[column] = pd.Categorical(values)
    return messy, sim[n:].copy()


def test_annotation_trains_and_tests_on_labelled_cells_only(sim):
    messy, labelled_only = _partly_unlabelled(sim)
    config = {"n_splits": 2, "train_fraction": 0.5, "metrics": ["knn_accuracy", "logreg_macro_f1"]}
    cells = annotation_cells(messy, config, seed=0)
    assert not cells.keep[:60].any() and UNLABELLED not in set(cells.labels)
    assert UNLABELLED not in set(cells.excluded.index)
    X = messy.obsm["X_pca_unintegrated"]
    with_unlabelled = evaluate_annotation(TaskContext(messy, X, config, 0))
    without = evaluate_annotation(TaskContext(labelled_only, X[60:], config, 0))
    assert [r["value"] for r in with_unlabelled] == [r["value"] for r in without]
    assert all(r["status"] == "ok" for r in with_unlabelled)


def test_integration_label_metrics_use_labelled_cells_and_batch_only_metrics_all(sim, sim_ontology):
    messy, labelled_only = _partly_unlabelled(sim)
    config = {"metrics": ["silhouette_label", "kmeans_nmi", "bras", "scgraph_ontorwr", "ilisi"]}
    X = sim.obsm["X_pca_unintegrated"]
    assert ontology_problem(messy, sim_ontology) == ""  # the 'unlabelled' CL ids are not held against it

    def values(dataset, embedding):
        rows = evaluate_integration(TaskContext(dataset, embedding, config, 0, sim_ontology))
        assert all(r["status"] == "ok" for r in rows), rows
        return {r["metric"]: r["value"] for r in rows}

    mixed, labelled, everything = values(messy, X), values(labelled_only, X[60:]), values(sim, X)
    for name in ("silhouette_label", "kmeans_nmi", "bras", "scgraph_ontorwr"):
        assert mixed[name] == pytest.approx(labelled[name], abs=1e-6), name
    assert mixed["ilisi"] == pytest.approx(everything["ilisi"], abs=1e-6)
    assert mixed["ilisi"] != pytest.approx(labelled["ilisi"], abs=1e-6)
