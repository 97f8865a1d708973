"""Metrics, streamed bar by bar: return moments (Terriberry's update), drawdown, block statistics
(for the overfitting filters), and the final metrics row (``M_*`` in ``kernels.enums``).

A bar's return is the change of the equity marked at its close (open positions at the close; on the
last bar every position is closed). Volatility, Sharpe and Sortino are annualised with
``bars_per_year``; Sortino's downside deviation is over every bar.
"""

from typing import NamedTuple

import numpy as np
from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.enums import (
    A_FEES,
    A_FUNDING,
    A_GROSS_LOSS,
    A_GROSS_WIN,
    A_HALTS,
    A_MAX_HOLD,
    A_N_LIQ,
    A_N_TRADES,
    A_REALIZED,
    A_SLIPPAGE,
    A_WALLET,
    A_WINS,
    B_BARS,
    B_DOWNSQ,
    B_END,
    B_GROSS_LOSS,
    B_GROSS_WIN,
    B_LIQ,
    B_MAXDD,
    B_PEAK,
    B_START,
    B_SUM,
    B_SUMSQ,
    B_TRADES,
    B_TROUGH,
    M_APR,
    M_CALMAR,
    M_EXPOSURE,
    M_FEES_PAID,
    M_FINAL_EQUITY,
    M_FUNDING_PAID,
    M_KURTOSIS,
    M_LIQUIDATED,
    M_MAX_DRAWDOWN,
    M_MAX_HOLDING_BARS,
    M_N_HALTS,
    M_N_LIQUIDATIONS,
    M_N_TRADES,
    M_PROFIT_FACTOR,
    M_REALIZED_PNL,
    M_SCORE,
    M_SHARPE,
    M_SKEW,
    M_SLIPPAGE_PAID,
    M_SORTINO,
    M_TOTAL_RETURN,
    M_VOLATILITY,
    M_WIN_RATE,
)
from kernels.jit import inner


class Curve(NamedTuple):
    """The equity curve so far, as streamed moments (immutable: ``advance`` returns the next one)."""

    n: int  # returns seen
    mean: float
    m2: float  # central moment sums
    m3: float
    m4: float
    down_sq: float  # sum of squared negative returns
    prev: float  # equity at the previous close
    peak: float
    max_dd: float


@inner
def start_curve(initial):
    """The curve before the first bar."""
    return Curve(0, 0.0, 0.0, 0.0, 0.0, 0.0, initial, initial, 0.0)


@njit(cache=True, inline="always")
def bar_return(equity, curve):
    """This bar's return (0 after the equity reached zero)."""
    return equity / curve.prev - 1.0 if curve.prev > 0.0 else 0.0


@njit(cache=True, inline="always")
def advance(curve, r, equity):
    """The curve after a bar of return ``r`` ending at ``equity``."""
    n1 = curve.n
    n = n1 + 1
    delta = r - curve.mean
    dn = delta / n
    dn2 = dn * dn
    term = delta * dn * n1
    m2 = curve.m2
    m3 = curve.m3
    m4 = curve.m4 + (term * dn2 * (n * n - 3 * n + 3) + 6.0 * dn2 * m2 - 4.0 * dn * m3)
    m3 = m3 + (term * dn * (n - 2) - 3.0 * dn * m2)
    m2 = m2 + term
    down_sq = curve.down_sq + r * r if r < 0.0 else curve.down_sq
    peak = equity if equity > curve.peak else curve.peak
    dd = 1.0 - equity / peak if peak > 0.0 else 1.0
    max_dd = dd if dd > curve.max_dd else curve.max_dd
    return Curve(n, curve.mean + dn, m2, m3, m4, down_sq, equity, peak, max_dd)


@inner
def block_update(bs, r, prev_eq, equity, acc, seen):
    """Accumulate one bar into a block's statistics ``bs`` (``N_BLOCK``); ``seen`` holds the account's
    trades, gross win, gross loss and liquidations up to the previous bar."""
    if bs[B_BARS] == 0.0:
        bs[B_START] = prev_eq
        bs[B_PEAK] = prev_eq
        bs[B_TROUGH] = prev_eq
    bs[B_BARS] += 1.0
    bs[B_SUM] += r
    bs[B_SUMSQ] += r * r
    if r < 0.0:
        bs[B_DOWNSQ] += r * r
    bs[B_END] = equity
    if equity > bs[B_PEAK]:
        bs[B_PEAK] = equity
    if equity < bs[B_TROUGH]:
        bs[B_TROUGH] = equity
    bdd = 1.0 - equity / bs[B_PEAK] if bs[B_PEAK] > 0.0 else 1.0
    if bdd > bs[B_MAXDD]:
        bs[B_MAXDD] = bdd
    bs[B_TRADES] += acc[A_N_TRADES] - seen[0]
    bs[B_GROSS_WIN] += acc[A_GROSS_WIN] - seen[1]
    bs[B_GROSS_LOSS] += acc[A_GROSS_LOSS] - seen[2]
    bs[B_LIQ] += acc[A_N_LIQ] - seen[3]


@njit(cache=True, inline="always")
def remember(seen, acc):
    """What ``block_update`` subtracts on the next bar."""
    seen[0] = acc[A_N_TRADES]
    seen[1] = acc[A_GROSS_WIN]
    seen[2] = acc[A_GROSS_LOSS]
    seen[3] = acc[A_N_LIQ]


@njit(cache=True)
def risk_score(total_return, max_dd, lev):
    """Return per unit of risk, monotone in risk: R / (DD x L) for R >= 0, R x DD x L for R < 0, so
    more drawdown or leverage never ranks higher (0/0 for a flat run is NaN)."""
    if total_return < 0.0:
        return total_return * max_dd * lev
    return total_return / (max_dd * lev) if max_dd > 0.0 else np.nan


@inner
def finish(m, acc, curve, initial, n_bars, bars_per_year, exposure, lev):
    """The metrics row ``m`` of a finished run (``exposure``: held asset-bars / tradable ones)."""
    nan = np.nan
    n_ret, mean, m2, m3, m4, max_dd = curve.n, curve.mean, curve.m2, curve.m3, curve.m4, curve.max_dd
    final = acc[A_WALLET]
    m[M_TOTAL_RETURN] = final / initial - 1.0
    years = n_bars / bars_per_year
    m[M_APR] = (final / initial) ** (1.0 / years) - 1.0 if final > 0.0 and years > 0.0 else -1.0
    std = np.sqrt(m2 / (n_ret - 1)) if n_ret > 1 else 0.0
    ann = np.sqrt(bars_per_year)
    m[M_VOLATILITY] = std * ann
    m[M_SHARPE] = mean / std * ann if std > 0.0 else nan
    down = np.sqrt(curve.down_sq / n_ret) if n_ret > 0 else 0.0
    m[M_SORTINO] = mean / down * ann if down > 0.0 else nan
    m[M_MAX_DRAWDOWN] = max_dd
    m[M_CALMAR] = m[M_APR] / max_dd if max_dd > 0.0 else nan
    n_trades = acc[A_N_TRADES]
    m[M_N_TRADES] = n_trades
    m[M_WIN_RATE] = acc[A_WINS] / n_trades if n_trades > 0.0 else nan
    if acc[A_GROSS_LOSS] > 0.0:
        m[M_PROFIT_FACTOR] = acc[A_GROSS_WIN] / acc[A_GROSS_LOSS]
    else:
        m[M_PROFIT_FACTOR] = np.inf if acc[A_GROSS_WIN] > 0.0 else nan
    m[M_N_LIQUIDATIONS] = acc[A_N_LIQ]
    m[M_FEES_PAID] = acc[A_FEES]
    m[M_FUNDING_PAID] = acc[A_FUNDING]
    m[M_FINAL_EQUITY] = final
    m[M_EXPOSURE] = exposure
    m[M_SCORE] = risk_score(m[M_TOTAL_RETURN], max_dd, lev)
    m[M_SLIPPAGE_PAID] = acc[A_SLIPPAGE]
    m[M_REALIZED_PNL] = acc[A_REALIZED]
    m[M_SKEW] = np.sqrt(n_ret) * m3 / m2**1.5 if m2 > 0.0 else nan
    m[M_KURTOSIS] = n_ret * m4 / (m2 * m2) if m2 > 0.0 else nan
    m[M_LIQUIDATED] = 1.0 if acc[A_N_LIQ] > 0.0 else 0.0
    m[M_N_HALTS] = acc[A_HALTS]
    m[M_MAX_HOLDING_BARS] = acc[A_MAX_HOLD]
