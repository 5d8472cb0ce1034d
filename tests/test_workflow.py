"""End-to-end Snakemake runs (minutes): the CI test config, and one real data set."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.config import validate
from benchmark.paths import REPO_ROOT

pytestmark = pytest.mark.workflow
BASELINES = ("hvg_pca", "harmony", "scvi")
MODELS = {"random", "batch_only", "label_oracle", *BASELINES}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "-s",
        str(REPO_ROOT / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        "--configfile",
        str(REPO_ROOT / "config" / "test.yaml"),
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-5000:]
    return result


def check_report(workdir: Path, run: str, datasets: list[str]) -> dict:
    results = json.loads((workdir / "reports" / run / "results.json").read_text())
    validate(results, "results", "results.json")
    html = (workdir / "reports" / run / "leaderboard.html").read_text()
    assert "Overall ranking" in html and "Provenance" in html
    assert (workdir / "reports" / run / "scores.tsv").exists()
    assert set(results["datasets"]) == set(datasets)
    covered = {(r["dataset"], r["model"]) for r in results["task_scores"]}
    assert covered == {(d, m) for d in datasets for m in MODELS}
    return results


def raw_bio(results: dict, dataset: str) -> dict[str, float]:
    return {r["model"]: r["raw_bio"] for r in results["task_scores"] if r["dataset"] == dataset and r["status"] == "ok"}


def test_test_config_end_to_end(tmp_path):
    snakemake(tmp_path)
    results = check_report(tmp_path, "test", ["sim_small", "pbmc68k_reduced"])
    for dataset in results["datasets"]:
        bio = raw_bio(results, dataset)
        baselines = [bio[m] for m in BASELINES if m in bio]
        assert baselines, dataset
        assert bio["label_oracle"] > max(baselines) and bio["random"] < min(baselines), (dataset, bio)
    not_applicable = {(r["dataset"], r["model"]) for r in results["task_scores"] if r["status"] == "not_applicable"}
    assert not_applicable == {("pbmc68k_reduced", "scvi"), ("pbmc68k_reduced", "harmony")}
    assert {r["stage"] for r in results["resources"]} == {"prepare_dataset", "embed", "evaluate"}

    rerun = snakemake(tmp_path)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def test_real_dataset_end_to_end(tmp_path, data_dir):
    snakemake(tmp_path, "--config", f"data_dir={data_dir}", "datasets=[pbmc_3chem]", "run=real")
    results = check_report(tmp_path, "real", ["pbmc_3chem"])
    bio = raw_bio(results, "pbmc_3chem")
    assert bio["label_oracle"] > max(bio[m] for m in BASELINES) and bio["random"] < min(bio[m] for m in BASELINES)
    assert results["datasets"]["pbmc_3chem"]["n_batches"] == 3
    shutil.rmtree(tmp_path / "results")
