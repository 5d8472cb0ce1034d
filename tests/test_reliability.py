"""Two runs give identical results, also when the second is killed and resumed; damaged files are rebuilt."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark import forkserver
from benchmark.paths import REPO_ROOT

pytestmark = pytest.mark.workflow
TIMING_KEYS = ("resources", "metric_seconds", "runs", "provenance")  # wall times differ run to run
CHECK_TIMINGS = ("seconds", "cpu_seconds", "steps_per_second")  # of each pretraining check: the rest must agree


def command(workdir: Path, configfile: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO_ROOT / "workflow" / "Snakefile"),
            "--directory", str(workdir), "--cores", "2", "--configfile", str(configfile)]  # fmt: skip


def run(workdir: Path, configfile: Path, warm: bool = True) -> subprocess.CompletedProcess:
    """A run; ``warm=False``: every step in a fresh interpreter, none forked by a warm server (benchmark.forkserver)."""
    env = {**os.environ, forkserver.DISABLE_ENV: "0" if warm else "1"}
    result = subprocess.run(command(workdir, configfile), capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-5000:]
    return result


def comparable(workdir: Path) -> dict:
    results = json.loads((workdir / "reports" / "mini" / "results.json").read_text())
    checks = results["pretraining"]["checks"]
    assert checks and all(set(CHECK_TIMINGS) <= set(check) for check in checks)
    results["pretraining"]["checks"] = [{k: v for k, v in c.items() if k not in CHECK_TIMINGS} for c in checks]
    return {k: v for k, v in results.items() if k not in TIMING_KEYS}


def test_a_second_run_killed_and_resumed_gives_identical_results(mini_run, tmp_path):
    """A second run of the mini config (tests/conftest.py), killed mid-pretraining and run again, ends with
    the first run's results: two runs agree (every job of the second run ran in it) and a resumed run is none
    the worse. The resumed part starts every step in a fresh interpreter, the first run forked them from warm
    servers: both ways give the same results."""
    reference, configfile, _ = mini_run
    expected = comparable(reference)
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
    assert "forkserver: imported" in (reference / "results" / "logs" / "warm" / "evaluate.log").read_text()
    warm_logs = {path: path.stat().st_mtime_ns for path in (tmp_path / "results" / "logs" / "warm").glob("*.log")}
    rerun = run(tmp_path, configfile, warm=False)
    assert {path: path.stat().st_mtime_ns for path in warm_logs} == warm_logs  # no server started again
    assert "resuming geneformer pretraining at step" in (tmp_path / "results/logs/pretrain/geneformer.log").read_text()
    assert comparable(tmp_path) == expected, rerun.stderr[-3000:]

    damaged = tmp_path / "results" / "embed" / "sim_small" / "hvg_pca" / "seed0.h5ad"
    damaged.write_bytes(damaged.read_bytes()[:1000])  # truncated behind the workflow's back
    plan = subprocess.run([*command(tmp_path, configfile), "-n"], capture_output=True, text=True)
    assert plan.returncode == 0 and damaged.exists()  # a dry run deletes nothing
    stopped = subprocess.run(command(tmp_path, configfile), capture_output=True, text=True)
    assert stopped.returncode != 0 and not damaged.exists()  # removed at the start, before any job read it
    assert f"removed:\n  {Path('results/embed/sim_small/hvg_pca/seed0.h5ad')}\n" in stopped.stderr, stopped.stderr
    assert "Run the same command again" in stopped.stderr
    run(tmp_path, configfile)  # rebuilds it and what depends on it
    assert comparable(tmp_path) == expected
