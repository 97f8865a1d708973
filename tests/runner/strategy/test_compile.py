"""Compiling strategies: crossover semantics, multi-timeframe without lookahead, warm-up, time
filters, linear forms, built-ins on real data, and grids as one kernel call."""

import copy
from datetime import UTC, datetime

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import runner.compute as compute
from kernels import enums as E
from kernels.program import flat_tiers, no_lots
from kernels.simulate import signal_flags
from runner import PROJECT_ROOT
from runner.backtest import records, run_grid
from runner.config import validate
from runner.data.panel import MarketPanel, build_panel
from runner.errors import ConfigError
from runner.preflight import expand_shorthand
from runner.strategy.compile import compile_strategy
from runner.strategy.dsl import TimeFilters
from runner.strategy.timefilter import entry_mask

HOUR = 3_600_000
T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
FAST = ["data.start=2024-01-01", "data.end=2024-06-30", "data.symbols=[BTCUSDT,ETHUSDT]"]


def cfg_for(*overrides: str, strategy: dict | None = None):
    with initialize_config_dir(str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=expand_shorthand(list(overrides)))
    if strategy is not None:
        OmegaConf.set_struct(cfg, False)
        cfg.strategy = strategy
    return cfg


def synthetic(closes: list[float] | np.ndarray, n_assets: int = 1, start: int = T0) -> MarketPanel:
    c = np.tile(np.asarray(closes, dtype=np.float64)[:, None], (1, n_assets))
    o = np.r_[c[:1], c[:-1]]
    n = c.shape[0]
    return MarketPanel(
        symbols=tuple(f"A{i}USDT" for i in range(n_assets)),
        timeframe="1h",
        times=start + HOUR * np.arange(n, dtype=np.int64),
        open=o,
        high=np.maximum(o, c),
        low=np.minimum(o, c),
        close=c,
        volume=np.ones_like(c),
        tradable=np.ones((n, n_assets), dtype=np.bool_),
        funding=np.zeros((n, n_assets)),
        settle=c.copy(),
        fingerprint="synthetic",
        sources={},
    )


def strategy(long: list, **extra) -> dict:
    raw = {
        "name": "t",
        "direction": "long",
        "params": {"level": {"type": "float", "low": -1e9, "high": 1e9, "default": 100}},
        "indicators": {},
        "entry": {"long": long},
    }
    raw.update(extra)
    return raw


def truth(compiled, group: int, n_bars: int, combo: int = 0, asset: int = 0) -> list[bool]:
    """Group ``group`` as the simulation kernel evaluates it at every bar (the last bar never signals)."""
    panel = compiled.panel
    flags = signal_flags(combo, compiled.market(panel), compiled.program(), compiled.params, 1000.0, 8760.0)
    return [bool(x) for x in flags[group, :n_bars, asset]]


def compiled_for(raw: dict, panel: MarketPanel, *overrides: str):
    spec = validate(cfg_for(*overrides, strategy=raw))
    compiled = compile_strategy(spec, panel)
    compiled.panel = panel
    return spec, compiled


CLOSES = [99, 101, 102, 99, 100, 101, 101, 98, 98]  # the last bar never signals


@pytest.mark.parametrize(
    "condition, expected",
    [
        ("close crosses_above level", [1, 5]),  # was <= level on the previous bar, > now
        ("close crosses_below level", [3, 7]),  # 102 -> 99 and 101 -> 98
        ("close > level", [1, 2, 5, 6]),
        ("close >= level", [1, 2, 4, 5, 6]),
        ("close < level", [0, 3, 7]),
        ("close <= level", [0, 3, 4, 7]),
        ("close between 100 101", [1, 4, 5, 6]),
        ("close between level - 1 and level", [0, 3, 4]),
        ("close - 1 > level", [2]),
        ("close * 2 > level * 2 + 2", [2]),
        ("-close < -level", [1, 2, 5, 6]),
        ("(close - level) / 2 > 0.5", [2]),
    ],
)
def test_operators_on_hand_made_series(condition: str, expected: list[int]) -> None:
    panel = synthetic(CLOSES)
    _, c = compiled_for(strategy([condition]), panel)
    got = [t for t, ok in enumerate(truth(c, E.G_LONG_ENTRY, len(CLOSES))) if ok]
    assert got == expected


def test_any_groups_and_all_clauses() -> None:
    panel = synthetic(CLOSES)
    _, c = compiled_for(strategy(["close > 99", {"any": ["close < 100.5", "close > 101.5"]}]), panel)
    assert [t for t, ok in enumerate(truth(c, E.G_LONG_ENTRY, 8)) if ok] == [2, 4]


def test_crossing_of_two_series() -> None:
    closes = [10, 10, 10, 12, 14, 13, 11, 9, 9, 9]
    raw = strategy(
        ["fast crosses_above slow"],
        indicators={"fast": {"type": "SMA", "period": 2}, "slow": {"type": "SMA", "period": 4}},
        exit={"long": ["fast crosses_below slow"]},
    )
    _, c = compiled_for(raw, synthetic(closes))
    fast = np.convolve(closes, np.ones(2) / 2, "valid")[2:]
    slow = np.convolve(closes, np.ones(4) / 4, "valid")
    d = fast - slow  # from bar 3 on
    ups = [t + 3 for t in range(1, len(d)) if d[t] > 0 >= d[t - 1]]
    downs = [t + 3 for t in range(1, len(d)) if d[t] < 0 <= d[t - 1]]
    assert [t for t, ok in enumerate(truth(c, E.G_LONG_ENTRY, 10)) if ok] == ups == []  # equal at bar 3, then above
    assert [t for t, ok in enumerate(truth(c, E.G_LONG_EXIT, 10)) if ok] == downs == [6]


def test_params_scale_series_and_products_of_series_become_columns() -> None:
    raw = strategy(
        ["close * (1 + level / 100) > ema * 1.01", "(close - ema) / ema * level > 0"],
        indicators={"ema": {"type": "EMA", "period": 3}},
    )
    raw["params"]["level"]["default"] = [1, 2]
    _, c = compiled_for(raw, synthetic(np.linspace(100, 120, 30)))
    assert c.term_coef.shape[0] == 2
    np.testing.assert_allclose(c.term_coef[:, 0], [1.01, 1.02])  # close x (1 + level/100)
    # (close - ema) / ema x level = level x (close / ema) - level x (ema / ema): derived series, computed once
    assert "(close / ema)" in c.columns and "(ema / ema)" in c.columns
    np.testing.assert_allclose(c.term_coef[:, -2:], [[1, -1], [2, -2]])


def test_a_series_times_a_mixed_expression_is_rejected() -> None:
    ok = strategy(["(close - level) * (close - ema) > 0"], indicators={"ema": {"type": "EMA", "period": 3}})
    compiled_for(ok, synthetic(np.linspace(100, 120, 30)))  # = close x (close - ema) - level x (close - ema)
    raw = strategy(["(close - level) * (ema - level) > 0"], indicators={"ema": {"type": "EMA", "period": 3}})
    with pytest.raises(ConfigError, match=r"strategy.entry.long\[0\]: '\(close - level\).*mixing series and param"):
        compiled_for(raw, synthetic(np.linspace(100, 120, 30)))


def test_no_entries_before_every_referenced_indicator_is_defined() -> None:
    closes = 100 + np.sin(np.arange(300) / 5)
    raw = strategy(["close > 0"], indicators={"slow": {"type": "SMA", "period": 200}}, exit={"long": ["close < slow"]})
    spec, c = compiled_for(raw, synthetic(closes))
    assert c.warm[0, 0] == 199
    m = run_grid(synthetic(closes), c, 1000.0, progress=False)[0]
    rec = records(synthetic(closes), c, 1000.0, 0, int(m[0, E.M_N_TRADES]))
    assert rec.trades["entry_bar"].min() == 200  # decided at bar 199's close, filled at 200's open


def test_entry_mask_sessions_weekdays_funding() -> None:
    times = T0 + HOUR * np.arange(48, dtype=np.int64)  # Monday 2024-01-01 00:00 UTC, two days
    instant_hour = (np.arange(48) + 1) % 24
    m = entry_mask(times, HOUR, TimeFilters(sessions=((8 * 60, 16 * 60),)))[:, 0]
    np.testing.assert_array_equal(m, (instant_hour >= 8) & (instant_hour < 16))
    m = entry_mask(times, HOUR, TimeFilters(sessions=((22 * 60, 2 * 60),)))[:, 0]
    np.testing.assert_array_equal(m, (instant_hour >= 22) | (instant_hour < 2))
    m = entry_mask(times, HOUR, TimeFilters(blocked_weekdays=(0,)))[:, 0]  # Monday
    np.testing.assert_array_equal(m, np.arange(48) >= 23)  # bar 23 closes at Tuesday 00:00
    m = entry_mask(times, HOUR, TimeFilters(funding_blackout_minutes=61), n_assets=2)  # no history: every 8h
    assert m.shape == (48, 2)
    np.testing.assert_array_equal(m[:, 1], ~np.isin(instant_hour, [23, 0, 1, 7, 8, 9, 15, 16, 17]))


# settlements of one asset: 8h, then 4h from 16:00 on day 1, then hourly from 08:00 on day 2 (Binance
# moves a symbol's interval when its rate hits the cap); the other asset stays on 8h.
MOVED = T0 + HOUR * np.array([0, 8, 16, 20, 24, 28, 32, *range(33, 49)], dtype=np.int64)
STEADY_8H = T0 + HOUR * np.arange(0, 49, 8, dtype=np.int64)


@pytest.mark.parametrize(
    ("minutes", "blocked"),
    [
        # 30 min: only an entry exactly at a settlement (instants are bar closes, on the hour)
        (30, {0: [7, 15, 19, 23, 27, 31, *range(32, 48)], 1: [7, 15, 23, 31, 39, 47]}),
        # 61 min: the hour before and after too; from the hourly part on, every entry
        (
            61,
            {
                0: [0, 6, 7, 8, 14, 15, 16, 18, 19, 20, 22, 23, 24, 26, 27, 28, *range(30, 48)],
                1: [0, 6, 7, 8, 14, 15, 16, 22, 23, 24, 30, 31, 32, 38, 39, 40, 46, 47],
            },
        ),
    ],
)
def test_funding_blackout_uses_each_assets_real_settlements(minutes: int, blocked: dict[int, list[int]]) -> None:
    times = T0 + HOUR * np.arange(48, dtype=np.int64)  # entry instants: 01:00 .. 48:00
    m = entry_mask(times, HOUR, TimeFilters(funding_blackout_minutes=minutes), (MOVED, STEADY_8H))
    for a, bars in blocked.items():
        want = ~np.isin(np.arange(48), bars)
        np.testing.assert_array_equal(m[:, a], want, err_msg=f"asset {a}")


def test_time_filters_gate_entries_in_a_backtest() -> None:
    closes = 100 + np.sin(np.arange(24 * 14) / 3)
    raw = strategy(
        ["close > 100"],
        exit={"long": ["close < 100"]},
        time_filters={"sessions": ["08:00-12:00"], "blocked_weekdays": ["sat", "sun"]},
    )
    panel = synthetic(closes)
    _, c = compiled_for(raw, panel)
    m = run_grid(panel, c, 1000.0, progress=False)[0]
    trades = records(panel, c, 1000.0, 0, int(m[0, E.M_N_TRADES])).trades
    assert trades.height > 3
    decided = panel.times[trades["entry_bar"].to_numpy() - 1] + HOUR
    hours = (decided // HOUR) % 24
    weekday = ((decided // 86_400_000) + 3) % 7
    assert ((hours >= 8) & (hours < 12)).all() and (weekday < 5).all()


def test_higher_timeframe_values_appear_only_after_their_bar_closes() -> None:
    raw = strategy(["close > htf"], indicators={"htf": {"type": "SMA", "period": 2, "timeframe": "4h"}})
    closes = np.arange(1, 25, dtype=np.float64)  # 24 hourly bars = six 4h bars
    _, c = compiled_for(raw, synthetic(closes))
    col = c.term_col[0, 1]
    htf = c.ind[col, :, 0]
    four_h_closes = closes[3::4]  # 4, 8, 12, ...
    sma = (four_h_closes[1:] + four_h_closes[:-1]) / 2  # defined from the second 4h bar
    assert np.isnan(htf[:7]).all()  # the second 4h bar closes with hourly bar 7
    np.testing.assert_array_equal(htf[7:11], sma[0])
    np.testing.assert_array_equal(htf[11:15], sma[1])


def test_higher_timeframe_has_no_lookahead_on_real_data() -> None:
    spec = validate(cfg_for(*FAST, "strategy=rsi_mtf"))
    panel = build_panel(spec.data)
    base = compile_strategy(spec, panel)
    rng = np.random.default_rng(7)
    for t in rng.integers(50, panel.n_bars - 50, size=4):
        altered = copy.deepcopy(panel)
        scale = rng.uniform(0.5, 1.5, size=(panel.n_bars - t - 1, panel.n_assets))
        for name in ("open", "high", "low", "close"):
            getattr(altered, name)[t + 1 :] *= scale
        other = compile_strategy(spec, altered)
        np.testing.assert_array_equal(base.ind[:, : t + 1], other.ind[:, : t + 1])
        assert not np.array_equal(base.ind[:, t + 1 :], other.ind[:, t + 1 :])


# Results of the rsi strategy before it was re-expressed in the DSL (commit d975e03), 2023, BTC/ETH/XRP/LTC
RSI_BEFORE = {
    (1, 7, 25): (8334.224214297203, 1288),
    (1, 7, 30): (8425.287780988047, 1547),
    (1, 14, 25): (8271.074003052816, 408),
    (1, 14, 30): (8559.59708086521, None),
    (5, 7, 25): (1253.82725500227, None),
    (5, 7, 30): (1185.4054627346572, None),
    (5, 14, 25): (944.9940008119162, None),
    (5, 14, 30): (1040.094939090804, None),
}


def test_rsi_in_the_dsl_gives_the_same_results_as_before() -> None:
    spec = validate(
        cfg_for(
            "data.start=2023-01-01",
            "data.end=2023-12-31",
            "data.mark_price=false",  # the figures were pinned when funding settled at the bar open
            "execution.liquidation_trigger=last",  # and when the last price liquidated
            "strategy.params.period=[7,14]",
            "strategy.params.lower=[25,30]",
            "leverage.value=[1,5]",
        )
    )
    panel = build_panel(spec.data)
    c = compile_strategy(spec, panel)
    # pinned before the exchange rules: one 0.4 % bracket, no lot filters
    c.tiers, c.lots = flat_tiers(panel.n_assets), no_lots(panel.n_assets)
    m = run_grid(panel, c, spec.initial_capital, progress=False)[0]
    keys = [a.key for a in c.axes]
    for i in range(c.n_combos):
        values = {k: c.axes[j].values[c.grid_idx[i, j]] for j, k in enumerate(keys)}
        key = (values["leverage.value"], values["strategy.params.period"], values["strategy.params.lower"])
        final, n_trades = RSI_BEFORE[tuple(int(v) for v in key)]
        assert m[i, E.M_FINAL_EQUITY] == final
        if n_trades is not None:
            assert m[i, E.M_N_TRADES] == n_trades


BUILTINS = ["rsi", "ema_cross", "macd", "bbands", "donchian", "rsi_mtf", "momentum_reversion"]


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_strategy_trades_on_real_data(name: str) -> None:
    spec = validate(cfg_for(*FAST, f"strategy={name}"))
    panel = build_panel(spec.data)
    c = compile_strategy(spec, panel)
    m = run_grid(panel, c, spec.initial_capital, progress=False)[0]
    rec = records(panel, c, spec.initial_capital, 0, int(m[0, E.M_N_TRADES]))
    trades = rec.trades
    assert trades.height >= 10, trades.height
    assert set(trades["side"]) == {"long", "short"}
    reasons = set(trades["exit_reason"])
    assert "signal" in reasons or name == "donchian"
    stops = {"ema_cross": "stop_loss", "macd": "stop_loss", "bbands": "take_profit", "donchian": "trailing_stop"}
    if name in stops:
        assert stops[name] in reasons, reasons
    final = spec.initial_capital + trades["gross_pnl"].sum() - trades["fees"].sum() - trades["funding"].sum()
    assert m[0, E.M_FINAL_EQUITY] == pytest.approx(final, rel=1e-9)


def test_a_3x3x3_grid_is_one_kernel_call_and_matches_one_by_one(monkeypatch) -> None:
    grid = [*FAST, "strategy=ema_cross", "strategy.params.fast=[5,8,12]", "strategy.params.slow=[30,48,96]"]
    grid.append("strategy.stop_loss.percent=[2,4,8]")
    spec = validate(cfg_for(*grid))
    panel = build_panel(spec.data)
    calls = []
    real = compute.simulate_grid

    def counting(*args):
        calls.append(args[3:5])
        return real(*args)

    monkeypatch.setattr(compute, "simulate_grid", counting)  # every kernel call of a grid goes through runner.compute
    c = compile_strategy(spec, panel)
    assert c.n_combos == 27
    together = run_grid(panel, c, spec.initial_capital, progress=False)[0]
    assert calls == [(0, 27)]
    values = {a.key: a.values for a in c.axes}
    for i in range(27):
        one = {k: values[k][c.grid_idx[i, j]] for j, k in enumerate(values)}
        single = validate(
            cfg_for(
                *FAST,
                "strategy=ema_cross",
                f"strategy.params.fast={int(one['strategy.params.fast'])}",
                f"strategy.params.slow={int(one['strategy.params.slow'])}",
                f"strategy.stop_loss.percent={one['strategy.stop_loss.percent']}",
            )
        )
        alone = run_grid(panel, compile_strategy(single, panel), spec.initial_capital, progress=False)[0]
        np.testing.assert_array_equal(np.nan_to_num(alone[0], nan=-9.0), np.nan_to_num(together[i], nan=-9.0))
    assert len(calls) == 28


def test_indicator_sources_shift_and_price_blends() -> None:
    import talib

    closes = 100 + 5 * np.sin(np.arange(120) / 4) + np.arange(120) / 10
    raw = strategy(
        ["smooth > 50", "lagged > 0", "mid > 0"],
        indicators={
            "rsi": {"type": "RSI", "period": 7},
            "smooth": {"type": "EMA", "period": 5, "source": "rsi"},
            "lagged": {"type": "SMA", "period": 3, "shift": 2},
            "mid": {"type": "DEMA", "period": 2, "source": "hl2"},
        },
    )
    panel = synthetic(closes)
    _, c = compiled_for(raw, panel)
    col = {d.split("(")[0]: i for i, d in enumerate(c.columns)}
    want = talib.EMA(talib.RSI(closes, 7), 5)
    np.testing.assert_allclose(c.ind[col["smooth.value"], :, 0], want, rtol=1e-12, equal_nan=True)
    sma = talib.SMA(closes, 3)
    np.testing.assert_allclose(c.ind[col["lagged.value"], 2:, 0], sma[:-2], rtol=1e-12, equal_nan=True)
    hl2 = (panel.high[:, 0] + panel.low[:, 0]) / 2
    np.testing.assert_allclose(c.ind[col["mid.value"], :, 0], talib.DEMA(hl2, 2), rtol=1e-12, equal_nan=True)
