"""Large data: chunked simulation, preparing from disk in chunks, and reading datasets without X."""

import hashlib

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from benchmark.data import prepare, simulate, sources
from benchmark.data.contract import read_dataset
from benchmark.data.simulate import gene_symbols, simulate_immune, write_simulated_immune
from benchmark.data.sources import sha256_h5_matrix, sha256_matrix
from benchmark.io import write_h5ad
from benchmark.tasks import evaluate as evaluate_module

QC = {"min_genes": 150, "min_cells": 20}
SIM = {"n_cells": 900, "n_batches": 3, "seed": 4, "n_genes": 800}
KEYS = {"batch": "batch", "label": "cell_type", "ontology_id": "cell_type_ontology_term_id"}


def test_small_simulations_are_unchanged_by_chunking():
    """sim_small, pinned: data of up to one chunk are drawn exactly as before chunking existed."""
    adata = simulate_immune(n_cells=600, n_batches=3, seed=1)
    assert sha256_matrix(adata.X) == "6875d3d2db58778c27ed4677c386ed35007b8a3d3866a1b3e3138157278f5669"
    assert hashlib.sha256(adata.obs.to_csv().encode()).hexdigest() == (
        "5632824b252891891d4bb2ce80cd5189d7b689ab826cf87eb6285d1896dd3d65"
    )
    assert list(adata.var_names) == gene_symbols() and adata.n_vars == 765


def test_gene_list_extends_with_synthetic_names():
    genes = gene_symbols(2000)
    assert genes[:765] == gene_symbols() and genes[765] == "SIM00766" and len(set(genes)) == 2000
    assert gene_symbols(100) == gene_symbols()[:100]


def test_chunked_simulation_is_deterministic_and_the_file_equals_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(simulate, "CHUNK_CELLS", 250)  # four chunks
    a, b = simulate_immune(**SIM), simulate_immune(**SIM)
    assert a.shape == (900, 800) and (a.X != b.X).nnz == 0 and a.obs.equals(b.obs)
    assert 0.05 < a.X.nnz / np.prod(a.shape) < 0.9  # sparse, not empty
    write_simulated_immune(tmp_path / "sim.h5ad", **SIM)
    c = ad.read_h5ad(tmp_path / "sim.h5ad")
    assert (a.X != c.X).nnz == 0 and a.obs.equals(c.obs) and a.var_names.equals(c.var_names)
    assert sha256_h5_matrix(tmp_path / "sim.h5ad") == sha256_matrix(a.X)
    later = simulate_immune(**{**SIM, "seed": 5})
    assert (a.X[250:] != later.X[250:]).nnz > 0  # later chunks follow the seed too


def assert_same_dataset(a: ad.AnnData, b: ad.AnnData) -> None:
    assert a.shape == b.shape and (a.X != b.X).nnz == 0 and a.X.dtype == b.X.dtype
    pd.testing.assert_frame_equal(a.obs, b.obs)
    pd.testing.assert_frame_equal(a.var, b.var)
    np.testing.assert_array_equal(a.obsm["X_pca_unintegrated"], b.obsm["X_pca_unintegrated"])
    assert a.uns["dataset"] == b.uns["dataset"]


def prepare_both(entry: dict, cache, monkeypatch) -> tuple[ad.AnnData, ad.AnnData]:
    in_memory = prepare.prepare_dataset("toy", entry, None, cache, QC)
    monkeypatch.setattr(sources, "BACKED_MIN_CELLS", 100)
    monkeypatch.setattr(prepare, "CHUNK_CELLS", 170)  # chunks that do not divide the cells
    return in_memory, prepare.prepare_dataset("toy", entry, None, cache, QC)


def test_backed_prepare_of_a_large_simulation_equals_the_in_memory_one(tmp_path, monkeypatch):
    entry = {"source": "builtin", "builtin": "simulated_immune", "description": "t", "params": SIM, "keys": KEYS}
    in_memory, backed = prepare_both(entry, tmp_path, monkeypatch)
    assert list((tmp_path / "simulated_immune").glob("*.h5ad"))  # written to the cache, then read backed
    assert in_memory.n_vars < SIM["n_genes"]  # QC dropped genes, so the gene filter is exercised
    assert_same_dataset(in_memory, backed)


def test_backed_prepare_of_a_file_with_selection_rounding_and_duplicates(tmp_path, monkeypatch):
    raw = simulate_immune(**SIM)
    raw.X = raw.X * 1.3  # not integers: rounded (round_to_counts)
    raw.var_names = list(raw.var_names[:-5]) + list(raw.var_names[:5])  # keep_first drops the repeats
    raw.obs["keep"] = np.where(np.arange(raw.n_obs) % 4, "yes", "no")
    raw.layers["counts"] = raw.X.copy()
    raw.X = raw.X * 0.0
    raw.write_h5ad(tmp_path / "raw.h5ad")
    entry = {
        "source": "path", "path": str(tmp_path / "raw.h5ad"), "description": "t", "round_to_counts": True,
        "duplicate_genes": "keep_first", "filter_obs": {"keep": ["yes"]}, "keys": {**KEYS, "counts_layer": "counts"},
    }  # fmt: skip
    with pytest.warns(UserWarning, match="not unique"):
        in_memory, backed = prepare_both(entry, tmp_path, monkeypatch)
    assert in_memory.n_obs < 0.75 * SIM["n_cells"] + 1 and in_memory.n_vars < SIM["n_genes"] - 5
    assert_same_dataset(in_memory, backed)


def test_evaluate_reads_no_counts_and_scores_as_with_them(sim, tmp_path, monkeypatch):
    write_h5ad(sim, tmp_path / "dataset.h5ad")
    lean = read_dataset(str(tmp_path / "dataset.h5ad"), x=False)
    assert lean.X is None and lean.shape == sim.shape and lean.obs.equals(sim.obs) and lean.var.equals(sim.var)
    np.testing.assert_array_equal(lean.obsm["X_pca_unintegrated"], sim.obsm["X_pca_unintegrated"])
    embedding = ad.AnnData(obs=pd.DataFrame(index=sim.obs_names))
    embedding.obsm["X_emb"] = sim.obsm["X_pca_unintegrated"][:, :10]
    embedding.uns["status"] = {"status": "ok", "message": ""}
    write_h5ad(embedding, tmp_path / "emb.h5ad")

    def scores(task: str, config: dict) -> pd.DataFrame:
        frame, _ = evaluate_module.evaluate(tmp_path / "dataset.h5ad", tmp_path / "emb.h5ad", task, config, "m", 0, 0)
        return frame.drop(columns="seconds")

    tasks = {"integration": {"metrics": ["pcr_comparison", "graph_connectivity"]}, "annotation": {"n_splits": 2}}
    without_x = {task: scores(task, config) for task, config in tasks.items()}
    monkeypatch.setattr(evaluate_module, "read_dataset", lambda path, x=True: read_dataset(path))
    for task, config in tasks.items():
        pd.testing.assert_frame_equal(without_x[task], scores(task, config))
