"""Ingest rate of ``python -m runner.data download`` and the cost of an ``update`` with nothing new.

Serves the real shared data (klines, mark price, funding) in Binance's formats from the loopback
server the tests use (``tests/runner/data/binance_server.py``, in its own process), downloads it into
a fresh data root with the default settings (4 parallel downloads), then runs ``update`` twice: once
with nothing new, once after the exchange's clock moved a day. Prints rows/s, MB/s, requests and
seconds.
``python benchmarks/bench_data.py [--symbols BTCUSDT,ETHUSDT,XRPUSDT,LTCUSDT] [--start 2020-01-01]``
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runner.data.download import fetch_store  # noqa: E402
from runner.data.settings import store_spec  # noqa: E402
from runner.report import make_console  # noqa: E402


class Server:
    """The loopback exchange in a subprocess (its own interpreter, as a real server would be)."""

    def __init__(self, *args: str):
        cmd = [sys.executable, "-m", "tests.runner.data.binance_server", *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait()


def run(root: Path, url: str, *overrides: str):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "datastore",
            overrides=[f"data.root={root}", f"source.archive_url={url}", f"source.rest_url={url}", *overrides],
        )
    quiet = make_console(stderr=True)
    quiet.quiet = True
    t = time.perf_counter()
    out = fetch_store(store_spec(cfg), quiet)
    return out, time.perf_counter() - t


def report(label: str, out, seconds: float) -> None:
    rows = sum(r.rows for r in out.results.values())
    size = sum(r.bytes for r in out.results.values()) / 1e6
    files = sum(r.files for r in out.results.values())
    print(
        f"{label:<28} {seconds:7.2f} s  {files:5d} payloads  {rows:>10,} rows  {size:7.2f} MB  "
        f"{rows / seconds:>9,.0f} rows/s  {size / seconds:5.2f} MB/s  {out.requests} requests",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", default="BTCUSDT,ETHUSDT,XRPUSDT,LTCUSDT")
    ap.add_argument("--start", default="2020-01-01")
    ap.add_argument("--now", default="2025-12-15T06:30")
    args = ap.parse_args()
    symbols = args.symbols.split(",")
    served = ["--symbols", args.symbols, "--start", args.start, "--end", "2026-01-01"]
    with tempfile.TemporaryDirectory() as tmp:
        sym = f"symbols=[{','.join(symbols)}]"
        with Server(*served, "--now", args.now) as srv:
            out, secs = run(Path(tmp), srv.url, "command=download", sym, f"start={args.start}")
            report(f"download {len(symbols)} symbols 1h", out, secs)
            out, secs = run(Path(tmp), srv.url, "command=update")
            report("update, nothing new", out, secs)
        with Server(*served, "--now", "2025-12-16T06:30") as srv:
            out, secs = run(Path(tmp), srv.url, "command=update")
            report("update, one day later", out, secs)
    one_minute = ["--symbols", "BTCUSDT", "--start", "2025-05-26", "--end", "2025-06-24", "--intervals", "1m"]
    with Server(*one_minute, "--now", "2025-06-24T00:00") as srv, tempfile.TemporaryDirectory() as tmp:
        out, secs = run(
            Path(tmp),
            srv.url,
            "command=download",
            "symbols=[BTCUSDT]",
            "intervals=[1m]",
            "mark_intervals=[]",
            "funding=false",
            "start=2025-05-26",
        )
        report("download BTCUSDT 1m, 4 weeks", out, secs)


if __name__ == "__main__":
    main()
