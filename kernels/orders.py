"""Orders: sizing, caps, slippage, fees and market fills, and the orders pending for the next open.

Sizing (``P_SIZING``) picks a margin, capped by ``max_position_size`` x equity, the portfolio
exposure cap, the largest notional Binance's brackets allow at the leverage, and the free balance
(wallet less the margin of open positions, fees included); the quantity is rounded down to the
symbol's step and an order below its minimum quantity or notional is not placed.

Slippage on a market fill is ``slippage + impact * sqrt(qty / volume)`` of the price (at most
``MAX_SLIPPAGE``), with the volume of the bar whose close decided the order. Market fills pay the
taker fee; stops are set at entry from the fill price (a percent of it, or a multiple of an ATR-like
series read on the signal bar).
"""

from typing import NamedTuple

import numpy as np
from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.book import close_position, side_of
from kernels.enums import (
    A_FEES,
    A_LOSS_RET,
    A_N_TRADES,
    A_OPEN,
    A_SCALE,
    A_SLIPPAGE,
    A_WALLET,
    A_WIN_RET,
    A_WINS,
    EXIT_RISK_HALT,
    L_MIN_NOTIONAL,
    L_MIN_QTY,
    L_STEP,
    P_IMPACT,
    P_KELLY_FALLBACK,
    P_KELLY_MIN_TRADES,
    P_LEVERAGE,
    P_MAX_EXPOSURE,
    P_MAX_POSITION,
    P_SIZE,
    P_SIZING,
    P_SLIPPAGE,
    P_STOP_LOSS,
    P_TAKE_PROFIT,
    P_TAKER_FEE,
    P_TRAILING_STOP,
    REASON_RISK_HALT,
    S_BEST,
    S_ENTRY,
    S_ENTRY_BAR,
    S_FEES,
    S_FUNDING,
    S_LIQ,
    S_MARGIN,
    S_QTY,
    S_SLIPPAGE,
    S_STOP,
    S_TARGET,
    S_TRAIL,
    SIZE_FRACTION,
    SIZE_KELLY,
    SIZE_NOTIONAL,
    SIZE_RISK,
    SIZE_VOL,
)
from kernels.jit import inner
from kernels.margin import entry_liquidation_price, exit_floor, is_cross
from kernels.perp import max_notional

MAX_SLIPPAGE = 0.1  # a market fill never slips more than 10 % (thin bars make the impact term explode)


class Pending(NamedTuple):
    """Market orders waiting for the next open, one slot per asset."""

    side: np.ndarray  # (n_assets,) int64: the side to move to
    active: np.ndarray  # (n_assets,) bool
    reason: np.ndarray  # (n_assets,) int64: E.EXIT_* recorded if it closes a position


@njit(cache=True)
def no_pending(n_assets):
    """Empty order slots for ``n_assets`` assets."""
    return Pending(np.zeros(n_assets, np.int64), np.zeros(n_assets, np.bool_), np.zeros(n_assets, np.int64))


@inner
def slip_rate(p, qty, volume):
    """Slippage as a fraction of price for a market order of ``qty`` against a bar of ``volume``."""
    rate = p[P_SLIPPAGE]
    k = p[P_IMPACT]
    if k > 0.0 and volume > 0.0:
        rate += k * np.sqrt(abs(qty) / volume)
    return rate if rate < MAX_SLIPPAGE else MAX_SLIPPAGE


@inner
def stop_distance(value, col, entry, t_sig, a, ind):
    """A stop's distance in price: ``value`` x entry price, or ``value`` x series ``col`` at the signal bar."""
    if value != value:
        return np.nan
    if col < 0:
        return value * entry
    return value * ind[col, t_sig, a]


@inner
def margin_for(a, t_sig, reference, equity, acc, p, stop_col, ind):
    """The margin the sizing method asks for (before caps)."""
    method = int(p[P_SIZING])
    size = p[P_SIZE]
    lev = p[P_LEVERAGE]
    if method == SIZE_FRACTION:
        return size * equity
    if method == SIZE_NOTIONAL:
        return size / lev
    if method == SIZE_RISK:
        d = stop_distance(p[P_STOP_LOSS], stop_col[0], reference, t_sig, a, ind) / reference
        return equity * size / d / lev if d > 0.0 else 0.0
    if method == SIZE_VOL:
        v = ind[stop_col[3], t_sig, a] / reference
        return equity * size / v / lev if v > 0.0 else 0.0
    if method == SIZE_KELLY:
        n = acc[A_N_TRADES]
        w = acc[A_WINS]
        if n >= p[P_KELLY_MIN_TRADES] and w > 0.0 and n - w > 0.0:
            win = w / n
            f = size * (win / (acc[A_LOSS_RET] / (n - w)) - (1.0 - win) / (acc[A_WIN_RET] / w))
        else:
            f = p[P_KELLY_FALLBACK]
        return f * equity if f > 0.0 else 0.0
    return 0.0


@inner
def capped_margin(a, t_sig, reference, prices, row, pos, acc, p, orders):
    """The margin of a new position on asset ``a``: what sizing asks, capped by the position cap, the
    exposure cap, the brackets' largest notional at the leverage and the free balance."""
    lev = p[P_LEVERAGE]
    equity = acc[A_WALLET]
    used = 0.0
    exposure = 0.0
    for b in range(pos.shape[0]):
        if pos[b, S_QTY] != 0.0:
            equity += pos[b, S_QTY] * (prices[row, b] - pos[b, S_ENTRY])
            used += pos[b, S_MARGIN]
            exposure += abs(pos[b, S_QTY]) * prices[row, b]
    margin = margin_for(a, t_sig, reference, equity, acc, p, orders.stop_col, orders.ind) * acc[A_SCALE]
    cap = p[P_MAX_POSITION] * equity
    if margin > cap:
        margin = cap
    cap = p[P_MAX_EXPOSURE]
    if cap == cap and margin > (cap * equity - exposure) / lev:
        margin = (cap * equity - exposure) / lev
    cap = max_notional(lev, orders.tiers[a]) / lev
    if margin > cap:
        margin = cap
    cap = (acc[A_WALLET] - used) / (1.0 + lev * p[P_TAKER_FEE])
    if margin > cap:
        margin = cap
    return margin


@inner
def open_position(a, t, t_sig, side, reference, prices, row, pos, acc, p, orders):
    """Open a position on asset ``a`` at ``reference`` adjusted for slippage, sized and capped
    (``orders``: a ``kernels.program.Orders``, what sizing, slippage, stops and lot filters read)."""
    ind, stop_col, lots = orders.ind, orders.stop_col, orders.lots
    lev = p[P_LEVERAGE]
    margin = capped_margin(a, t_sig, reference, prices, row, pos, acc, p, orders)
    if margin <= 1e-12 * abs(acc[A_WALLET]) or margin <= 0.0:
        return
    notional = margin * lev
    slip = slip_rate(p, notional / reference, orders.volume[t_sig, a])
    price = reference * (1.0 + slip) if side > 0 else reference * (1.0 - slip)
    q = notional / price
    step = lots[a, L_STEP]
    if step > 0.0:
        q = np.floor(q / step + 1e-9) * step
        notional = q * price
        margin = notional / lev
    if q <= 0.0 or q < lots[a, L_MIN_QTY] or notional < lots[a, L_MIN_NOTIONAL]:
        return
    fee = notional * p[P_TAKER_FEE]
    acc[A_WALLET] -= fee
    acc[A_FEES] += fee
    slipped = q * abs(price - reference)
    acc[A_SLIPPAGE] += slipped
    qty = q if side > 0 else -q
    pos[a, S_QTY] = qty
    acc[A_OPEN] += 1.0
    pos[a, S_ENTRY] = price
    pos[a, S_MARGIN] = margin
    pos[a, S_LIQ] = entry_liquidation_price(qty, price, margin, orders.tiers[a], p)
    pos[a, S_ENTRY_BAR] = t
    pos[a, S_FEES] = fee
    pos[a, S_FUNDING] = 0.0
    pos[a, S_SLIPPAGE] = slipped
    sl = stop_distance(p[P_STOP_LOSS], stop_col[0], price, t_sig, a, ind)
    tp = stop_distance(p[P_TAKE_PROFIT], stop_col[1], price, t_sig, a, ind)
    pos[a, S_STOP] = price - side * sl
    pos[a, S_TARGET] = price + side * tp
    pos[a, S_TRAIL] = stop_distance(p[P_TRAILING_STOP], stop_col[2], price, t_sig, a, ind)
    pos[a, S_BEST] = price


@njit(cache=True, inline="always")
def dust(pos, acc, p, min_notional):
    """Whether a flat account is too small for an order of at least ``min_notional``: its largest
    possible notional (the wallet, or the sized fraction of it, at the leverage with the fee set
    aside) is below it. ``open_position`` would refuse the order; ``fill`` skips the call (most of a
    losing grid's accounts end that small, and their entry signals keep coming)."""
    if not min_notional > 0.0 or acc[A_OPEN] > 0.0:
        return False
    lev = p[P_LEVERAGE]
    frac = 1.0 / (1.0 + lev * p[P_TAKER_FEE])
    if p[P_MAX_POSITION] < frac:
        frac = p[P_MAX_POSITION]
    if int(p[P_SIZING]) == SIZE_FRACTION and p[P_SIZE] * acc[A_SCALE] < frac:
        frac = p[P_SIZE] * acc[A_SCALE]
    return acc[A_WALLET] * frac * lev * (1.0 + 1e-6) < min_notional


@inner
def market_exit(c, a, t, t_sig, reference, prices, row, pos, acc, p, record, trades, orders, reason):
    """Close asset ``a`` with a market order at ``reference`` (slipped, never beyond the liquidation
    price: cross, the exit floor with the other positions at ``prices[row]``)."""
    if is_cross(p):
        pos[a, S_LIQ] = exit_floor(a, pos, acc, prices, row, orders.tiers)
    market_close(c, a, t, t_sig, reference, pos, acc, p, record, trades, orders, reason)


@inner
def market_close(c, a, t, t_sig, reference, pos, acc, p, record, trades, orders, reason):
    """Close asset ``a`` with a market order at ``reference``, slipped with the volume of bar
    ``t_sig``, never beyond the floor already in ``S_LIQ``."""
    qty = pos[a, S_QTY]
    slip = slip_rate(p, qty, orders.volume[t_sig, a])
    px = reference * (1.0 - slip) if qty > 0.0 else reference * (1.0 + slip)
    close_position(c, a, t, px, reference, reason, pos, acc, p[P_LEVERAGE], p[P_TAKER_FEE], record, trades, 0.0)


@njit(cache=True, inline="always")
def fill(c, a, t, t_sig, target, reference, prices, row, pos, acc, p, record, trades, orders, reason):
    """Move asset ``a`` to side ``target`` at ``reference`` (a market order; an exit records ``reason``)."""
    side = side_of(pos[a, S_QTY])
    if side == target:
        return
    if side != 0:
        market_exit(c, a, t, t_sig, reference, prices, row, pos, acc, p, record, trades, orders, reason)
    if target != 0 and not dust(pos, acc, p, orders.lots[a, L_MIN_NOTIONAL]):
        open_position(a, t, t_sig, target, reference, prices, row, pos, acc, p, orders)


@njit(cache=True, inline="always")
def fill_pending(c, t, mkt, pos, acc, p, pending, record, trades, orders):
    """Event 3: orders decided on bar ``t - 1`` fill at ``open[t]`` where the asset trades."""
    for a in range(pos.shape[0]):
        if pending.active[a] and mkt.tradable[t, a]:
            pending.active[a] = False
            fill(
                c,
                a,
                t,
                t - 1,
                pending.side[a],
                mkt.open[t, a],
                mkt.open,
                t,
                pos,
                acc,
                p,
                record,
                trades,
                orders,
                pending.reason[a],
            )


@inner
def exit_all(c, t, mkt, pos, acc, p, pending, fill_close, record, trades, orders):
    """A circuit breaker's halt: cancel every pending order and close every position (``risk_halt``),
    at this close (``fill_at=close``) or at the next open."""
    for a in range(pos.shape[0]):
        pending.active[a] = False
        if pos[a, S_QTY] == 0.0:
            continue
        if fill_close and mkt.tradable[t, a]:
            fill(c, a, t, t, 0, mkt.close[t, a], mkt.close, t, pos, acc, p, record, trades, orders, REASON_RISK_HALT)
        else:
            pending.side[a] = 0
            pending.active[a] = True
            pending.reason[a] = EXIT_RISK_HALT


@inner
def wanted_sides(t, pos, pending, targets_out):
    """The side each asset should hold after bar ``t``'s close: the pending order's, else the held one."""
    for a in range(pos.shape[0]):
        targets_out[t, a] = pending.side[a] if pending.active[a] else side_of(pos[a, S_QTY])
