"""SLURM glue for Snakemake's `cluster-generic` executor (workflow/profiles/slurm): submit and job status.

`scfm-slurm submit [SBATCH OPTIONS] JOBSCRIPT` reads the job's properties that Snakemake writes into
every jobscript (rule, wildcards, threads, resources) and submits it with

    threads                 -> --cpus-per-task
    resources.mem_mb        -> --mem (MB)
    resources.runtime       -> --time (minutes, plus RECORD_GRACE_MIN)
    resources.gpu  (N > 0)  -> --gres=gpu:N
    resources.slurm_partition / slurm_account / slurm_extra -> --partition / --account / extra options

(the resource names of snakemake-executor-plugin-slurm, so both executors read the same workflow).
It prints the job id for Snakemake.

`scfm-slurm status JOBID` prints `running`, `success` or `failed`. It needs no accounting database:
`squeue` knows pending and running jobs, `scontrol show job` knows finished ones for MinJobAge seconds
(300 by default), and `sacct` is asked last, where accounting exists. A job that ran out of memory or
time, failed, was cancelled or lost its node is `failed`, so Snakemake retries it (with more memory:
the rules scale `mem_mb` and `runtime` with the attempt).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

RUNNING, SUCCESS, FAILED = "running", "success", "failed"
# Minutes of --time beyond the job's `runtime`: its own supervisor stops the step at `runtime` and records
# the timeout (benchmark/supervisor.py) before Slurm's TIMEOUT would kill the whole job, record and all.
RECORD_GRACE_MIN = 5
# Job states (squeue/scontrol/sacct spell them the same; Slurm 22.05 and later).
ACTIVE_STATES = {
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "RESIZING", "SIGNALING",
    "STAGE_OUT", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD",
}  # fmt: skip
FAILED_STATES = {
    "OUT_OF_MEMORY", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED",
    "REVOKED", "SPECIAL_EXIT",
}  # fmt: skip
KNOWN_STATES = ACTIVE_STATES | FAILED_STATES | {"COMPLETED"}

Runner = Callable[[list[str]], subprocess.CompletedProcess]


def run_command(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


# --- status -----------------------------------------------------------------------------------------


def snakemake_status(state: str) -> str:
    """Snakemake's word for a Slurm job state (`CANCELLED by 0` and `CANCELLED+` count as CANCELLED)."""
    state = state.split()[0].rstrip("+").upper() if state.strip() else ""
    if state == "COMPLETED":
        return SUCCESS
    if state in FAILED_STATES:
        return FAILED
    if state not in ACTIVE_STATES:
        print(f"scfm-slurm: unknown job state {state!r}, asking again later", file=sys.stderr)
    return RUNNING


def parse_squeue(stdout: str) -> str | None:
    """`squeue -h -o %T`: one state per line (a job array has several; the first decides while any runs)."""
    states = [line.strip() for line in stdout.splitlines() if line.strip()]
    return states[0] if states else None


def parse_scontrol(stdout: str) -> str | None:
    """`scontrol -o show job`: `JobId=12 JobName=x ... JobState=OUT_OF_MEMORY Reason=OutOfMemory ...`."""
    for token in stdout.split():
        if token.startswith("JobState="):
            return token.removeprefix("JobState=")
    return None


def parse_sacct(stdout: str) -> str | None:
    """`sacct -n -X -P -o State`: the state, e.g. `CANCELLED by 1000`. Anything else (such as
    `Slurm accounting storage is disabled`, which sacct prints with exit status 0) is not a state."""
    for line in stdout.splitlines():
        words = line.split()
        if words and words[0].rstrip("+") in KNOWN_STATES:
            return line.strip()
    return None


def _unknown_job(result: subprocess.CompletedProcess) -> bool:
    return "invalid job id" in (result.stderr + result.stdout).lower()


def job_state(jobid: str, run: Runner | None = None) -> tuple[str | None, bool]:
    """The job's Slurm state, and whether every source answered (False: a command failed for another
    reason than an unknown job id, e.g. a busy controller; the caller then asks again later)."""
    run = run or run_command
    jobid, _, cluster = jobid.strip().partition(";")  # `sbatch --parsable` prints `id` or `id;cluster`
    clusters = [f"--clusters={cluster}"] if cluster else []
    queries = [
        (["squeue", *clusters, "--noheader", "--format=%T", f"--jobs={jobid}"], parse_squeue),
        (["scontrol", *clusters, "--oneliner", "show", "job", jobid], parse_scontrol),
        (["sacct", *clusters, "--noheader", "--allocations", "--parsable2", "--format=State", f"--jobs={jobid}"],
         parse_sacct),
    ]  # fmt: skip
    answered = True
    for command, parse in queries:
        try:
            result = run(command)
        except (OSError, subprocess.TimeoutExpired) as error:
            if not (command[0] == "sacct" and isinstance(error, FileNotFoundError)):  # sacct is optional
                print(f"scfm-slurm: {command[0]}: {error}", file=sys.stderr)
                answered = False  # e.g. a stuck controller
            continue
        if result.returncode == 0:
            state = parse(result.stdout)
            if state:
                return state, True
        elif not _unknown_job(result) and command[0] != "sacct":  # without accounting, sacct fails: expected
            print(f"scfm-slurm: {' '.join(command)}: {result.stderr.strip()}", file=sys.stderr)
            answered = False
    return None, answered


def status(jobid: str, run: Runner | None = None) -> str:
    state, answered = job_state(jobid, run)
    if state is not None:
        return snakemake_status(state)
    if not answered:  # a transient error: ask again at the next status check
        return RUNNING
    print(f"scfm-slurm: job {jobid} is unknown to squeue, scontrol and sacct", file=sys.stderr)
    return FAILED


# --- submit -----------------------------------------------------------------------------------------


def job_properties(jobscript: Path) -> dict:
    """The JSON that Snakemake writes into every jobscript (`# properties = {...}`), read by Snakemake's own helper."""
    from snakemake.utils import read_job_properties  # here: `scfm-slurm status` never needs Snakemake

    properties = read_job_properties(str(jobscript))
    if properties is None:
        raise ValueError(f"{jobscript}: no '# properties = ...' line (not a Snakemake jobscript?)")
    return properties


def job_name(properties: dict) -> str:
    """`rule.wildcard-values` (e.g. `embed.sim_small.geneformer.0`), or `group.<id>` for group jobs; it
    names the job's log file (%x), so characters other than letters, digits, `_.-` become `_`."""
    if properties.get("type") == "group":
        name = f"group.{properties.get('groupid', properties.get('jobid'))}"
    else:
        name = ".".join([properties["rule"], *(str(v) for v in (properties.get("wildcards") or {}).values())])
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def sbatch_command(properties: dict, options: Sequence[str], jobscript: str) -> list[str]:
    """The sbatch call for one job: resources from the job, then the profile's own options."""
    resources = properties.get("resources") or {}
    command = ["sbatch", "--parsable", f"--job-name={job_name(properties)}"]
    if properties.get("threads"):
        command.append(f"--cpus-per-task={int(properties['threads'])}")
    if resources.get("mem_mb"):
        command.append(f"--mem={int(resources['mem_mb'])}")
    if resources.get("runtime"):
        command.append(f"--time={int(resources['runtime']) + RECORD_GRACE_MIN}")
    if int(resources.get("gpu") or 0) > 0:
        command.append(f"--gres=gpu:{int(resources['gpu'])}")
    if resources.get("slurm_partition"):
        command.append(f"--partition={resources['slurm_partition']}")
    if resources.get("slurm_account"):
        command.append(f"--account={resources['slurm_account']}")
    if resources.get("slurm_extra"):
        command += shlex.split(str(resources["slurm_extra"]))
    return [*command, *options, jobscript]


def log_dirs(options: Sequence[str]) -> list[Path]:
    """Folders of `--output`/`--error` files: sbatch does not create them, and a job whose log cannot
    be opened fails."""
    folders = []
    for i, option in enumerate(options):
        for flag in ("--output", "--error", "-o", "-e"):
            if option == flag and i + 1 < len(options):
                path = options[i + 1]
            elif option.startswith(flag + "=") and flag.startswith("--"):
                path = option.split("=", 1)[1]
            else:
                continue
            parent = Path(path).parent
            if "%" not in str(parent):
                folders.append(parent)
    return folders


def submit(options: Sequence[str], jobscript: str, run: Runner | None = None) -> str:
    command = sbatch_command(job_properties(Path(jobscript)), options, jobscript)
    for folder in log_dirs(options):
        folder.mkdir(parents=True, exist_ok=True)
    result = (run or run_command)(command)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout.strip().splitlines()[-1]


USAGE = "usage: scfm-slurm submit [SBATCH OPTIONS ...] JOBSCRIPT | scfm-slurm status JOBID"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "status":
        print(status(argv[1]))
        return 0
    if len(argv) >= 2 and argv[0] == "submit":
        try:
            print(submit(argv[1:-1], argv[-1]))
        except (OSError, ValueError, RuntimeError, subprocess.TimeoutExpired) as error:
            print(f"scfm-slurm: {error}", file=sys.stderr)
            return 1
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
