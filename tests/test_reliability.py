"""Reruns give identical results; a killed run resumes to the same results; damaged files are rebuilt."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchmark.paths import REPO_ROOT

pytestmark = pytest.mark.workflow
TIMING_KEYS = ("resources", "metric_seconds", "runs", "provenance")  # wall times differ run to run


def mini_config(tmp_path: Path) -> Path:
    config = yaml.safe_load((REPO_ROOT / "config" / "test.yaml").read_text())
    config.update(run="mini", datasets=["sim_small"], models=["random", "hvg_pca", "scvi", "geneformer"])
    config["model_params"] = {"scvi": {"max_epochs": 5}, "geneformer": {"steps": 80, "checkpoint_every": 10}}
    config["tasks"] = {
        "integration": {"metrics": ["kmeans_nmi", "silhouette_label", "ilisi", "scgraph_ontorwr", "rogi_pca"],
                        "rogi_cells": 300},
        "annotation": {"n_splits": 2, "train_fraction": 0.3},
    }  # fmt: skip
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def command(workdir: Path, configfile: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO_ROOT / "workflow" / "Snakefile"),
            "--directory", str(workdir), "--cores", "2", "--configfile", str(configfile)]  # fmt: skip


def run(workdir: Path, configfile: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(command(workdir, configfile), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-5000:]
    return result


def comparable(workdir: Path) -> dict:
    """results.json without wall times (pretraining minutes in each model's origin included)."""
    results = json.loads((workdir / "reports" / "mini" / "results.json").read_text())
    for model in results["models"].values():
        assert model["origin"] is None or "source" in model["origin"]
        (model["origin"] or {}).pop("minutes", None)
    return {k: v for k, v in results.items() if k not in TIMING_KEYS}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict]:
    workdir = tmp_path_factory.mktemp("reference")
    configfile = mini_config(workdir)
    run(workdir / "run", configfile)
    return configfile, comparable(workdir / "run")


def test_two_runs_give_identical_results(reference, tmp_path):
    configfile, expected = reference
    run(tmp_path, configfile)
    assert comparable(tmp_path) == expected


def test_killed_run_resumes_to_identical_results(reference, tmp_path):
    configfile, expected = reference
    state = tmp_path / "results" / "checkpoints" / ".progress" / "geneformer" / "state.pt"
    process = subprocess.Popen(command(tmp_path, configfile), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)  # snakemake and every job, mid-pretraining
    process.wait()
    assert not (tmp_path / "results" / "checkpoints" / "geneformer" / "manifest.json").exists()
    unlock = subprocess.run([*command(tmp_path, configfile), "--unlock"], capture_output=True, text=True)
    assert unlock.returncode == 0, unlock.stderr[-2000:]  # a killed Snakemake leaves its lock behind
    rerun = run(tmp_path, configfile)
    assert "resuming geneformer pretraining at step" in (tmp_path / "results/logs/pretrain/geneformer.log").read_text()
    assert comparable(tmp_path) == expected, rerun.stderr[-3000:]

    damaged = tmp_path / "results" / "embed" / "sim_small" / "hvg_pca" / "seed0.h5ad"
    damaged.write_bytes(damaged.read_bytes()[:1000])  # truncated behind the workflow's back
    repaired = run(tmp_path, configfile)
    assert f"rebuilding {Path('results/embed/sim_small/hvg_pca/seed0.h5ad')}" in repaired.stderr
    assert comparable(tmp_path) == expected
