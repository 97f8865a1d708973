"""Monte Carlo risk of a combination (runner.montecarlo): inputs by hand, the historical figures
from hand-computed daily returns, seeds, and what a run logs and draws."""

import numpy as np
import polars as pl
import pytest

from kernels.montecarlo import value_at_risk
from runner.montecarlo import bar_returns, day_ends, risk, trade_returns
from runner.spec import MonteCarloSpec

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00Z


def test_inputs_by_hand() -> None:
    equity = np.array([110.0, 99.0, 0.0, 0.0])
    np.testing.assert_allclose(bar_returns(equity, 100.0), [0.1, -0.1, -1.0, 0.0])  # nothing left to lose
    times = T0 + 12 * H * np.arange(4)  # two bars a day
    np.testing.assert_array_equal(day_ends(equity, times, 100.0), [100.0, 99.0, 0.0])
    trades = pl.DataFrame({"exit_bar": [5, 2, 9], "net_pnl": [-50.0, 100.0, 25.0]})  # closes: 2, 5, 9
    f = trade_returns(trades, 1000.0)
    np.testing.assert_allclose(f, [100 / 1000, -50 / 1100, 25 / 1050])
    assert 1000.0 * np.prod(1 + f) == pytest.approx(1075.0)  # the realised equity rebuilt


def _curve(days: int = 400) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    rng = np.random.default_rng(5)
    equity = 10_000 * np.cumprod(1 + rng.normal(0.0002, 0.006, 24 * days))
    times = T0 + H * np.arange(24 * days)
    trades = pl.DataFrame({"exit_bar": np.arange(0, 24 * days, 40), "net_pnl": rng.normal(3.0, 60.0, 24 * days // 40)})
    return equity, times, trades


def test_historical_figures_are_the_daily_returns_tails_and_seeds_repeat() -> None:
    equity, times, trades = _curve()
    spec = MonteCarloSpec(paths=600, seed=3)
    got = risk(equity, times, H, trades, 10_000.0, 8760.0, spec)
    closes = np.concatenate(([10_000.0], equity[23::24]))  # the last close of each day
    daily = closes[1:] / closes[:-1] - 1
    assert (got.metrics["var_95"], got.metrics["cvar_95"]) == value_at_risk(daily, 0.95)
    ten = closes[10:] / closes[:-10] - 1
    assert (got.metrics["var_99_10d"], got.metrics["cvar_99_10d"]) == value_at_risk(ten, 0.99)
    assert got.metrics["var_95_10d"] > got.metrics["var_95"] > 0  # ten days risk more than one
    assert got.metrics["cvar_99_boot"] >= got.metrics["var_99_boot"] > 0
    m = got.metrics
    assert m["sharpe_ci_low"] < m["sharpe_ci_high"] and m["mdd_ci_low"] < m["mdd_ci_high"]
    assert m["mdd_p50"] <= m["mdd_p95"] and got.mdd_reshuffled.size == got.mdd_bootstrap.size == 600
    again = risk(equity, times, H, trades, 10_000.0, 8760.0, spec)
    assert again.metrics == got.metrics
    other = risk(equity, times, H, trades, 10_000.0, 8760.0, MonteCarloSpec(paths=600, seed=4))
    assert other.metrics["var_95_boot"] != got.metrics["var_95_boot"]
    assert other.metrics["var_95"] == got.metrics["var_95"]  # historical: no randomness


def test_no_trades_and_a_short_window_give_undefined_not_invented_figures() -> None:
    equity, times, _ = _curve(days=5)
    got = risk(equity, times, H, pl.DataFrame({"exit_bar": [], "net_pnl": []}), 10_000.0, 8760.0, MonteCarloSpec(200))
    assert np.isnan(got.metrics["mdd_p95"]) and np.isnan(got.metrics["var_95_10d"])
    assert np.isfinite(got.metrics["var_95"]) and np.isfinite(got.metrics["var_95_10d_boot"])
