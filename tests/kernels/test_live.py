"""``kernels.live.advance``: an account advanced bar by bar (or in uneven steps) from its stored state
is the backtest's account, trade for trade and bar for bar, with every rule at once on real data
(random leverage, isolated and cross margin, both fills, stops, trailing stops, take-profits, sizing
methods, breakers). Only the backtest's final ``end_of_data`` close differs: a live account stays
open."""

import numpy as np
import pytest

from kernels import enums as E
from kernels.book import empty_trades
from kernels.live import TRADES_PER_ASSET_BAR, advance, new_live_state
from kernels.simulate import simulate_records
from runner.config import validate
from runner.data.panel import build_panel
from runner.strategy.compile import compile_strategy
from tests.runner.strategy.test_compile import cfg_for
from tests.runner.test_pinned_grid import INITIAL, random_params, rows_program

COMBOS = 24


@pytest.fixture(scope="module")
def grid():
    spec = validate(
        cfg_for(
            "strategy.params.period=[7,14]",
            "strategy.params.lower=[20,30]",
            "strategy.params.upper=[70,80]",
            "data.start=2022-05-01",
            "data.end=2022-07-31",
            "+strategy.stop_loss.percent=3",
            "+strategy.take_profit.percent=6",
        )
    )
    panel = build_panel(spec.data)
    base = compile_strategy(spec, panel)
    idx = np.arange(COMBOS) % base.n_combos
    params = random_params(base.params[idx], np.random.default_rng(11))
    prog = rows_program(base, idx)
    return panel, base.market(panel), prog, params


def live_run(mkt, prog, params, c: int, n_bars: int, day0: int, steps: np.ndarray):
    """Combination ``c`` advanced over ``steps`` (bar edges), its state copied between calls as a
    store would; returns the trades (in order) and the equity after each bar."""
    n_assets = mkt.close.shape[1]
    state = [a.copy() for a in new_live_state(INITIAL, n_assets, day0)]
    prev = INITIAL
    trades, equity = [], []
    for t0, t1 in zip(steps[:-1], steps[1:], strict=True):
        ring = empty_trades(TRADES_PER_ASSET_BAR * n_assets * (t1 - t0))
        eq = np.zeros(t1 - t0)
        k0 = int(state[1][E.A_N_TRADES])
        prev = advance(c, mkt, prog, params, t0, t1, *state, prev, ring, eq)
        trades += [ring[k % len(ring)].copy() for k in range(k0, int(state[1][E.A_N_TRADES]))]
        equity += list(eq)
        state = [a.copy() for a in state]  # what a reload from the database gives
    assert prev == equity[-1]
    return np.array(trades, dtype=ring.dtype), np.array(equity)


@pytest.mark.parametrize("stepping", ["bar", "uneven"])
def test_an_advanced_account_is_the_backtest(grid, stepping: str):
    panel, mkt, prog, params = grid
    n = panel.n_bars
    rng = np.random.default_rng(3)
    checked = {"trades": 0, "liq": 0, "halts": 0, "cross": 0}
    for c in range(COMBOS):
        probe = simulate_records(c, 100_000, mkt, prog, params, INITIAL, panel.bars_per_year)[2]
        trades, equity, row = simulate_records(
            c, int(probe[E.M_N_TRADES]), mkt, prog, params, INITIAL, panel.bars_per_year
        )
        if stepping == "bar":
            steps = np.arange(n + 1)
        else:
            steps = np.unique(np.r_[0, np.sort(rng.choice(np.arange(1, n), 40, replace=False)), n])
        got, got_equity = live_run(mkt, prog, params, c, n, int(panel.days[0]), steps)
        closed = trades[trades["exit_reason"] != E.EXIT_END_OF_DATA]
        assert got.tobytes() == closed.tobytes(), c
        assert np.array_equal(got_equity[:-1], equity[:-1]), c  # the backtest closes out on the last bar
        checked["trades"] += len(closed)
        checked["liq"] += int(row[E.M_N_LIQUIDATIONS])
        checked["halts"] += int(row[E.M_N_HALTS])
        checked["cross"] += int(params[c, E.P_MARGIN_MODE] == 1)
    assert min(checked.values()) > 0, checked  # every rule was exercised
