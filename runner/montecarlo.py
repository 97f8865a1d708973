"""Monte Carlo risk of a combination's equity curve and trades (``kernels.montecarlo``): value at
risk and expected shortfall over 1 and 10 days (historical and block bootstrap), the maximum
drawdown under reshuffled trade order and under bootstrapped bar returns, and bootstrap confidence
intervals of Sharpe, APR and maximum drawdown. Paths run in chunks on threads (the kernels release
the GIL); each chunk has its own seed, so the numbers depend on the seed only."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np
import polars as pl

from kernels.montecarlo import horizon_returns, path_statistics, reshuffled_drawdowns, value_at_risk
from runner.spec import MonteCarloSpec

DAY_MS = 86_400_000
HORIZONS = (1, 10)  # days
LEVELS = (0.95, 0.99)
CHUNK = 256  # paths per chunk


@dataclass
class Risk:
    """The metrics and the two drawdown distributions the report draws."""

    metrics: dict[str, float]
    mdd_bootstrap: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mdd_reshuffled: np.ndarray = field(default_factory=lambda: np.zeros(0))


def bar_returns(equity: np.ndarray, initial: float) -> np.ndarray:
    """Each bar's return from the previous close (the first from ``initial``); 0 once equity is gone."""
    prev = np.concatenate(([initial], equity[:-1]))
    return np.divide(equity - prev, prev, out=np.zeros_like(equity), where=prev > 0.0)


def day_ends(equity: np.ndarray, times: np.ndarray, initial: float) -> np.ndarray:
    """``initial`` followed by the equity at the last close of each UTC day."""
    day = times // DAY_MS
    last = np.nonzero(np.diff(day, append=day[-1] + 1))[0]
    return np.concatenate(([initial], equity[last]))


def trade_returns(trades: pl.DataFrame, initial: float) -> np.ndarray:
    """Each trade's net PnL as a share of the realised equity before it closed, in closing order:
    compounded in that order they rebuild the realised equity exactly."""
    if trades.height == 0:
        return np.zeros(0)
    pnl = trades.sort("exit_bar", maintain_order=True)["net_pnl"].to_numpy()
    before = initial + np.concatenate(([0.0], np.cumsum(pnl)[:-1]))
    return np.divide(pnl, before, out=np.full_like(pnl, -1.0), where=before > 0.0)


def chunked(kernel: Callable, n_paths: int, seed: int, width: int, *args) -> np.ndarray:
    """``kernel(*args, seed_k, out_k)`` over chunks of ``CHUNK`` paths on numba's thread count; chunk
    ``k`` uses seed ``seed + k``."""
    out = np.empty((n_paths, width)) if width > 1 else np.empty(n_paths)
    bounds = list(range(0, n_paths, CHUNK))

    def run(k: int) -> None:
        lo = bounds[k]
        kernel(*args, seed + k, out[lo : lo + CHUNK])

    run(0)  # compiles or loads the kernel once, in this thread
    threads = max(1, min(numba.get_num_threads(), len(bounds) - 1))
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(1, len(bounds))))
    return out


def _tails(prefix: str, suffix: str, returns: np.ndarray) -> dict[str, float]:
    out = {}
    for level in LEVELS:
        var, cvar = value_at_risk(returns, level) if returns.size >= 2 else (np.nan, np.nan)
        pct = round(level * 100)
        out[f"var_{pct}{prefix}{suffix}"] = float(var)
        out[f"cvar_{pct}{prefix}{suffix}"] = float(cvar)
    return out


def risk(
    equity: np.ndarray,
    times: np.ndarray,
    bar_ms: int,
    trades: pl.DataFrame,
    initial: float,
    bars_per_year: float,
    spec: MonteCarloSpec,
) -> Risk:
    """Every Monte Carlo figure of one equity curve (marked at each close) and its trades."""
    r = bar_returns(equity, initial)
    per_day = max(1, round(DAY_MS / bar_ms))
    block = float(spec.block_bars or per_day)
    ends = day_ends(equity, times, initial)
    metrics: dict[str, float] = {}
    for days in HORIZONS:
        suffix = "" if days == 1 else f"_{days}d"
        past = ends[days:] / ends[:-days] - 1.0 if ends.size > days else np.zeros(0)
        metrics |= _tails(suffix, "", past[np.isfinite(past)])
        boot = chunked(horizon_returns, spec.paths, spec.seed + 1000 * days, 1, r, days * per_day, block)
        metrics |= _tails(suffix, "_boot", boot)
    stats = chunked(path_statistics, spec.paths, spec.seed + 50_000, 3, r, r.size, block, bars_per_year)
    for k, name in enumerate(("sharpe", "apr", "mdd")):
        lo, hi = np.nanpercentile(stats[:, k], [2.5, 97.5]) if np.isfinite(stats[:, k]).any() else (np.nan, np.nan)
        metrics[f"{name}_ci_low"], metrics[f"{name}_ci_high"] = float(lo), float(hi)
    metrics["mdd_p95_boot"] = float(np.percentile(stats[:, 2], 95))
    f = trade_returns(trades, initial)
    shuffled = chunked(reshuffled_drawdowns, spec.paths, spec.seed + 90_000, 1, f) if f.size >= 2 else np.zeros(0)
    metrics["mdd_p50"] = float(np.percentile(shuffled, 50)) if shuffled.size else np.nan
    metrics["mdd_p95"] = float(np.percentile(shuffled, 95)) if shuffled.size else np.nan
    return Risk(metrics, stats[:, 2], shuffled)
