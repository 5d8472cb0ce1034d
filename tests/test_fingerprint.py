"""Rerun triggers: code and source fingerprints change with what a job reads, and only then."""

import os
import shutil

import pytest
import yaml

from benchmark import fingerprint
from benchmark.errors import ConfigError
from benchmark.fingerprint import file_sha256, model_code, python_digest, source_fingerprint
from benchmark.paths import MODELS_DIR


def test_python_is_compared_by_what_it_does():
    code = b'"""Doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # one\n'
    same = b"def f(x):\n\n    # another comment\n    return (x + 1)\n"
    assert python_digest(code) == python_digest(same)
    assert python_digest(code) != python_digest(b"def f(x):\n    return x + 2\n")


@pytest.fixture
def models(tmp_path):
    """A models folder with random, batch_only (which imports label_oracle), label_oracle and foundation."""
    for name in ("random", "batch_only", "label_oracle", "foundation"):
        shutil.copytree(MODELS_DIR / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    clear_caches()
    yield tmp_path
    clear_caches()


def clear_caches() -> None:
    fingerprint.folder_hash.cache_clear()
    fingerprint.imported_models.cache_clear()


def edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    clear_caches()


def test_model_code_follows_its_folder_and_imports(models):
    before = {m: model_code(models / m, "control", models) for m in ("random", "batch_only", "label_oracle")}
    edit(models / "label_oracle" / "model.py", "def ", "def _unused():\n    return 0\n\n\ndef ")
    after = {m: model_code(models / m, "control", models) for m in ("random", "batch_only", "label_oracle")}
    assert after["random"] == before["random"]
    assert after["batch_only"] != before["batch_only"] and after["label_oracle"] != before["label_oracle"]


def test_model_yaml_free_text_and_resources_do_not_count(models):
    before = model_code(models / "random", "control", models)
    declared = models / "random" / "model.yaml"
    spec = yaml.safe_load(declared.read_text())
    declared.write_text(yaml.safe_dump({**spec, "summary": "new words", "resources": {"mem_mb": 99}}))
    clear_caches()
    assert model_code(models / "random", "control", models) == before
    declared.write_text(yaml.safe_dump({**spec, "needs": {"labels": True}}))
    clear_caches()
    assert model_code(models / "random", "control", models) != before


def test_scfms_include_the_shared_foundation_code(models):
    before = {kind: model_code(models / "random", kind, models) for kind in ("foundation", "control")}
    edit(models / "foundation" / "masking.py", "def ", "def _unused():\n    return 0\n\n\ndef ")
    assert model_code(models / "random", "foundation", models) != before["foundation"]
    assert model_code(models / "random", "control", models) == before["control"]


def test_file_hash_is_cached_by_size_and_modification_time(tmp_path):
    data, cache = tmp_path / "a.h5ad", tmp_path / "cache.json"
    data.write_bytes(b"first")
    first = file_sha256(data, cache)
    stat = data.stat()
    data.write_bytes(b"other")  # same size; same mtime restored: the cached hash is used
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_sha256(data, cache) == first
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))  # an older file, other content: hashed
    assert file_sha256(data, cache) != first


def test_source_fingerprint_ignores_free_text_and_checks_the_pin(tmp_path, monkeypatch):
    monkeypatch.setenv(fingerprint.CACHE_ENV, str(tmp_path / "cache.json"))
    (tmp_path / "a.h5ad").write_bytes(b"version 1")
    entry = {"source": "path", "path": "a.h5ad", "description": "one", "counts": True}
    first = source_fingerprint("a", entry, str(tmp_path))
    assert source_fingerprint("a", {**entry, "description": "two"}, str(tmp_path)) == first
    pinned = {**entry, "sha256": first["sha256"]}
    assert source_fingerprint("a", pinned, str(tmp_path)) == first  # pinning the same file changes nothing
    (tmp_path / "a.h5ad").write_bytes(b"version 2")
    changed = source_fingerprint("a", entry, str(tmp_path))
    assert changed["sha256"] != first["sha256"]
    with pytest.raises(ConfigError, match=rf"has sha256 {changed['sha256']} but the catalog pins {first['sha256']}"):
        source_fingerprint("a", pinned, str(tmp_path))
