"""Panel alignment, listing, funding attachment and coverage, gaps, resampling, data root."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from runner.data.panel import DataSpec, build_panel
from runner.data.paths import resolve_data_root
from runner.data.readers import read_klines
from runner.data.resample import resample_ohlcv
from runner.errors import ConfigError, DataError
from tests.conftest import DATA_ROOT, KLINE_HEADER, kline_rows, write_gz

H = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def spec(**kw) -> DataSpec:
    base = dict(
        root=DATA_ROOT,
        market="futures_um",
        symbols=("BTCUSDT", "ETHUSDT", "XRPUSDT", "LTCUSDT"),
        source_interval="1h",
        timeframe="1h",
        start_ms=ms("2020-01-01"),
        end_ms=ms("2026-01-01"),
    )
    return DataSpec(**{**base, **kw})


@pytest.fixture(scope="module")
def default_panel():
    return build_panel(spec())


def test_default_window_rows_and_edges(default_panel) -> None:
    p = default_panel
    assert p.n_bars == 52608  # data README: rows in 2020-01-01..2025-12-31
    btc = p.frame("BTCUSDT")
    assert btc["time"][0] == datetime(2020, 1, 1, tzinfo=UTC)
    assert btc["time"][-1] == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert (btc["open"][0], btc["high"][0], btc["low"][0], btc["close"][0]) == (7189.43, 7190.52, 7170.15, 7171.55)
    assert btc["volume"][0] == 2449.049
    assert p.frame("ETHUSDT")["open"][0] == 129.12
    assert btc.filter(pl.col("time") == datetime(2020, 12, 31, 23, tzinfo=UTC))["close"][0] == 28951.68
    assert p.open.flags.c_contiguous and p.open.shape == (52608, 4)


def test_bars_before_listing_are_not_tradable(default_panel) -> None:
    xrp = default_panel.frame("XRPUSDT")
    first = xrp.filter(pl.col("tradable"))["time"][0]
    assert first == datetime(2020, 1, 6, 8, tzinfo=UTC)  # futures listing
    before = xrp.filter(pl.col("time") < first)
    assert before["close"].is_nan().all() and not before["tradable"].any()
    assert default_panel.tradable[:, 0].all()  # BTC listed throughout


def test_funding_attached_to_settlement_bars(default_panel) -> None:
    btc = default_panel.frame("BTCUSDT")
    charged = btc.filter(pl.col("funding") != 0)
    hours = charged["time"].dt.hour().unique().sort().to_list()
    assert hours == [0, 8, 16]
    # the first window bar (00:00) charges nothing: no position can be held into it
    assert btc["funding"][0] == 0.0
    cap = btc.filter(pl.col("time") == datetime(2020, 2, 12, tzinfo=UTC))["funding"][0]
    floor = btc.filter(pl.col("time") == datetime(2020, 3, 13, 8, tzinfo=UTC))["funding"][0]
    assert (cap, floor) == (0.003, -0.003)  # data README
    raw = pl.read_csv(DATA_ROOT / "binance/futures_um/funding/BTCUSDT-funding.csv.gz")
    expected = raw.filter(
        (pl.col("funding_time_ms") > ms("2020-01-01")) & (pl.col("funding_time_ms") < ms("2026-01-01"))
    )
    assert charged.height == expected.height
    np.testing.assert_array_equal(charged["funding"].to_numpy(), expected["funding_rate"].to_numpy())
    assert default_panel.funding_coverage == {s: 1.0 for s in default_panel.symbols}
    assert default_panel.warnings == []


def test_partial_funding_coverage_is_reported_not_hidden() -> None:
    p = build_panel(spec(symbols=("SOLUSDT",)))
    cov = p.funding_coverage["SOLUSDT"]
    assert 0.3 < cov < 0.45  # funding only from 2024-01-01
    assert any("SOLUSDT: funding history covers" in w and "2020-10-23" in w for w in p.warnings)
    with pytest.raises(DataError, match="funding_missing=warn"):
        build_panel(spec(symbols=("SOLUSDT",), funding_missing="error"))


def test_daily_bars_charge_intraday_settlements_at_next_open() -> None:
    p = build_panel(spec(symbols=("BTCUSDT",), timeframe="1d", start_ms=ms("2020-01-01"), end_ms=ms("2020-01-05")))
    raw = pl.read_csv(DATA_ROOT / "binance/futures_um/funding/BTCUSDT-funding.csv.gz")
    day = raw.filter((pl.col("funding_time_ms") > ms("2020-01-01")) & (pl.col("funding_time_ms") <= ms("2020-01-02")))
    assert day.height == 3
    assert p.funding[1, 0] == pytest.approx(day["funding_rate"].sum(), abs=1e-15)


def test_spot_gaps_detected_and_marked(tmp_path) -> None:
    s = spec(market="spot", symbols=("BTCUSDT",), start_ms=ms("2020-01-01"), end_ms=ms("2026-01-01"), funding=False)
    p = build_panel(s)
    assert p.gaps["BTCUSDT"].missing_bars == 32  # data README: 32 missing inside 2020-2025
    assert p.gaps["BTCUSDT"].first[0] == "2020-02-09T02:00Z"
    assert len(p.warnings) == 1 and "32 missing bars" in p.warnings[0]
    frame = p.frame("BTCUSDT")
    gap = frame.filter(pl.col("time") == datetime(2020, 2, 9, 2, tzinfo=UTC))
    prev = frame.filter(pl.col("time") == datetime(2020, 2, 9, 1, tzinfo=UTC))
    assert not gap["tradable"][0] and gap["volume"][0] == 0.0
    assert gap["open"][0] == gap["close"][0] == prev["close"][0]  # carried, never NaN
    with pytest.raises(DataError, match="32 missing bars"):
        build_panel(DataSpec(**{**s.__dict__, "gap_policy": "error"}))
    assert build_panel(DataSpec(**{**s.__dict__, "gap_policy": "ignore"})).warnings == []


def test_resample_1m_to_1h_reproduces_the_1h_file() -> None:
    one_min, _ = read_klines(DATA_ROOT / "binance/futures_um/klines_1m/BTCUSDT-1m.csv.gz", 60_000)
    hourly = resample_ohlcv(one_min, H).filter(pl.col("n_source") == 60)
    ref, _ = read_klines(DATA_ROOT / "binance/futures_um/klines_1h/BTCUSDT-1h.csv.gz", H)
    joined = hourly.join(ref, on="time", suffix="_ref")
    assert joined.height == 719  # data README: 719 full hours
    for c in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(joined[c].to_numpy(), joined[f"{c}_ref"].to_numpy())
    np.testing.assert_allclose(joined["volume"].to_numpy(), joined["volume_ref"].to_numpy(), rtol=1e-6)


def test_resample_ohlcv_rules() -> None:
    frame = pl.DataFrame(
        {
            "time": [0, H, 2 * H, 3 * H, 4 * H],
            "open": [1.0, 2.0, 3.0, 4.0, 5.0],
            "high": [2.0, 9.0, 4.0, 5.0, 6.0],
            "low": [0.5, 1.5, 0.1, 3.5, 4.5],
            "close": [2.0, 3.0, 4.0, 5.0, 6.0],
            "volume": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    out = resample_ohlcv(frame, 4 * H)
    assert out.to_dicts()[0] == {
        "time": 0,
        "open": 1.0,
        "high": 9.0,
        "low": 0.1,
        "close": 5.0,
        "volume": 10.0,
        "n_source": 4,
    }
    assert out["n_source"].to_list() == [4, 1]


def test_resampled_panel_from_1m_slice() -> None:
    p = build_panel(
        spec(
            symbols=("BTCUSDT",),
            source_interval="1m",
            timeframe="15m",
            start_ms=ms("2025-05-26"),
            end_ms=ms("2025-06-23"),
        )
    )
    assert p.n_bars == 28 * 96 and p.bars_per_year == 365 * 96
    assert p.tradable.all()


def test_unknown_symbol_and_bad_timeframe() -> None:
    with pytest.raises(ConfigError, match="unknown symbol 'DOGEUSDT'; available in .*: BTCUSDT, ETHUSDT, LTCUSDT"):
        build_panel(spec(symbols=("DOGEUSDT",)))
    with pytest.raises(ConfigError, match="whole multiple"):
        build_panel(spec(source_interval="4h", timeframe="1h"))


def test_corrupt_file_in_panel_names_the_file(tmp_path: Path) -> None:
    root = tmp_path / "d"
    write_gz(
        root / "binance/futures_um/klines_1h/BTCUSDT-1h.csv.gz",
        KLINE_HEADER,
        [r.replace(",10.0", ",x") for r in kline_rows(ms("2020-01-01"), [1.0, 2.0])],
    )
    with pytest.raises(DataError, match=r"BTCUSDT-1h.csv.gz: line 2: column 'volume'"):
        build_panel(spec(root=root, symbols=("BTCUSDT",)))


def test_data_root_resolution(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "env" / "binance").mkdir(parents=True)
    (tmp_path / "cfg" / "binance").mkdir(parents=True)
    monkeypatch.setenv("PERPLAB_DATA", str(tmp_path / "env"))
    assert resolve_data_root(str(tmp_path / "cfg")) == tmp_path / "cfg"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("PERPLAB_DATA")
    assert resolve_data_root(None) == DATA_ROOT
    with pytest.raises(ConfigError, match=r"looked in .*nowhere \(data.root\)"):
        resolve_data_root(str(tmp_path / "nowhere"))


def _mark_rows(start_ms: int, opens: list[float]) -> list[str]:
    rows = []
    for i, o in enumerate(opens):
        t = start_ms + i * H
        iso = datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(f"{iso},{t},{o},{o * 1.01},{o * 0.99},{o}")
    return rows


MARK_HEADER = "open_time_utc,open_time_ms,open,high,low,close"


def test_funding_settles_at_the_mark_price_on_real_data() -> None:
    window = dict(symbols=("BTCUSDT", "ETHUSDT"), start_ms=ms("2024-01-01"), end_ms=ms("2024-02-01"))
    p = build_panel(spec(**window, mark_price=True))
    plain = build_panel(spec(**window))
    charged = p.funding != 0
    assert charged.sum() == 2 * (31 * 3 - 1) and p.warnings == []
    np.testing.assert_array_equal(p.settle[~charged], p.open[~charged])  # only settlements change
    np.testing.assert_array_equal(plain.settle, plain.open)
    for a, s in enumerate(p.symbols):
        mark = pl.read_csv(DATA_ROOT / f"binance/futures_um/mark_price_1h/{s}-mark-1h.csv.gz")
        at = dict(zip(mark["open_time_ms"].to_list(), mark["open"].to_list(), strict=True))
        rows = np.nonzero(charged[:, a])[0]
        np.testing.assert_array_equal(p.settle[rows, a], [at[int(t)] for t in p.times[rows]])
        assert not np.array_equal(p.settle[rows, a], p.open[rows, a])  # mark and last price differ
    assert any("mark_price_1h/BTCUSDT-mark-1h.csv.gz" in k for k in p.sources)
    assert p.fingerprint != plain.fingerprint


def test_mark_price_missing_file_or_hours_fall_back_to_the_open(tmp_path: Path) -> None:
    root = tmp_path / "d"
    t0 = ms("2020-01-01")
    write_gz(root / "binance/futures_um/klines_1h/BTCUSDT-1h.csv.gz", KLINE_HEADER, kline_rows(t0, [100.0] * 30))
    funding = [
        f"{datetime.fromtimestamp((t0 + h * H) / 1000, tz=UTC):%Y-%m-%dT%H:%M:%SZ},{t0 + h * H},0.0001"
        for h in (8, 16, 24)
    ]
    write_gz(
        root / "binance/futures_um/funding/BTCUSDT-funding.csv.gz",
        "funding_time_utc,funding_time_ms,funding_rate",
        funding,
    )
    s = spec(root=root, symbols=("BTCUSDT",), start_ms=t0, end_ms=t0 + 30 * H, mark_price=True)
    p = build_panel(s)
    assert p.warnings == ["BTCUSDT: no mark-price file (BTCUSDT-mark-1h.csv.gz); funding settles at the bar open"]
    np.testing.assert_array_equal(p.settle, p.open)
    marks = [m for i, m in enumerate(_mark_rows(t0, [200.0 + i for i in range(30)])) if i != 16]  # no 16:00 mark
    write_gz(root / "binance/futures_um/mark_price_1h/BTCUSDT-mark-1h.csv.gz", MARK_HEADER, marks)
    p = build_panel(s)
    assert p.settle[[8, 16, 24], 0].tolist() == [208.0, 100.0, 224.0]
    assert p.warnings == [
        "BTCUSDT: 1 funding settlements have no mark price (first 2020-01-01T16:00Z); they settle at the bar open"
    ]
    bad = _mark_rows(t0, [200.0, -1.0])
    write_gz(root / "binance/futures_um/mark_price_1h/BTCUSDT-mark-1h.csv.gz", MARK_HEADER, bad)
    with pytest.raises(DataError, match=r"BTCUSDT-mark-1h.csv.gz: line 3: 'open' must be a positive number"):
        build_panel(s)


def test_liquidation_triggers_on_the_mark_price_bars_on_real_data() -> None:
    """4h bars from the real 1h mark-price klines: open of the first, highest high, lowest low."""
    window = dict(symbols=("BTCUSDT", "ETHUSDT"), start_ms=ms("2021-05-01"), end_ms=ms("2021-06-01"))
    p = build_panel(spec(**window, timeframe="4h", liquidation_trigger="mark"))
    last = build_panel(spec(**window, timeframe="4h"))
    assert p.mark_coverage == {"BTCUSDT": 1.0, "ETHUSDT": 1.0} and p.warnings == []
    assert p.stop_open is p.open and p.stop_low is p.low  # stops stay on the last price
    assert last.liq_low is last.low and last.mark_coverage == {}
    for a, s in enumerate(p.symbols):
        mark = pl.read_csv(DATA_ROOT / f"binance/futures_um/mark_price_1h/{s}-mark-1h.csv.gz").filter(
            pl.col("open_time_ms").is_between(window["start_ms"], window["end_ms"] - 1)
        )
        bars = mark.group_by((pl.col("open_time_ms") // (4 * H)) * (4 * H), maintain_order=True).agg(
            pl.col("open").first(), pl.col("high").max(), pl.col("low").min()
        )
        np.testing.assert_array_equal(bars["open_time_ms"], p.times)
        np.testing.assert_array_equal(p.liq_open[:, a], bars["open"])
        np.testing.assert_array_equal(p.liq_high[:, a], bars["high"])
        np.testing.assert_array_equal(p.liq_low[:, a], bars["low"])
        assert (p.liq_low[:, a] != p.low[:, a]).mean() > 0.9  # the mark's wicks are not the last price's
    assert any("mark_price_1h/ETHUSDT-mark-1h.csv.gz" in k for k in p.sources)
    assert p.fingerprint != last.fingerprint


def test_mark_triggers_fall_back_to_the_last_price_where_the_mark_has_no_bar(tmp_path: Path) -> None:
    root = tmp_path / "d"
    t0 = ms("2020-01-01")
    write_gz(root / "binance/futures_um/klines_1h/BTCUSDT-1h.csv.gz", KLINE_HEADER, kline_rows(t0, [100.0] * 24))
    s = spec(root=root, symbols=("BTCUSDT",), start_ms=t0, end_ms=t0 + 24 * H, funding=False)
    s2 = DataSpec(**{**s.__dict__, "timeframe": "2h", "liquidation_trigger": "mark", "stop_trigger": "mark"})
    p = build_panel(s2)
    assert p.mark_coverage == {"BTCUSDT": 0.0}
    assert p.warnings == [
        "BTCUSDT: the mark price covers 0.0% of its bars (first uncovered 2020-01-01T00:00Z; no "
        "BTCUSDT-mark-1h.csv.gz); liquidation and stops use the last price there"
    ]
    np.testing.assert_array_equal(p.liq_low, p.low)
    marks = [m for i, m in enumerate(_mark_rows(t0, [200.0 + i for i in range(24)])) if i != 5]  # no 05:00 mark
    write_gz(root / "binance/futures_um/mark_price_1h/BTCUSDT-mark-1h.csv.gz", MARK_HEADER, marks)
    p = build_panel(s2)
    assert p.mark_coverage == {"BTCUSDT": 11 / 12}
    assert p.warnings == [
        "BTCUSDT: the mark price covers 91.7% of its bars (first uncovered 2020-01-01T04:00Z); "
        "liquidation and stops use the last price there"
    ]
    want_open = [200.0 + 2 * i for i in range(12)]
    want_open[2] = 100.0  # the 04:00 bar lacks its 05:00 mark hour: the last price's bar
    assert p.liq_open[:, 0].tolist() == want_open and p.stop_open[:, 0].tolist() == want_open
    assert p.liq_high[0, 0] == 201.0 * 1.01 and p.liq_low[0, 0] == 200.0 * 0.99
    assert p.liq_high[2, 0] == p.high[2, 0] and p.liq_low[2, 0] == p.low[2, 0]
    hourly = DataSpec(**{**s2.__dict__, "timeframe": "1h"})
    assert build_panel(hourly).mark_coverage == {"BTCUSDT": 23 / 24}
    write_gz(
        root / "binance/futures_um/klines_1m/BTCUSDT-1m.csv.gz", KLINE_HEADER, kline_rows(t0, [100.0] * 60, 60_000)
    )
    quarter = DataSpec(**{**s2.__dict__, "source_interval": "1m", "timeframe": "15m", "end_ms": t0 + H})
    p = build_panel(quarter)
    assert p.mark_coverage == {"BTCUSDT": 0.0} and "no mark-price klines as fine as a 15m bar, only 1h" in p.warnings[0]
    # the data pipeline's 1m mark klines (mark_intervals=[1m]) cover 15m bars: the coarsest that fits
    minutes = [
        f"{datetime.fromtimestamp((t0 + i * 60_000) / 1000, tz=UTC):%Y-%m-%dT%H:%M:%SZ},{t0 + i * 60_000},"
        f"{300.0 + i},{301.0 + i},{299.0 - i},{300.0 + i}"
        for i in range(60)
    ]
    write_gz(root / "binance/futures_um/mark_price_1m/BTCUSDT-mark-1m.csv.gz", MARK_HEADER, minutes)
    p = build_panel(quarter)
    assert p.mark_coverage == {"BTCUSDT": 1.0} and p.warnings == []
    assert p.liq_open[:, 0].tolist() == [300.0, 315.0, 330.0, 345.0]
    assert p.liq_high[:, 0].tolist() == [315.0, 330.0, 345.0, 360.0]  # the 15th minute's high
    assert p.liq_low[:, 0].tolist() == [285.0, 270.0, 255.0, 240.0]
    assert any("mark_price_1m/BTCUSDT-mark-1m.csv.gz" in k for k in p.sources)
    assert build_panel(hourly).sources.keys() >= {"binance/futures_um/mark_price_1h/BTCUSDT-mark-1h.csv.gz"}
