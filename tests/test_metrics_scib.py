import numpy as np
import pandas as pd
import pytest
import scib_metrics
from scib_metrics.benchmark import BatchCorrection, Benchmarker, BioConservation

from benchmark.perf import reference
from benchmark.tasks.context import TaskContext
from benchmark.tasks.integration import evaluate_integration, integration_metrics
from metrics import diffusion
from metrics.integration import INTEGRATION_METRICS, IntegrationInput
from metrics.kbet import kbet_per_label
from metrics.scib import BENCHMARKER_ROW, SCIB_DEFAULT, exact_neighbors


def integrate(dataset, X, metrics=None, ontology=None):
    return evaluate_integration(TaskContext(dataset, X, {"metrics": metrics}, seed=0, ontology=ontology))


def test_values_equal_scib_metrics_benchmarker_unscaled(sim):
    """Our per-metric calls reproduce Benchmarker.get_results(min_max_scale=False) exactly."""
    rng = np.random.default_rng(0)
    X = sim.obsm["X_pca_unintegrated"][:, :10] + rng.normal(0, 0.5, (sim.n_obs, 10)).astype(np.float32)
    sim.obsm["X_test"] = X
    bench = Benchmarker(
        sim,
        batch_key="batch",
        label_key="cell_type",
        embedding_obsm_keys=["X_test"],
        pre_integrated_embedding_obsm_key="X_pca_unintegrated",
        bio_conservation_metrics=BioConservation(),
        batch_correction_metrics=BatchCorrection(),
        progress_bar=False,
    )
    bench.prepare(neighbor_computer=exact_neighbors)
    with reference.same_definitions():  # the same kBET definition: exact diffusion kNN, seeded ARPACK start
        bench.benchmark()
    expected = bench.get_results(min_max_scale=False, clean_names=False).loc["X_test"]
    ours = {r["metric"]: r["value"] for r in integrate(sim, X, list(SCIB_DEFAULT))}
    assert set(ours) == set(SCIB_DEFAULT)
    for name, value in ours.items():
        assert value == pytest.approx(float(expected[BENCHMARKER_ROW[name]]), abs=1e-6), name


def test_exact_neighbors_include_self_first():
    X = np.random.default_rng(1).normal(size=(50, 4))
    result = exact_neighbors(X, 10)
    assert result.indices.shape == (50, 10)
    np.testing.assert_array_equal(result.indices[:, 0], np.arange(50))
    assert np.all(np.diff(result.distances, axis=1) >= 0)


def test_single_batch_marks_batch_metrics_not_applicable(pbmc68k):
    rows = pd.DataFrame(integrate(pbmc68k, pbmc68k.obsm["X_pca_unintegrated"]))
    skipped = rows[rows["status"] == "not_applicable"]
    assert set(skipped["metric"]) == {
        "isolated_labels",
        "bras",
        "ilisi",
        "kbet",
        "graph_connectivity",
        "pcr_comparison",
        "scgraph_ontorwr",
    }
    assert set(skipped["message"]) == {"the dataset has a single batch", "no Cell Ontology was configured for this run"}
    assert (
        skipped.set_index("metric").loc["scgraph_ontorwr", "message"] == "no Cell Ontology was configured for this run"
    )
    assert rows.loc[rows["status"] == "ok", "value"].notna().all()


def test_a_failing_metric_does_not_hide_the_others(sim, monkeypatch):
    from dataclasses import replace

    broken = replace(INTEGRATION_METRICS["clisi"], fn=lambda d: 1 / 0)
    monkeypatch.setitem(INTEGRATION_METRICS, "clisi", broken)
    rows = {r["metric"]: r for r in integrate(sim, sim.obsm["X_pca_unintegrated"], ["clisi", "kmeans_nmi"])}
    assert rows["clisi"]["status"] == "failed" and rows["clisi"]["message"] == "ZeroDivisionError: division by zero"
    assert rows["kmeans_nmi"]["status"] == "ok" and 0 <= rows["kmeans_nmi"]["value"] <= 1


def test_unknown_metric_name_is_rejected():
    with pytest.raises(ValueError, match=r"`tasks.integration.metrics` names unknown metrics \['nmi'\]"):
        integration_metrics({"metrics": ["nmi"]})


def test_oracle_beats_random_on_bio(sim):
    labels = sim.obs["cell_type"].cat.codes.to_numpy()
    oracle = np.eye(labels.max() + 1)[labels] + np.random.default_rng(0).normal(0, 0.1, (sim.n_obs, labels.max() + 1))
    random = np.random.default_rng(0).normal(size=(sim.n_obs, 10))
    names = ["kmeans_nmi", "silhouette_label", "clisi"]
    score = {
        n: {r["metric"]: r["value"] for r in integrate(sim, X.astype(np.float32), names)}
        for n, X in (("oracle", oracle), ("random", random))
    }
    for name in names:
        assert score["oracle"][name] > score["random"][name] + 0.2, name


def test_input_caches_neighbors():
    X = np.random.default_rng(2).normal(size=(30, 3)).astype(np.float32)
    data = IntegrationInput(X, np.array(["a", "b"] * 15), np.array(["x"] * 15 + ["y"] * 15), X)
    assert data.neighbors is data.neighbors and data.knn(15).indices.shape == (30, 15)


def test_kbet_never_calls_pynndescent(sim, monkeypatch):
    """kBET's diffusion kNN goes through exact search (no per-process numba compilation)."""
    import scib_metrics.nearest_neighbors._pynndescent as backend

    def refuse(*args, **kwargs):
        raise AssertionError("pynndescent was called")

    monkeypatch.setattr(backend, "NNDescent", refuse)
    rows = {r["metric"]: r for r in integrate(sim, sim.obsm["X_pca_unintegrated"], ["kbet"])}
    assert rows["kbet"]["status"] == "ok", rows["kbet"]["message"]


def test_single_cell_type_marks_label_metrics_not_applicable(sim):
    one_type = sim[sim.obs["cell_type"] == sim.obs["cell_type"].cat.categories[0]].copy()
    one_type.obs["cell_type"] = one_type.obs["cell_type"].cat.remove_unused_categories()
    rows = pd.DataFrame(integrate(one_type, one_type.obsm["X_pca_unintegrated"], ["kmeans_nmi", "ilisi", "kbet"]))
    assert rows.set_index("metric")["status"].to_dict() == {
        "kmeans_nmi": "not_applicable",
        "ilisi": "ok",
        "kbet": "not_applicable",
    }
    assert rows.set_index("metric").loc["kmeans_nmi", "message"] == "the dataset has a single cell type"


def kbet_case(sim):
    """sim's cells plus labels that take every branch of scib-metrics' kbet_per_label: connected labels, a
    small one (it lowers the diffusion components of the labels after it), one batch only (NaN), one of
    two far-apart halves (components), and one in tiny pieces, each amid other cells (score 0)."""
    rng = np.random.default_rng(5)
    X = sim.obsm["X_pca_unintegrated"][:, :10].astype(np.float64)
    labels = sim.obs["cell_type"].to_numpy().astype(str).copy()
    batches = sim.obs["batch"].to_numpy().astype(str)
    cells = rng.permutation(len(X))
    labels[cells[:40]] = "a_small"
    labels[np.flatnonzero(batches == batches[0])[:30]] = "b_one_batch"
    halves = cells[40:160]
    labels[halves] = "c_halves"
    X[halves[:60]] += 50.0
    X[halves[60:]] -= 50.0
    sites = [[], [], []]
    for site in range(8):  # 5 cells of d_pieces amid 50 of e_filler, far from everything else
        centre = np.zeros(10)
        centre[site % 10] = 300.0 * (1 + site // 10)
        sites[0] += [centre + rng.normal(0, 0.01, (5, 10)), centre + rng.normal(0, 1.0, (50, 10))]
        sites[1] += ["d_pieces"] * 5 + ["e_filler"] * 50
    X = np.vstack([X, *sites[0]]).astype(np.float32)
    batches = np.concatenate([batches, rng.choice(np.unique(batches), size=len(sites[1]))])
    return X, np.concatenate([labels, sites[1]]), batches


def test_kbet_equals_scib_metrics_on_every_branch(sim):
    """Our per-label plan and parallel diffusion maps give scib-metrics' own kbet_per_label value."""
    X, labels, batches = kbet_case(sim)
    knn = exact_neighbors(X, 50)
    with reference.same_definitions():
        serial, table = scib_metrics.kbet_per_label(knn, batches, labels, return_df=True)
    scores = table.set_index("cluster")["kBET"]
    assert np.isnan(scores["b_one_batch"]) and scores["d_pieces"] == 0.0 and scores["c_halves"] > 0.0
    assert kbet_per_label(knn, batches, labels, workers=2) == pytest.approx(serial, abs=1e-12)
    assert kbet_per_label(knn, batches, labels, workers=1) == pytest.approx(serial, abs=1e-12)


def test_diffusion_neighbours_equal_scib_metrics_diffusion_nn(sim):
    from scib_metrics.utils import diffusion_nn

    graph = exact_neighbors(sim.obsm["X_pca_unintegrated"][:300, :10], 50).knn_graph_connectivities.tocsr()
    indices, _ = diffusion.diffusion_neighbours(graph, 20, 40)
    with reference.same_definitions():
        theirs = diffusion_nn(graph, k=20, n_comps=40)
    np.testing.assert_array_equal(indices, theirs.indices)


def test_reference_patch_fails_loudly_when_scib_metrics_changes(monkeypatch):
    reference.check_upstream()  # the pinned scib-metrics
    monkeypatch.setattr(reference, "UPSTREAM", "0" * 64)
    with pytest.raises(RuntimeError, match="_diffusion_nn.py changed"), reference.same_definitions():
        pass


def test_kbet_above_the_subsample_size_uses_a_recorded_subsample_with_its_own_graph(sim):
    X, labels, batches = kbet_case(sim)
    inputs = IntegrationInput(X, labels, batches, X, quadratic_cells=300, seed=3)
    value = INTEGRATION_METRICS["kbet"].fn(inputs)
    chosen = np.sort(np.random.default_rng(3).choice(len(X), size=300, replace=False))
    with reference.same_definitions():
        expected = scib_metrics.kbet_per_label(exact_neighbors(X[chosen], 50), batches[chosen], labels[chosen])
    assert value == pytest.approx(expected, abs=1e-12)
    assert inputs.details["scale"]["step"].tolist() == ["silhouettes", "kbet"]
    assert inputs.details["scale"]["n_used"].tolist() == [300, 300]


def test_cores_follow_the_jobs_threads(monkeypatch):
    import os

    from metrics.base import available_cores

    allowed = len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert available_cores() == allowed
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # Snakemake sets it to the job's threads
    assert available_cores() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", str(allowed + 5))
    assert available_cores() == allowed


def test_jax_settings_apply_on_call_not_on_import(monkeypatch, tmp_path):
    import logging
    import os

    from metrics import jax_setup

    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    logger = logging.getLogger(jax_setup.PROBING_LOGGER)
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    jax_setup.configure_jax(threads=2)
    assert logger.level == logging.WARNING and "XLA_FLAGS" not in os.environ
    jax_setup.configure_jax(threads=1)
    assert os.environ["XLA_FLAGS"] == jax_setup.ONE_THREAD
