"""Exchange rules from conf/exchange and the sizing/risk/margin groups on real data."""

import numpy as np
import pytest

from kernels import enums as E
from runner.backtest import records, run_grid
from runner.config import validate
from runner.data.panel import build_panel
from runner.errors import ConfigError
from runner.instruments import instruments
from runner.strategy.compile import compile_strategy
from tests.runner.strategy.test_compile import FAST, cfg_for


def test_brackets_are_padded_and_the_last_is_unbounded() -> None:
    spec = validate(cfg_for(*FAST, "data.symbols=[BTCUSDT,SOLUSDT]"))
    tiers, lots = spec.instruments.tiers, spec.instruments.lots
    assert tiers.shape == (2, 12, E.N_TIER)
    assert tiers[0, 1].tolist() == [800_000, 0.005, 300, 100]  # Binance BTCUSDT's second bracket
    assert np.isinf(tiers[0, -1, E.T_CAP]) and np.isinf(tiers[1, -1, E.T_CAP])
    np.testing.assert_array_equal(tiers[1, 9:], np.repeat(tiers[1, 9:10], 3, axis=0))  # SOL: 10 brackets, padded
    assert lots.tolist() == [[0.001, 0.001, 100.0], [1.0, 1.0, 5.0]]


def test_a_missing_symbol_names_the_exchange_key() -> None:
    with pytest.raises(ConfigError, match=r"data.symbols: ADAUSDT has no exchange rules .* known: BTCUSDT"):
        instruments({"symbols": {"BTCUSDT": {"brackets": [[1, 0.01, 10, 0]]}}}, ("ADAUSDT",))


def _run(*overrides: str):
    spec = validate(cfg_for(*FAST, *overrides))
    panel = build_panel(spec.data)
    c = compile_strategy(spec, panel)
    m = run_grid(panel, c, spec.initial_capital, progress=False)[0]
    return spec, panel, c, m


def test_real_trades_respect_lot_filters() -> None:
    spec, panel, c, m = _run("leverage=3")
    trades = records(panel, c, spec.initial_capital, 0, int(m[0, E.M_N_TRADES])).trades
    assert trades.height > 10
    steps = np.array([0.001, 0.001])[trades["asset"].to_numpy()]
    units = trades["qty"].to_numpy() / steps
    np.testing.assert_allclose(units, np.round(units), rtol=0, atol=1e-6)
    notional = trades["qty"].to_numpy() * trades["entry_price"].to_numpy()
    minimum = np.array([100.0, 20.0])[trades["asset"].to_numpy()]
    assert (notional >= minimum).all()


@pytest.mark.parametrize(
    "overrides",
    [
        ("margin=cross", "leverage=10"),
        ("sizing=fixed_notional", "sizing.notional=[1000,3000]"),
        ("sizing=risk_per_trade", "strategy=ema_cross"),
        ("sizing=volatility_target",),
        ("sizing=kelly", "sizing.min_trades=5"),
        ("risk=breakers", "leverage=5"),
        ("fees.slippage_impact=0.5",),
        ("sizing.max_exposure=0.5", "leverage=2"),
    ],
)
def test_every_rule_runs_on_real_data_and_reconciles(overrides: tuple[str, ...]) -> None:
    spec, panel, c, m = _run(*overrides)
    for i in range(c.n_combos):
        rec = records(panel, c, spec.initial_capital, i, int(m[i, E.M_N_TRADES]))
        t = rec.trades
        assert t.height > 0
        final = spec.initial_capital + t["gross_pnl"].sum() - t["fees"].sum() - t["funding"].sum()
        assert m[i, E.M_FINAL_EQUITY] == pytest.approx(final, rel=1e-9, abs=1e-6)
        assert np.isfinite(rec.equity["equity"].to_numpy()).all()


def test_breakers_halt_and_exposure_cap_limits_notional() -> None:
    _, _, _, halted = _run("risk=breakers", "leverage=5")
    assert halted[0, E.M_N_HALTS] >= 1
    spec, panel, c, m = _run("sizing.max_exposure=0.5", "leverage=2")
    rec = records(panel, c, spec.initial_capital, 0, int(m[0, E.M_N_TRADES]))
    t = rec.trades
    # a position's notional stays within half the equity at its entry (marked one bar earlier: 5 % slack)
    high_water = np.maximum.accumulate(rec.equity["equity"].to_numpy())
    at_entry = high_water[np.maximum(t["entry_bar"].to_numpy() - 1, 0)]
    assert (t["qty"].to_numpy() * t["entry_price"].to_numpy() <= 0.5 * at_entry * 1.05).all()
    assert t.height > 10
