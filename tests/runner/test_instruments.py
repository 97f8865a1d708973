"""Exchange rules from conf/exchange and the sizing/risk/margin groups on real data."""

from datetime import UTC, datetime

import numpy as np
import polars as pl
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


HISTORY = [
    {"since": "2024-03-01", "brackets": [[5000, 0.02, 20, 0], [1e9, 0.05, 5, 150]]},
    {"since": "2024-05-01", "min_notional": 5},
]
BASE = {"brackets": [[1e9, 0.004, 125, 0]], "qty_step": 0.001, "min_qty": 0.001, "min_notional": 100}


def test_point_in_time_rules_from_their_dates() -> None:
    rules = instruments(
        {"lot_source": "config", "symbols": {"BTCUSDT": {**BASE, "history": HISTORY}, "ETHUSDT": BASE}},
        ("BTCUSDT", "ETHUSDT"),
    )
    assert rules.era_starts == (1_709_251_200_000, 1_714_521_600_000)  # 2024-03-01, 2024-05-01
    assert rules.era_tiers.shape == (3 * 2, 2, E.N_TIER) and rules.era_lots.shape == (6, E.N_LOT)
    np.testing.assert_array_equal(rules.era_tiers[:2, :1], rules.tiers)  # era 0: today's table (padded)
    assert rules.era_tiers[2, 0, E.T_MMR] == 0.02 and rules.era_tiers[4, 0, E.T_MMR] == 0.02  # kept in era 2
    assert rules.era_tiers[3, 0, E.T_MMR] == rules.era_tiers[5, 0, E.T_MMR] == 0.004  # ETHUSDT unchanged
    assert rules.era_lots[:, 2].tolist() == [100, 100, 100, 100, 5, 100]
    assert rules.sources["BTCUSDT"].endswith("2 changes from 2024-03-01 (before: today's rules)")
    assert rules.resolved["BTCUSDT"]["history"] == HISTORY


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([{"brackets": [[1e9, 0.01, 10, 0]]}], r"history\[0\]: must be a mapping with since"),
        ([{"since": "2024-13-01"}], r"history\[0\].since='2024-13-01': not a date"),
        ([{"since": "2024-03-01"}, {"since": "2024-02-01"}], r"history\[1\].since=2024-02-01: must be after"),
        ([{"since": "2024-03-01", "max_leverage": 5}], r"history\[0\].max_leverage: unknown key; valid: since"),
        ([{"since": "2024-03-01", "brackets": [[1e9, 2.0, 10, 0]]}], r"history\[0\].brackets\[0\]=.*mmr must lie"),
    ],
)
def test_a_bad_history_names_its_key(history: list, message: str) -> None:
    with pytest.raises(ConfigError, match=r"exchange.symbols.BTCUSDT." + message):
        instruments({"lot_source": "config", "symbols": {"BTCUSDT": {**BASE, "history": history}}}, ("BTCUSDT",))


def test_a_bracket_change_moves_only_the_trades_after_it_on_real_data() -> None:
    """The shipped table, then from 2024-04-01 a first bracket of 5 % for BTCUSDT: at 10x every trade
    that closed before 2024-04-01 is the same; after it, the larger maintenance margin liquidates."""
    from omegaconf import OmegaConf

    def trades(history: list | None):
        cfg = cfg_for(*FAST, "data.symbols=[BTCUSDT]", "leverage=10", "strategy=ema_cross")
        OmegaConf.set_struct(cfg, False)
        if history:
            cfg.exchange.symbols.BTCUSDT.history = history
        spec = validate(cfg)
        panel = build_panel(spec.data)
        c = compile_strategy(spec, panel)
        m = run_grid(panel, c, spec.initial_capital, progress=False)[0]
        rows = c.market(panel).rules_row
        return records(panel, c, spec.initial_capital, 0, int(m[0, E.M_N_TRADES])).trades, rows, panel

    before, rows, _ = trades(None)
    after, changed, panel = trades([{"since": "2024-04-01", "brackets": [[1e9, 0.05, 20, 0]]}])
    assert (rows == 0).all() and changed[0] == 0 and changed[-1] == 1  # one asset: era 1 starts at row 1
    assert panel.times[np.argmax(changed)] == 1_711_929_600_000  # 2024-04-01T00:00Z
    cut = datetime(2024, 4, 1, tzinfo=UTC)
    early = lambda t: t.filter(pl.col("exit_time") < cut)  # noqa: E731
    assert early(after).equals(early(before)) and early(before).height > 10
    assert (after["exit_reason"] == "liquidation").sum() > (before["exit_reason"] == "liquidation").sum()
