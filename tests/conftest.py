"""Shared fixtures: the real data root, temporary data trees and MLflow stores."""

import gzip
import os
import shutil
from pathlib import Path

import pytest

from runner import PROJECT_ROOT

DATA_ROOT = Path(os.environ.get("PERPLAB_DATA", PROJECT_ROOT.parent / "shared" / "data")).resolve()
KLINE_HEADER = "open_time_utc,open_time_ms,open,high,low,close,volume"


def kline_rows(start_ms: int, closes: list[float], step_ms: int = 3_600_000) -> list[str]:
    """Well-formed 1h kline rows: open = previous close, high/low 1 % around."""
    from datetime import UTC, datetime

    rows, prev = [], closes[0]
    for i, c in enumerate(closes):
        t = start_ms + i * step_ms
        iso = datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(f"{iso},{t},{prev},{max(prev, c) * 1.01},{min(prev, c) * 0.99},{c},{10.0}")
        prev = c
    return rows


def write_gz(path: Path, header: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the real 1h futures data for BTC and ETH (klines + funding)."""
    root = tmp_path / "data"
    for sub in ("klines_1h", "funding"):
        dst = root / "binance" / "futures_um" / sub
        dst.mkdir(parents=True)
        for sym in ("BTCUSDT", "ETHUSDT"):
            name = f"{sym}-1h.csv.gz" if sub == "klines_1h" else f"{sym}-funding.csv.gz"
            shutil.copy(DATA_ROOT / "binance" / "futures_um" / sub / name, dst / name)
    return root


@pytest.fixture(autouse=True)
def _restore_tracking_uri(monkeypatch):
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; undo it after every test."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "unset")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")


def _pg_bindir() -> Path | None:
    """The newest PostgreSQL server's bin folder (Debian's layout, else the one on PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


SECRET_ROLE = "perplab_secret"
SECRET_PASSWORD = "S3cr3t-Pa55-XYZ"  # must never show up in a store, an artifact, an output folder or a message


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster on a free local port (run as the ``postgres`` user when the
    tests run as root), with databases ``perplab`` and ``mlflow``; removed at the end."""
    import socket
    import subprocess
    import tempfile

    bindir = _pg_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql")
    base = Path(tempfile.mkdtemp(prefix="perplab-pg-"))
    base.chmod(0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = base / "data"

    def run(*cmd: str) -> None:
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
    hba = data / "pg_hba.conf"  # one role must give its password (first match wins): the secrets tests use it
    hba.write_text(f"host all {SECRET_ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as con:
            con.execute("CREATE DATABASE perplab")
            con.execute("CREATE DATABASE mlflow")
            con.execute(f"CREATE ROLE {SECRET_ROLE} LOGIN PASSWORD '{SECRET_PASSWORD}'")
            for db in ("secret_mlflow", "secret_perplab"):
                con.execute(f"CREATE DATABASE {db} OWNER {SECRET_ROLE}")
        secret = f"postgresql://{SECRET_ROLE}:{SECRET_PASSWORD}@127.0.0.1:{port}"
        yield {
            "port": port,
            "url": f"postgresql://postgres@127.0.0.1:{port}/perplab",
            "mlflow": f"postgresql://postgres@127.0.0.1:{port}/mlflow",
            "secret_mlflow": f"{secret}/secret_mlflow",  # password authentication (scram-sha-256)
            "secret_url": f"{secret}/secret_perplab",
        }
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _shared_state() -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(DATA_ROOT)): (p.stat().st_size, p.stat().st_mtime_ns) for p in DATA_ROOT.rglob("*")}


@pytest.fixture(scope="session", autouse=True)
def _shared_data_untouched():
    """The real data is read by every test and written by none: fail the session if a test changed it."""
    before = _shared_state()
    yield
    after = _shared_state()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"tests modified the shared data in {DATA_ROOT}: {changed[:5]}"


@pytest.fixture(scope="session")
def ray_cluster():
    """A real two-node Ray cluster on this machine (head + worker, one CPU each), shared by the
    tests that use it and stopped at the end (``tests/cluster.py``)."""
    from tests.cluster import two_node_cluster

    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.fail("Ray is not installed: pip install -e '.[ray]' (.ci/run does)")
    with two_node_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def mlflow_server(postgres, tmp_path_factory):
    """A real ``mlflow server`` (PostgreSQL backend store, proxied artifacts) on a loopback port; its URL."""
    import psycopg

    from tests.cluster import mlflow_server as serve

    with psycopg.connect(f"{postgres['url'].rsplit('/', 1)[0]}/postgres", autocommit=True) as con:
        con.execute("CREATE DATABASE mlflow_server")
    base = tmp_path_factory.mktemp("mlflow-server")
    with serve(postgres["url"].rsplit("/", 1)[0] + "/mlflow_server", base / "artifacts") as url:
        yield url


def pytest_configure(config) -> None:
    """Test processes collect garbage as the commands do (``runner/short_lived.py``): they hold the
    same libraries' objects, and CPython's default thresholds made them walk those again and again."""
    from runner import short_lived

    short_lived.tune()


def pytest_collection_finish(session) -> None:
    """The imported modules and the collected tests live to the end: no collection walks them."""
    import gc

    gc.freeze()
