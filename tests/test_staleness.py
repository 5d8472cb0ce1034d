"""Nothing stale: a replaced source file re-runs prepare_dataset (even with an older modification time),
a pinned sha256 the file no longer has stops the run with both checksums, an edited model re-runs its
embeddings only, and free text re-runs nothing. One small run, then dry runs (a copy of the checkout)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmark.data.simulate import simulate_immune
from benchmark.fingerprint import file_sha256
from tests.test_extending import copy_checkout

pytestmark = pytest.mark.workflow
TARGETS = ["results/embed/atlas/random/seed0.h5ad", "results/embed/atlas/hvg_pca/seed0.h5ad"]


def planned(result: subprocess.CompletedProcess) -> dict[str, set[str]]:
    """rule -> the outputs a dry run would make."""
    jobs: dict[str, set[str]] = {}
    for rule, output in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    output: ([^,\n]+)", result.stdout, re.M):
        jobs.setdefault(rule, set()).add(output)
    return jobs


def test_reruns_follow_content_not_free_text(tmp_path):
    repo = copy_checkout(tmp_path / "checkout")
    data = tmp_path / "data"
    data.mkdir()
    simulate_immune(n_cells=300, seed=1).write_h5ad(data / "atlas.h5ad")
    entry = {"source": "path", "path": "atlas.h5ad", "description": "A small atlas.", "counts": True,
             "organism": "human", "keys": {"batch": "batch", "label": "cell_type",
                                           "ontology_id": "cell_type_ontology_term_id"}}  # fmt: skip
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"atlas": entry}))
    config = yaml.safe_load((repo / "config" / "test.yaml").read_text())
    config.update(
        catalog=str(catalog),
        data_dir=str(data),
        datasets=["atlas"],
        models=["random", "hvg_pca"],
        pretrain={"corpus": []},
    )
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    command = [str(Path(sys.executable).parent / "snakemake"), *TARGETS, "-s", str(repo / "workflow" / "Snakefile"),
               "--directory", str(tmp_path / "work"), "--cores", "2", "--configfile", str(configfile)]  # fmt: skip

    def snakemake(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*command, *args], capture_output=True, text=True)

    first = snakemake()
    assert first.returncode == 0, first.stderr[-5000:]
    assert "Nothing to be done" in snakemake("-n").stdout

    catalog.write_text(yaml.safe_dump({"atlas": {**entry, "description": "Reworded, same data."}}))
    assert "Nothing to be done" in snakemake("-n").stdout  # free text re-runs nothing

    model_py = repo / "models" / "random" / "model.py"
    original = model_py.read_text()
    model_py.write_text(original + "\n# a comment changes nothing\n")
    assert "Nothing to be done" in snakemake("-n").stdout
    model_py.write_text(original + "\n\ndef _new_helper():\n    return 1\n")
    plan = snakemake("-n")
    assert planned(plan) == {"embed": {TARGETS[0]}}, plan.stdout  # the edited model only
    assert "Params have changed since last execution" in plan.stdout
    model_py.write_text(original)

    old = data / "atlas.h5ad"
    stat, old_sha = old.stat(), file_sha256(old, tmp_path / "cache.json")
    simulate_immune(n_cells=300, seed=2).write_h5ad(old)  # replaced, then dated back: mtime alone misses it
    os.utime(old, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    plan = snakemake("-n")
    assert planned(plan) == {"prepare_dataset": {"results/data/atlas/dataset.h5ad"}, "embed": set(TARGETS)}, plan.stdout

    catalog.write_text(yaml.safe_dump({"atlas": {**entry, "sha256": old_sha}}))
    pinned = snakemake("-n")
    assert pinned.returncode != 0
    new_sha = file_sha256(old, tmp_path / "cache.json")
    assert f"has sha256 {new_sha} but the catalog pins {old_sha}" in pinned.stdout + pinned.stderr, pinned.stdout
