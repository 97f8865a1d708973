"""download / update against a loopback Binance serving the real shared data, with injected faults."""

import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from runner.data.archive import Archive
from runner.data.timeframes import parse_utc
from runner.errors import ConfigError
from tests.conftest import DATA_ROOT
from tests.runner.data.binance_server import BinanceServer, Fault
from tests.runner.data.conftest import NOW, Sleeps, fetch, rows, spec_for

T2023 = parse_utc("2023-01-01", "start")
T2025 = parse_utc("2025-01-01", "start")
H = 3_600_000


def test_round_trip_two_years_equals_the_shared_files(tmp_path: Path, server: BinanceServer) -> None:
    spec = spec_for(tmp_path, server, "symbols=[BTCUSDT,LTCUSDT]", "start=2023-01-01", "end=2024-12-31")
    out = fetch(spec)
    assert {r.dataset.label: r.files for r in out.results.values()} == {
        "BTCUSDT klines 1h": 24,
        "LTCUSDT klines 1h": 24,
        "BTCUSDT mark 1h": 24,
        "LTCUSDT mark 1h": 24,
        "BTCUSDT funding": 24,
        "LTCUSDT funding": 24,
    }  # monthly archive files only: the window ends before the current month
    assert all(not r.gaps and not r.error and not r.quarantined for r in out.results.values())
    for kind in ("klines", "mark", "funding"):
        for symbol in ("BTCUSDT", "LTCUSDT"):
            got = rows(tmp_path, kind, symbol)
            want = rows(DATA_ROOT, kind, symbol, T2023, T2025)
            assert got.height == want.height > 0
            assert got.equals(want), (kind, symbol)  # value for value, times included
    inst = json.loads((tmp_path / "binance/futures_um/instruments.json").read_text())["symbols"]
    assert inst["BTCUSDT"]["qty_step"] == 0.001 and inst["LTCUSDT"]["min_notional"] == 20.0
    assert not server.count(r"^/fapi/v1/(klines|markPriceKlines|fundingRate)$")  # no REST needed


def test_current_month_comes_from_daily_files_and_rest_up_to_the_last_closed_bar(
    tmp_path: Path, server: BinanceServer
) -> None:
    spec = spec_for(tmp_path, server, "symbols=[BTCUSDT]", "start=2024-12-01", "mark_intervals=[]")
    out = fetch(spec)
    klines = out.results[next(ds for ds in out.results if ds.kind == "klines")]
    assert klines.files >= 1 + 14  # December monthly, Jan 1..14 daily, then REST for Jan 15 00:00..04:00
    assert server.count(r"/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2025-01-14\.zip$") == 1
    assert not server.count(r"/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2025-01-15\.zip$")  # today is not complete
    got = rows(tmp_path, "klines", "BTCUSDT")
    assert got["open_time_utc"][-1] == "2025-01-15T04:00:00Z"  # 05:00 is in progress at 05:30
    want = rows(DATA_ROOT, "klines", "BTCUSDT", parse_utc("2024-12-01", "s"), parse_utc("2025-01-15T05:00", "s"))
    assert got.equals(want)
    funding = rows(tmp_path, "funding", "BTCUSDT")
    assert funding["funding_time_utc"][-1] == "2025-01-15T00:00:00Z"  # from REST: no daily funding files
    assert not server.count(r"/daily/fundingRate/")


FAULTS = {
    # name: (faults, what the server must have seen, expected back-off sleeps (None: any))
    "429 with Retry-After": (
        [Fault("status", r"/monthly/klines/.*2023-02\.zip$", times=1, status=429, retry_after=7)],
        r"/monthly/klines/.*2023-02\.zip$",
        [7.0],
    ),
    "418 IP ban with Retry-After": (
        [Fault("status", r"/fapi/v1/exchangeInfo$", times=1, status=418, retry_after=3)],
        r"/fapi/v1/exchangeInfo$",
        [3.0],
    ),
    "5xx twice": (
        [Fault("status", r"/monthly/markPriceKlines/.*2023-01\.zip$", times=2, status=503)],
        r"/monthly/markPriceKlines/.*2023-01\.zip$",
        None,
    ),
    "truncated zip": ([Fault("truncate", r"/monthly/klines/.*2023-03\.zip$", times=1)], r"2023-03\.zip$", []),
    "connection reset mid-file": (
        [Fault("reset", r"/monthly/fundingRate/.*2023-02\.zip$", times=1)],
        r"/monthly/fundingRate/.*2023-02\.zip$",
        None,
    ),
    "month missing from the archive": (
        [Fault("missing", r"/monthly/klines/.*2023-02\.zip")],
        r"^/fapi/v1/klines$",
        [],
    ),
    "checksum mismatch": (
        [Fault("bad_checksum", r"/monthly/markPriceKlines/.*2023-03\.zip")],
        r"^/fapi/v1/markPriceKlines$",
        [],
    ),
    "corrupt rows in a file": (
        [Fault("corrupt", r"/monthly/klines/.*2023-01\.zip")],
        r"^/fapi/v1/klines$",
        [],
    ),
    "funding month missing": (
        [Fault("missing", r"/monthly/fundingRate/.*2023-03\.zip")],
        r"^/fapi/v1/fundingRate$",
        [],
    ),
}


@pytest.mark.parametrize("case", list(FAULTS))
def test_faults_end_with_the_same_files(case: str, tmp_path: Path, server: BinanceServer) -> None:
    faults, seen, sleeps_expected = FAULTS[case]
    for f in faults:
        server.add_fault(f)
    spec = spec_for(tmp_path, server, "symbols=[LTCUSDT]", "start=2023-01-01", "end=2023-03-31")
    sleeps = Sleeps()
    out = fetch(spec, sleeps)
    assert all(not r.error for r in out.results.values()), [r.error for r in out.results.values()]
    assert server.count(seen) >= 1
    if sleeps_expected is not None:
        assert sleeps == sleeps_expected
    else:
        assert len(sleeps) >= 1  # backed off before retrying
    end = parse_utc("2023-04-01", "e")
    for kind in ("klines", "mark", "funding"):
        assert rows(tmp_path, kind, "LTCUSDT").equals(rows(DATA_ROOT, kind, "LTCUSDT", T2023, end)), kind
    quarantined = [r for res in out.results.values() for r in res.quarantined]
    if case in ("checksum mismatch", "corrupt rows in a file"):
        assert len(quarantined) == 1, quarantined
        reason = quarantined[0]
        assert (
            ("CHECKSUM" in reason) if case == "checksum mismatch" else ("OHLC violation" in reason and "line" in reason)
        )
        archive = Archive(tmp_path, create=False)
        kept = [p for p in archive.payloads() if p.status == "quarantined"]
        archive.close()
        assert len(kept) == 1 and kept[0].reason == reason  # kept as received, out of the derived files
    else:
        assert not quarantined


def test_pagination_at_the_limit_fills_a_month_of_1m_bars(tmp_path: Path) -> None:
    from tests.runner.data.binance_server import market_from_shared

    market = market_from_shared(DATA_ROOT, ["BTCUSDT"], "2025-06-01", "2025-06-24", intervals=("1m",), mark=False)
    with BinanceServer(market, now="2025-06-23T00:30") as srv:
        srv.add_fault(Fault("missing", r"/klines/BTCUSDT/1m/"))  # the archive has none: all from REST
        spec = spec_for(
            tmp_path,
            srv,
            "symbols=[BTCUSDT]",
            "intervals=[1m]",
            "mark_intervals=[]",
            "funding=false",
            "start=2025-06-01",
            "end=2025-06-21",
        )
        out = fetch(spec)
        pages = srv.count(r"^/fapi/v1/klines$")
    (res,) = out.results.values()
    assert res.rows == 21 * 1440 and not res.gaps
    assert pages == -(-21 * 1440 // 1500)  # 21 pages of at most 1500 bars, none wasted
    want = rows_1m(DATA_ROOT)
    inside = (want["open_time_ms"] >= parse_utc("2025-06-01", "s")) & (
        want["open_time_ms"] < parse_utc("2025-06-22", "s")
    )
    assert rows_1m(tmp_path).equals(want.filter(inside))


def rows_1m(root: Path) -> pl.DataFrame:
    return pl.read_csv(root / "binance/futures_um/klines_1m/BTCUSDT-1m.csv.gz")


def test_unknown_symbol_is_refused_before_any_data_request(tmp_path: Path, server: BinanceServer) -> None:
    spec = spec_for(tmp_path, server, "symbols=[BTCUSDT,BTCUSTD]")
    with pytest.raises(ConfigError, match=r"symbols: BTCUSTD is not a USDT-M perpetual .* did you mean BTCUSDT"):
        fetch(spec)
    assert not server.count(r"^/data/|/fapi/v1/(klines|markPriceKlines|fundingRate)$")


def test_second_update_fetches_nothing_and_a_later_one_only_the_new_bars(tmp_path: Path, server: BinanceServer) -> None:
    fetch(spec_for(tmp_path, server, "symbols=[BTCUSDT]", "start=2024-11-01"))
    stored = _payload_count(tmp_path)
    before = len(server.requests)
    out = fetch(spec_for(tmp_path, server, command="update"))
    assert [r.path for r in server.requests[before:]] == ["/fapi/v1/time"]  # the exchange's clock, nothing else
    assert _payload_count(tmp_path) == stored and sum(r.files for r in out.results.values()) == 0

    server.set_now("2025-01-20T10:15")
    before = len(server.requests)
    out = fetch(spec_for(tmp_path, server, command="update"))
    new = [r.path for r in server.requests[before:]]
    assert not [p for p in new if "/monthly/" in p]  # nothing fetched twice
    assert sum(".zip" in p and "/daily/klines/" in p and "CHECKSUM" not in p for p in new) == 5  # Jan 15..19
    got = rows(tmp_path, "klines", "BTCUSDT")
    assert got["open_time_utc"][-1] == "2025-01-20T09:00:00Z"
    want = rows(DATA_ROOT, "klines", "BTCUSDT", parse_utc("2024-11-01", "s"), parse_utc("2025-01-20T10:00", "s"))
    assert got.equals(want)  # no duplicates where the old REST tail and the new daily file overlap


def _payload_count(root: Path) -> int:
    with sqlite3.connect(root / "archive/index.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM payloads").fetchone()[0]


def test_weight_budget_keeps_the_client_under_the_limit(tmp_path: Path, market) -> None:
    with BinanceServer(market, now=NOW, weight_limit=24, weight_window_s=1.0) as srv:
        srv.add_fault(Fault("missing", r"^/data/"))  # everything from REST: kline pages cost 10 each
        spec = spec_for(
            tmp_path,
            srv,
            "symbols=[BTCUSDT]",
            "start=2023-01-01",
            "end=2023-06-30",
            "funding=false",
            "source.weight_limit=24",
            "source.weight_share=1.0",
            "source.weight_window_s=1.0",
            "source.workers=1",
        )
        from runner.data.download import fetch_store
        from runner.data.source.client import HttpClient
        from runner.report import make_console

        client = HttpClient(spec.client)  # real sleeps: the server's window is wall-clock time
        out = fetch_store(spec, make_console(stderr=True), http=client)
        assert not [r for r in srv.requests if r.status == 429]
        assert client.weights.waited_s > 0  # it paused for the window instead of being refused
        client.close()
    assert all(not r.gaps for r in out.results.values())
