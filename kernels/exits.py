"""Exits inside a bar (event 4): stop-loss, trailing stop, liquidation and take-profit.

The order is pessimistic: the stop (the nearer of stop-loss and trailing stop; filled at the stop
price, or at the open when the bar opened beyond it, as a market order) when it lies before the
liquidation price; else liquidation when the trigger's ``low`` (long) / ``high`` (short) touches it;
then the take-profit (a resting limit order: maker fee, no slippage, filled at its price or at a
better open). Then the trailing stop's best price moves to the bar's high (long) / low (short), so it
acts from the next bar. In cross margin every position's stops come first, then the account-level
liquidation (``kernels.margin.liquidate_intrabar``), then take-profits.

Stops trigger on ``Market.stop_*`` and liquidation on ``Market.liq_*`` (the last price or the mark
price). When the mark triggers liquidation, the last price can pass a stop set beyond the liquidation
price without the position being liquidated: that stop then fills (at most at the exit floor).
"""

from typing import NamedTuple

from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.book import close_position
from kernels.enums import (
    A_OPEN,
    EXIT_STOP_LOSS,
    EXIT_TRAILING_STOP,
    P_LEVERAGE,
    P_MAKER_FEE,
    REASON_TAKE_PROFIT,
    S_BEST,
    S_LIQ,
    S_QTY,
    S_STOP,
    S_TARGET,
    S_TRAIL,
)
from kernels.jit import inner
from kernels.margin import exit_floor, is_cross, liquidate_intrabar, liquidate_position
from kernels.orders import market_close


class Bar(NamedTuple):
    """One asset's bar as its exits see it: last-price open, high and low, the open, high and low of
    the price that triggers its stops, and the high and low of the price that triggers liquidation."""

    open: float
    high: float
    low: float
    stop_open: float
    stop_high: float
    stop_low: float
    liq_high: float
    liq_low: float


@njit(cache=True, inline="always")
def bar_of(t, a, mkt):
    """Asset ``a``'s ``Bar`` at ``t``."""
    return Bar(
        mkt.open[t, a],
        mkt.high[t, a],
        mkt.low[t, a],
        mkt.stop_open[t, a],
        mkt.stop_high[t, a],
        mkt.stop_low[t, a],
        mkt.liq_high[t, a],
        mkt.liq_low[t, a],
    )


@inner
def stop_hit(c, a, t, bar, pos, acc, p, record, trades, orders, open_):
    """The stop (before liquidation when nearer, or when the liquidation trigger does not reach the
    liquidation price), then isolated liquidation; whether either closed position ``a``. The stop
    fills as a market order with the previous bar's volume."""
    qty = pos[a, S_QTY]
    cross = is_cross(p)
    liq = pos[a, S_LIQ]
    if cross:  # a stop beyond the account's liquidation price is never reached first
        liq = exit_floor(a, pos, acc, open_, t, orders.tiers)
    long = qty > 0.0
    stop = pos[a, S_STOP]
    reason = EXIT_STOP_LOSS
    trail = pos[a, S_TRAIL]
    if trail == trail:
        level = pos[a, S_BEST] - trail if long else pos[a, S_BEST] + trail
        if long and not (stop >= level) or not long and not (stop <= level):
            stop = level
            reason = EXIT_TRAILING_STOP
    if long:
        liq_reached = bar.liq_low <= liq
        fires = bar.stop_low <= stop and (stop > liq or not liq_reached)
    else:
        liq_reached = bar.liq_high >= liq
        fires = bar.stop_high >= stop and (stop < liq or not liq_reached)
    if fires:
        o = bar.open
        if long:
            ref = o if bar.stop_open <= stop else stop
        else:
            ref = o if bar.stop_open >= stop else stop
        pos[a, S_LIQ] = liq  # the floor found above (isolated: unchanged)
        market_close(c, a, t, t - 1 if t > 0 else 0, ref, pos, acc, p, record, trades, orders, reason)
        return True
    if not cross and liq_reached:
        liquidate_position(c, a, t, liq, pos, acc, p, record, trades)
        return True
    return False


@inner
def target_hit(c, a, t, o, h, lo, pos, acc, p, record, trades):
    """The take-profit (a limit order: maker fee, no slippage), else move the trail's best price."""
    qty = pos[a, S_QTY]
    tp = pos[a, S_TARGET]
    if qty > 0.0:
        if h >= tp:
            px = o if o >= tp else tp
            close_position(
                c, a, t, px, px, REASON_TAKE_PROFIT, pos, acc, p[P_LEVERAGE], p[P_MAKER_FEE], record, trades, 0.0
            )
        elif h > pos[a, S_BEST]:
            pos[a, S_BEST] = h
    else:
        if lo <= tp:
            px = o if o <= tp else tp
            close_position(
                c, a, t, px, px, REASON_TAKE_PROFIT, pos, acc, p[P_LEVERAGE], p[P_MAKER_FEE], record, trades, 0.0
            )
        elif lo < pos[a, S_BEST]:
            pos[a, S_BEST] = lo


@njit(cache=True, inline="always")
def touched(qty, bar, pos, a):
    """Whether the bar reached position ``a``'s liquidation, stop, trail or take-profit level; if not,
    the trail's best price moves here (the common case, tested with scalars only)."""
    h, lo = bar.high, bar.low
    if qty > 0.0:
        hit = bar.liq_low <= pos[a, S_LIQ] or bar.stop_low <= pos[a, S_STOP] or h >= pos[a, S_TARGET]
        hit = hit or bar.stop_low <= pos[a, S_BEST] - pos[a, S_TRAIL]
        if not hit and h > pos[a, S_BEST]:
            pos[a, S_BEST] = h
    else:
        hit = bar.liq_high >= pos[a, S_LIQ] or bar.stop_high >= pos[a, S_STOP] or lo <= pos[a, S_TARGET]
        hit = hit or bar.stop_high >= pos[a, S_BEST] + pos[a, S_TRAIL]
        if not hit and lo < pos[a, S_BEST]:
            pos[a, S_BEST] = lo
    return hit


@njit(cache=True, inline="always")
def bar_exits(c, t, mkt, pos, acc, p, px, record, trades, orders):
    """Event 4 on bar ``t`` for every open position (module docstring's order)."""
    if acc[A_OPEN] == 0.0:
        return
    cross = is_cross(p)
    open_, high, low, tradable = mkt.open, mkt.high, mkt.low, mkt.tradable
    for a in range(pos.shape[0]):
        qty = pos[a, S_QTY]
        if qty == 0.0 or not tradable[t, a]:
            continue
        bar = bar_of(t, a, mkt)
        if touched(qty, bar, pos, a):
            if not stop_hit(c, a, t, bar, pos, acc, p, record, trades, orders, open_) and not cross:
                target_hit(c, a, t, bar.open, bar.high, bar.low, pos, acc, p, record, trades)
    if not cross:
        return
    liquidate_intrabar(c, t, mkt, pos, acc, p, px, record, trades, orders.tiers)
    for a in range(pos.shape[0]):  # take-profits and the trail, only where the bar reached them
        qty = pos[a, S_QTY]
        if qty == 0.0 or not tradable[t, a]:
            continue
        h, lo = high[t, a], low[t, a]
        if qty > 0.0:
            reached = h >= pos[a, S_TARGET] or h > pos[a, S_BEST]
        else:
            reached = lo <= pos[a, S_TARGET] or lo < pos[a, S_BEST]
        if reached:
            target_hit(c, a, t, open_[t, a], h, lo, pos, acc, p, record, trades)
