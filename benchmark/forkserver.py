"""Warm servers that fork a local run's steps, so a step does not pay Python's start-up and imports.

A local run starts one server per rule it has jobs of (workflow/Snakefile's ``onstart``,
:func:`start_servers`). On its first request a server imports the modules that rule's steps need; from
then on it forks one child per job. The job's supervisor (benchmark.supervisor) sends the step's
script, environment and working directory, with its stdout and stderr descriptors, over a Unix socket.
The child runs the script as a fresh interpreter would (as ``__main__``), in its own process group,
with the job's thread limits, and dies with the server. The server reports the child's exit status and
resource use back, and kills the child when its supervisor goes away.

Cluster jobs, tests and runs without a server (``SCFM_NO_WARM=1``) start a fresh interpreter instead;
both give the same results (tests/test_forkserver.py).
"""

import atexit
import contextlib
import ctypes
import importlib
import io
import json
import os
import runpy
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

DIRECTORY_ENV = "SCFM_WARM_DIR"  # where a run's servers listen: <rule>.sock
DISABLE_ENV = "SCFM_NO_WARM"  # "1": every step starts a fresh interpreter
# A step's terminal is its log file: no progress bars (tqdm reads this when it is imported).
QUIET_ENV = {"TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}
THREAD_ENV = "OMP_NUM_THREADS"  # Snakemake sets it (and the BLAS ones) to the job's `threads`
MESSAGE_BYTES = 1 << 20
PR_SET_PDEATHSIG = 1
# Modules a server must not have imported when it forks: a step forked after `import torch` trains scVI to a
# different float32 result than a fresh interpreter does (same seed; found in the test config). A server whose
# imports pulled one in serves nothing, so its rule's steps start fresh interpreters.
NOT_BEFORE_FORK = ("torch",)
READY_S = 10.0  # how long a run waits for a server to listen before its jobs start without it


def die_with_parent() -> None:
    """This process gets SIGKILL when its parent dies (Linux): no orphaned steps."""
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# ---------------------------------------------------------------- the run's side: start and stop servers


def start_servers(imports: dict[str, list[str]], log_dir: Path) -> list[subprocess.Popen]:
    """One server per rule in ``imports`` (rule -> modules to import once), listening in a fresh
    directory named by ``SCFM_WARM_DIR`` in this process's environment, which the jobs inherit."""
    if os.environ.get(DISABLE_ENV) == "1" or not imports:
        return []
    directory = Path(tempfile.mkdtemp(prefix="scfm-warm-"))
    os.environ[DIRECTORY_ENV] = str(directory)
    log_dir.mkdir(parents=True, exist_ok=True)
    servers = []
    for rule, modules in sorted(imports.items()):
        with open(log_dir / f"{rule}.log", "wb") as log:
            command = [sys.executable, "-m", "benchmark.forkserver", str(directory / f"{rule}.sock"), *modules]
            env = {**os.environ, **QUIET_ENV}
            servers.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env))
    deadline = time.monotonic() + READY_S
    for rule, server in zip(sorted(imports), servers, strict=True):
        while not (directory / f"{rule}.sock").exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    return servers


def stop_servers(servers: list[subprocess.Popen]) -> None:
    """Stop a run's servers (their idle state: no step is running when Snakemake ends) and remove their sockets."""
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
    directory = os.environ.pop(DIRECTORY_ENV, None)
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------- the supervisor's side: one forked step


def server_for(rule: str) -> Path | None:
    """The socket of this run's server for ``rule``, if there is one."""
    directory = os.environ.get(DIRECTORY_ENV)
    if not directory or os.environ.get(DISABLE_ENV) == "1":
        return None
    path = Path(directory) / f"{rule}.sock"
    return path if path.exists() else None


class ForkedStep:
    """A step forked by a server, with the parts of :class:`subprocess.Popen` the supervisor uses:
    ``pid``, ``wait(timeout)`` and ``returncode``; ``cpu_seconds`` and ``peak_rss_mb`` once it ended."""

    def __init__(self, connection: socket.socket, pid: int) -> None:
        self.connection, self.pid = connection, pid
        self.returncode: int | None = None
        self.cpu_seconds = self.peak_rss_mb = 0.0

    @classmethod
    def start(cls, server: Path, script: str, env: dict[str, str], stdout: int, stderr: int) -> "ForkedStep":
        """Ask ``server`` to fork ``script``; OSError when it cannot (then nothing was started)."""
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            connection.connect(str(server))
            request = {"script": os.path.abspath(script), "env": env, "cwd": os.getcwd()}
            socket.send_fds(connection, [json.dumps(request).encode()], [stdout, stderr])
            reply = connection.recv(MESSAGE_BYTES)  # after the server's first imports: seconds, not minutes
            pid = json.loads(reply).get("pid") if reply else None
            if not isinstance(pid, int):
                raise OSError(f"the warm server {server} did not start the step")
        except (OSError, ValueError):
            connection.close()
            raise
        return cls(connection, pid)

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (negative: the signal), as Popen.wait; subprocess.TimeoutExpired while it runs."""
        if self.returncode is not None:
            return self.returncode
        self.connection.settimeout(timeout)
        try:
            reply = self.connection.recv(MESSAGE_BYTES)
        except TimeoutError:
            raise subprocess.TimeoutExpired(f"forked step {self.pid}", timeout) from None
        # No reply: the server died, and its steps with it (die_with_parent), as if killed.
        result = json.loads(reply) if reply else {"returncode": -signal.SIGKILL}
        self.returncode = int(result["returncode"])
        self.cpu_seconds = float(result.get("cpu_seconds", 0.0))
        self.peak_rss_mb = float(result.get("peak_rss_mb", 0.0))
        self.connection.close()
        return self.returncode


# ---------------------------------------------------------------- the server


def serve(path: Path, modules: list[str]) -> None:
    """Fork a step per request on ``path`` until the run (this process's parent) has ended and no step runs."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(path))
    listener.listen(64)
    run, imported = os.getppid(), False
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    steps: dict[int, socket.socket] = {}  # pid -> its supervisor's connection
    try:
        while steps or os.getppid() == run:
            for key, _ in selector.select(timeout=0.5):
                if key.fileobj is listener:
                    connection, _ = listener.accept()
                    if not imported:
                        import_modules(modules)
                        imported = True
                        if forbidden_imports():
                            connection.close()
                            return
                    pid = fork_step(connection, [listener, *steps.values()], selector)
                    if pid is not None:
                        steps[pid] = connection
                        selector.register(connection, selectors.EVENT_READ, pid)
                else:  # the supervisor wrote or went away (killed): its step stops with it
                    selector.unregister(key.fileobj)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(key.data, signal.SIGKILL)
            reap(steps, selector)
    finally:
        path.unlink(missing_ok=True)


def import_modules(modules: list[str]) -> None:
    """Import what the rule's steps need; a module that fails to import is left to the step itself."""
    start = time.monotonic()
    for name in ["snakemake.script", *modules]:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - the step imports it again and reports the error
            print(f"forkserver: could not import {name}: {error}", file=sys.stderr, flush=True)
    threads = threading.active_count()
    print(f"forkserver: imported {len(modules)} modules in {time.monotonic() - start:.1f} s"
          + (f"; {threads} Python threads run (forking copies only this one)" if threads > 1 else ""),
          file=sys.stderr, flush=True)  # fmt: skip


def forbidden_imports() -> list[str]:
    """The modules of NOT_BEFORE_FORK this server has imported (then it must not fork), reported in its log."""
    found = [name for name in NOT_BEFORE_FORK if name in sys.modules]
    if found:
        print(f"forkserver: {', '.join(found)} imported, so no step is forked (NOT_BEFORE_FORK)", file=sys.stderr)
    return found


def fork_step(connection: socket.socket, others: list[socket.socket], selector: selectors.BaseSelector) -> int | None:
    """Read one request and fork its step; the child never returns from here."""
    try:
        connection.settimeout(10)
        message, fds, _, _ = socket.recv_fds(connection, MESSAGE_BYTES, 2)
        request = json.loads(message) if message and len(fds) == 2 else None
    except (OSError, ValueError):
        request, fds = None, []
    if request is None:
        for fd in fds:
            os.close(fd)
        connection.close()
        return None
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            selector.close()
            for other in [connection, *others]:
                other.close()
            code = run_step(request, fds)
        finally:
            os._exit(code)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child: whichever runs first
    for fd in fds:
        os.close(fd)
    try:
        connection.send(json.dumps({"pid": pid}).encode())
    except OSError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return pid


def run_step(request: dict, fds: list[int]) -> int:
    """In the forked child: become the step's process (group, output, directory, environment, threads)
    and run its script as ``__main__``; the exit code."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    die_with_parent()
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    devnull = os.open(os.devnull, os.O_RDONLY)
    for fd, target in ((devnull, 0), (fds[0], 1), (fds[1], 2)):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True, write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True, errors="backslashreplace")
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    limit_threads(os.environ.get(THREAD_ENV, ""))
    script = request["script"]
    sys.argv = [script]
    sys.path[0] = os.path.dirname(script)
    try:
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as error:
        code = exit_code(error.code)
    except BaseException:  # noqa: BLE001 - as the interpreter would: print it and exit 1
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()  # what an interpreter's exit runs (logging's flush, multiprocessing's joins)
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def exit_code(code: object) -> int:
    """The exit status of ``SystemExit(code)``, as the interpreter gives it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def limit_threads(threads: str) -> None:
    """The job's thread count (its ``OMP_NUM_THREADS``) for libraries already loaded: a fresh interpreter
    reads the variable when it loads them, a forked step inherits the server's pools."""
    if not threads.isdigit() or int(threads) < 1:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(threads))  # torch, whose own pool this would miss, is never loaded (NOT_BEFORE_FORK)


def reap(steps: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    """Send each ended step's exit code and resource use to its supervisor."""
    while steps:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = steps.pop(pid, None)
        if connection is None:
            continue
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(connection)
        result = {
            "returncode": os.waitstatus_to_exitcode(status),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024,
        }
        with contextlib.suppress(OSError):
            connection.send(json.dumps(result).encode())
        connection.close()


if __name__ == "__main__":
    die_with_parent()  # the run ends: so does its server (and, through it, any step still running)
    serve(Path(sys.argv[1]), sys.argv[2:])
