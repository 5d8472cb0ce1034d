"""Downloads against a loopback server (127.0.0.1) that misbehaves: each failure is a clear error
naming what was downloaded and the URL, nothing is cached, and the next run downloads again."""

import pickle
import re
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from benchmark import download as download_module
from benchmark.checksums import sha256_file
from benchmark.data.sources import load_source
from benchmark.download import Limits, download
from benchmark.errors import ConfigError
from models.foundation.published.files import CheckpointFiles, check_header

# Generous waits (a loaded CI machine can stall a loopback reply for seconds); the trickle (200 B/s) is still
# cut off after one window, well under the 10 s the test allows.
FAST = Limits(connect_s=10.0, read_s=10.0, window_s=1.0, min_bytes_per_window=10_000, retries=0)


@pytest.fixture(autouse=True)
def fast_limits(monkeypatch):
    monkeypatch.setattr(download_module, "LIMITS", FAST)


def _tiny_h5ad(path: Path) -> str:
    adata = ad.AnnData(np.arange(12, dtype=np.float32).reshape(4, 3))
    adata.obs["batch"] = ["a", "a", "b", "b"]
    adata.write_h5ad(path)
    return sha256_file(path)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _load(base: str, cache: Path, sha256: str | None = None):
    entry = {"source": "url", "url": f"{base}/tiny.h5ad", "description": "x"}
    return load_source("tiny", entry | ({"sha256": sha256} if sha256 else {}), None, cache)


FAULTS = {
    "truncate": r"ended after [\d,]+ of the [\d,]+ bytes its Content-Length announced|IncompleteRead",
    "truncate_no_length": r"is not usable \(.*\); it was not cached",
    "html": r"the server sent an HTML page \(Content-Type: text/html\), not the file",
    "html_as_file": r"the server sent an HTML page, not the file",
    "404": r"HTTP 404",
    "trickle": r"too slow: [\d,]+ bytes in",
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_broken_download_is_a_clear_error_caches_nothing_and_is_retried_next_run(
    fault, http_server, http_faults, tmp_path
):
    base, root, requests = http_server
    checksum = _tiny_h5ad(root / "tiny.h5ad")
    cache = tmp_path / "cache"
    http_faults["/tiny.h5ad"] = fault
    start = time.monotonic()
    with pytest.raises(ConfigError) as error:
        _load(base, cache)
    message = str(error.value)
    assert message.startswith("dataset 'tiny': ") and f"{base}/tiny.h5ad" in message, message
    assert re.search(FAULTS[fault], message), message
    assert "the next run downloads it again" in message
    assert time.monotonic() - start < 10  # the trickle is cut off, not waited out
    assert _files(cache) == []  # no file, no recorded sha256, no staging folder
    del http_faults["/tiny.h5ad"]
    with pytest.warns(UserWarning, match=f"recorded {checksum}"):
        adata, sha, _ = _load(base, cache)
    assert adata.shape == (4, 3) and sha == checksum and requests == ["/tiny.h5ad", "/tiny.h5ad"]


def test_a_pinned_download_cut_short_fails_on_its_hash(http_server, http_faults, tmp_path):
    base, root, _ = http_server
    checksum = _tiny_h5ad(root / "tiny.h5ad")
    http_faults["/tiny.h5ad"] = "truncate_no_length"
    with pytest.raises(ConfigError, match=rf"dataset 'tiny': download of .*tiny.h5ad failed .*expected {checksum}"):
        _load(base, tmp_path / "cache", checksum)
    assert _files(tmp_path / "cache") == []


def test_a_404_is_not_retried_but_a_server_error_is(http_server, http_faults, tmp_path, monkeypatch):
    base, root, requests = http_server
    _tiny_h5ad(root / "tiny.h5ad")
    monkeypatch.setattr(download_module, "LIMITS", Limits(**{**FAST.__dict__, "retries": 2}))
    http_faults["/tiny.h5ad"] = "404"
    with pytest.raises(ConfigError, match="HTTP 404"):
        _load(base, tmp_path / "cache")
    assert requests == ["/tiny.h5ad"]
    http_faults["/tiny.h5ad"] = "500_once"
    with pytest.warns(UserWarning, match="recorded [0-9a-f]{64}"):
        adata, _, _ = _load(base, tmp_path / "cache")
    assert adata.n_obs == 4 and requests == ["/tiny.h5ad"] * 3


def test_an_unpinned_file_is_recorded_only_once_it_is_complete_and_opens(http_server, tmp_path):
    base, root, requests = http_server
    checksum = _tiny_h5ad(root / "tiny.h5ad")
    (root / "page.h5ad").write_bytes(b"not an HDF5 file at all")
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match=r"download.*page.h5ad is not usable .*it was not cached"):
        download(f"{base}/page.h5ad", None, cache, "dataset 'page'", check=lambda p: ad.read_h5ad(p, backed="r"))
    assert _files(cache) == []
    with pytest.warns(UserWarning, match=f"recorded {checksum} on this first download. Add `sha256: {checksum}`"):
        path, sha = download(f"{base}/tiny.h5ad", None, cache, "dataset 'tiny'")
    assert sha == checksum and path.with_name("tiny.h5ad.sha256").read_text().strip() == checksum
    path.with_name("tiny.h5ad.sha256").unlink()  # as if the run died between the file and its record
    with pytest.warns(UserWarning):
        download(f"{base}/tiny.h5ad", None, cache, "dataset 'tiny'")
    assert requests.count("/tiny.h5ad") == 2


def _checkpoint(root: Path) -> None:
    save_file({"w": torch.arange(4000, dtype=torch.float32)}, root / "model.safetensors")


@pytest.mark.parametrize("fault", ["truncate", "truncate_no_length", "html_as_file", "404"])
def test_checkpoint_download_errors_name_the_model_and_role(fault, http_server, http_faults, tmp_path, monkeypatch):
    base, root, _ = http_server
    _checkpoint(root)
    monkeypatch.setenv("SCFM_CACHE_DIR", str(tmp_path / "cache"))
    files = CheckpointFiles({"files": {"weights": {"url": f"{base}/model.safetensors"}}}, "geneformer")
    http_faults["/model.safetensors"] = fault
    with pytest.raises(ConfigError) as error:
        files.find("weights", ())
    message = str(error.value)
    assert message.startswith("geneformer checkpoint weights file (`checkpoints.geneformer.files.weights`)")
    assert f"{base}/model.safetensors" in message and _files(tmp_path / "cache") == []
    del http_faults["/model.safetensors"]
    with pytest.warns(UserWarning, match="recorded"):
        path = files.find("weights", ())
    assert path.read_bytes() == (root / "model.safetensors").read_bytes()


def test_checkpoint_header_check_refuses_cut_files(tmp_path):
    _checkpoint(tmp_path)
    torch.save({"w": torch.zeros(100)}, tmp_path / "model.pt")
    (tmp_path / "dictionary.pkl").write_bytes(pickle.dumps({"A": 1}))
    (tmp_path / "config.json").write_text('{"hidden": 8}')
    for name in ("model.safetensors", "model.pt", "dictionary.pkl", "config.json"):
        check_header(tmp_path / name)
        data = (tmp_path / name).read_bytes()
        cut = tmp_path / f"cut_{name}"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(Exception):  # noqa: B017 - each format's reader raises its own type
            check_header(cut)
