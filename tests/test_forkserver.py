"""Steps forked by a warm server (benchmark.forkserver) end, report and stop as steps started in a fresh
interpreter do (benchmark.supervisor.run_child): exit codes, signals, time limits, output, working
directory, environment, thread limits, resource use, a supervisor that dies, a server that is missing."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmark import forkserver, supervisor
from benchmark.supervisor import run_child

PYTHON = sys.executable


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A server for rule `step` that has imported numpy, as a run's onstart starts one."""
    monkeypatch.delenv(forkserver.DISABLE_ENV, raising=False)
    servers = forkserver.start_servers({"step": ["numpy", "threadpoolctl"]}, tmp_path / "warm")
    path = forkserver.server_for("step")
    assert path is not None and servers[0].poll() is None
    yield path
    forkserver.stop_servers(servers)
    assert servers[0].returncode is not None and forkserver.server_for("step") is None


def step(code: str, tmp_path: Path, server: Path | None, limit_s: float | None = None, **env: str):
    script = tmp_path / "step.py"
    script.write_text(textwrap.dedent(code))
    log = tmp_path / "step.log"
    outcome = run_child([PYTHON, str(script)], str(log), limit_s, {**os.environ, **env}, server)
    return outcome, log.read_text()


def test_a_forked_step_runs_its_script_as_a_fresh_interpreter_would(tmp_path, server):
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    code = """
        import json, os, sys
        import numpy
        print(json.dumps({"name": __name__, "argv0": sys.argv[0], "cwd": os.getcwd(), "path0": sys.path[0],
                          "env": os.environ.get("STEP_VALUE"), "numpy_preloaded": numpy.__name__}))
        print("to stderr", file=sys.stderr)
        sys.exit(3)
    """
    script = tmp_path / "step.py"
    script.write_text(textwrap.dedent(code))
    log = tmp_path / "step.log"
    before = os.getcwd()
    os.chdir(workdir)
    try:
        outcome = run_child([PYTHON, str(script)], str(log), None, {**os.environ, "STEP_VALUE": "42"}, server)
    finally:
        os.chdir(before)
    assert outcome.returncode == 3 and outcome.reason() == "exit code 3"
    lines = log.read_text().splitlines()
    seen = json.loads(lines[0])
    assert seen == {"name": "__main__", "argv0": str(script), "cwd": str(workdir), "path0": str(tmp_path),
                    "env": "42", "numpy_preloaded": "numpy"}  # fmt: skip
    assert "to stderr" in lines
    assert "forkserver: imported 2 modules" in (tmp_path / "warm" / "step.log").read_text()  # it was forked


@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "forked"])
def test_exceptions_and_exit_codes_are_those_of_a_fresh_interpreter(tmp_path, server, warm):
    cases = {"raise ValueError('bad')": 1, "raise SystemExit('message')": 1, "raise SystemExit(None)": 0,
             "import sys; sys.exit(2)": 2, "import os; os._exit(7)": 7}  # fmt: skip
    for code, expected in cases.items():
        outcome, log = step(code, tmp_path, server if warm else None)
        assert outcome.returncode == expected, code
    outcome, log = step("raise ValueError('bad')", tmp_path, server if warm else None)
    assert "Traceback" in log and "ValueError: bad" in log


def test_a_signal_names_itself(tmp_path, server):
    outcome, _ = step("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", tmp_path, server)
    assert outcome.returncode == -9 and outcome.resource_death
    assert outcome.reason() == "killed by SIGKILL (9: the out-of-memory killer sends it)"


def test_a_forked_hang_and_its_grandchild_are_stopped_at_the_limit(tmp_path, server, monkeypatch):
    monkeypatch.setattr(supervisor, "GRACE_S", 1.0)
    start = time.monotonic()
    outcome, log = step(
        """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print("grandchild", grandchild.pid, flush=True)
        time.sleep(60)
        """,
        tmp_path,
        server,
        limit_s=1.0,
    )
    assert outcome.timed_out and outcome.resource_death and time.monotonic() - start < 30
    grandchild = int(log.split("grandchild ")[1].split()[0])
    time.sleep(0.5)
    assert not Path(f"/proc/{grandchild}").exists() or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]


def test_a_step_dies_with_its_supervisor(tmp_path, server):
    """A supervisor killed with SIGKILL (no chance to pass anything on) leaves no step running."""
    pid_file = tmp_path / "step.pid"
    script = tmp_path / "step.py"
    script.write_text(f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    supervising = subprocess.Popen([PYTHON, "-c", textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        from benchmark.supervisor import run_child
        run_child([sys.executable, {str(script)!r}], None, None, dict(os.environ), Path({str(server)!r}))
    """)])  # fmt: skip
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    step_pid = int(pid_file.read_text())
    supervising.kill()
    supervising.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{step_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{step_pid}").exists()


def test_the_job_thread_limit_applies_to_libraries_the_server_loaded(tmp_path, monkeypatch):
    """The server loads BLAS and OpenMP with 2 threads; a job's OMP_NUM_THREADS (Snakemake: its `threads`) rules."""
    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delenv(forkserver.DISABLE_ENV, raising=False)
    servers = forkserver.start_servers({"step": ["numpy", "sklearn", "threadpoolctl"]}, tmp_path / "warm")
    code = """
        import json
        from threadpoolctl import threadpool_info
        print(json.dumps(sorted({i["num_threads"] for i in threadpool_info()})))
    """
    try:
        path = forkserver.server_for("step")
        threads = {n: json.loads(step(code, tmp_path, path, OMP_NUM_THREADS=n)[1].splitlines()[-1]) for n in "12"}
    finally:
        forkserver.stop_servers(servers)
    assert threads == {"1": [1], "2": [2]}


def test_time_and_memory_are_measured_for_a_forked_step(tmp_path, server):
    code = """
        import time
        block = bytearray(300 * 2**20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        end = time.process_time() + 0.5
        while time.process_time() < end:
            pass
        time.sleep(1.2)  # the supervisor samples the step's memory every 0.5 s
    """
    outcome, _ = step(code, tmp_path, server)
    assert outcome.ok
    assert outcome.cpu_seconds >= 0.5 and outcome.peak_rss_mb >= 300


def test_without_a_server_steps_start_fresh_interpreters(tmp_path, monkeypatch):
    monkeypatch.setenv(forkserver.DIRECTORY_ENV, str(tmp_path))  # a run whose server for `step` is gone
    assert forkserver.server_for("step") is None
    (tmp_path / "step.sock").touch()  # a socket file nobody listens on
    outcome, log = step("print('ran')", tmp_path, tmp_path / "step.sock")
    assert outcome.ok and "ran" in log
    monkeypatch.setenv(forkserver.DISABLE_ENV, "1")
    assert forkserver.server_for("step") is None


def test_a_server_that_imported_torch_forks_nothing(tmp_path, monkeypatch):
    """Forking after `import torch` changes float32 results (NOT_BEFORE_FORK): such a server steps aside."""
    monkeypatch.delenv(forkserver.DISABLE_ENV, raising=False)
    servers = forkserver.start_servers({"step": ["torch"]}, tmp_path / "warm")
    try:
        outcome, log = step("print('ran')", tmp_path, forkserver.server_for("step"))
        assert outcome.ok and "ran" in log
        servers[0].wait(timeout=30)
        assert "no step is forked" in (tmp_path / "warm" / "step.log").read_text()
    finally:
        forkserver.stop_servers(servers)


def test_a_server_ends_with_its_run(tmp_path):
    """The run (the server's parent) killed outright: its server does not outlive it."""
    sock = tmp_path / "x.sock"
    run = subprocess.Popen([PYTHON, "-c", textwrap.dedent(f"""
        import subprocess, sys, time
        server = subprocess.Popen([sys.executable, "-m", "benchmark.forkserver", {str(sock)!r}])
        print(server.pid, flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    server_pid = int(run.stdout.readline())
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sock.exists()
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{server_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{server_pid}").exists()
