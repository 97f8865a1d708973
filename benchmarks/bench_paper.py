"""Paper trading: bars per second of a replay (4 symbols, a promoted RSI at leverage 1), and the latency
from a closed kline on the websocket to the decided order committed (loopback exchange and stream
serving the real data: REST fetch into the store, panel, indicators, kernel step, commit).

    python benchmarks/bench_paper.py [--bars-days 366] [--ws-bars 24]

Prints the figures; everything runs in a temporary folder (its own MLflow store and data root).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SYMBOLS = "[BTCUSDT,ETHUSDT,XRPUSDT,LTCUSDT]"
H = 3_600_000


def run(env: dict, *args: str) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", *args], env=env, capture_output=True, text=True, cwd=env["WORK"])
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{out.stderr[-2000:]}")
    return time.perf_counter() - t0


def replay_rate(env: dict, days: int) -> tuple[int, float]:
    """Bars per second of the bar loop: two replays, a short and a long one, so start-up cancels."""
    from runner.data.timeframes import parse_utc

    end = time.strftime("%Y-%m-%d", time.gmtime((parse_utc("2024-01-01", "s") + days * 24 * H) / 1000))
    short = run(env, "runner.paper", "strategy=rsi", "paper.session=short", "feed.end=2024-01-01")
    full = run(env, "runner.paper", "strategy=rsi", "paper.session=full", f"feed.end={end}")
    bars = days * 24 + 24
    return bars, (bars - 24) / (full - short)


def ws_latency(env: dict, n_bars: int) -> list[float]:
    """Milliseconds from each closed kline's arrival to its bar's decision committed."""
    from runner.data.timeframes import parse_utc
    from tests.conftest import DATA_ROOT
    from tests.runner.data.binance_server import BinanceServer, market_from_shared
    from tests.runner.data.conftest import fetch, spec_for
    from tests.runner.paper.test_paper import last_bar_of
    from tests.runner.paper.ws_server import KlineStream, kline_message

    symbols = SYMBOLS.strip("[]").split(",")
    live = parse_utc("2025-01-01", "s")
    origin = parse_utc("2024-01-01", "s")
    market = market_from_shared(DATA_ROOT, symbols, "2024-01-01", "2025-01-10")
    work = Path(env["WORK"])
    with BinanceServer(market, now=live + 30_000) as srv, KlineStream() as stream:
        root = work / "live-data"
        fetch(spec_for(root, srv, f"symbols={SYMBOLS}", "start=2024-01-01"))
        end = time.strftime("%Y-%m-%dT%H:%M", time.gmtime((live + (n_bars - 1) * H) / 1000))
        args = ["runner.paper", "strategy=rsi", "feed=binance_ws", f"feed.ws_url={stream.url}"]
        args += [f"feed.rest_url={srv.url}", f"feed.archive_url={srv.url}", f"feed.data_root={root}"]
        args += [f"feed.end={end}", "paper.session=ws"]
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            env=env,
            cwd=env["WORK"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        state = work / "mlruns" / "paper.db"
        while stream.opened < 1 or last_bar_of(state, "ws") is None:
            time.sleep(0.05)
        rows = {s: market.klines[(s, "1h")] for s in symbols}
        for i in range(n_bars):
            t = live + i * H
            srv.set_now(t + H + 500)
            for s in symbols:
                r = rows[s].filter(pl.col("time") == t).row(0, named=True)
                ohlcv = (r["open"], r["high"], r["low"], r["close"], r["volume"])
                stream.send(kline_message(s, "1h", t, t + H, ohlcv, True, t + H + 400))
            while (last_bar_of(state, "ws") or -1) < (t - origin) // H:
                time.sleep(0.01)
        proc.wait(timeout=120)
    events = pl.read_ndjson(work / "mlruns" / "paper-events.jsonl", infer_schema_length=None)
    return events.filter((pl.col("session") == "ws") & (pl.col("kind") == "decided"))["latency_ms"].to_list()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars-days", type=int, default=366, help="days of 2024 replayed")
    ap.add_argument("--ws-bars", type=int, default=24)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "WORK": tmp, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlruns/mlflow.db"}
        env["PERPLAB_CACHE"] = f"{tmp}/cache"
        env["PYTHONPATH"] = str(ROOT)
        job = ["runner", "strategy=rsi", f"data.symbols={SYMBOLS}", "leverage=1", "filters=none"]
        run(env, *job, "data.start=2024-01-01", "data.end=2024-12-31")
        gates = [
            f"promote.gates.{g}=null" for g in ("max_drawdown", "min_trades", "no_liquidation", "require_survivor")
        ]
        run(env, "runner.promote", "promote.stage=champion", *gates)
        bars, rate = replay_rate(env, args.bars_days)
        print(f"replay, 4 symbols, {bars:,} hourly bars: {rate:,.0f} bars/s ({rate * 4:,.0f} symbol-bars/s)")
        print("  each bar: kernel step, SQLite WAL commit (state, equity, trades, events), event log, MLflow batch")
        in_order = ws_latency(env, args.ws_bars)
        lat = sorted(in_order)
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        print(
            f"websocket, 4 symbols, {len(lat)} bars: closed kline -> decision committed: "
            f"median {statistics.median(lat):,.0f} ms, p95 {p95:,.0f} ms, max {lat[-1]:,.0f} ms"
        )
        k = max(1, len(in_order) // 10)  # does a bar cost more the longer the session has run?
        print(
            f"  median of the first {k} bars {statistics.median(in_order[:k]):,.0f} ms,"
            f" of the last {k} {statistics.median(in_order[-k:]):,.0f} ms"
        )
        print(
            "  each bar: REST fetch of the closed bar into the store (klines, mark, funding), panel, indicators, step"
        )


if __name__ == "__main__":
    main()
