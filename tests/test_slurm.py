"""The mini config (tests/conftest.py: a control, two baselines, an scFM pretrained here) through a real
one-node SLURM on this machine (Debian `slurm-wlm` and `munge`): slurmctld, slurmd and munged on localhost,
the workflow run with `--workflow-profile slurm` (cluster-generic executor, benchmark/cluster.py). Every
Snakemake job must run as a SLURM job (the scheduler's job-completion log), GPU jobs must ask for a GRES,
and the scores must equal the local run's.

Skipped where SLURM is not installed or the test is not root (it writes /etc/slurm/slurm.conf, backed up
and restored, and starts the daemons); an error instead when SCFM_REQUIRE_SLURM=1 (CI).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark.paths import REPO_ROOT
from benchmark.registry import discover
from tests.conftest import snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]
SLURM_ETC = Path("/etc/slurm")
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
PROGRAMS = ("sbatch", "squeue", "scontrol", "sinfo", "slurmctld", "slurmd", "munged", "munge")
# What the comparison ignores: timings, memory, paths (they differ between any two runs).
LOCAL_RULES = {"all", "aggregate", "report"}  # workflow/Snakefile `localrules`: run by Snakemake itself
COMPARED = ("scores", "task_scores", "ranking", "fronts", "finetune_comparison", "failures", "rogi_vs_f1")


def which(program: str) -> str | None:
    return shutil.which(program, path=SBIN_PATH)


def unavailable() -> str | None:
    missing = [p for p in PROGRAMS if which(p) is None]
    if missing:
        return f"SLURM not installed (missing {', '.join(missing)}; Debian packages slurm-wlm and munge)"
    if os.geteuid() != 0:
        return "needs root: writes /etc/slurm/slurm.conf and starts slurmctld, slurmd and munged"
    if subprocess.run([which("scontrol"), "ping"], capture_output=True, text=True).returncode == 0:
        return "a SLURM controller already runs here; this test only uses a private one"
    return None


def run(*command: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([which(command[0]), *command[1:]], capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
    return result


def node_hardware() -> tuple[int, int]:
    """CPUs and memory (MB) as slurmd sees them (`slurmd -C`)."""
    found = dict(re.findall(r"(\w+)=(\S+)", run("slurmd", "-C").stdout))
    return int(found["CPUs"]), int(found["RealMemory"])


def slurm_conf(folder: Path, cpus: int, memory_mb: int) -> str:
    return f"""# one-node SLURM for tests/test_slurm.py (written by the test; the original file is restored)
ClusterName=scfmtest
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# Finished jobs stay visible to `scontrol show job` for the test's checks.
MinJobAge=3600
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
# A line per finished job, without an accounting database.
JobCompType=jobcomp/filetxt
JobCompLoc={folder}/jobcomp.log
# One GPU declared as a GRES (gres.conf: File=/dev/null) so that GPU rules schedule on this CPU-only
# node; they run on the CPU, as they do locally.
GresTypes=gpu
NodeName=localhost CPUs={cpus} RealMemory={memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} within {seconds} s")


def stop(pid_file: Path) -> None:
    if pid_file.exists():
        pid = int(pid_file.read_text().split()[0])
        try:
            os.kill(pid, 15)
            wait_for(lambda: not Path(f"/proc/{pid}").exists(), 20, f"process {pid} to stop")
        except ProcessLookupError:
            pass


def munge_answers() -> bool:
    return subprocess.run(f"{which('munge')} -n | {which('unmunge')}", shell=True, capture_output=True).returncode == 0


def start_munged() -> Path | None:
    """Start munged (as user munge) unless one answers; returns its pid file when this test started it."""
    if munge_answers():
        return None
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    if not Path("/etc/munge/munge.key").exists():
        run("mungekey", "--create")
        shutil.chown("/etc/munge/munge.key", "munge", "munge")
    pid_file = run_dir / "munged.pid"
    run("runuser", "-u", "munge", "--", which("munged"))  # logs to /var/log/munge
    wait_for(munge_answers, 20, "munged to answer")
    return pid_file


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A private one-node SLURM on localhost; stopped, and /etc/slurm restored, afterwards."""
    reason = unavailable()
    if reason:
        if os.environ.get("SCFM_REQUIRE_SLURM") == "1":
            pytest.fail(f"SCFM_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("slurm")
    (folder / "state").mkdir()
    (folder / "spool").mkdir()
    backup = folder / "etc-backup"
    backup.mkdir()
    SLURM_ETC.mkdir(parents=True, exist_ok=True)
    ours = ("slurm.conf", "gres.conf")
    started = time.monotonic()
    munged = None
    try:
        for name in ours:
            if (SLURM_ETC / name).exists():
                shutil.move(SLURM_ETC / name, backup / name)
        cpus, memory_mb = node_hardware()
        (SLURM_ETC / "slurm.conf").write_text(slurm_conf(folder, cpus, memory_mb))
        (SLURM_ETC / "gres.conf").write_text("Name=gpu File=/dev/null Count=1\n")
        munged = start_munged()
        run("slurmctld")
        run("slurmd")
        wait_for(lambda: run("sinfo", "-h", "-o", "%T", check=False).stdout.strip() == "idle", 60, "node idle")
        yield SimpleNamespace(folder=folder, jobcomp=folder / "jobcomp.log", start_s=time.monotonic() - started)
    finally:
        if (folder / "slurmctld.pid").exists():
            jobs = run("squeue", "-h", "-o", "%i", check=False).stdout.split()
            if jobs:
                run("scancel", *jobs, check=False)
        stop(folder / "slurmd.pid")
        stop(folder / "slurmctld.pid")
        if munged is not None:
            stop(munged)
        for name in ours:
            (SLURM_ETC / name).unlink(missing_ok=True)
            if (backup / name).exists():
                shutil.move(backup / name, SLURM_ETC / name)


def job_stats(log: str) -> dict[str, int]:
    """Snakemake's `Job stats` table (rule -> number of jobs), from its log."""
    table = log.split("Job stats:", 1)[1].split("total", 1)[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.MULTILINE)}


def completed_jobs(jobcomp: Path) -> dict[str, dict[str, str]]:
    """jobcomp/filetxt: one line of KEY=VALUE fields per finished job, by job id."""
    jobs = {}
    for line in jobcomp.read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        jobs[fields["JobId"]] = fields
    return jobs


def model_of(job_name: str) -> str | None:
    """The model of a pretrain (`pretrain.<model>`), embed or finetune (`<rule>.<dataset>.<model>.<seed>`)
    job name (benchmark.cluster.job_name), else None."""
    rule, _, rest = job_name.partition(".")
    if rule == "pretrain":
        return rest
    return rest.rsplit(".", 2)[1] if rule in ("embed", "finetune") else None


def test_the_mini_config_through_slurm(mini_run, slurm, tmp_path):
    local_dir, configfile, local = mini_run  # the local run (first: the daemons start after it)
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), SBIN_PATH])}  # scfm-slurm
    started = time.monotonic()
    result = snakemake(
        tmp_path, configfile, "--workflow-profile", "slurm",
        "--jobs", "3", "--latency-wait", "5", "--seconds-between-status-checks", "2",
        env=env, timeout=3600,
    )  # fmt: skip
    seconds = time.monotonic() - started
    log = result.stderr

    # Every job but the local rules went through sbatch, and SLURM ran each to completion (no retry was needed).
    stats = job_stats(log)
    assert stats == job_stats(local.stderr)
    assert set(re.findall(r"^localrule (\w+):$", log, re.M)) == LOCAL_RULES
    submitted = dict(re.findall(r"Submitted job (\d+) with external jobid '([^']+)'", log))
    assert len(submitted) == sum(n for rule, n in stats.items() if rule not in LOCAL_RULES)
    finished = completed_jobs(slurm.jobcomp)
    assert set(submitted.values()) <= set(finished)
    assert {finished[j]["JobState"] for j in submitted.values()} == {"COMPLETED"}
    rules = {name.split(".")[0] for name in (finished[j]["Name"] for j in submitted.values())}
    assert rules == set(stats) - LOCAL_RULES

    # GPU rules (model.yaml gpu: 1) asked SLURM for a GPU, and no other job did.
    specs = discover(REPO_ROOT / "models")
    gpu_jobs = 0
    for jobid in submitted.values():
        job = dict(re.findall(r"(\w+)=(\S*)", run("scontrol", "-o", "show", "job", jobid).stdout))
        model = model_of(job["JobName"])
        wants_gpu = model is not None and specs[model].resources.get("gpu", 0) > 0
        assert ("gres:gpu:1" in job.get("TresPerNode", "")) == wants_gpu, job["JobName"]
        gpu_jobs += wants_gpu
    assert gpu_jobs == 3  # Geneformer's pretrain and embed, scVI's embed

    # The same numbers as the local run.
    ours = json.loads((tmp_path / "reports" / "mini" / "results.json").read_text())
    theirs = json.loads((local_dir / "reports" / "mini" / "results.json").read_text())
    for key in COMPARED:
        assert ours[key] == theirs[key], key
    assert (tmp_path / "reports" / "mini" / "leaderboard.html").exists()
    print(f"SLURM: daemons up in {slurm.start_s:.1f} s; {len(submitted)} jobs through sbatch in {seconds:.0f} s")
