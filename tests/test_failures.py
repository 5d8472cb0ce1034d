"""A dying model step never erases the report: toy models that exit, are SIGKILLed, hang past their
runtime, raise KeyboardInterrupt, a plugin rule that writes cells in another order, one that fails as a
whole, and a precomputed file that is not an .h5ad. One shared run (a copy of the checkout, minutes)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.test_extending import copy_checkout

pytestmark = pytest.mark.workflow

TOY_MODELS = {  # model id -> what its embed() does
    "exits": "sys.exit(3)",
    "killed": "os.kill(os.getpid(), signal.SIGKILL)",
    "hangs": "time.sleep(3600)",
    "interrupts": "raise KeyboardInterrupt",
}
SHUFFLED_RULE = """
rule embed_shuffled:  # a plugin rule that writes the cells in another order
    input:
        dataset="results/data/{dataset}/dataset.h5ad",
    output:
        embedding="results/embed/{dataset}/shuffled/seed{seed}.h5ad",
        run_info="results/embed/{dataset}/shuffled/seed{seed}.json",
    log:
        "results/logs/embed/{dataset}/shuffled/seed{seed}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}/shuffled/seed{seed}.tsv"
    script:
        "embed.py"
"""
SHUFFLED_SCRIPT = """
import json
import anndata as ad
import numpy as np
import pandas as pd

sm = snakemake
cells = ad.read_h5ad(sm.input.dataset).obs_names[::-1]
out = ad.AnnData(obs=pd.DataFrame(index=cells), obsm={"X_emb": np.ones((len(cells), 2), dtype=np.float32)})
out.uns["status"] = {"status": "ok", "message": ""}
out.write_h5ad(sm.output.embedding)
run = {"model": "shuffled", "dataset": sm.wildcards.dataset, "status": "ok", "message": "", "device": "cpu",
       "wall_time_s": 0.0, "cells_per_s": 0.0, "peak_rss_mb": 0.0, "peak_gpu_mb": 0.0, "n_dims": 2, "notes": "{}"}
open(sm.output.run_info, "w").write(json.dumps(run))
"""
CRASHING_RULE = """
rule embed_crashes:  # a plugin rule that fails without writing anything
    input:
        dataset="results/data/{dataset}/dataset.h5ad",
    output:
        embedding="results/embed/{dataset}/crashes/seed{seed}.h5ad",
        run_info="results/embed/{dataset}/crashes/seed{seed}.json",
    log:
        "results/logs/embed/{dataset}/crashes/seed{seed}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}/crashes/seed{seed}.tsv"
    shell:
        "echo 'the external tool crashed' > {log}; exit 1"
"""


def add_model(models: Path, model_id: str, body: str | None = None, rules: str | None = None, script: str = "",
              runtime: int = 5) -> None:  # fmt: skip
    folder = models / model_id
    folder.mkdir()
    declared = {"name": model_id.title(), "summary": "a toy model that fails", "kind": "baseline",
                "capabilities": ["embed"], "resources": {"gpu": 0, "mem_mb": 1000, "runtime": runtime}}  # fmt: skip
    if body:
        declared["class"] = "Toy"
        (folder / "model.py").write_text(textwrap.dedent(f"""
            import os, signal, sys, time
            from benchmark.model import Model

            class Toy(Model):
                def embed(self, adata):
                    {body}
        """))  # fmt: skip
    else:
        (folder / "rules.smk").write_text(rules)
        (folder / "embed.py").write_text(script)
    (folder / "model.yaml").write_text(yaml.safe_dump(declared))


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory):
    """Run 1 ends with the crashed plugin rule recorded by `onerror`; run 2 writes the report."""
    tmp = tmp_path_factory.mktemp("failures")
    repo = copy_checkout(tmp / "checkout")
    for model_id, body in TOY_MODELS.items():
        add_model(repo / "models", model_id, body, runtime=1 if model_id == "hangs" else 5)
    add_model(repo / "models", "shuffled", rules=SHUFFLED_RULE, script=SHUFFLED_SCRIPT)
    add_model(repo / "models", "crashes", rules=CRASHING_RULE)
    (tmp / "broken.h5ad").write_text("this is not an h5ad file\n")
    models = ["random", "hvg_pca", *TOY_MODELS, "shuffled", "crashes", "precomputed"]
    overlay = {
        "run": "failures", "datasets": ["sim_small"], "models": models,
        "precomputed": {"sim_small": {"path": str(tmp / "broken.h5ad")}},
        # Snakemake merges this file over the test config key by key: tasks are switched off, not deleted.
        "tasks": {"integration": {"metrics": ["kmeans_nmi", "silhouette_label"]}, "annotation": {"enabled": False},
                  "finetune": {"enabled": False}},
    }  # fmt: skip
    (tmp / "failures.yaml").write_text(yaml.safe_dump(overlay))
    command = [str(Path(sys.executable).parent / "snakemake"), "-s", str(repo / "workflow" / "Snakefile"),
               "--directory", str(tmp / "work"), "--cores", "2",
               "--configfile", str(repo / "config" / "test.yaml"), str(tmp / "failures.yaml")]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True)
    second = subprocess.run(command, capture_output=True, text=True)
    return tmp / "work", first, second


def test_failed_models_are_reported_with_their_reason(failing_run):
    work, first, second = failing_run
    assert first.returncode != 0  # the plugin rule failed as a whole ...
    assert "recorded as failed" in first.stderr and "Run the same command again" in first.stderr, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-5000:]  # ... and the next run writes the report
    results = json.loads((work / "reports" / "failures" / "results.json").read_text())
    assert set(results["config"]["tasks"]) == {"integration"}
    status = {r["model"]: r["status"] for r in results["task_scores"]}
    assert status["random"] == status["hvg_pca"] == "ok"  # the others are scored
    ranked = {row["model"]: row["rank"] for row in results["ranking"]}
    assert ranked["hvg_pca"] is not None and ranked["exits"] is None
    reasons = {f["model"]: f["message"] for f in results["failures"]}
    assert set(reasons) == {*TOY_MODELS, "shuffled", "crashes", "precomputed"}
    assert reasons["exits"] == "exit code 3 (SystemExit: 3)"
    assert reasons["killed"].startswith("killed by SIGKILL (9")
    assert reasons["hangs"] == "timeout after 1 min (the job's `runtime`)"
    assert reasons["interrupts"] == "exit code 1 (KeyboardInterrupt)"
    assert "cells differ from the prepared dataset's cells" in reasons["shuffled"]
    assert "is not a readable .h5ad" in reasons["precomputed"]
    assert "ended without its outputs" in reasons["crashes"] and "crashes/seed0.log" in reasons["crashes"]
    html = (work / "reports" / "failures" / "leaderboard.html").read_text()
    assert "timeout after 1 min" in html and "exit code 3" in html
    maps = json.loads((work / "results" / "maps" / "sim_small.json").read_text())
    assert set(maps["maps"]) == {"random", "hvg_pca"}  # the shuffled plugin's cells erase no other map
    hang = json.loads((work / "results" / "embed" / "sim_small" / "hangs" / "seed0.json").read_text())
    assert 60 <= hang["wall_time_s"] < 90  # stopped at its runtime, not left to sleep


def test_a_failed_jobs_log_holds_its_traceback(failing_run):
    work, _, _ = failing_run
    logs = work / "results" / "logs" / "embed" / "sim_small"
    interrupted = (logs / "interrupts" / "seed0.log").read_text()
    assert "Traceback (most recent call last)" in interrupted and "raise KeyboardInterrupt" in interrupted
    assert interrupted.rstrip().endswith("recorded as failed in results/embed/sim_small/interrupts/seed0.h5ad, "
                                         "results/embed/sim_small/interrupts/seed0.json")  # fmt: skip
    assert "sys.exit(3)" in (logs / "exits" / "seed0.log").read_text()  # the line that exited
    assert "scfm-step failed: killed by SIGKILL" in (logs / "killed" / "seed0.log").read_text()
    evaluate_log = work / "results" / "logs" / "evaluate" / "sim_small" / "shuffled" / "seed0.log"
    assert "ContractError" in evaluate_log.read_text() and "Traceback" in evaluate_log.read_text()
