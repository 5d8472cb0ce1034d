"""SLURM glue (benchmark/cluster.py) with the SLURM commands' output mocked, and the profiles."""

import json
import subprocess

import pytest
import yaml

from benchmark import cluster
from benchmark.paths import REPO_ROOT

PROFILES = REPO_ROOT / "workflow" / "profiles"


class FakeSlurm:
    """Answers squeue/scontrol/sacct/sbatch from canned (returncode, stdout, stderr); records the calls."""

    def __init__(self, **answers):
        self.answers = answers
        self.calls = []

    def __call__(self, command):
        self.calls.append(command)
        answer = self.answers.get(command[0], (1, "", "slurm_load_jobs error: Invalid job id specified"))
        if isinstance(answer, BaseException):
            raise answer
        code, stdout, stderr = answer
        return subprocess.CompletedProcess(command, code, stdout, stderr)


INVALID = (1, "", "slurm_load_jobs error: Invalid job id specified")
NO_ACCOUNTING = (0, "Slurm accounting storage is disabled\n", "")


def scontrol_line(state: str) -> str:
    return f"JobId=42 JobName=embed.sim.random.0 UserId=u(1) JobState={state} Reason=None ExitCode=0:0 Partition=p\n"


@pytest.mark.parametrize("state", ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED"])
def test_squeue_active_states_are_running(state):
    slurm = FakeSlurm(squeue=(0, f"{state}\n", ""))
    assert cluster.status("42", slurm) == "running"
    assert [call[0] for call in slurm.calls] == ["squeue"]  # live jobs: one cheap call
    assert "--jobs=42" in slurm.calls[0]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("COMPLETED", "success"),
        ("OUT_OF_MEMORY", "failed"),
        ("FAILED", "failed"),
        ("TIMEOUT", "failed"),
        ("CANCELLED", "failed"),
        ("NODE_FAIL", "failed"),
        ("PREEMPTED", "failed"),
        ("BOOT_FAIL", "failed"),
        ("DEADLINE", "failed"),
    ],
)
def test_finished_job_state_from_scontrol(state, expected):
    """Finished jobs leave squeue's default listing; `scontrol show job` keeps them MinJobAge seconds."""
    slurm = FakeSlurm(squeue=(0, "", ""), scontrol=(0, scontrol_line(state), ""), sacct=NO_ACCOUNTING)
    assert cluster.status("42", slurm) == expected
    assert [call[0] for call in slurm.calls] == ["squeue", "scontrol"]


@pytest.mark.parametrize(
    ("sacct", "expected"),
    [("COMPLETED\n", "success"), ("CANCELLED by 1000\n", "failed"), ("OUT_OF_MEMORY\n", "failed")],
)
def test_purged_job_state_from_sacct(sacct, expected):
    slurm = FakeSlurm(squeue=INVALID, scontrol=INVALID, sacct=(0, sacct, ""))
    assert cluster.status("42", slurm) == expected


def test_job_unknown_everywhere_without_accounting_is_failed(capsys):
    """sacct prints `Slurm accounting storage is disabled` with exit status 0: that is no state."""
    slurm = FakeSlurm(squeue=INVALID, scontrol=INVALID, sacct=NO_ACCOUNTING)
    assert cluster.status("42", slurm) == "failed"
    assert "unknown to squeue, scontrol and sacct" in capsys.readouterr().err
    slurm = FakeSlurm(squeue=INVALID, scontrol=INVALID, sacct=FileNotFoundError("sacct"))  # no sacct at all
    assert cluster.status("42", slurm) == "failed"


@pytest.mark.parametrize(
    "trouble",
    [(1, "", "slurm_load_jobs error: Socket timed out on send/recv operation"), subprocess.TimeoutExpired("sq", 60)],
)
def test_transient_errors_ask_again(trouble):
    """A busy or unreachable controller is no job failure: Snakemake asks again later."""
    slurm = FakeSlurm(squeue=trouble, scontrol=trouble, sacct=NO_ACCOUNTING)
    assert cluster.status("42", slurm) == "running"


def test_cluster_suffix_of_parsable_job_ids():
    slurm = FakeSlurm(squeue=(0, "RUNNING\n", ""))
    assert cluster.status("42;gpu_cluster", slurm) == "running"
    assert "--clusters=gpu_cluster" in slurm.calls[0] and "--jobs=42" in slurm.calls[0]


def test_state_words():
    assert cluster.snakemake_status("CANCELLED by 0") == "failed"
    assert cluster.snakemake_status("CANCELLED+") == "failed"
    assert cluster.snakemake_status("COMPLETED") == "success"
    assert cluster.parse_scontrol(scontrol_line("OUT_OF_MEMORY")) == "OUT_OF_MEMORY"
    assert cluster.parse_sacct("Slurm accounting storage is disabled") is None
    assert cluster.parse_squeue("\n") is None


def jobscript(tmp_path, **properties):
    path = tmp_path / "snakejob.embed.7.sh"
    path.write_text(f"#!/bin/sh\n# properties = {json.dumps(properties)}\npython -m snakemake ...\n")
    return path


def test_sbatch_command_from_job_properties(tmp_path):
    gpu_job = jobscript(
        tmp_path,
        type="single",
        rule="embed",
        wildcards={"dataset": "sim_small", "model": "geneformer", "seed": "0"},
        threads=2,
        resources={"mem_mb": 16000, "runtime": 240, "gpu": 1, "tmpdir": "/tmp", "slurm_partition": "gpu"},
    )
    command = cluster.sbatch_command(cluster.job_properties(gpu_job), ["--qos=short"], str(gpu_job))
    assert command == [
        "sbatch", "--parsable", "--job-name=embed.sim_small.geneformer.0", "--cpus-per-task=2", "--mem=16000",
        "--time=245", "--gres=gpu:1", "--partition=gpu", "--qos=short", str(gpu_job),
    ]  # fmt: skip
    cpu_job = jobscript(
        tmp_path,
        type="single",
        rule="aggregate",
        wildcards={"run": "a/b"},
        threads=1,
        resources={"mem_mb": 4000, "runtime": 30, "gpu": 0, "slurm_account": "lab", "slurm_extra": "--qos=x -C v100"},
    )
    command = cluster.sbatch_command(cluster.job_properties(cpu_job), [], str(cpu_job))
    assert not any(arg.startswith("--gres") for arg in command)  # no GPU asked: no GRES
    assert "--job-name=aggregate.a_b" in command and "--account=lab" in command
    assert command[-4:] == ["--qos=x", "-C", "v100", str(cpu_job)]


def test_submit_creates_the_log_folder_and_prints_the_job_id(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    script = jobscript(tmp_path, type="single", rule="ontology", wildcards={}, threads=1, resources={"mem_mb": 4000})
    slurm = FakeSlurm(sbatch=(0, "1234\n", ""))
    monkeypatch.setattr(cluster, "run_command", slurm)
    assert cluster.main(["submit", "--output=results/logs/slurm/%x.%j.out", str(script)]) == 0
    assert capsys.readouterr().out == "1234\n"
    assert (tmp_path / "results" / "logs" / "slurm").is_dir()  # sbatch does not create it; the job would fail
    assert slurm.calls[0][:4] == ["sbatch", "--parsable", "--job-name=ontology", "--cpus-per-task=1"]
    monkeypatch.setattr(cluster, "run_command", FakeSlurm(sbatch=(1, "", "sbatch: error: invalid partition")))
    assert cluster.main(["submit", str(script)]) == 1
    assert "invalid partition" in capsys.readouterr().err
    (tmp_path / "other.sh").write_text("#!/bin/sh\necho no properties\n")
    assert cluster.main(["submit", str(tmp_path / "other.sh")]) == 1


def test_profiles():
    slurm = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    assert slurm["executor"] == "cluster-generic" and slurm["retries"] >= 1
    assert slurm["cluster-generic-submit-cmd"].startswith("scfm-slurm submit")
    assert slurm["cluster-generic-status-cmd"] == "scfm-slurm status"
    assert "resources" not in slurm  # a cluster has many GPUs: no global gpu=1 limit
    # local/ is default/ under a name: keep them the same
    assert yaml.safe_load((PROFILES / "local" / "config.yaml").read_text()) == yaml.safe_load(
        (PROFILES / "default" / "config.yaml").read_text()
    )
