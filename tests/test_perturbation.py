"""Perturbation response: metrics against independent references, the predictors on synthetic cells with a
known shift, no use of the target's perturbed cells, and scoring that keeps the task's own scale."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse, stats

from benchmark.config import validate
from benchmark.data.contract import UNLABELLED
from benchmark.data.prepare import standardize
from benchmark.errors import ConfigError, ContractError
from benchmark.scoring import scale_scores
from benchmark.tasks.context import TaskContext
from benchmark.tasks.perturbation import (
    MEASURES,
    PerturbationResults,
    evaluate_perturbation,
    fold_genes,
    predict,
    settings,
    task_cells,
    top_de_genes,
)
from metrics.perturbation import delta_pearson, energy_distance, scaled_to_references, squared_pearson

TYPES = ("t0", "t1", "t2", "t3")


def test_energy_distance_matches_scipy_in_one_dimension_and_a_hand_value():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=40), rng.normal(1.0, 2.0, size=30)
    # scipy's 1-D energy distance is the square root of Székely's statistic.
    assert energy_distance(a[:, None], b[:, None]) == pytest.approx(stats.energy_distance(a, b) ** 2, rel=1e-12)
    # {0} vs {3, 4} in 1-D: 2 * mean(3, 4) - 0 - mean(|3-4| over the 4 ordered pairs) = 7 - 0.5 = 6.5
    assert energy_distance(np.array([[0.0]]), np.array([[3.0], [4.0]])) == pytest.approx(6.5)
    assert energy_distance(b[:, None], b[:, None]) == pytest.approx(0.0, abs=1e-12)


def test_r2_is_scgens_squared_pearson_and_delta_pearson_of_no_change_is_zero():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert squared_pearson(x, y) == pytest.approx(stats.linregress(x, y).rvalue ** 2, rel=1e-10)
    assert squared_pearson(y, y) == pytest.approx(1.0)
    control = rng.normal(size=50)
    assert delta_pearson(control, y, control) == 0.0  # the predicted shift is zero everywhere
    assert delta_pearson(control + 0.3, y, control) == 0.0  # the same shift for every gene: no correlation
    assert delta_pearson(y, y, control) == pytest.approx(1.0)


def test_scaled_to_references_in_both_directions():
    assert scaled_to_references(0.9, no_change=0.8, observed=1.0) == pytest.approx(0.5)
    assert scaled_to_references(5.0, no_change=10.0, observed=0.0) == pytest.approx(0.5)  # a distance
    with pytest.raises(ValueError, match="references coincide"):
        scaled_to_references(0.3, 0.5, 0.5)


def test_top_de_genes_follow_scanpy_wilcoxon_order():
    rng = np.random.default_rng(2)
    control = rng.poisson(2.0, (60, 30)).astype(float)
    perturbed = rng.poisson(2.0, (50, 30)).astype(float)
    perturbed[:, [4, 11, 20]] += [3.0, 6.0, 1.5]  # three up-regulated genes, in a known order
    adata = ad.AnnData(
        np.log1p(np.r_[control, perturbed]),
        obs=pd.DataFrame(
            {"condition": pd.Categorical(["control"] * 60 + ["perturbed"] * 50)}, index=[f"c{i}" for i in range(110)]
        ),
    )
    adata.var_names = [f"g{i}" for i in range(30)]
    sc.tl.rank_genes_groups(adata, "condition", groups=["perturbed"], reference="control", method="wilcoxon")
    expected = [int(name[1:]) for name in adata.uns["rank_genes_groups"]["names"]["perturbed"][:10]]
    ours = top_de_genes(np.log1p(control), np.log1p(perturbed), 10)
    assert list(ours) == expected and list(ours[:3]) == [11, 4, 20]


def synthetic(shift_scale: float = 0.4, seed: int = 0, n_genes: int = 60, per_group: int = 40) -> ad.AnnData:
    """Four cell types x (control, perturbed): log-expression = type profile (+ one shift shared by every type
    for perturbed cells) + noise, stored as log-normalised values (no normalisation in the way)."""
    rng = np.random.default_rng(seed)
    profiles = rng.uniform(2.0, 4.0, (len(TYPES), n_genes))
    shift = rng.normal(0.0, shift_scale, n_genes)
    rows, obs = [], []
    for t, cell_type in enumerate(TYPES):
        for condition in ("control", "perturbed"):
            values = profiles[t] + (shift if condition == "perturbed" else 0.0)
            rows.append(np.clip(values + rng.normal(0.0, 0.1, (per_group, n_genes)), 0.0, None))
            obs += [{"cell_type": cell_type, "condition": condition, "batch": "b0"}] * per_group
    obs = pd.DataFrame(obs, index=[f"c{i}" for i in range(len(obs))]).astype("category")
    adata = ad.AnnData(sparse.csr_matrix(np.vstack(rows), dtype=np.float32), obs=obs)
    adata.var_names = [f"G{i}" for i in range(n_genes)]
    adata.uns["dataset"] = {"id": "toy", "labelled": True, "x_kind": "log_normalized"}
    return adata


def informative_embedding(adata: ad.AnnData, seed: int = 0) -> np.ndarray:
    """Cell type one-hot plus a perturbed flag, with a little noise: the perturbation is one direction."""
    rng = np.random.default_rng(seed)
    types = pd.get_dummies(adata.obs["cell_type"]).to_numpy(float)
    flag = (adata.obs["condition"] == "perturbed").to_numpy(float)[:, None]
    return np.c_[types, flag] + rng.normal(0.0, 0.05, (adata.n_obs, len(TYPES) + 1))


def run(adata: ad.AnnData, embedding: np.ndarray, config: dict | None = None) -> tuple[dict, pd.DataFrame]:
    ctx = TaskContext(adata, embedding, config or {}, seed=0)
    rows = evaluate_perturbation(ctx)
    assert {r["status"] for r in rows} == {"ok"}, rows
    return {r["metric"]: r["value"] for r in rows}, ctx.details[0]


def test_known_additive_shift_gives_additive_near_one_and_references_their_ends():
    adata = synthetic()
    values, details = run(adata, informative_embedding(adata))
    for measure in MEASURES:  # the additive baseline recovers the shared shift
        assert values[f"perturbation_{measure}_additive"] > 0.9, measure
    observed = details[details["predictor"] == "observed"]
    assert len(observed) == len(TYPES)  # every type was the target once
    assert np.allclose(observed["r2_all"], 1.0) and np.allclose(observed["r2_de"], 1.0)
    assert np.allclose(observed["delta_pearson"], 1.0) and np.allclose(observed["energy"], 0.0)
    no_change = details[details["predictor"] == "no_change"]
    assert (no_change["delta_pearson"] == 0.0).all() and (no_change["energy"] > observed["energy"].max()).all()
    means = details.groupby("predictor")[list(MEASURES)].mean()
    results = PerturbationResults({p: means.loc[p].to_dict() for p in means.index})
    for measure in MEASURES:
        assert results.scaled("no_change", measure) == 0.0 and results.scaled("observed", measure) == pytest.approx(1.0)
    # An embedding where the perturbation is one direction moves cells like the additive baseline; a random
    # embedding stays near no change. The direction of its tiny shift correlates with the true one by chance
    # only (either sign; mean near 0): its shift is estimated on other cells than the decoder's, whereas on
    # the same cells it would point at the perturbed ones it memorised (mean Δ Pearson 0.6-0.9).
    assert values["perturbation_r2_all"] > 0.9 and values["perturbation_energy"] > 0.8
    deltas = []
    for seed in range(8):
        noise, _ = run(adata, np.random.default_rng(seed).normal(size=(adata.n_obs, 20)))
        assert noise["perturbation_r2_all"] < 0.1 and noise["perturbation_energy"] < 0.1
        deltas.append(noise["perturbation_delta_pearson"])
    assert abs(np.mean(deltas)) < 0.25


def test_predictions_never_use_the_target_types_perturbed_cells():
    adata = synthetic(n_genes=80)
    embedding = informative_embedding(adata)
    config = settings({"n_genes": 30, "n_neighbors": 10})  # fewer genes than the data: gene selection runs too
    cells, problem, _ = task_cells(adata, embedding, config, seed=0)
    assert problem == ""
    target = "t2"
    genes = fold_genes(cells, target, config["n_genes"])
    before = predict(cells, target, genes, config["n_neighbors"], 0)
    hidden = np.flatnonzero((cells.cell_type == target) & cells.perturbed)
    rng = np.random.default_rng(9)
    expression = cells.expression.toarray()
    expression[hidden] = rng.uniform(0, 50, (len(hidden), expression.shape[1]))
    cells.expression = sparse.csr_matrix(expression)
    cells.embedding[hidden] = rng.normal(0, 100, (len(hidden), cells.embedding.shape[1]))
    assert np.array_equal(fold_genes(cells, target, config["n_genes"]), genes)
    after = predict(cells, target, genes, config["n_neighbors"], 0)
    assert set(before) == {"no_change", "additive", "embedding"}
    for name in before:
        assert np.array_equal(before[name], after[name]), name
    # ... while the other targets' predictions, which may use t2's perturbed cells, do change.
    other = predict(cells, "t0", fold_genes(cells, "t0", config["n_genes"]), config["n_neighbors"], 0)
    cells_clean, _, _ = task_cells(adata, embedding, config, seed=0)
    clean = predict(cells_clean, "t0", fold_genes(cells_clean, "t0", config["n_genes"]), config["n_neighbors"], 0)
    assert not np.array_equal(other["additive"], clean["additive"])


def test_seeded_and_deterministic():
    adata = synthetic(per_group=60)
    embedding = informative_embedding(adata)
    config = {"max_cells": 30}  # subsampled: the seed picks the cells
    first, _ = run(adata, embedding, config)
    again, _ = run(adata, embedding, config)
    assert first == again
    other = evaluate_perturbation(TaskContext(adata, embedding, config, seed=1))
    assert {r["metric"]: r["value"] for r in other} != first


def test_not_applicable_without_condition_or_a_second_cell_type():
    adata = synthetic()
    rows = evaluate_perturbation(TaskContext(adata[:, :].copy(), informative_embedding(adata), {}, 0))
    assert {r["status"] for r in rows} == {"ok"}
    no_condition = adata.copy()
    del no_condition.obs["condition"]
    rows = evaluate_perturbation(TaskContext(no_condition, informative_embedding(adata), {}, 0))
    assert {r["status"] for r in rows} == {"not_applicable"}
    assert rows[0]["message"] == "the dataset declares no condition (catalog keys.condition and perturbation)"
    few = adata[(adata.obs["cell_type"] == "t0") | (adata.obs["condition"] == "control")].copy()
    ctx = TaskContext(few, informative_embedding(few), {}, 0)
    rows = evaluate_perturbation(ctx)
    assert {r["status"] for r in rows} == {"not_applicable"}
    assert rows[0]["message"] == "needs at least two cell types with 10 control and perturbed cells each"
    assert set(ctx.details[0]["target"]) == {"t1", "t2", "t3"}  # left out, with the reason


def test_scoring_keeps_values_the_task_scaled():
    metrics = {
        "perturbation_r2_all": {"kind": "perturbation", "higher_is_better": True, "scaled_by_task": True},
        "perturbation_r2_all_raw": {"kind": "perturbation", "higher_is_better": True, "scored": False},
    }
    scores = pd.DataFrame([
        {"dataset": "d", "task": "perturbation", "model": m, "seed": 0, "metric": metric, "value": v,
         "status": "ok", "message": ""}
        for m, scaled, raw in (("a", 0.4, 0.9), ("b", -0.2, 0.7), ("random", 0.01, 0.75))
        for metric, v in (("perturbation_r2_all", scaled), ("perturbation_r2_all_raw", raw))
    ])  # fmt: skip
    scaled = scale_scores(scores, metrics, {"random": {"perturbation": "negative"}}).set_index(["model", "metric"])
    assert scaled.loc[("b", "perturbation_r2_all"), "scaled"] == -0.2
    assert scaled.loc[("a", "perturbation_r2_all"), "scaling"] == "task references"
    assert scaled.loc[("a", "perturbation_r2_all_raw"), "scaling"] == "min-max"  # the raw values: as any metric


def test_prepare_maps_the_catalog_condition_and_names_a_wrong_value():
    obs = pd.DataFrame({"stim": ["ctrl", "stim", "ctrl", "other"], "ct": "B"}, index=list("abcd"))
    raw = ad.AnnData(sparse.csr_matrix(np.ones((4, 3), dtype=np.float32)), obs=obs)
    entry = {
        "keys": {"batch": None, "label": "ct", "condition": "stim"},
        "perturbation": {"control": "ctrl", "perturbed": "stim"},
    }
    adata = standardize(raw, "toy", entry, "dataset 'toy'")
    assert list(adata.obs["condition"]) == ["control", "perturbed", "control", "other"]
    entry["perturbation"]["perturbed"] = "IFNB"
    with pytest.raises(ContractError, match=r"`perturbation.perturbed` \('IFNB'\) is not a value of obs column 'stim'"):
        standardize(raw, "toy", entry, "dataset 'toy'")


def test_catalog_needs_the_perturbation_values_with_a_condition_key():
    entry = {"source": "path", "path": "a.h5ad", "description": "d", "keys": {"condition": "stim"}}
    with pytest.raises(ConfigError, match="'perturbation' is a required property"):
        validate({"x": entry}, "catalog", "catalog.yaml")
    validate({"x": {**entry, "perturbation": {"control": "ctrl", "perturbed": "stim"}}}, "catalog", "catalog.yaml")
    validate({"x": {**entry, "keys": {"condition": None}}}, "catalog", "catalog.yaml")  # no condition: not needed


def test_cells_without_a_label_take_no_part():
    adata = synthetic()
    adata.obs["cell_type"] = adata.obs["cell_type"].astype(str).replace({"t3": UNLABELLED}).astype("category")
    _, details = run(adata, informative_embedding(adata))
    assert set(details["target"]) == {"t0", "t1", "t2"}
