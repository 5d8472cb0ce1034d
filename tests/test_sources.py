import hashlib
import json
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from benchmark.data.sources import (
    cellxgene_asset_url,
    load_source,
    read_h5ad_checked,
    resolve_data_dir,
    resolve_path,
)
from benchmark.download import download
from benchmark.errors import ConfigError


def _tiny_h5ad(path: Path) -> str:
    adata = ad.AnnData(np.arange(12, dtype=np.float32).reshape(4, 3))
    adata.obs["batch"] = ["a", "a", "b", "b"]
    adata.write_h5ad(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_once_verified_then_cached(http_server, tmp_path):
    base, root, requests = http_server
    checksum = _tiny_h5ad(root / "tiny.h5ad")
    cache = tmp_path / "cache"
    first, sha = download(f"{base}/tiny.h5ad", checksum, cache, "dataset 'tiny'")
    second, _ = download(f"{base}/tiny.h5ad", checksum, cache, "dataset 'tiny'")
    assert sha == checksum and first == second and first.read_bytes() == (root / "tiny.h5ad").read_bytes()
    assert requests == ["/tiny.h5ad"]  # never re-downloaded


def test_download_with_wrong_sha256_fails_and_keeps_nothing(http_server, tmp_path):
    base, root, _ = http_server
    _tiny_h5ad(root / "tiny.h5ad")
    cache = tmp_path / "cache"
    expected = r"dataset 'tiny': download of .*/tiny.h5ad failed .*expected 0{64} but got [0-9a-f]{64}.*update `sha256`"
    with pytest.raises(ConfigError, match=expected):
        download(f"{base}/tiny.h5ad", "0" * 64, cache, "dataset 'tiny'")
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_url_source_loads_anndata(http_server, tmp_path):
    base, root, _ = http_server
    checksum = _tiny_h5ad(root / "tiny.h5ad")
    entry = {"source": "url", "url": f"{base}/tiny.h5ad", "sha256": checksum}
    adata, sha, origin = load_source("tiny", entry, None, tmp_path / "cache")
    assert adata.shape == (4, 3) and sha == checksum and origin.endswith("tiny.h5ad")


def test_relative_path_needs_data_dir():
    with pytest.raises(
        ConfigError,
        match="no data directory is set; set `data_dir` in the config or the environment variable SCFM_DATA_DIR",
    ):
        resolve_path("mine", "folder/file.h5ad", None)


def test_data_dir_from_config_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCFM_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(None) == (tmp_path / "env").resolve()
    assert resolve_data_dir(str(tmp_path / "cfg")) == (tmp_path / "cfg").resolve()
    monkeypatch.delenv("SCFM_DATA_DIR")
    assert resolve_data_dir(None) is None


def test_missing_file_names_the_dataset(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset 'mine': file .*nope.h5ad does not exist"):
        resolve_path("mine", "nope.h5ad", tmp_path)


def test_a_folder_as_path_is_a_config_error(tmp_path):
    (tmp_path / "atlas").mkdir()
    _tiny_h5ad(tmp_path / "atlas" / "atlas.h5ad")
    with pytest.raises(ConfigError, match=r"dataset 'mine': `path` .*atlas is a folder, not a file; .*in it: atlas"):
        load_source("mine", {"source": "path", "path": "atlas"}, tmp_path, tmp_path)


def test_path_source_checks_sha256(tmp_path):
    checksum = _tiny_h5ad(tmp_path / "tiny.h5ad")
    entry = {"source": "path", "path": "tiny.h5ad", "sha256": "f" * 64}
    with pytest.raises(ConfigError, match=f"has sha256 {checksum} but the catalog expects f{{64}}"):
        load_source("tiny", entry, tmp_path, tmp_path)


def test_truncated_h5ad_is_a_clear_error(tmp_path):
    _tiny_h5ad(tmp_path / "tiny.h5ad")
    data = (tmp_path / "tiny.h5ad").read_bytes()
    (tmp_path / "cut.h5ad").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match="cannot read .*cut.h5ad as .h5ad .* truncated or not an AnnData file"):
        read_h5ad_checked("cut", tmp_path / "cut.h5ad")


def test_unpinned_url_records_sha256_on_first_download_and_verifies_later(http_server, tmp_path):
    base, root, requests = http_server
    checksum = _tiny_h5ad(root / "tiny.h5ad")
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning, match=f"no sha256 to check against; recorded {checksum} .* Add `sha256: {checksum}"):
        path, sha = download(f"{base}/tiny.h5ad", None, cache, "dataset 'tiny'")
    assert sha == checksum and path.with_name("tiny.h5ad.sha256").read_text().strip() == checksum
    again, sha_again = download(f"{base}/tiny.h5ad", None, cache, "dataset 'tiny'")
    assert again == path and sha_again == checksum and requests == ["/tiny.h5ad"]
    path.write_bytes(path.read_bytes()[:-10])  # the cached file changes afterwards
    with pytest.raises(ConfigError, match=f"dataset 'tiny': .* has sha256 [0-9a-f]{{64}} but {checksum} was recorded"):
        download(f"{base}/tiny.h5ad", None, cache, "dataset 'tiny'")


def test_cellxgene_source_resolves_the_h5ad_asset_through_the_curation_api(http_server, tmp_path):
    base, root, requests = http_server
    checksum = _tiny_h5ad(root / "dataset-version-1.h5ad")
    record = root / "curation" / "v1" / "collections" / "col-1" / "datasets" / "ds-1"
    record.parent.mkdir(parents=True)
    assets = [
        {"filetype": "RDS", "url": f"{base}/x.rds"},
        {"filetype": "H5AD", "url": f"{base}/dataset-version-1.h5ad"},
    ]
    record.write_text(json.dumps({"dataset_version_id": "dataset-version-1", "assets": assets}))
    spec = {"collection_id": "col-1", "dataset_id": "ds-1", "api": base}
    assert cellxgene_asset_url(**spec) == f"{base}/dataset-version-1.h5ad"
    entry = {"source": "cellxgene", "cellxgene": spec, "sha256": checksum}
    adata, sha, origin = load_source("cxg", entry, None, tmp_path / "cache")
    assert adata.shape == (4, 3) and sha == checksum and origin == f"{base}/dataset-version-1.h5ad"
    with pytest.raises(
        ConfigError, match="CELLxGENE dataset nope \\(collection col-1\\): cannot read .* use `source: path`"
    ):
        cellxgene_asset_url("col-1", "nope", base)
    with pytest.raises(ConfigError, match=r"dataset 'cxg': CELLxGENE dataset nope .*404"):
        load_source("cxg", {**entry, "cellxgene": {**spec, "dataset_id": "nope"}}, None, tmp_path / "cache")
