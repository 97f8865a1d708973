"""``python -m MODULE ARGS`` for the end-to-end tests, from an interpreter that has already imported
what the commands import.

A perplab command spends about half of a warm run (1.5 s of 3 s on 2 cores) importing MLflow,
SQLAlchemy, Hydra, pandas, polars and TA-Lib; the end-to-end tests start a few hundred of them.
Each test process therefore starts one server (``python -m tests.prewarmed``, single-threaded) that
imports those libraries once and then forks a child per command. The child is a process of its own,
as with ``subprocess.run``: its own pid, working folder, environment, standard streams (to files),
signal handlers and exit status, and it ends through the interpreter's normal exit (threads joined,
``atexit`` handlers run, streams flushed), so a command behaves as a fresh ``python -m`` does. The
server imports only what the command would import itself (``PRELOAD``), and nothing it imports
reads the command's environment at import time, except numba's settings: a command whose
environment changes them (``NUMBA_*``, and ``PYTHON*`` and the BLAS thread counts) runs in a
fresh interpreter instead.

Tests that signal a command while it runs, run several side by side, or check the interpreter's own
start (``--help``) keep using ``subprocess``, and so do the Ray commands (their drivers start Ray).
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# what a perplab command imports: third-party libraries, then perplab's own entry modules (neither
# reads perplab's environment or starts a thread at import; numba's settings are compared below)
PRELOAD = (
    "numpy",
    "pandas",
    "polars",
    "pyarrow.parquet",
    "talib",
    "numba",
    "scipy.stats",
    "rich.console",
    "rich.progress",
    "rich.table",
    "omegaconf",
    "hydra",
    "hydra.main",
    "hydra.core.global_hydra",
    "sqlalchemy",
    "alembic.command",
    "alembic.runtime.migration",
    "mlflow",
    "mlflow.tracking",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "plotly.graph_objects",
    "runner.app",
    "runner.job",
    "runner.preflight",
    "runner.config",
)
# environment variables a preloaded library reads when it is imported: a command that sets them
# differently from the server runs in a fresh interpreter
IMPORT_TIME_ENV = ("NUMBA_", "PYTHON", "OMP_", "MKL_", "OPENBLAS_")


def _import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_ENV)}


class _Server:
    """One preloaded server per test process; commands are served one at a time."""

    def __init__(self) -> None:
        self.env = _import_time_env(dict(os.environ))
        self.proc = subprocess.Popen(  # unbuffered: select() sees every reply line
            [sys.executable, "-m", "tests.prewarmed"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            cwd=Path(__file__).parent.parent,
        )
        self.lock = threading.Lock()
        self.ready = False

    def _line(self, timeout: float | None) -> dict | None:
        """The server's next reply, or None after ``timeout`` seconds."""
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the preloaded server ended (exit {self.proc.wait()})")
        return json.loads(line)

    def run(self, argv: list[str], cwd: str, env: dict[str, str], timeout: float) -> tuple[int, str, str]:
        with self.lock, tempfile.TemporaryDirectory() as tmp:
            out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
            request = {"argv": argv, "cwd": cwd, "env": env, "out": out, "err": err}
            data = memoryview((json.dumps(request) + "\n").encode())
            while data:  # an unbuffered pipe may take part of it
                data = data[self.proc.stdin.write(data) :]
            if not self.ready:  # the first reply waits for the imports
                assert self._line(300) == {"ready": True}
                self.ready = True
            pid = self._line(60)["pid"]
            reply = self._line(timeout)
            if reply is None:
                os.kill(pid, signal.SIGKILL)
                self._line(60)
                raise subprocess.TimeoutExpired(argv, timeout)
            return reply["returncode"], Path(out).read_text(), Path(err).read_text()


_SERVER: _Server | None = None


_STARTING = threading.Lock()


def run_module(
    module: str, *args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """``subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True,
    text=True, timeout=timeout)``, forked from the preloaded server (``env`` None: this process's)."""
    global _SERVER
    argv = [sys.executable, "-m", module, *args]
    cwd, env = os.fspath(cwd or os.getcwd()), dict(os.environ if env is None else env)
    with _STARTING:
        if _SERVER is None or _SERVER.proc.poll() is not None:
            _SERVER = _Server()
        server = _SERVER
    if _import_time_env(env) != server.env:
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    code, out, err = server.run(argv, cwd, env, timeout)
    return subprocess.CompletedProcess(argv, code, out, err)


# -- the server ------------------------------------------------------------------------------------


def _serve() -> dict:
    """Import ``PRELOAD``, then fork a child per request line on stdin; reply with the child's pid
    and, once it ended, its exit status. Returns only in a child, with its request."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    assert threading.active_count() == 1, "a preloaded library started a thread: forking would be unsafe"
    replies = os.fdopen(os.dup(1), "w")
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            replies.close()
            return request
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()
    sys.exit(0)


def _become(request: dict) -> str:
    """Set this child up as ``python -m MODULE ARGS`` would start: streams, folder, environment,
    arguments, import path. Returns the module's name."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd, path in ((1, request["out"]), (2, request["err"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(f, fd)
        os.close(f)
    os.close(devnull)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    argv = request["argv"]
    sys.path[0] = os.getcwd()
    sys.argv = argv[2:]  # runpy replaces the module's name with its file
    return argv[2]


if __name__ == "__main__":
    import runpy

    module = _become(_serve())
    runpy.run_module(module, run_name="__main__", alter_sys=True)
