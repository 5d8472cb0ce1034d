"""The step supervisor: how a child ended (exit code, signal, timeout), its output in the log, and the
failure records a model step leaves (benchmark.supervisor, benchmark.failures)."""

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anndata as ad
import pandas as pd

from benchmark import supervisor
from benchmark.failures import last_reason, record_lost_jobs, recordable
from benchmark.paths import REPO_ROOT
from benchmark.supervisor import run_child

PYTHON = sys.executable


def child(code: str, tmp_path: Path, limit_s: float | None = None) -> tuple[supervisor.Outcome, str]:
    log = tmp_path / "job.log"
    outcome = run_child([PYTHON, "-c", textwrap.dedent(code)], str(log), limit_s, dict(os.environ))
    return outcome, log.read_text()


def test_exit_code_and_output_go_to_the_log(tmp_path):
    outcome, log = child("import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)", tmp_path)
    assert outcome.returncode == 3 and not outcome.ok and not outcome.resource_death
    assert outcome.reason() == "exit code 3"
    assert "to stdout" in log and "to stderr" in log


def test_a_signal_names_itself(tmp_path):
    outcome, _ = child("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", tmp_path)
    assert outcome.returncode == -9 and outcome.resource_death
    assert outcome.reason() == "killed by SIGKILL (9: the out-of-memory killer sends it)"


def test_a_hang_is_stopped_at_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "GRACE_S", 1.0)
    start = time.monotonic()
    # The child ignores SIGTERM and starts a grandchild in its process group: both are killed.
    outcome, _ = child(
        """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        time.sleep(60)
        """,
        tmp_path,
        limit_s=1.0,
    )
    assert outcome.timed_out and outcome.resource_death and time.monotonic() - start < 10
    assert outcome.reason() == f"timeout after {1 / 60:g} min (the job's `runtime`)"


def test_the_child_reports_its_exception_and_traceback(tmp_path):
    outcome, log = child(
        """
        from benchmark.supervisor import run_in_child
        def main(sm):
            raise KeyboardInterrupt
        run_in_child(main, None)
        """,
        tmp_path,
    )
    assert outcome.reason() == "exit code 1 (KeyboardInterrupt)"
    assert "Traceback (most recent call last)" in log and "line 4, in main\nKeyboardInterrupt" in log


GLUE = """
import sys
from types import SimpleNamespace
from benchmark.supervisor import supervise

class Wildcards(dict):
    pass

def main(sm):
    {body}

outputs = ["results/embed/d/m/seed0.h5ad", "results/embed/d/m/seed0.json"]
sm = SimpleNamespace(log=["job.log"], output=outputs, rule="embed", wildcards=Wildcards(dataset="d", seed="0"),
                     params=Wildcards(), resources=SimpleNamespace(runtime=5, attempt={attempt}))
supervise(sm, main, record={record})
"""


def glue(tmp_path: Path, body: str, record: bool = True, attempt: int = 1, attempts: int = 1):
    script = tmp_path / "glue.py"
    script.write_text(GLUE.format(body=body, record=record, attempt=attempt))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), supervisor.ATTEMPTS_ENV: str(attempts)}
    env.pop(supervisor.CHILD_ENV, None)
    return subprocess.run([PYTHON, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)


def test_a_model_step_that_dies_leaves_failed_outputs(tmp_path):
    result = glue(tmp_path, "sys.exit(3)")
    assert result.returncode == 0, result.stderr
    assert "embed d/seed0" not in result.stderr  # the one line of a job that ended well
    embedding = ad.read_h5ad(tmp_path / "results/embed/d/m/seed0.h5ad")
    assert embedding.uns["status"] == {"status": "failed", "message": "exit code 3 (SystemExit: 3)"}
    record = json.loads((tmp_path / "results/embed/d/m/seed0.json").read_text())
    assert record["status"] == "failed" and record["model"] == "m" and record["seed"] == 0
    log = (tmp_path / "job.log").read_text()
    assert "scfm-step failed: exit code 3 (SystemExit: 3)" in log and "sys.exit(3)" in log


def test_other_steps_and_early_attempts_fail_for_snakemake(tmp_path):
    not_recorded = glue(tmp_path, "raise ValueError('bad input')", record=False)
    assert not_recorded.returncode == 1 and "exit code 1 (ValueError: bad input)" in not_recorded.stderr
    assert not (tmp_path / "results").exists()
    # Killed on attempt 1 of 2: left to Snakemake's retry (with more memory), nothing recorded.
    retried = glue(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)", attempt=1, attempts=2)
    assert retried.returncode == 1 and not (tmp_path / "results").exists()
    # A step that exits cleanly without its outputs is a failure too.
    silent = glue(tmp_path, "pass", attempt=2, attempts=2)
    assert silent.returncode == 0
    assert "ended without writing results/embed/d/m/seed0.h5ad" in (tmp_path / "job.log").read_text()
    done = glue(tmp_path, "from pathlib import Path; [Path(p).parent.mkdir(parents=True, exist_ok=True) or "
                          "Path(p).touch() for p in outputs]")  # fmt: skip
    assert done.returncode == 0 and re.search(r"^embed d/seed0: done in \d+ s, peak \d+ MB$", done.stderr, re.M)


def test_lost_jobs_are_recorded_from_their_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outputs = ["results/finetune/d/m/seed0.tsv.gz", "results/finetune/d/m/seed0.json"]
    assert recordable(outputs) and recordable(["results/scores/d/m/seed0.tsv", "results/details/d/m/seed0.tsv.gz"])
    assert not recordable(["results/data/d/dataset.h5ad"])
    log = tmp_path / "finetune.log"
    log.write_text("scfm-step: finetune\nscfm-step failed: killed by SIGKILL (9)\n")
    assert last_reason(str(log)) == "killed by SIGKILL (9)"
    jobs = [
        {"rule": "finetune", "outputs": outputs, "log": str(log), "benchmark": "results/benchmarks/f.tsv"},
        {"rule": "prepare_dataset", "outputs": ["results/data/d/dataset.h5ad"], "log": None, "benchmark": None},
    ]
    assert record_lost_jobs(jobs) == outputs
    assert pd.read_csv(outputs[0], sep="\t").empty
    record = json.loads(Path(outputs[1]).read_text())
    assert record["status"] == "failed" and record["message"] == f"killed by SIGKILL (9); log: {log}"
    assert pd.read_csv("results/benchmarks/f.tsv", sep="\t")["s"].isna().all()
    assert not Path("results/data").exists()
    # An evaluate job records a failed row for every metric of every task it was to score (its `tasks` param).
    scores = ["results/scores/d/m/seed0.tsv", "results/details/d/m/seed0.tsv.gz"]
    tasks = {"integration": {"config": {"metrics": ["kmeans_nmi", "ilisi"]}, "seed": 1}, "cancer": {"config": {}}}
    record_lost_jobs([{"rule": "evaluate", "outputs": scores, "log": None, "params": {"tasks": tasks}}])
    rows = pd.read_csv(scores[0], sep="\t")
    assert list(zip(rows["task"], rows["metric"], strict=True)) == [
        ("integration", "kmeans_nmi"), ("integration", "ilisi"),
        ("cancer", "cancer_accuracy"), ("cancer", "cancer_auroc"), ("cancer", "cancer_auprc"),
    ]  # fmt: skip
    assert set(rows["status"]) == {"failed"} and rows["value"].isna().all()
