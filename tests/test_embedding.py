import dataclasses

import anndata as ad
import numpy as np
import pytest

from benchmark.embedding import embed_dataset, read_embedding, validate_embedding
from benchmark.errors import ContractError
from benchmark.io import write_h5ad
from benchmark.registry import discover, read_spec

PLUGIN_YAML = "name: {name}\nsummary: s\nkind: baseline\nclass: M\ncapabilities: [embed]\n{extra}"


def plugin(tmp_path, name: str, body: str, yaml_extra: str = "", extra: str = ""):
    """A throwaway plugin whose embed() runs ``body``; ``extra`` adds methods to the class."""
    folder = tmp_path / "plugins" / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "model.yaml").write_text(PLUGIN_YAML.format(name=name, extra=yaml_extra))
    (folder / "model.py").write_text(
        "import numpy as np\nfrom benchmark.model import Model\nfrom benchmark.errors import NotApplicable\n\n"
        f"class M(Model):\n    def embed(self, adata):\n        {body}\n{extra}"
    )
    return read_spec(folder)


@pytest.fixture
def dataset_path(sim, tmp_path):
    path = tmp_path / "dataset.h5ad"
    write_h5ad(sim, path)
    return path


def test_ok_embedding_is_written_with_run_record(dataset_path, tmp_path, sim):
    out = tmp_path / "emb.h5ad"
    assert embed_dataset(dataset_path, discover()["random"], {"n_dims": 7}, 11, out) == "ok"
    emb = ad.read_h5ad(out)
    assert emb.obsm["X_emb"].shape == (sim.n_obs, 7) and emb.obsm["X_emb"].dtype == np.float32
    assert emb.uns["status"]["status"] == "ok" and emb.uns["run"]["seed"] == 11
    assert emb.uns["run"]["device"] == "cpu" and emb.uns["run"]["wall_time_s"] >= 0
    X, status, message = read_embedding(out, sim)
    assert status == "ok" and X.shape == (sim.n_obs, 7)


def test_model_that_raises_is_recorded_as_failed(dataset_path, tmp_path, sim):
    spec = plugin(tmp_path, "crashing", "raise RuntimeError('out of cheese')")
    out = tmp_path / "emb.h5ad"
    assert embed_dataset(dataset_path, spec, {}, 0, out) == "failed"
    assert read_embedding(out, sim) == (None, "failed", "RuntimeError: out of cheese")


def test_not_applicable_is_recorded(dataset_path, tmp_path, sim):
    spec = plugin(tmp_path, "picky", "raise NotApplicable('needs mouse data')")
    out = tmp_path / "emb.h5ad"
    assert embed_dataset(dataset_path, spec, {}, 0, out) == "not_applicable"
    assert read_embedding(out, sim) == (None, "not_applicable", "needs mouse data")


def test_declared_need_makes_model_not_applicable(tmp_path, pbmc68k):
    path = tmp_path / "pbmc.h5ad"
    write_h5ad(pbmc68k, path)
    spec = plugin(tmp_path, "countsy", "return np.zeros((adata.n_obs, 2))", yaml_extra="needs: {counts: true}\n")
    out = tmp_path / "emb.h5ad"
    assert embed_dataset(path, spec, {}, 0, out) == "not_applicable"
    assert "needs raw counts" in ad.read_h5ad(out).uns["status"]["message"]


def test_wrong_shape_is_a_failure_with_the_shapes(dataset_path, tmp_path, sim):
    spec = plugin(tmp_path, "short", "return np.zeros((3, 2))")
    out = tmp_path / "emb.h5ad"
    assert embed_dataset(dataset_path, spec, {}, 0, out) == "failed"
    message = ad.read_h5ad(out).uns["status"]["message"]
    assert message == f"ContractError: model 'short' returned an embedding of shape (3, 2); expected ({sim.n_obs}, d>0)"


def test_nan_embedding_is_rejected():
    with pytest.raises(ContractError, match="NaN or infinite"):
        validate_embedding(np.full((4, 2), np.nan), 4, "m")


def test_embedding_cells_must_match_dataset(dataset_path, tmp_path, sim):
    out = tmp_path / "emb.h5ad"
    embed_dataset(dataset_path, discover()["random"], {"n_dims": 3}, 0, out)
    with pytest.raises(ContractError, match="cells differ from the prepared dataset"):
        read_embedding(out, sim[::-1].copy())


def test_gene_embeddings_are_exported_for_gene_embed_models(dataset_path, tmp_path, sim):
    spec = plugin(
        tmp_path, "genes", "return np.zeros((adata.n_obs, 2))",
        extra="    def gene_embeddings(self):\n        return ['CD3E', 'NOT_A_GENE'], np.ones((2, 3))\n",
    )  # fmt: skip
    spec = dataclasses.replace(spec, capabilities=("embed", "gene_embed"))
    out = tmp_path / "emb.h5ad"
    assert embed_dataset(dataset_path, spec, {}, 0, out) == "ok"
    emb = ad.read_h5ad(out)
    assert emb.varm["gene_emb"].shape == (sim.n_vars, 3) and list(emb.var_names) == list(sim.var_names)
    known = emb.var_names.get_loc("CD3E")
    assert np.all(emb.varm["gene_emb"][known] == 1) and np.isnan(emb.varm["gene_emb"]).sum() == 3 * (sim.n_vars - 1)
