"""``python -m MODULE ARGS`` for the end-to-end tests, from an interpreter that has already imported
what the commands import.

A perplab command spends about half of a warm run (1.5 s of 3 s on 2 cores) importing MLflow,
SQLAlchemy, Hydra, pandas, polars and TA-Lib; the end-to-end tests start a few hundred of them.
Each test process therefore starts one server (``python -m tests.prewarmed``, single-threaded) that
imports those libraries once and then forks a child per command. The child is a process of its own,
as with ``subprocess.run``: its own pid, working folder, environment, standard streams (to files),
signal handlers and exit status, and it ends through the interpreter's normal exit (threads joined,
``atexit`` handlers run, streams flushed), so a command behaves as a fresh ``python -m`` does. The
server imports what perplab's commands import (``PRELOAD``); none of it reads the command's
environment at import time except numba's settings, so a command whose ``NUMBA_*``, ``PYTHON*``
or BLAS settings differ from the server's runs in a fresh interpreter instead. Known differences,
none of which a perplab command reads: ``sys.orig_argv`` is the server's; once the module's code
has returned (in ``atexit`` handlers and threads still running), ``sys.argv[0]`` is the module's
name and ``__main__`` the server's module (``runpy`` restores them); the warning filters, logging
handlers and ``atexit`` hooks the preloaded libraries install are there even for a command that
would not import them; native threads some libraries start at import (jemalloc's, polars')
are left behind by the fork, as with any fork (the children start their own pools). Commands are
served one at a time: a test that starts several from threads has them take turns.

Tests that signal a command while it runs or run commands side by side (``subprocess.Popen``),
``tests/runner/test_help.py`` (the interpreter's own start) and the Ray drivers keep using
``subprocess``.
"""

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# what a perplab command imports: third-party libraries, then perplab's own entry modules (none reads
# perplab's environment or starts a Python thread at import; numba's settings are compared below)
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
            out, err = Path(tmp, "out"), Path(tmp, "err")
            request = {"argv": argv, "cwd": cwd, "env": env, "out": str(out), "err": str(err)}
            pid = None
            try:
                data = memoryview((json.dumps(request) + "\n").encode())
                while data:  # an unbuffered pipe may take part of it
                    data = data[self.proc.stdin.write(data) :]
                if not self.ready:  # the first reply waits for the imports
                    assert self._line(300) == {"ready": True}
                    self.ready = True
                pid = self._line(60)["pid"]
                reply = self._line(timeout)
                if reply is None:
                    with contextlib.suppress(ProcessLookupError):  # it may have ended just now
                        os.kill(pid, signal.SIGKILL)
                    if self._line(60) is None:
                        raise RuntimeError(f"no exit status from the killed command {pid}")
            except BaseException:  # replies may be left unread: this server is done
                self.close(pid)
                raise
            if reply is None:
                raise subprocess.TimeoutExpired(argv, timeout, out.read_text(), err.read_text())
            return reply["returncode"], out.read_text(), err.read_text()

    def close(self, pid: int | None = None) -> None:
        """Kill the command ``pid`` (if any) and the server."""
        for victim in (pid, self.proc.pid):
            if victim is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGKILL)
        self.proc.wait()


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
    # the interpreter's own stdout and stderr objects now write to the files, with the settings a
    # fresh interpreter would give them (the server never wrote to them: nothing is buffered);
    # stdin's holds read-ahead requests, so it is opened anew on /dev/null
    stdin = sys.stdin
    sys.stdin = sys.__stdin__ = open(0, encoding=stdin.encoding, errors=stdin.errors, closefd=False)  # noqa: SIM115
    for name in [m for m in sys.modules if m == "tests" or m.startswith("tests.")]:
        del sys.modules[name]  # the command finds the tests package (if at all) as a fresh one would
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
