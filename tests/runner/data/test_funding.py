"""Funding as it really settled: a symbol whose funding moves from 8h to 4h to 1h is stored with every
settlement, reported with its intervals, and charged by the kernel at each one."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from kernels import enums as E
from runner.backtest import records, run_grid
from runner.config import validate
from runner.data.inventory import describe_intervals, status
from runner.data.panel import DataSpec, build_panel
from runner.data.timeframes import parse_utc
from runner.strategy.compile import compile_strategy
from runner.strategy.dsl import TimeFilters
from runner.strategy.timefilter import entry_mask
from tests.runner.data.binance_server import BinanceServer, with_funding_schedule
from tests.runner.data.conftest import fetch, spec_for
from tests.runner.strategy.test_compile import cfg_for, strategy

H = 3_600_000
SCHEDULE = [("2023-01-01", 8, 0.0001), ("2023-02-01", 4, -0.0002), ("2023-02-15", 1, 0.00005)]
# settlements in [2023-01-01, 2023-03-01): 31 days x 3, 14 days x 6, 14 days x 24
PER_REGIME = {0.0001: 93, -0.0002: 84, 0.00005: 336}


def _store(tmp_path: Path, market) -> Path:
    varied = with_funding_schedule(market, "LTCUSDT", SCHEDULE, end="2023-03-01")
    with BinanceServer(varied, now="2023-03-10T00:00") as srv:
        fetch(spec_for(tmp_path, srv, "symbols=[LTCUSDT]", "start=2023-01-01", "end=2023-02-28"))
    return tmp_path


def test_every_settlement_is_stored_and_charged_at_its_own_time(tmp_path: Path, market) -> None:
    root = _store(tmp_path, market)
    stored = pl.read_csv(root / "binance/futures_um/funding/LTCUSDT-funding.csv.gz")
    assert stored.height == sum(PER_REGIME.values())
    assert stored.group_by("funding_rate").len().sort("funding_rate").rows() == sorted(PER_REGIME.items())
    gaps = np.diff(stored["funding_time_ms"].to_numpy()) // H
    assert sorted(set(gaps.tolist())) == [1, 4, 8]

    reports, _ = status(root)
    (funding,) = [r for r in reports if r.series == "funding"]
    assert funding.gaps == 0
    assert describe_intervals(funding.intervals) == "8h, 4h from 2023-02-01, 1h from 2023-02-15"

    spec = DataSpec(
        root=root,
        market="futures_um",
        symbols=("LTCUSDT",),
        source_interval="1h",
        timeframe="1h",
        start_ms=parse_utc("2023-01-01", "s"),
        end_ms=parse_utc("2023-03-01", "s"),
        mark_price=False,
    )
    panel = build_panel(spec)
    assert panel.funding_coverage == {"LTCUSDT": 1.0} and not panel.warnings
    charged = panel.funding[:, 0] != 0
    assert charged.sum() == sum(PER_REGIME.values()) - 1  # no position is held into the first bar's open
    # the funding blackout reads these settlements: 8h, then 4h, then every hour blocked
    stamps = stored["funding_time_ms"].to_numpy()
    np.testing.assert_array_equal(panel.settlements[0], stamps[stamps > panel.times[0]])
    blocked = ~entry_mask(panel.times, H, TimeFilters(funding_blackout_minutes=61), panel.settlements)[:, 0]
    day = (panel.times - panel.times[0]) // (24 * H)
    per_day = np.bincount(day, weights=blocked)
    assert per_day[1:31].tolist() == [9.0] * 30  # 3 settlements x (the hour before, at, after)
    assert per_day[32:45].tolist() == [18.0] * 13 and per_day[46:].tolist() == [24.0] * 13

    # hold one long from the first bar to the last, without fees: funding is all that is paid besides PnL
    cfg = cfg_for(
        "data.symbols=[LTCUSDT]",
        f"data.root={root}",
        "fees=zero",
        "sizing=fixed_notional",
        strategy=strategy(["close > 0"]),
    )
    compiled = compile_strategy(validate(cfg), panel)
    metrics = run_grid(panel, compiled, 10_000.0, progress=False)[0]
    trades = records(panel, compiled, 10_000.0, 0, int(metrics[0, E.M_N_TRADES])).trades
    (trade,) = trades.iter_rows(named=True)
    held = (panel.times > panel.times[trade["entry_bar"]]) & (panel.times <= panel.times[trade["exit_bar"]])
    events = stored.filter(pl.col("funding_time_ms").is_in(pl.Series(panel.times[held]).implode()))
    counts = dict(events.group_by("funding_rate").len().rows())
    # entered at bar 1 (after the 00:00 settlement); the last bar (Feb 28 23:00) opens with one it still holds
    assert counts == {0.0001: 93 - 1, -0.0002: 84, 0.00005: 336}
    bar = ((events["funding_time_ms"].to_numpy() - panel.times[0]) // H).astype(int)
    expected = float(np.sum(trade["qty"] * panel.open[bar, 0] * events["funding_rate"].to_numpy()))
    assert metrics[0, E.M_FUNDING_PAID] == pytest.approx(expected, rel=1e-12)
    assert trade["funding"] == metrics[0, E.M_FUNDING_PAID]
