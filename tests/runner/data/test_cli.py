"""``python -m runner.data``: the commands as a user runs them (subprocesses), a real kill and resume,
rebuild and verify, bad input, and the runner on a symbol that exists only through the pipeline."""

import gzip
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import PROJECT_ROOT
from runner.data.readers import file_sha256
from runner.data.timeframes import parse_utc
from tests.conftest import DATA_ROOT
from tests.prewarmed import run_module
from tests.runner.data.binance_server import BinanceServer, Fault, market_from_shared
from tests.runner.data.conftest import rows


def data_cli(root: Path | None, srv: BinanceServer | None, *args: str, env: dict | None = None):
    """``python -m runner.data <args>`` against the loopback server, into ``root``."""
    extra = []
    if root is not None:
        extra.append(f"data.root={root}")
    if srv is not None:
        extra += [f"source.archive_url={srv.url}", f"source.rest_url={srv.url}"]
    return run_module("runner.data", *extra, *args, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})}, timeout=300)


def _payloads(root: Path) -> list[tuple[str, str]]:
    path = root / "archive" / "index.sqlite"
    if not path.is_file():
        return []
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT url, status FROM payloads").fetchall()
    except sqlite3.OperationalError:  # the schema is being created
        return []


def test_a_killed_download_resumes_without_fetching_anything_twice(tmp_path: Path, server: BinanceServer) -> None:
    server.add_fault(Fault("delay", r"\.zip$", delay_s=0.05))  # slow enough to be killed mid-way
    args = ["download", "symbols=[BTCUSDT,LTCUSDT]", "start=2023-01-01", "end=2024-12-31"]
    cmd = [sys.executable, "-m", "runner.data", *args, f"data.root={tmp_path}"]
    cmd += [f"source.archive_url={server.url}", f"source.rest_url={server.url}"]
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(_payloads(tmp_path)) < 40 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # requests the killed process had in flight reach the server's log first
    stored = {url for url, _ in _payloads(tmp_path)}
    assert 40 <= len(stored) < 144 + 2, "the kill should land mid-way"
    before = len(server.requests)

    out = data_cli(tmp_path, server, *args)
    assert out.returncode == 0, out.stderr
    again = [f"{server.url}{r.path}" for r in server.requests[before:] if r.path.endswith(".zip")]
    assert not stored & set(again), "a file archived before the kill was fetched again"
    assert len(again) == 144 - len([u for u in stored if u.endswith(".zip")])
    urls = [url for url, _ in _payloads(tmp_path)]
    assert len(urls) == len(set(urls))  # nothing archived twice
    start, end = parse_utc("2023-01-01", "s"), parse_utc("2025-01-01", "s")
    for kind in ("klines", "mark", "funding"):
        for symbol in ("BTCUSDT", "LTCUSDT"):
            assert rows(tmp_path, kind, symbol).equals(rows(DATA_ROOT, kind, symbol, start, end))


def test_status_rebuild_verify(tmp_path: Path, server: BinanceServer) -> None:
    out = data_cli(tmp_path, server, "download", "symbols=[LTCUSDT]", "start=2024-11-01")
    assert out.returncode == 0, out.stderr
    assert "LTCUSDT klines 1h" in out.stdout and "rows/s" in out.stdout
    status = data_cli(tmp_path, None, "status")
    assert status.returncode == 0, status.stderr
    assert "LTCUSDT" in status.stdout and "2025-01-15 04h" in status.stdout  # the last closed bar
    assert "funding intervals LTCUSDT: 8h" in status.stdout and "0 quarantined" in status.stdout
    assert max(len(line) for line in status.stdout.splitlines()) <= 80

    derived = sorted((tmp_path / "binance").rglob("*.csv.gz")) + [tmp_path / "binance/futures_um/instruments.json"]
    before = {p: p.read_bytes() for p in derived}
    for p in derived:
        p.unlink()
    out = data_cli(tmp_path, None, "rebuild")
    assert out.returncode == 0, out.stderr
    assert {p: p.read_bytes() for p in derived} == before  # byte for byte

    out = data_cli(tmp_path, None, "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no problems" in out.stdout

    # an edit after the fact: one price changed, the file still valid
    path = tmp_path / "binance/futures_um/klines_1h/LTCUSDT-1h.csv.gz"
    text = gzip.decompress(path.read_bytes()).decode().splitlines()
    fields = text[5].split(",")
    fields[5] = repr(float(fields[5]) * 1.0001)  # close within high/low? keep OHLC valid:
    fields[3] = repr(max(float(fields[3]), float(fields[5])))
    text[5] = ",".join(fields)
    path.write_bytes(gzip.compress(("\n".join(text) + "\n").encode()))
    out = data_cli(tmp_path, None, "verify")
    assert out.returncode == 1
    assert "LTCUSDT-1h.csv.gz" in out.stdout and "edited after it was derived" in out.stdout
    assert data_cli(tmp_path, None, "rebuild").returncode == 0
    assert path.read_bytes() == before[path] and data_cli(tmp_path, None, "verify").returncode == 0


def test_verify_on_the_shared_data_checks_its_published_sums() -> None:
    out = data_cli(None, None, "verify", env={"PERPLAB_DATA": str(DATA_ROOT)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verified 22 files: no problems" in out.stdout


BAD = {
    "unknown command": (["fetch"], "unknown command 'fetch'; valid: download, update, status, verify, rebuild"),
    "no symbols": (["download"], "symbols: download needs the symbols to fetch"),
    "lower-case symbol": (["download", "symbols=[btcusdt]"], "symbols: 'btcusdt' is not a symbol like BTCUSDT"),
    "bad interval": (["download", "symbols=[BTCUSDT]", "intervals=[7m]"], "intervals: unknown value '7m'; valid: 1m"),
    "bad date": (["download", "symbols=[BTCUSDT]", "start=2024-13-01"], "start='2024-13-01': not a date"),
    "end before start": (["download", "symbols=[BTCUSDT]", "start=2024-02-01", "end=2024-01-01"], "end=2024-01-01"),
    "bad url": (
        ["download", "symbols=[BTCUSDT]", "source.rest_url=ftp://user:hunter2@x"],
        "source.rest_url='ftp://user:***@x': must be an http(s) URL",
    ),
    "bad workers": (["download", "symbols=[BTCUSDT]", "source.workers=0"], "source.workers=0: must be an integer"),
    "unknown key": (["download", "symbols=[BTCUSDT]", "symbolz=[X]"], "override 'symbolz': no such key"),
    "update with nothing stored": (["update"], "no series stored yet"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2_before_any_request(case: str, tmp_path: Path, server) -> None:
    args, message = BAD[case]
    out = data_cli(tmp_path / "store", server, *args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "hunter2" not in out.stderr
    assert not [r for r in server.requests if r.path != "/fapi/v1/time"]


def test_a_read_only_data_root_is_refused_naming_data_root(tmp_path: Path, server) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    args = [sys.executable, "-m", "runner.data", "download", "symbols=[BTCUSDT]", f"data.root={root}"]
    args += [f"source.archive_url={server.url}", f"source.rest_url={server.url}"]
    if os.geteuid() == 0:  # root writes through permission bits: mount the folder read-only instead
        if not shutil.which("unshare"):
            pytest.skip("running as root without unshare: cannot make a read-only folder")
        script = f"mount --bind {root} {root} && mount -o remount,bind,ro {root} && exec {shlex.join(args)}"
        cmd = ["unshare", "-m", "sh", "-c", script]
    else:
        root.chmod(0o555)
        cmd = args
    out = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"error: data.root={root}: not writable") and out.stderr.count("\n") == 1
    assert not server.requests


def test_files_the_archive_did_not_write_are_never_overwritten(tmp_path: Path, server) -> None:
    target = tmp_path / "binance/futures_um/klines_1h/BTCUSDT-1h.csv.gz"
    target.parent.mkdir(parents=True)
    shutil.copy(DATA_ROOT / "binance/futures_um/klines_1h/BTCUSDT-1h.csv.gz", target)
    before = target.read_bytes()
    out = data_cli(tmp_path, server, "download", "symbols=[BTCUSDT]", "start=2024-12-01")
    assert out.returncode == 2 and "klines_1h/BTCUSDT-1h.csv.gz exists and was not derived" in out.stderr
    assert target.read_bytes() == before and not server.count(r"^/data/|klines")


def test_the_runner_trades_a_symbol_that_exists_only_through_the_pipeline(tmp_path: Path) -> None:
    market = market_from_shared(
        DATA_ROOT, [], "2025-05-26", "2025-06-23", intervals=("1m",), alias={"DOGEUSDT": "BTCUSDT"}
    )
    # the stand-in serves BTCUSDT's real prices, so its lot step must suit them (DOGE's whole coins would not)
    market.instruments["DOGEUSDT"].update(step="0.001", min_qty="0.001", min_notional="5")
    root = tmp_path / "data"
    with BinanceServer(market, now="2025-06-23T00:00") as srv:
        out = data_cli(root, srv, "download", "symbols=[DOGEUSDT]", "intervals=[1m]", "start=2025-05-26")
        assert out.returncode == 0, out.stderr
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PERPLAB_CACHE": str(tmp_path / "c"),
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "data.symbols=[DOGEUSDT]",
            "data.timeframe=15m",
            "data.source_interval=1m",
            f"data.root={root}",
            "data.start=2025-05-26",
            "data.end=2025-06-22",
            "filters=none",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "DOGEUSDT: no maintenance-margin brackets of its own" in run.stderr
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (job,) = [
        r
        for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
        if r.data.tags.get("perplab.kind") == "job"
    ]
    assert job.info.status == "FINISHED"
    assert job.data.tags["exchange_rules.DOGEUSDT"].startswith("brackets: default; lots: exchangeInfo")
    assert job.data.params["exchange.symbols.DOGEUSDT.qty_step"] == "0.001"  # the rules it used are in its config
    assert float(job.data.tags["funding_coverage.DOGEUSDT"]) == 1.0
    assert job.data.metrics["n_trades"] > 0
    # the run names the raw payloads behind the files it read
    from runner.data.archive import inputs_digest

    sources = {
        str(p.relative_to(root)): file_sha256(p)
        for p in (root / "binance/futures_um").rglob("*.csv.gz")
        if p.name.startswith("DOGEUSDT-1m") or p.name.startswith("DOGEUSDT-funding") or "mark-1h" in p.name
    }
    assert job.data.tags["data_archive_inputs"] == inputs_digest(root, sources) != ""


def test_help_is_one_screen() -> None:
    out = data_cli(None, None, "--help")
    assert out.returncode == 0 and "Commands:" in out.stdout and "download" in out.stdout
    assert len(out.stdout.splitlines()) <= 25 and max(map(len, out.stdout.splitlines())) <= 100
