"""Margin: funding settlements, liquidation and the exit floor, isolated and cross behind one set of
functions (each reads ``P_MARGIN_MODE`` itself; the loop never asks which mode it runs).

Isolated: each position owns its margin; funding is taken from it, which moves its liquidation price;
it is liquidated alone at its liquidation price (at the open when the bar gapped through it) and loses
its whole remaining margin. Cross: positions share the wallet; the account is liquidated when its
margin balance (wallet + unrealised PnL) is at or below the summed maintenance margin, every position
closes at its liquidation price with the others at their worst prices, and the balance left goes to
the insurance fund (``cross_liquidate``). A market exit never fills beyond the liquidation price
(``exit_floor``).
"""

import numpy as np
from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.book import close_position
from kernels.enums import (
    A_FUNDING,
    A_OPEN,
    A_WALLET,
    MARGIN_CROSS,
    P_LEVERAGE,
    P_MARGIN_MODE,
    P_TAKER_FEE,
    REASON_LIQUIDATION,
    S_ENTRY,
    S_FUNDING,
    S_LIQ,
    S_MARGIN,
    S_QTY,
)
from kernels.jit import inner
from kernels.perp import liquidation_price, maintenance_margin

# cross_liquidated's ``at_open`` as np.bool_: a bare True/False is a numba Literal, one compiled copy each
AT_OPEN = np.bool_(True)
INTRABAR = np.bool_(False)


@njit(cache=True, inline="always")
def is_cross(p):
    """Whether parameter row ``p`` trades cross margin."""
    return int(p[P_MARGIN_MODE]) == MARGIN_CROSS


@inner
def exit_floor(a, pos, acc, prices, row, tiers):
    """Cross margin: position ``a``'s liquidation price with the others at ``prices[row]``. A market exit
    never fills beyond it (the exchange would have liquidated first)."""
    margin = acc[A_WALLET]
    for b in range(pos.shape[0]):
        qty = pos[b, S_QTY]
        if b != a and qty != 0.0:
            px = prices[row, b]
            margin += qty * (px - pos[b, S_ENTRY]) - maintenance_margin(abs(qty) * px, tiers[b])
    return liquidation_price(pos[a, S_QTY], pos[a, S_ENTRY], margin, tiers[a])


@inner
def entry_liquidation_price(qty, price, margin, tiers, p):
    """A new position's ``S_LIQ``: isolated, its own liquidation price; cross, none (0 or inf: the
    account-level test liquidates cross positions)."""
    if is_cross(p):
        return 0.0 if qty > 0.0 else np.inf
    return liquidation_price(qty, price, margin, tiers)


@njit(cache=True, inline="always")
def settle_funding(a, t, mkt, pos, acc, p, tiers):
    """Funding of bar ``t`` on position ``a`` (``qty * settle * rate``; positive rate: longs pay), from
    the wallet; isolated, also from the position's margin, which moves its liquidation price."""
    rate = mkt.funding[t, a]
    if rate != 0.0:
        qty = pos[a, S_QTY]
        pay = qty * mkt.settle[t, a] * rate
        acc[A_WALLET] -= pay
        acc[A_FUNDING] += pay
        pos[a, S_FUNDING] += pay
        if not is_cross(p):
            pos[a, S_MARGIN] -= pay
            pos[a, S_LIQ] = liquidation_price(qty, pos[a, S_ENTRY], pos[a, S_MARGIN], tiers[a])


@inner
def rebracket(pos, p, tiers):
    """New brackets in force (``Market.rules_row`` moved): each isolated position's liquidation price
    under them (the exchange applies its current table to open positions; cross needs nothing)."""
    if is_cross(p):
        return
    for a in range(pos.shape[0]):
        qty = pos[a, S_QTY]
        if qty != 0.0:
            pos[a, S_LIQ] = liquidation_price(qty, pos[a, S_ENTRY], pos[a, S_MARGIN], tiers[a])


@inner
def liquidate_position(c, a, t, price, pos, acc, p, record, trades):
    """Isolated: liquidate position ``a`` at ``price``; it loses its whole remaining margin."""
    lev, fee = p[P_LEVERAGE], p[P_TAKER_FEE]
    close_position(c, a, t, price, price, REASON_LIQUIDATION, pos, acc, lev, fee, record, trades, pos[a, S_MARGIN])


@njit(cache=True, inline="always")
def liquidate_at_open(c, t, mkt, pos, acc, p, px, record, trades, tiers):
    """Events 1-2 of bar ``t``: each position settles funding; isolated, a position whose liquidation
    price the bar opens beyond is liquidated at that open (right after its own funding); cross, the
    account is liquidated when its margin balance at the opens is at or below its maintenance. The
    opens are those of the price that triggers liquidation (``Market.liq_open``: mark or last)."""
    if acc[A_OPEN] == 0.0:
        return
    cross = is_cross(p)
    for a in range(pos.shape[0]):
        qty = pos[a, S_QTY]
        if qty == 0.0:
            continue
        settle_funding(a, t, mkt, pos, acc, p, tiers)
        if mkt.tradable[t, a] and not cross:
            o = mkt.liq_open[t, a]
            liq = pos[a, S_LIQ]
            if (qty > 0.0 and o <= liq) or (qty < 0.0 and o >= liq):
                liquidate_position(c, a, t, o, pos, acc, p, record, trades)
    if cross and acc[A_OPEN] > 0.0 and cross_liquidated(t, AT_OPEN, mkt, pos, acc, px, tiers):
        cross_liquidate(c, t, pos, acc, px, p[P_LEVERAGE], record, trades, tiers)


@inner
def liquidate_intrabar(c, t, mkt, pos, acc, p, px, record, trades, tiers):
    """Cross: after every position's stops, liquidate the account when its margin balance with every
    position at its bar's worst price is at or below its maintenance. (Isolated positions meet their
    liquidation price inside ``kernels.exits``, between their stop and their take-profit.)"""
    if is_cross(p) and cross_liquidated(t, INTRABAR, mkt, pos, acc, px, tiers):
        cross_liquidate(c, t, pos, acc, px, p[P_LEVERAGE], record, trades, tiers)


@inner
def cross_liquidated(t, at_open, mkt, pos, acc, px, tiers):
    """Whether the cross account is liquidated on bar ``t`` at the opens (``at_open``) or with every
    position at its worst price of the bar, in the price that triggers liquidation (``Market.liq_*``);
    ``px`` receives each position's fill price."""
    open_, high, low, close = mkt.liq_open, mkt.liq_high, mkt.liq_low, mkt.close
    tradable = mkt.tradable
    n_assets = pos.shape[0]
    balance = acc[A_WALLET]
    maint = 0.0
    any_pos = False
    for a in range(n_assets):
        qty = pos[a, S_QTY]
        if qty == 0.0:
            continue
        any_pos = True
        if not tradable[t, a]:
            px[a] = close[t, a]
        elif at_open:
            px[a] = open_[t, a]
        else:
            px[a] = low[t, a] if qty > 0.0 else high[t, a]
        balance += qty * (px[a] - pos[a, S_ENTRY])
        maint += maintenance_margin(abs(qty) * px[a], tiers[a])
    if not any_pos or balance > maint:
        return False
    if at_open:
        return True
    # each position's liquidation price with the others at their worst prices, clamped into its bar
    for a in range(n_assets):
        qty = pos[a, S_QTY]
        if qty == 0.0 or not tradable[t, a]:
            continue
        own_u = qty * (px[a] - pos[a, S_ENTRY])
        own_mm = maintenance_margin(abs(qty) * px[a], tiers[a])
        others = balance - own_u - (maint - own_mm)
        lp = liquidation_price(qty, pos[a, S_ENTRY], others, tiers[a])
        o = open_[t, a]
        if qty > 0.0:
            px[a] = o if lp >= o else (lp if lp > low[t, a] else low[t, a])
        else:
            px[a] = o if lp <= o else (lp if lp < high[t, a] else high[t, a])
    return True


@inner
def cross_liquidate(c, t, pos, acc, px, lev, record, trades, tiers):
    """Close every position at ``px``; the margin balance left is lost. A positive balance (what the
    insurance fund takes) is shared by maintenance margin; a negative one (a loss beyond the wallet,
    which the fund absorbs) by each position's loss, so that the account ends at zero."""
    n_assets = pos.shape[0]
    balance = acc[A_WALLET]
    maint = 0.0
    losses = 0.0
    n = 0
    for a in range(n_assets):
        qty = pos[a, S_QTY]
        if qty != 0.0:
            u = qty * (px[a] - pos[a, S_ENTRY])
            balance += u
            maint += maintenance_margin(abs(qty) * px[a], tiers[a])
            losses += -u if u < 0.0 else 0.0
            n += 1
    for a in range(n_assets):
        qty = pos[a, S_QTY]
        if qty == 0.0:
            continue
        u = qty * (px[a] - pos[a, S_ENTRY])
        if balance < 0.0 and losses > 0.0:
            share = balance * (-u if u < 0.0 else 0.0) / losses
        elif maint > 0.0:
            share = balance * maintenance_margin(abs(qty) * px[a], tiers[a]) / maint
        else:
            share = balance / n
        close_position(c, a, t, px[a], px[a], REASON_LIQUIDATION, pos, acc, lev, 0.0, record, trades, share - u)
