"""Run a workflow step in a child process watched by the job's own process.

Every rule's script calls :func:`supervise`. In the job's process it starts the same script again as
a child (its stdout, stderr and traceback go to the job's log file), stops it at the job's `runtime`,
and looks at how it ended. A model step (``record=True``: embed, finetune, pretrain, evaluate, the
precomputed plugin, the embedding maps) that died — an exit code, a signal such as the out-of-memory
killer's SIGKILL, a timeout, outputs missing — still leaves its outputs, saying ``failed`` and why
(benchmark.failures), so the rest of the run and the report go on. Other steps fail as usual, with
the reason at the end of their log.

Resource deaths (a signal, a timeout) are left to Snakemake's retries while attempts remain
(`retries` in the profile: the next attempt gets more memory and time); the last attempt records.
A signal sent to the job itself (Ctrl-C, a cancel) stops the step without recording anything.
"""

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.forkserver import QUIET_ENV, ForkedStep, die_with_parent, server_for

CHILD_ENV = "SCFM_STEP_CHILD"  # set in the child: run the step itself
ERROR_ENV = "SCFM_STEP_ERROR"  # where the child writes its exception as one line
ATTEMPTS_ENV = "SCFM_MAX_ATTEMPTS"  # set by the workflow's main process: Snakemake's retries + 1
REASON_PREFIX = "scfm-step failed: "  # the last line of a failed step's log (read back by benchmark.failures)
GRACE_S = 10.0  # between SIGTERM and SIGKILL
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
USAGE_PREFIX = "scfm-step usage: "  # a finished step's time and memory, read back by benchmark.aggregate


@dataclass(frozen=True)
class Outcome:
    """How a child process ended."""

    returncode: int
    seconds: float
    peak_rss_mb: float  # the step and its worker processes together, at their largest
    cpu_seconds: float = 0.0
    limit_min: float | None = None
    timed_out: bool = False
    stopped_by: int | None = None  # a signal the job itself received and passed on
    error: str = ""  # the child's exception, "Type: message"

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and self.stopped_by is None

    @property
    def resource_death(self) -> bool:
        """Ended by a signal or the time limit: another attempt with more memory or time may succeed."""
        return self.timed_out or self.returncode < 0

    def reason(self) -> str:
        if self.stopped_by is not None:
            name = signal.Signals(self.stopped_by).name
            return f"stopped by {name} sent to the job (Ctrl-C, a cancel or a scheduler)"
        if self.timed_out:
            return f"timeout after {self.limit_min:g} min (the job's `runtime`)"
        if self.returncode < 0:
            number = -self.returncode
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = "signal"
            hint = ": the out-of-memory killer sends it" if number == signal.SIGKILL else ""
            return f"killed by {name} ({number}{hint})"
        if self.returncode > 0:
            return f"exit code {self.returncode}" + (f" ({self.error})" if self.error else "")
        return ""


def start_child(
    command: list[str], out: Any, env: dict[str, str], server: Path | None
) -> subprocess.Popen | ForkedStep:
    """``command`` (``[python, script]`` when forked by ``server``, this run's warm server for the rule:
    benchmark.forkserver) in its own process group, dying with this process; output to ``out``."""
    if server is not None:
        with contextlib.suppress(OSError):  # no server after all: a fresh interpreter below
            fds = (out.fileno(), out.fileno()) if out else (sys.stdout.fileno(), sys.stderr.fileno())
            return ForkedStep.start(server, command[-1], env, *fds)
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT if out else None,
        env=env,
        process_group=0,
        preexec_fn=die_with_parent,
    )


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (a step's worker processes), in MB."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total / 2**20


def run_child(
    command: list[str], log_path: str | None, limit_s: float | None, env: dict[str, str], server: Path | None = None
) -> Outcome:
    """Run ``command`` in its own process group (forked by ``server`` when given), output appended to
    ``log_path``; stop it (SIGTERM, then SIGKILL) after ``limit_s`` seconds or when this process receives
    SIGTERM, SIGINT or SIGHUP."""
    stopped: list[int] = []
    error_file = Path(tempfile.mkstemp(prefix="scfm-step-", suffix=".error")[1])
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115 - closed below
    start = time.monotonic()
    peak_mb = 0.0
    try:
        child = start_child(command, out, {**env, **QUIET_ENV, ERROR_ENV: str(error_file)}, server)

        def signal_group(signum: int) -> None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signum)

        def forward(signum: int, _frame: Any) -> None:
            stopped.append(signum)
            signal_group(signum)

        previous = {s: signal.signal(s, forward) for s in FORWARDED}
        timed_out, kill_at = False, None
        try:
            while True:
                try:
                    returncode = child.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    pass
                peak_mb = max(peak_mb, tree_rss_mb(child.pid))
                now = time.monotonic()
                if limit_s is not None and not timed_out and now - start > limit_s:
                    timed_out = True
                    signal_group(signal.SIGTERM)
                if (timed_out or stopped) and kill_at is None:
                    kill_at = now + GRACE_S
                if kill_at is not None and now > kill_at:
                    signal_group(signal.SIGKILL)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if timed_out or stopped:
            signal_group(signal.SIGKILL)  # what the step started in its group
        if isinstance(child, ForkedStep):
            cpu_seconds, largest_mb = child.cpu_seconds, child.peak_rss_mb
        else:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_seconds, largest_mb = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
        return Outcome(
            returncode=returncode,
            seconds=time.monotonic() - start,
            peak_rss_mb=max(peak_mb, largest_mb),
            cpu_seconds=cpu_seconds,
            limit_min=None if limit_s is None else limit_s / 60,
            timed_out=timed_out,
            stopped_by=stopped[0] if stopped else None,
            error=error_file.read_text().strip(),
        )
    finally:
        if out:
            out.close()
        error_file.unlink(missing_ok=True)


def run_in_child(main: Callable[[Any], None], sm: Any) -> None:
    """The child's side: run the step; on any exception (SystemExit and KeyboardInterrupt included)
    write its one-line summary for the parent, print the traceback into the log and exit non-zero."""
    from benchmark.logs import setup_logging

    setup_logging(None)  # stderr is the job's log file
    try:
        main(sm)
    except BaseException as error:
        if isinstance(error, SystemExit) and error.code in (0, None):
            raise
        summary = f"{type(error).__name__}: {error}".removesuffix(": ")
        Path(os.environ[ERROR_ENV]).write_text(summary[:2000] + "\n")
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        code = error.code if isinstance(error, SystemExit) and isinstance(error.code, int) else 1
        os._exit(code)  # no interpreter shutdown: a thread the step left running cannot hang it


def supervise(sm: Any, main: Callable[[Any], None], record: bool = False) -> None:
    """Run ``main(sm)`` (``sm``: the Snakemake script object) supervised; see the module docstring.

    Call it as the last statement of a rule's script; it exits the process."""
    if os.environ.get(CHILD_ENV) == "1":
        run_in_child(main, sm)
        return
    log_path = sm.log[0] if len(sm.log) else None
    attempt = int(getattr(sm.resources, "attempt", 1))  # the rule's resource `attempt` (workflow/rules/common.smk)
    runtime = getattr(sm.resources, "runtime", None)
    limit_s = float(runtime) * 60 if isinstance(runtime, int | float) and runtime > 0 else None
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        Path(log_path).write_text(f"scfm-step: {sm.rule} {dict(sm.wildcards.items())}, attempt {attempt}\n")
    script = os.path.abspath(sys.argv[0])  # the script Snakemake runs (its copy with the `snakemake` object)
    env = {**os.environ, CHILD_ENV: "1"}
    outcome = run_child([sys.executable, script], log_path, limit_s, env, server_for(sm.rule))
    if log_path:
        usage = {"seconds": outcome.seconds, "cpu_seconds": outcome.cpu_seconds, "max_rss_mb": outcome.peak_rss_mb}
        with open(log_path, "a") as handle:
            handle.write(USAGE_PREFIX + json.dumps(usage) + "\n")
    missing = [str(f) for f in sm.output if not os.path.exists(f)]
    if outcome.ok and not missing:
        print(f"{job_label(sm)}: done in {outcome.seconds:.0f} s, peak {outcome.peak_rss_mb:.0f} MB", file=sys.stderr)
        sys.exit(0)
    reason = outcome.reason() or f"ended without writing {', '.join(missing)}"
    note(log_path, REASON_PREFIX + reason)
    final = attempt >= int(os.environ.get(ATTEMPTS_ENV) or 1)
    if not record or outcome.stopped_by is not None or (outcome.resource_death and not final):
        sys.exit(128 + outcome.stopped_by if outcome.stopped_by else 1)
    from benchmark.failures import write_failure_outputs

    write_failure_outputs([str(f) for f in sm.output], reason, dict(sm.params.items()), outcome.seconds,
                          outcome.peak_rss_mb)  # fmt: skip
    note(log_path, "recorded as failed in " + ", ".join(map(str, sm.output)))
    sys.exit(0)


def job_label(sm: Any) -> str:
    """`rule dataset/model/seed0`: the job in one line for the terminal."""
    values = [f"seed{v}" if k == "seed" else str(v) for k, v in sm.wildcards.items()]
    return f"{sm.rule} {'/'.join(values)}".rstrip()


def note(log_path: str | None, line: str) -> None:
    """A line for the job's log and the terminal."""
    print(line, file=sys.stderr, flush=True)
    if log_path:
        with open(log_path, "a") as handle:
            handle.write(line + "\n")


def last_tagged(log_path: str | None, prefix: str) -> str | None:
    """The rest of the last line of a step's log that starts with ``prefix`` (a supervisor's record), if any."""
    try:
        lines = Path(log_path).read_text(errors="replace").splitlines() if log_path else []
    except OSError:
        return None
    tagged = [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]
    return tagged[-1] if tagged else None


def read_usage(log_path: str | None) -> dict[str, float] | None:
    """The time and memory a step's supervisor wrote at the end of its log (the last attempt's), if any."""
    usage = last_tagged(log_path, USAGE_PREFIX)
    return {key: float(value) for key, value in json.loads(usage).items()} if usage else None
