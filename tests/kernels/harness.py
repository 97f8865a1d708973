"""Drive the simulation core with hand-written candles and explicit signals."""

from dataclasses import dataclass, field

import numpy as np
import pytest

from kernels import enums as E
from kernels.program import Market, default_params, flat_tiers, group_program, no_lots
from kernels.simulate import simulate_grid, simulate_records

SIGNALS = {"LE": E.G_LONG_ENTRY, "LX": E.G_LONG_EXIT, "SE": E.G_SHORT_ENTRY, "SX": E.G_SHORT_EXIT}


@dataclass
class Scenario:
    """Candles ``(open, high, low, close)`` per bar (one list per asset), signals ``{bar: "LE"}`` per asset."""

    candles: list[list[tuple[float, float, float, float]]]
    signals: list[dict[int, str]]
    leverage: float = 1.0
    taker: float = 0.0
    slippage: float = 0.0
    mmr: float = 0.004
    maint_amount: float = 0.0
    direction: str = "both"
    fraction: float = 1.0
    fill_at: str = "next_open"
    funding: list[dict[int, float]] = field(default_factory=list)
    tradable: list[set[int]] = field(default_factory=list)  # bars NOT tradable per asset
    initial: float = 1000.0
    maker: float = 0.0
    stop_loss: float = float("nan")  # fraction of the entry price, or an ATR multiple with atr
    take_profit: float = float("nan")
    trailing_stop: float = float("nan")
    atr: list[list[float]] | None = None  # per asset, per bar: the series ATR stops read
    entry_ok: set[int] | None = None  # bars whose close may place entries (None: all)
    margin_mode: str = "isolated"
    tiers: list[list[tuple[float, float, float, float]]] | None = None  # per asset: (cap, mmr, cum, max_lev)
    lots: list[tuple[float, float, float]] | None = None  # per asset: (step, min_qty, min_notional)
    volume: list[list[float]] | None = None  # per asset, per bar
    impact: float = 0.0
    sizing: str = "fixed_fraction"  # fraction is the sizing method's number
    max_position: float = 1.0
    max_exposure: float = float("nan")
    kelly_min_trades: float = float("nan")
    kelly_fallback: float = float("nan")
    dd_scale_at: float = float("nan")
    dd_scale: float = 1.0
    dd_halt: float = float("nan")
    daily_loss: float = float("nan")
    max_losses: float = float("nan")
    cooldown: float = float("nan")
    day: list[int] | None = None  # UTC day number per bar (None: all one day)
    vol_col: bool = False  # volatility-target sizing reads the atr series
    mark: list[list[tuple[float, float, float, float]]] | None = None  # mark-price candles (None: = last)
    liquidation_trigger: str = "mark"  # mark | last (the mark is the last price without ``mark``)
    stop_trigger: str = "last"
    later_tiers: list[list[tuple[float, float, float, float]]] | None = None  # brackets from bar ``rules_from``
    later_lots: list[tuple[float, float, float]] | None = None  # lot filters from bar ``rules_from``
    rules_from: int = 0


def check_candles(s: Scenario) -> None:
    """Every hand-written candle is possible: low <= open, close <= high."""
    for name, candles in (("last", s.candles), ("mark", s.mark or [])):
        for a, bars in enumerate(candles):
            for t, (o, h, lo, c) in enumerate(bars):
                assert lo <= min(o, c) and max(o, c) <= h, f"{name} asset {a} bar {t}: impossible candle"


def _tiers(rows: list[list[tuple[float, float, float, float]]]) -> np.ndarray:
    """Per asset ``(cap, mmr, cum, max_lev)`` rows, padded with each asset's last."""
    width = max(len(t) for t in rows)
    return np.array([list(t) + [t[-1]] * (width - len(t)) for t in rows], dtype=np.float64)


def _pad(tiers: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([tiers, np.repeat(tiers[:, -1:], width - tiers.shape[1], axis=1)], axis=1)


def _ohlc(candles) -> list[np.ndarray]:
    ohlc = np.array(candles, dtype=np.float64).transpose(1, 0, 2)  # (n, assets, 4)
    return [np.ascontiguousarray(ohlc[:, :, k]) for k in range(4)]


def arrays(s: Scenario):
    check_candles(s)
    n_assets = len(s.candles)
    n = len(s.candles[0])
    o, h, lo, c = _ohlc(s.candles)
    mo, mh, ml, _ = (o, h, lo, c) if s.mark is None else _ohlc(s.mark)
    liq = (mo, mh, ml) if s.liquidation_trigger == "mark" else (o, h, lo)
    stop = (mo, mh, ml) if s.stop_trigger == "mark" else (o, h, lo)
    tradable = np.ones((n, n_assets), dtype=np.bool_)
    for a, bars in enumerate(s.tradable):
        for t in bars:
            tradable[t, a] = False
    funding = np.zeros((n, n_assets))
    for a, events in enumerate(s.funding):
        for t, r in events.items():
            funding[t, a] = r
    ind = np.zeros((5, n, n_assets))
    for a, sig in enumerate(s.signals):
        for t, names in sig.items():
            for name in names.split(","):
                ind[SIGNALS[name], t, a] = 1.0
    if s.atr is not None:
        ind[4] = np.asarray(s.atr, dtype=np.float64).T
    prog = group_program(ind)
    if s.entry_ok is not None:
        allowed = np.isin(np.arange(n), sorted(s.entry_ok))
        prog = prog._replace(entry_ok=np.repeat(allowed[:, None], n_assets, axis=1))
    if s.atr is not None:
        prog.stop_cols[:, :3] = 4
        if s.vol_col:
            prog.stop_cols[:, 3] = 4
    params = default_params(1)
    params[0, E.P_LEVERAGE] = s.leverage
    params[0, E.P_TAKER_FEE] = s.taker
    params[0, E.P_SLIPPAGE] = s.slippage
    params[0, E.P_IMPACT] = s.impact
    params[0, E.P_MARGIN_MODE] = E.MARGIN_MODES.index(s.margin_mode)
    params[0, E.P_DIRECTION] = E.DIRECTIONS.index(s.direction)
    params[0, E.P_SIZE] = s.fraction
    params[0, E.P_SIZING] = E.SIZING_METHODS.index(s.sizing)
    params[0, E.P_MAX_POSITION] = s.max_position
    params[0, E.P_MAX_EXPOSURE] = s.max_exposure
    params[0, E.P_KELLY_MIN_TRADES] = s.kelly_min_trades
    params[0, E.P_KELLY_FALLBACK] = s.kelly_fallback
    params[0, E.P_DD_SCALE_AT] = s.dd_scale_at
    params[0, E.P_DD_SCALE] = s.dd_scale
    params[0, E.P_DD_HALT] = s.dd_halt
    params[0, E.P_DAILY_LOSS] = s.daily_loss
    params[0, E.P_MAX_LOSSES] = s.max_losses
    params[0, E.P_COOLDOWN] = s.cooldown
    params[0, E.P_FILL_AT] = E.FILL_AT.index(s.fill_at)
    params[0, E.P_MAKER_FEE] = s.maker
    params[0, E.P_STOP_LOSS] = s.stop_loss
    params[0, E.P_TAKE_PROFIT] = s.take_profit
    params[0, E.P_TRAILING_STOP] = s.trailing_stop
    tiers = flat_tiers(n_assets, s.mmr, s.maint_amount) if s.tiers is None else _tiers(s.tiers)
    lots = no_lots(n_assets) if s.lots is None else np.array(s.lots, dtype=np.float64)
    volume = np.ones((n, n_assets)) if s.volume is None else np.asarray(s.volume, dtype=np.float64).T.copy()
    day = np.zeros(n, np.int64) if s.day is None else np.asarray(s.day, dtype=np.int64)
    rules_row = np.zeros(n, np.int64)
    if s.later_tiers is not None or s.later_lots is not None:  # a second era of exchange rules
        later = tiers if s.later_tiers is None else _tiers(s.later_tiers)
        width = max(tiers.shape[1], later.shape[1])
        tiers = np.concatenate([_pad(tiers, width), _pad(later, width)])
        lots = np.concatenate([lots, lots if s.later_lots is None else np.array(s.later_lots, dtype=np.float64)])
        rules_row[s.rules_from :] = n_assets
    mkt = Market(
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=volume,
        tradable=tradable,
        funding=funding,
        settle=o,
        liq_open=liq[0],
        liq_high=liq[1],
        liq_low=liq[2],
        stop_open=stop[0],
        stop_high=stop[1],
        stop_low=stop[2],
        day=day,
        tiers=tiers,
        lots=lots,
        rules_row=rules_row,
    )
    return (mkt, prog, params)


def run(s: Scenario):
    """(trades, equity curve, metrics dict) of the scenario."""
    args = arrays(s)
    metrics, _ = simulate_grid(*args, 0, 1, s.initial, 8760.0, np.zeros(0, np.int64), 0)
    trades, equity, row = simulate_records(0, int(metrics[0, E.M_N_TRADES]), *args, s.initial, 8760.0)
    np.testing.assert_array_equal(np.nan_to_num(row, nan=-1.0), np.nan_to_num(metrics[0], nan=-1.0))
    return trades, equity, dict(zip(E.METRIC_NAMES, metrics[0], strict=True))


def block_stats(s: Scenario, blk: list[int], n_blocks: int) -> np.ndarray:
    """The kernel's per-block statistics ``(n_blocks, N_BLOCK)`` of the scenario for block ids ``blk``."""
    _, blocks = simulate_grid(*arrays(s), 0, 1, s.initial, 8760.0, np.asarray(blk, dtype=np.int64), n_blocks)
    return blocks[0]


def check_trades(scenario: Scenario, expected: list[tuple]) -> None:
    """Assert the exact trades ``(asset, side, entry_bar, exit_bar, entry, exit, qty, fees, funding, net, reason)``
    and that equity reconciles with them."""
    trades, equity, metrics = run(scenario)
    got = sorted(
        (
            int(t["asset"]),
            int(t["side"]),
            int(t["entry_bar"]),
            int(t["exit_bar"]),
            t["entry_price"],
            t["exit_price"],
            t["qty"],
            t["fees"],
            t["funding"],
            t["net_pnl"],
            E.EXIT_REASONS[t["exit_reason"]],
        )
        for t in trades
    )
    assert len(got) == len(expected), got
    for g, e in zip(got, sorted(expected), strict=True):
        assert g[:4] == e[:4], (g, e)
        np.testing.assert_allclose(g[4:10], e[4:10], rtol=1e-12, atol=1e-9, err_msg=str(g))
        assert g[10] == e[10], (g, e)
    # equity reconciles exactly with the records
    final = scenario.initial + trades["gross_pnl"].sum() - trades["fees"].sum() - trades["funding"].sum()
    assert metrics["final_equity"] == pytest.approx(final, rel=1e-12, abs=1e-9)
    assert metrics["n_trades"] == len(expected)
    assert metrics["n_liquidations"] == sum(e[10] == "liquidation" for e in expected)
    assert metrics["liquidated"] == float(any(e[10] == "liquidation" for e in expected))
    assert equity[-1] == pytest.approx(metrics["final_equity"], rel=1e-12)
    assert np.isfinite(equity).all()
