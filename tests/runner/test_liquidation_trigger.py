"""Liquidation on the mark price against the last price, on the real 2021 data: the counts at 10x,
15x and 20x (ema_cross with a 20 % stop) and two differing trades checked against the raw files."""

from datetime import UTC, datetime

import polars as pl
import pytest
from hydra import compose, initialize_config_dir

from runner.backtest import records, run_grid
from runner.config import validate
from runner.data.panel import build_panel
from runner.preflight import CONF
from runner.strategy.compile import compile_strategy
from tests.conftest import DATA_ROOT

FUTURES = DATA_ROOT / "binance" / "futures_um"


def trades(trigger: str, leverage: int) -> pl.DataFrame:
    overrides = [
        "strategy=ema_cross",
        "strategy.stop_loss.percent=20",
        "data.start=2021-01-01",
        "data.end=2021-12-31",
        f"leverage.value={leverage}",
        f"execution.liquidation_trigger={trigger}",
    ]
    with initialize_config_dir(str(CONF), version_base="1.3"):
        spec = validate(compose("config", overrides=overrides))
    panel = build_panel(spec.data)
    assert panel.mark_coverage == (dict.fromkeys(panel.symbols, 1.0) if trigger == "mark" else {})
    compiled = compile_strategy(spec, panel)
    metrics = run_grid(panel, compiled, spec.initial_capital, progress=False)[0]
    return records(panel, compiled, spec.initial_capital, 0, int(metrics[0, 9])).trades


def candle(folder: str, symbol: str, when: str) -> dict:
    name = f"{symbol}-mark-1h.csv.gz" if folder == "mark_price_1h" else f"{symbol}-1h.csv.gz"
    frame = pl.read_csv(FUTURES / folder / name).filter(pl.col("open_time_utc") == when)
    return frame.row(0, named=True)


def exit_of(t: pl.DataFrame, symbol: str, entry: str) -> dict:
    at = datetime.fromisoformat(entry).replace(tzinfo=UTC)
    return t.filter((pl.col("symbol") == symbol) & (pl.col("entry_time") == at)).row(0, named=True)


@pytest.mark.parametrize(("leverage", "on_mark", "on_last"), [(10, 17, 17), (15, 54, 57), (20, 34, 32)])
def test_liquidations_counted_under_each_trigger(leverage: int, on_mark: int, on_last: int) -> None:
    liquidations = {k: (trades(k, leverage)["exit_reason"] == "liquidation").sum() for k in ("mark", "last")}
    assert liquidations == {"mark": on_mark, "last": on_last}


def test_two_differing_trades_checked_against_the_raw_files() -> None:
    # 20x: an LTC long entered 2021-01-25 01:00 at 145.79, liquidation price 139.4078. At 20:00 the
    # last price's low is 139.34 (through it) but the mark's low is 139.42 (above it); at 21:00 the mark
    # falls to 136.99. Last: liquidated at 20:00; mark: at 21:00, both at the liquidation price.
    mark, last = (
        exit_of(trades("mark", 20), "LTCUSDT", "2021-01-25T01:00"),
        exit_of(trades("last", 20), "LTCUSDT", "2021-01-25T01:00"),
    )
    liq = mark["exit_price"]
    assert liq == last["exit_price"] and liq == pytest.approx(139.4078, abs=1e-4)
    assert (mark["exit_reason"], last["exit_reason"]) == ("liquidation", "liquidation")
    assert last["exit_time"].isoformat() == "2021-01-25T20:00:00+00:00"
    assert mark["exit_time"].isoformat() == "2021-01-25T21:00:00+00:00"
    assert candle("klines_1h", "LTCUSDT", "2021-01-25T20:00:00Z")["low"] == 139.34 < liq
    assert candle("mark_price_1h", "LTCUSDT", "2021-01-25T20:00:00Z")["low"] == 139.42 > liq
    assert candle("mark_price_1h", "LTCUSDT", "2021-01-25T21:00:00Z")["low"] == 136.99 < liq
    # 15x: a BTC short entered 2021-05-31 02:00, liquidation price 37008.88. At 10:00 the last price's
    # high passes it, the mark's does not: liquidated on the last price only; on the mark the short is
    # held to a later exit.
    mark, last = (
        exit_of(trades("mark", 15), "BTCUSDT", "2021-05-31T02:00"),
        exit_of(trades("last", 15), "BTCUSDT", "2021-05-31T02:00"),
    )
    liq = last["exit_price"]
    assert last["exit_reason"] == "liquidation" and last["exit_time"].isoformat() == "2021-05-31T10:00:00+00:00"
    assert liq == pytest.approx(37008.88, abs=0.01)
    assert candle("klines_1h", "BTCUSDT", "2021-05-31T10:00:00Z")["high"] >= liq
    assert candle("mark_price_1h", "BTCUSDT", "2021-05-31T10:00:00Z")["high"] < liq
    assert mark["exit_reason"] != "liquidation" and mark["exit_time"] > last["exit_time"]
