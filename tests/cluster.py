"""A real two-node Ray cluster on this machine (``ray start --head`` plus a second ``ray start
--address``, each with its own resources), for the tests that send work to Ray."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray() -> str:
    found = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if found is None:
        raise RuntimeError("the ray command is missing: pip install -e '.[ray]'")
    return found


def readme_command(prefix: tuple[str, ...], *contains: str) -> list[str]:
    """The README's "Scale out" command that starts with ``prefix`` (and holds ``contains``)."""
    from tests.readme import commands

    found = [w for w in commands("Scale out") if tuple(w[: len(prefix)]) == prefix and all(c in w for c in contains)]
    assert len(found) == 1, f"README 'Scale out' should show one {' '.join(prefix)} {contains} command: {found}"
    return found[0]


def _substitute(words: list[str], mapping: dict[str, str]) -> list[str]:
    out = []
    for word in words:
        for old, new in mapping.items():
            word = word.replace(old, new)
        out.append(word)
    return out


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """The README's ``ray start`` for one node (``args``: what follows ``ray start``), in the
    foreground (``--block``) and its own process group, so it can be stopped alone (``ray stop``
    would stop every Ray on the machine)."""
    # no token authentication on this throwaway cluster (Ray turns it on for `ray start` when a local
    # ray.init() left a token in ~/.ray, and drivers that do not send it then cannot connect)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [_ray(), "start", *args, "--block", "--disable-usage-stats"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _wait_for_nodes(address: str, n: int, timeout: float = 120) -> None:
    probe = (
        "import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False);"
        "print(sum(1 for x in ray.nodes() if x['Alive']))"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True, timeout=120)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(2)
    raise RuntimeError(f"the Ray cluster at {address} did not reach {n} nodes in {timeout:.0f} s")


def _stop(proc: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM to the process group, SIGKILL after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace if sig == signal.SIGTERM else 20)
            if sig == signal.SIGTERM:
                time.sleep(1)  # let the node's children exit, then kill what is left
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def two_node_cluster() -> Iterator[dict]:
    """The README's two ``ray start`` commands (a head node, then a worker node joining it) on free
    ports, each node with its own temp folder; yields ``{"address", "temp_dir"}``; both stopped on
    exit."""
    tmp = Path(tempfile.mkdtemp(prefix="perplab-ray-"))
    port = free_port()
    address = f"127.0.0.1:{port}"
    head_words = readme_command(("ray", "start", "--head"))
    worker_words = readme_command(("ray", "start"), "--address=<head-ip>:6379")
    mapping = {"--port=6379": f"--port={port}", "<head-ip>:6379": address}
    common = [f"--temp-dir={tmp}", f"--dashboard-agent-listen-port={free_port()}"]
    head_args = [*_substitute(head_words[2:], mapping), "--include-dashboard=false", *common]
    head = _start([*head_args, f"--ray-client-server-port={free_port()}"], tmp / "head.log")
    nodes = [head]
    try:
        _wait_for_nodes(address, 1)
        worker_args = [*_substitute(worker_words[2:], mapping), '--resources={"worker_node": 1}', *common]
        nodes.append(_start(worker_args, tmp / "worker.log"))
        _wait_for_nodes(address, 2)
        yield {"address": address, "temp_dir": tmp}
    finally:
        for proc in reversed(nodes):  # a throwaway cluster: the head node did not end within 20 s of
            _stop(proc, grace=3)  # SIGTERM; each node gets 3 s, then its process group is killed
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def mlflow_server(backend_uri: str, artifacts: Path, timeout: float = 180) -> Iterator[str]:
    """The README's ``mlflow server`` on a free loopback port: ``backend_uri`` (PostgreSQL) for runs,
    proxied artifacts under ``artifacts``; yields its URL; stopped on exit."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(artifacts.parent / f"mlflow-server-{port}.log", "ab")  # noqa: SIM115 - closed below
    words = readme_command(("mlflow", "server"))
    mapping = {"<postgresql-url>": backend_uri, "<artifact-folder>": str(artifacts), "0.0.0.0": "127.0.0.1"}
    cmd = [*_substitute(words, mapping), "--workers=1"]
    cmd[cmd.index("--port") + 1] = str(port)
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    cmd[0] = mlflow
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not answer in {timeout:.0f} s; see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(proc)
        log.close()
