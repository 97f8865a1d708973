"""Parity with vectorbt's ``Portfolio.from_signals`` where both model the same thing: leverage 1,
long only, no funding, no stops, all-in sizing, fills at the next bar's open (vectorbt gets the
signals shifted one bar and ``price=open``), taker fee and fixed slippage, on real hourly bars."""

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from kernels import enums as E
from kernels.program import Market, default_params, flat_tiers, group_program, no_lots
from kernels.simulate import simulate_grid, simulate_records
from runner.config import validate
from runner.data.panel import build_panel
from tests.runner.strategy.test_compile import cfg_for

FEE, SLIP = 0.0004, 0.0001


def _signals(rng: np.random.Generator, n: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Random entries and exits on distinct bars, none on the last bar, an exit on the one before."""
    entries = rng.random(n) < p
    exits = (rng.random(n) < p) & ~entries
    entries[-2:] = False
    exits[-1] = False
    exits[-2] = True
    return entries, exits


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT", "XRPUSDT", "LTCUSDT"])
@pytest.mark.parametrize("seed, p", [(1, 0.02), (2, 0.1)])
def test_final_equity_and_trades_match_vectorbt(symbol: str, seed: int, p: float) -> None:
    spec = validate(cfg_for("data.start=2022-01-01", "data.end=2023-12-31", f"data.symbols=[{symbol}]"))
    panel = build_panel(spec.data)
    n = panel.n_bars
    entries, exits = _signals(np.random.default_rng(seed), n, p)
    groups = np.zeros((E.N_GROUPS, n, 1))
    groups[E.G_LONG_ENTRY, :, 0] = entries
    groups[E.G_LONG_EXIT, :, 0] = exits
    params = default_params(1)
    params[0, E.P_DIRECTION] = E.DIR_LONG
    params[0, E.P_TAKER_FEE] = FEE
    params[0, E.P_SLIPPAGE] = SLIP
    no_funding = np.zeros_like(panel.funding)
    mkt = Market(
        open=panel.open, high=panel.high, low=panel.low, close=panel.close, volume=panel.volume,
        tradable=panel.tradable, funding=no_funding, settle=panel.settle, day=panel.days,
        liq_open=panel.open, liq_high=panel.high, liq_low=panel.low, stop_open=panel.open,
        stop_high=panel.high, stop_low=panel.low, tiers=flat_tiers(1),
        lots=no_lots(1), rules_row=np.zeros(n, np.int64),
    )  # fmt: skip
    prog = group_program(groups)
    metrics, _ = simulate_grid(mkt, prog, params, 0, 1, 10_000.0, panel.bars_per_year, np.zeros(0, np.int64), 0)
    trades, _, _ = simulate_records(0, int(metrics[0, E.M_N_TRADES]), mkt, prog, params, 10_000.0, 8760.0)

    index = pd.RangeIndex(n)
    pf = vbt.Portfolio.from_signals(
        close=pd.Series(panel.close[:, 0], index=index),
        entries=pd.Series(np.roll(entries, 1) & (index > 0), index=index),  # decided at t, filled at t + 1
        exits=pd.Series(np.roll(exits, 1) & (index > 0), index=index),
        price=pd.Series(panel.open[:, 0], index=index),
        init_cash=10_000.0,
        fees=FEE,
        slippage=SLIP,
        freq="1h",
    )
    ref = pf.trades.records
    assert len(trades) == len(ref) > 5
    np.testing.assert_allclose(metrics[0, E.M_FINAL_EQUITY], pf.final_value(), rtol=1e-9)
    np.testing.assert_array_equal(trades["entry_bar"], ref["entry_idx"])
    np.testing.assert_array_equal(trades["exit_bar"], ref["exit_idx"])
    np.testing.assert_allclose(trades["entry_price"], ref["entry_price"], rtol=1e-9)
    np.testing.assert_allclose(trades["exit_price"], ref["exit_price"], rtol=1e-9)
    np.testing.assert_allclose(trades["qty"], ref["size"], rtol=1e-9)
    np.testing.assert_allclose(trades["fees"], ref["entry_fees"] + ref["exit_fees"], rtol=1e-9)
    np.testing.assert_allclose(trades["net_pnl"], ref["pnl"], rtol=1e-9, atol=1e-9)
