"""Intrabar detail (``execution.detail=1m``): a combination re-simulated on finer bars inside each
strategy bar, so stops, take-profits, trailing stops and liquidations fire in the order the price
really took. Signals stay on the strategy's timeframe: the combination's condition groups, decided
at each strategy bar's close, are placed on the last fine bar of that bar (nothing is decided
elsewhere), with its time filters, warm-up, ATR columns and cooldown carried over; the fine bars
run through the same kernel (``kernels.simulate``), so every market rule is the backtest's."""

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from kernels import enums as E
from kernels.program import group_program
from kernels.simulate import signal_targets, simulate_grid, simulate_records
from runner.backtest import Records, as_records
from runner.data.panel import DataSpec, MarketPanel, iso, panel_for
from runner.data.paths import kline_path
from runner.data.timeframes import timeframe_ms
from runner.errors import ConfigError, DataError
from runner.strategy.assemble import Compiled

REASONS = ("stop_loss", "take_profit", "trailing_stop", "liquidation")


@dataclass
class Detail:
    """One combination at the strategy's bars and at the fine bars, and what changed."""

    bar: Records
    fine: Records
    deltas: dict[str, float]


def fine_panel(spec: DataSpec, panel: MarketPanel, detail: str) -> MarketPanel:
    """The fine bars under ``panel``'s window, every one present (else one line naming the file)."""
    k = timeframe_ms(panel.timeframe) // timeframe_ms(detail)
    for symbol in spec.symbols:
        path = kline_path(spec.root, spec.market, detail, symbol)
        if not path.is_file():
            raise ConfigError(f"execution.detail={detail}: no {detail} klines for {symbol} ({path} does not exist)")
    step = timeframe_ms(panel.timeframe)
    fine_spec = replace(
        spec,
        source_interval=detail,
        timeframe=detail,
        start_ms=int(panel.times[0]),
        end_ms=int(panel.times[-1]) + step,
        gap_policy="error",
    )
    try:
        fine = panel_for(fine_spec)
    except DataError as exc:
        raise DataError(f"execution.detail={detail}: {exc}") from None
    if (
        fine.n_bars != panel.n_bars * k
        or fine.times[0] != panel.times[0]
        or (fine.tradable != panel.tradable.repeat(k, 0)).any()
    ):
        first, last = iso(int(fine.times[0])), iso(int(fine.times[-1]))
        raise DataError(
            f"execution.detail={detail}: the {detail} klines cover {first} to {last}, not the window "
            f"{iso(int(panel.times[0]))} to {iso(int(panel.times[-1]) + step - 1)}; set data.start and data.end inside"
        )
    return fine


def fine_program(compiled: Compiled, panel: MarketPanel, fine: MarketPanel, c: int, initial: float, delay: int = 0):
    """Combination ``c`` as a one-combination program on the fine bars and its parameter row; its
    market orders decided at a strategy bar's close reach the exchange ``delay`` fine bars later
    (``latency.ms``), so they fill at the open after that."""
    k = fine.n_bars // panel.n_bars
    at = k - 1 + delay  # the fine bar whose close acts on a strategy bar's decisions
    prog = compiled.program()
    params = compiled.params
    flags, _ = signal_targets(c, compiled.market(panel), prog, params, initial, panel.bars_per_year)
    placed = np.zeros((E.N_GROUPS, fine.n_bars, fine.n_assets))
    n_placed = len(range(at, fine.n_bars, k))
    placed[:, at::k, :] = flags[:, :n_placed]  # decided at the strategy bar's close (its last fine bar)
    stop_cols = prog.stop_cols[c]
    used = sorted({int(col) for col in stop_cols if col >= 0})
    columns = np.concatenate([placed, *(prog.ind[col].repeat(k, 0)[None] for col in used)]) if used else placed
    out = group_program(columns)
    entry_ok = np.zeros((fine.n_bars, fine.n_assets), dtype=np.bool_)
    entry_ok[at::k] = prog.entry_ok[:n_placed]
    remap = {col: E.N_GROUPS + j for j, col in enumerate(used)}
    out = out._replace(
        entry_ok=entry_ok,
        warm=(prog.warm[c] * k + at)[None].astype(np.int64),
        stop_cols=np.array([[remap.get(int(col), -1) for col in stop_cols]], dtype=np.int64),
    )
    row = params[c : c + 1].copy()
    if np.isfinite(row[0, E.P_COOLDOWN]):
        row[0, E.P_COOLDOWN] *= k  # bars of the strategy's timeframe
    return out, row


def run_detail(
    compiled: Compiled,
    panel: MarketPanel,
    fine: MarketPanel,
    c: int,
    initial: float,
    bar: Records,
    latency_ms: float = 0.0,
) -> Detail:
    """Combination ``c`` on the fine bars, against its bar-level records ``bar``; signal orders late by
    ``latency_ms`` (whole fine bars: a latency shorter than one moves nothing)."""
    delay = int(latency_ms // timeframe_ms(fine.timeframe))
    prog, row = fine_program(compiled, panel, fine, c, initial, delay)
    market = compiled.market(fine)
    metrics, _ = simulate_grid(market, prog, row, 0, 1, initial, fine.bars_per_year, np.zeros(0, np.int64), 0)
    trades, equity, m = simulate_records(
        0, int(metrics[0, E.M_N_TRADES]), market, prog, row, initial, fine.bars_per_year
    )
    fine_rec = as_records(fine, trades, equity, m)
    return Detail(bar, fine_rec, deltas(bar, fine_rec, fine.n_bars // panel.n_bars, initial))


def max_drawdown(equity: np.ndarray, initial: float) -> float:
    """Largest fall from a running peak (the initial capital the first)."""
    peak = np.maximum.accumulate(np.concatenate(([initial], equity)))[1:]
    return float(np.max(1.0 - equity / peak)) if equity.size else 0.0


def deltas(bar: Records, fine: Records, k: int, initial: float) -> dict[str, float]:
    """``detail_*`` metrics: the fine run's return, drawdown (at the strategy bars' closes and over
    every fine close), trades and exit reasons, and each one's change from the bar-level run."""
    eq_bar = bar.equity["equity"].to_numpy()
    eq_fine = fine.equity["equity"].to_numpy()
    out = {
        "detail_total_return": eq_fine[-1] / initial - 1.0,
        "detail_delta_total_return": (eq_fine[-1] - eq_bar[-1]) / initial,
        "detail_max_drawdown": max_drawdown(eq_fine[k - 1 :: k], initial),
        "detail_max_drawdown_intrabar": max_drawdown(eq_fine, initial),
        "detail_n_trades": float(fine.trades.height),
        "detail_delta_n_trades": float(fine.trades.height - bar.trades.height),
    }
    out["detail_delta_max_drawdown"] = out["detail_max_drawdown"] - max_drawdown(eq_bar, initial)
    for reason in REASONS:
        n_bar = int((bar.trades["exit_reason"] == reason).sum()) if bar.trades.height else 0
        n_fine = int((fine.trades["exit_reason"] == reason).sum()) if fine.trades.height else 0
        out[f"detail_delta_{reason}"] = float(n_fine - n_bar)
    return out


def detail_table(results: dict[int, Detail], best: int) -> pl.DataFrame:
    """One row per combination re-simulated: its ``detail_*`` figures."""
    return pl.DataFrame([{"combo": c, "best": c == best, **d.deltas} for c, d in results.items()])
