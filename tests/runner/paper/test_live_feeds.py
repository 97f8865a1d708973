"""Live feeds against loopback servers serving the real data in Binance's formats: the kline websocket
(closed and unclosed klines, a disconnect, a gap) with REST for the closed bars, and REST polling.
Each session ends equal to the replay of the same bars: trade for trade, bar for bar."""

import socket
import sqlite3
import time
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest

from runner.data.timeframes import parse_utc
from tests.conftest import DATA_ROOT
from tests.runner.data.binance_server import BinanceServer, market_from_shared
from tests.runner.data.conftest import fetch, spec_for
from tests.runner.paper.conftest import paper
from tests.runner.paper.test_paper import last_bar_of, session_equity, session_trades
from tests.runner.paper.ws_server import KlineStream, kline_message

H = 3_600_000
ORIGIN = parse_utc("2024-01-01", "s")  # the model's first bar: row 0 of every panel
LIVE = parse_utc("2024-07-01", "s")  # the first bar that closes after the sessions start
SYMBOLS = ("BTCUSDT", "ETHUSDT")


@pytest.fixture(scope="module")
def market():
    return market_from_shared(DATA_ROOT, list(SYMBOLS), "2024-01-01", "2024-07-05")


@pytest.fixture
def exchange(market, tmp_path: Path):
    """The loopback exchange at 2024-07-01 00:00:30 and a data root downloaded from it (2024H1)."""
    with BinanceServer(market, now=LIVE + 30_000) as srv:
        root = tmp_path / "live-data"
        out = fetch(spec_for(root, srv, "symbols=[BTCUSDT,ETHUSDT]", "start=2024-01-01"))
        assert all(not r.error for r in out.results.values())
        yield srv, root


def wait_for_bar(state: Path, session: str, bar: int, proc, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = last_bar_of(state, session)
        if last is not None and last >= bar:
            return
        assert proc.poll() is None, "the paper process ended early"
        time.sleep(0.02)
    raise AssertionError(f"{session}: bar {bar} not committed in {timeout} s (last {last_bar_of(state, session)})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    """The endpoint's samples: ``name{labels}`` -> value."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def bar_of(ms: int) -> int:
    return (ms - ORIGIN) // H


def replayed(db: Path, session: str, end: str) -> tuple[list, np.ndarray]:
    """The replay of the same bars from the shared data (the live session's first bar on)."""
    out = paper(db, "strategy=rsi", "feed.start=2024-07-01", f"feed.end={end}", f"paper.session={session}")
    assert out.returncode == 0, out.stderr
    return session_trades(db, session), session_equity(db, session, first=bar_of(LIVE))


def klines(market, symbol: str, t: int) -> tuple:
    row = market.klines[(symbol, "1h")].filter(pl.col("time") == t).row(0, named=True)
    return row["open"], row["high"], row["low"], row["close"], row["volume"]


def test_the_websocket_feed_acts_on_closed_klines_reconnects_and_backfills(store, market, exchange) -> None:
    db, _ = store
    server, root = exchange
    state = db.parent / "paper.db"
    bars = [LIVE + i * H for i in range(48)]  # 2024-07-01 00:00 .. 2024-07-02 23:00
    with KlineStream() as stream:
        proc = paper(
            db,
            "strategy=rsi",
            "feed=binance_ws",
            f"feed.ws_url={stream.url}",
            f"feed.rest_url={server.url}",
            f"feed.archive_url={server.url}",
            f"feed.data_root={root}",
            "feed.end=2024-07-02",
            "feed.reconnect_s=0.2",
            "paper.session=ws",
            wait=False,
        )
        deadline = time.monotonic() + 120
        while stream.opened < 1 or last_bar_of(state, "ws") is None:
            assert time.monotonic() < deadline and proc.poll() is None, (db.parent / "paper.err").read_text()
            time.sleep(0.05)
        assert stream.paths[0] == "/stream?streams=btcusdt@kline_1h/ethusdt@kline_1h"
        for i, t in enumerate(bars):
            if 20 <= i < 25:  # a disconnect: no message for these bars; the exchange's clock goes on
                if i == 20:
                    server.set_now(bars[24] + H + 500)  # bars 20..24 close while the client is away
                    stream.drop()
                    while stream.opened < 2:
                        assert time.monotonic() < deadline + 120 and proc.poll() is None
                        time.sleep(0.02)
                    wait_for_bar(state, "ws", bar_of(bars[24]), proc)  # filled from REST, no kline message
                continue
            server.set_now(t + H // 2)  # mid-bar: an unclosed kline with prices that never happened
            for s in SYMBOLS:
                o, h, low, c, v = klines(market, s, t)
                stream.send(
                    kline_message(s, "1h", t, t + H, (o, h * 1.2, low * 0.8, c * 1.1, v / 2), False, t + H // 2)
                )
            server.set_now(t + H + 500)  # closed
            for s in SYMBOLS:
                assert stream.send(kline_message(s, "1h", t, t + H, klines(market, s, t), True, t + H + 400)) == 1
            wait_for_bar(state, "ws", bar_of(t), proc)
        assert proc.wait(timeout=60) == 0, (db.parent / "paper.err").read_text()
    trades, equity = session_trades(db, "ws"), session_equity(db, "ws", first=bar_of(LIVE))
    want_trades, want_equity = replayed(db, "ws-replay", "2024-07-02")
    assert len(equity) == 48 and len(trades) > 0
    assert trades == want_trades
    assert np.array_equal(equity, want_equity)
    events = pl.read_ndjson(db.parent / "paper-events.jsonl", infer_schema_length=None).filter(
        pl.col("session") == "ws"
    )
    assert events.filter(pl.col("kind") == "reconnect").height == 1
    decided = events.filter(pl.col("kind") == "decided")
    assert decided.height == 48 - 5  # every bar a closed kline announced (not the five fetched after the gap)


def test_the_rest_polling_feed_trades_each_bar_as_it_closes(store, exchange) -> None:
    """... and serves its equity, exposure, bars and lag on a Prometheus endpoint while it runs."""
    db, _ = store
    server, root = exchange
    state = db.parent / "paper.db"
    port = free_port()
    proc = paper(
        db,
        "strategy=rsi",
        "feed=rest_poll",
        f"feed.rest_url={server.url}",
        f"feed.archive_url={server.url}",
        f"feed.data_root={root}",
        "feed.end=2024-07-01",
        "feed.poll_s=0.05",
        "paper.session=poll",
        f"paper.metrics_port={port}",
        wait=False,
    )
    deadline = time.monotonic() + 120
    while last_bar_of(state, "poll") is None:
        assert time.monotonic() < deadline and proc.poll() is None, (db.parent / "paper.err").read_text()
        time.sleep(0.05)
    for i in range(24):
        t = LIVE + i * H
        server.set_now(t + H + 500)
        wait_for_bar(state, "poll", bar_of(t), proc)
        if i == 11:
            scraped = scrape(port)
            with sqlite3.connect(state) as con:
                (equity,) = con.execute("SELECT prev_equity FROM sessions WHERE session = 'poll'").fetchone()
            assert scraped['perplab_paper_equity{session="poll"}'] == equity
            assert scraped['perplab_paper_bars_total{session="poll"}'] == 12
            assert scraped['perplab_paper_last_bar_close_seconds{session="poll"}'] == (t + H) / 1000
            assert scraped['perplab_paper_last_bar_lag_seconds{session="poll"}'] > 0
            assert 'perplab_paper_errors_total{session="poll"}' in scraped
    assert proc.wait(timeout=60) == 0, (db.parent / "paper.err").read_text()
    want_trades, want_equity = replayed(db, "poll-replay", "2024-07-01")
    assert session_trades(db, "poll") == want_trades
    assert np.array_equal(session_equity(db, "poll", first=bar_of(LIVE)), want_equity)
    with sqlite3.connect(state) as con:
        (first,) = con.execute("SELECT first_bar FROM sessions WHERE session = 'poll'").fetchone()
    assert first == bar_of(LIVE)  # a live session trades from the next bar to close
