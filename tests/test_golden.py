"""The published models against their original code: each golden case (../shared/golden, see its README.md
and each CASE.md) holds a random-weight checkpoint written by the original code in the official layout,
40 PBMC cells, and the original pipeline's own tokens and embeddings. The checkpoint loads through the
published loaders and the cells go through the embed rule's code (``benchmark.embedding.embed_dataset`` with
the model plugin and a ``checkpoints.<model>`` entry). Tokens are compared first, so that a failure says
whether tokenization or the forward pass diverges, then the embeddings at the case's tolerance.

The originals draw from numpy's global random state; to make them deterministic the fixtures were made
with their randomness replaced (CASE.md "Stubs"). Here each cell's random stream is replaced by the same
rules (``OriginalStubs``).
"""

from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from benchmark.embedding import embed_dataset
from benchmark.io import write_h5ad
from benchmark.registry import discover, load_class
from models.foundation import extract

TOLERANCE = 1e-5  # absolute, float32 on CPU (README.md of the fixtures)


class OriginalStubs:
    """What the golden generators put in place of the originals' random draws."""

    def random(self, n: int) -> np.ndarray:
        """scGPT's tie-break between equal quantile edges: ``np.random.rand`` -> 0.5."""
        return np.full(n, 0.5)

    def choice(self, a, size: int, replace: bool = True, p: np.ndarray | None = None) -> np.ndarray:
        """scGPT's sampling (``torch.randperm`` -> arange): the first ``size``; UCE's weighted draws: draw k
        is the first index whose cumulative float64 probability reaches (k + 0.5) / size."""
        a = np.arange(a) if np.isscalar(a) else np.asarray(a)
        if not replace:
            return a[:size]
        cumulative = np.cumsum(np.asarray(p, dtype=np.float64))
        return a[np.searchsorted(cumulative, (np.arange(size) + 0.5) / size, side="left")]

    def shuffle(self, x: np.ndarray) -> None:
        """UCE's chromosome order: reversed (descending codes)."""
        x[:] = x[::-1].copy()


@pytest.fixture(autouse=True)
def original_randomness(monkeypatch):
    monkeypatch.setattr(extract, "cell_stream", lambda seed, cell: OriginalStubs())


@pytest.fixture(scope="module")
def cells(golden_dir) -> ad.AnnData:
    """The 40 input cells as a prepared dataset holds them (Ensembl ids in var['gene_id'])."""
    adata = ad.read_h5ad(golden_dir / "uce" / "cells.h5ad")
    adata.var["gene_id"] = adata.var["ensembl_id"].astype(str)
    adata.uns["dataset"] = {"id": "golden", "x_kind": "counts"}
    return adata


def _settings(golden_dir: Path, model: str) -> dict:
    """The `checkpoints.<model>` entry for each case, pointing into the golden folder."""
    return {
        "geneformer_v1": {"format": "geneformer", "path": str(golden_dir / "geneformer_v1" / "model"),
                          "files": {"token_dictionary": "../token_dictionary_gc30M.pkl",
                                    "gene_median": "../gene_median_dictionary_gc30M.pkl"}},
        "scgpt_nosample": {"format": "scgpt", "path": str(golden_dir / "scgpt" / "model")},
        "scgpt_sample256": {"format": "scgpt", "path": str(golden_dir / "scgpt" / "model"),
                            "files": {"args": "../args_max_seq_len_256.json"}},
        "scfoundation": {"format": "scfoundation", "path": str(golden_dir / "scfoundation"),
                         "files": {"weights": "models/models.ckpt"}, "trusted": True},
        "uce": {"format": "uce", "path": str(golden_dir / "uce" / "model_files"), "heads": 4,
                "chrom_token_offset": 1704},
    }[model]  # fmt: skip


def _plugin(model_id: str, settings: dict, params: dict | None = None):
    spec = discover()[model_id]
    checkpoint = {"model": model_id, **settings}  # as workflow/rules/common.smk passes it
    return spec, load_class(spec)(spec.params_with(params), seed=0, checkpoint=checkpoint)


def _tokens(model_id: str, settings: dict, adata: ad.AnnData) -> list:
    """The tokens ``embed`` makes of every cell (same setup, same tokenize_cells)."""
    _, plugin = _plugin(model_id, settings)
    published, gene_map, _ = plugin._setup(adata)
    return extract.tokenize_cells(published.tokenizer, adata, gene_map, np.arange(adata.n_obs), plugin.seed)


def _embed(model_id: str, settings: dict, adata: ad.AnnData, tmp_path: Path, params: dict | None = None):
    """The embedding the embed rule writes for this model and checkpoint."""
    spec, _ = _plugin(model_id, settings)
    dataset, output = tmp_path / "dataset.h5ad", tmp_path / "embedding.h5ad"
    write_h5ad(adata, dataset)
    status = embed_dataset(dataset, spec, spec.params_with(params), 0, output, checkpoint={"model": model_id,
                           **settings})  # fmt: skip
    written = ad.read_h5ad(output)
    assert status == "ok", written.uns["status"]["message"]
    assert list(written.obs_names) == list(adata.obs_names)
    return np.asarray(written.obsm["X_emb"])


def _rows(array: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    return [array[i, :n] for i, n in enumerate(lengths)]


def _assert_close(ours: np.ndarray, expected: np.ndarray, tolerance: float = TOLERANCE) -> None:
    diff = np.abs(ours - expected).max(axis=1)
    worst = int(diff.argmax())
    assert diff.max() < tolerance, f"max |Δ| {diff.max():.2e} (cell {worst}); cells over {tolerance}: " + str(
        np.flatnonzero(diff >= tolerance).tolist()
    )


def _differing(ours: list[np.ndarray], expected: list[np.ndarray]) -> list[int]:
    return [i for i, (a, b) in enumerate(zip(ours, expected, strict=True)) if not np.array_equal(a, b)]


# --- Geneformer V1 ---------------------------------------------------------------------------------


def test_geneformer_v1_tokens_are_the_originals(golden_dir, cells):
    expected = np.load(golden_dir / "geneformer_v1" / "expected.npz")
    tokens = _tokens("geneformer", _settings(golden_dir, "geneformer_v1"), cells)
    assert _differing([t.ids for t in tokens], _rows(expected["input_ids"], expected["lengths"])) == []
    assert max(len(t.ids) for t in tokens) == 256  # 7 cells truncated to the 256 context


def test_geneformer_v1_embedding_is_the_originals(golden_dir, cells, tmp_path):
    expected = np.load(golden_dir / "geneformer_v1" / "expected.npz")
    _assert_close(_embed("geneformer", _settings(golden_dir, "geneformer_v1"), cells, tmp_path), expected["emb"])


# --- scGPT -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["nosample", "sample256"])
def test_scgpt_gene_ids_and_bins_are_the_originals(golden_dir, cells, case):
    expected = np.load(golden_dir / "scgpt" / "expected.npz")
    tokens = _tokens("scgpt", _settings(golden_dir, f"scgpt_{case}"), cells)
    lengths = expected[f"{case}_lengths"]
    assert _differing([t.ids for t in tokens], _rows(expected[f"{case}_gene_ids"], lengths)) == []
    assert _differing([t.values for t in tokens], _rows(expected[f"{case}_values"], lengths)) == []
    if case == "sample256":  # 10 cells have more expressed genes than max_seq_len - 1: binned, then sampled
        assert expected["sample256_is_sampled"].sum() == 10 and max(len(t.ids) for t in tokens) == 256


@pytest.mark.parametrize("case", ["nosample", "sample256"])
def test_scgpt_embedding_is_the_originals(golden_dir, cells, tmp_path, case):
    expected = np.load(golden_dir / "scgpt" / "expected.npz")
    _assert_close(_embed("scgpt", _settings(golden_dir, f"scgpt_{case}"), cells, tmp_path), expected[f"{case}_emb"])


# --- scFoundation ----------------------------------------------------------------------------------


def test_scfoundation_input_is_the_originals(golden_dir, cells):
    expected = np.load(golden_dir / "scfoundation" / "expected.npz")
    tokens = _tokens("scfoundation", _settings(golden_dir, "scfoundation"), cells)
    lengths = expected["lengths"]
    assert _differing([t.genes[:-2] for t in tokens], _rows(expected["gene_ids"], lengths)) == []
    for cell, (token, values) in enumerate(zip(tokens, _rows(expected["values"], lengths), strict=True)):
        np.testing.assert_allclose(token.values[:-2], values, atol=1e-6, rtol=0, err_msg=f"cell {cell}: values")
    np.testing.assert_allclose([t.values[-2] for t in tokens], expected["T"], atol=1e-6, rtol=0, err_msg="T")
    np.testing.assert_allclose([t.values[-1] for t in tokens], expected["S"], atol=1e-6, rtol=0, err_msg="S")


def test_scfoundation_embedding_is_the_originals(golden_dir, cells, tmp_path):
    expected = np.load(golden_dir / "scfoundation" / "expected.npz")
    _assert_close(_embed("scfoundation", _settings(golden_dir, "scfoundation"), cells, tmp_path), expected["emb"])


# --- UCE -------------------------------------------------------------------------------------------


def test_uce_sentences_are_the_originals(golden_dir, cells):
    expected = np.load(golden_dir / "uce" / "expected.npz")
    tokens = _tokens("uce", _settings(golden_dir, "uce"), cells)
    assert _differing([t.ids for t in tokens], _rows(expected["sentences"], expected["lengths"])) == []


@pytest.mark.parametrize("batch", [1, 40])
def test_uce_embedding_is_the_originals(golden_dir, cells, tmp_path, batch):
    """Batch 40 pads all cells to 1,075 tokens: the original's +1 on padded keys' logits shows (~2e-3)."""
    expected = np.load(golden_dir / "uce" / "expected.npz")
    ours = _embed("uce", _settings(golden_dir, "uce"), cells, tmp_path, {"embed_batch_size": batch})
    _assert_close(ours, expected[f"emb_batch{batch}"])
