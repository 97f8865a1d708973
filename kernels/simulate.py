"""Perpetual-futures simulation core: one loop per combination, metrics streamed.

Order of events inside bar ``t`` (per asset, assets in column order):

1. funding settles at the bar's open instant on positions held into the bar
   (``qty * settle_price * rate``; positive rate: longs pay), taken from the isolated margin
   (cross margin: from the shared wallet);
2. liquidation at the open: an isolated position whose liquidation price the bar *opens* beyond
   is liquidated at the open; in cross margin, the whole account when its margin balance at the
   opens is at or below the summed maintenance margin (every position at its open);
3. orders from bar ``t-1``'s signals fill at ``open[t]`` (``fill_at=next_open``), taker fee
   plus slippage against the trader;
4. exits inside the bar, in a pessimistic order: the stop (the nearer of stop-loss and
   trailing stop; filled at the stop price, or at the open when the bar opened beyond it,
   taker fee plus slippage) when it lies before the liquidation price; else liquidation when
   ``low`` (long) / ``high`` (short) touches it; then take-profit (a resting limit order: maker
   fee, no slippage, filled at its price or at a better open). A stop-loss therefore wins over
   a take-profit touched in the same bar. Then the trailing stop's best price moves to the
   bar's high (long) / low (short), so it acts from the next bar. In cross margin every
   position's stops come first, then the account is liquidated when its margin balance with
   every position at its bar's worst price (low of a long, high of a short) is at or below the
   summed maintenance margin, then take-profits;
5. risk circuit breakers read the equity marked at ``close[t]``; a breach closes every position
   (``risk_halt``, filled like a signal) and ignores signals until the halt ends;
6. conditions are evaluated on bar ``t``'s values and, with ``fill_at=close``, filled at
   ``close[t]`` at once. Entries need the bar's time filter to allow them and every referenced
   series to be defined (warm-up); a reversal whose entry is not allowed only exits;
7. mark to market at ``close[t]``; on the last bar every open position is closed at the close
   (``end_of_data``).

Stops are set at entry from the fill price: a percent of it, or a multiple of an ATR-like
series read on the signal bar (the bar whose close decided the entry).

Sizing (``P_SIZING``) picks a margin, capped by ``max_position_size`` x equity, the portfolio
exposure cap, the largest notional Binance's brackets allow at the leverage, and the free balance
(wallet less the margin of open positions, fees included); the quantity is rounded down to the
symbol's step and an order below its minimum quantity or notional is not placed.

Slippage on a market fill is ``slippage + impact * sqrt(qty / volume)`` of the price (at most
``MAX_SLIPPAGE``), with the volume of the bar whose close decided the order (a stop: the bar
before; ``end_of_data``: the last bar), so no fill reads a volume it could not know. A market exit
never fills beyond the position's liquidation price (cross: with the other positions at the fill
bar's prices), where the exchange would have liquidated it first.

An isolated liquidation fills at the liquidation price (the open when the bar gapped through it)
and loses the position's whole remaining margin and nothing else. A cross liquidation closes every
position at its liquidation price with the others at their worst prices (clamped into the bar;
the open on a gap) and the account loses its whole margin balance: what is left after those
closes goes to the insurance fund, shared among the trades by maintenance margin (a balance below
zero, absorbed by the fund, is shared by the positions' losses).
Equity reconciles exactly: ``initial + realized_pnl - fees - funding = final``.
"""

import numpy as np
from numba import njit, prange

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.enums import (
    A_FEES,
    A_FUNDING,
    A_GROSS_LOSS,
    A_GROSS_WIN,
    A_HALTS,
    A_LOSS_RET,
    A_MAX_HOLD,
    A_N_LIQ,
    A_N_TRADES,
    A_OPEN,
    A_REALIZED,
    A_SCALE,
    A_SLIPPAGE,
    A_STREAK,
    A_WALLET,
    A_WIN_RET,
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
    DIR_LONG,
    DIR_SHORT,
    EXIT_END_OF_DATA,
    EXIT_LIQUIDATION,
    EXIT_RISK_HALT,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING_STOP,
    FILL_CLOSE,
    G_LONG_ENTRY,
    G_LONG_EXIT,
    G_SHORT_ENTRY,
    G_SHORT_EXIT,
    L_MIN_NOTIONAL,
    L_MIN_QTY,
    L_STEP,
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
    MARGIN_CROSS,
    N_ACC,
    N_BLOCK,
    N_GROUPS,
    N_METRICS,
    N_STATE,
    OP_BETWEEN,
    OP_CROSS_ABOVE,
    OP_CROSS_BELOW,
    OP_GE,
    OP_GT,
    OP_LT,
    P_COOLDOWN,
    P_DAILY_LOSS,
    P_DD_HALT,
    P_DD_SCALE,
    P_DD_SCALE_AT,
    P_DIRECTION,
    P_FILL_AT,
    P_IMPACT,
    P_KELLY_FALLBACK,
    P_KELLY_MIN_TRADES,
    P_LEVERAGE,
    P_MAKER_FEE,
    P_MARGIN_MODE,
    P_MAX_EXPOSURE,
    P_MAX_LOSSES,
    P_MAX_POSITION,
    P_SIZE,
    P_SIZING,
    P_SLIPPAGE,
    P_STOP_LOSS,
    P_TAKE_PROFIT,
    P_TAKER_FEE,
    P_TRAILING_STOP,
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
from kernels.perp import liquidation_price, maintenance_margin, max_notional
from kernels.program import Orders
from kernels.records import trade_dt

MAX_SLIPPAGE = 0.1  # a market fill never slips more than 10 % (thin bars make the impact term explode)


@njit(cache=True)
def _slip_rate(p, qty, volume):
    """Slippage as a fraction of price for a market order of ``qty`` against a bar of ``volume``."""
    rate = p[P_SLIPPAGE]
    k = p[P_IMPACT]
    if k > 0.0 and volume > 0.0:
        rate += k * np.sqrt(abs(qty) / volume)
    return rate if rate < MAX_SLIPPAGE else MAX_SLIPPAGE


@njit(cache=True)
def _exit_floor(a, pos, acc, prices, row, tiers):
    """Cross margin: position ``a``'s liquidation price with the others at ``prices[row]``. A market exit
    never fills beyond it (the exchange would have liquidated first)."""
    margin = acc[A_WALLET]
    for b in range(pos.shape[0]):
        qty = pos[b, S_QTY]
        if b != a and qty != 0.0:
            px = prices[row, b]
            margin += qty * (px - pos[b, S_ENTRY]) - maintenance_margin(abs(qty) * px, tiers[b])
    return liquidation_price(pos[a, S_QTY], pos[a, S_ENTRY], margin, tiers[a])


@njit(cache=True)
def _close_position(c, a, t, price, reference, reason, pos, acc, lev, fee_rate, record, trades, loss):
    """Close asset ``a`` at ``price`` (slippage included; ``reference`` is the unslipped price). A
    liquidation books ``-loss`` as its PnL and pays no fee."""
    qty = pos[a, S_QTY]
    q = abs(qty)
    if reason == EXIT_LIQUIDATION:
        gross = -loss
        fee = 0.0
        slip = 0.0
        acc[A_N_LIQ] += 1.0
    else:
        # a market exit never fills beyond S_LIQ (isolated: the liquidation price; cross: the
        # caller's _exit_floor, else 0 / inf)
        if qty > 0.0 and price < pos[a, S_LIQ]:
            price = pos[a, S_LIQ]
        elif qty < 0.0 and price > pos[a, S_LIQ]:
            price = pos[a, S_LIQ]
        gross = qty * (price - pos[a, S_ENTRY])
        fee = q * price * fee_rate
        slip = q * abs(price - reference)
    acc[A_WALLET] += gross - fee
    acc[A_FEES] += fee
    acc[A_SLIPPAGE] += slip
    acc[A_REALIZED] += gross
    fees = pos[a, S_FEES] + fee
    net = gross - fees - pos[a, S_FUNDING]
    margin = q * pos[a, S_ENTRY] / lev
    ret = net / margin
    k = int(acc[A_N_TRADES])
    acc[A_N_TRADES] += 1.0
    held = t - pos[a, S_ENTRY_BAR]
    if held > acc[A_MAX_HOLD]:
        acc[A_MAX_HOLD] = held
    if net > 0.0:
        acc[A_WINS] += 1.0
        acc[A_GROSS_WIN] += net
        acc[A_WIN_RET] += ret
        acc[A_STREAK] = 0.0
    else:
        acc[A_GROSS_LOSS] -= net
        acc[A_LOSS_RET] -= ret
        acc[A_STREAK] += 1.0
    if record:
        tr = trades[k]
        tr["combo"] = c
        tr["asset"] = a
        tr["side"] = 1 if qty > 0.0 else -1
        tr["entry_bar"] = int(pos[a, S_ENTRY_BAR])
        tr["exit_bar"] = t
        tr["entry_price"] = pos[a, S_ENTRY]
        tr["exit_price"] = price
        tr["qty"] = q
        tr["leverage"] = lev
        tr["margin"] = margin
        tr["fees"] = fees
        tr["funding"] = pos[a, S_FUNDING]
        tr["slippage"] = pos[a, S_SLIPPAGE] + slip
        tr["gross_pnl"] = gross
        tr["net_pnl"] = net
        tr["ret"] = ret
        tr["exit_reason"] = reason
    for j in range(N_STATE):
        pos[a, j] = 0.0
    acc[A_OPEN] -= 1.0


@njit(cache=True)
def _stop_distance(value, col, entry, t_sig, a, ind):
    """A stop's distance in price: ``value`` x entry price, or ``value`` x series ``col`` at the signal bar."""
    if value != value:
        return np.nan
    if col < 0:
        return value * entry
    return value * ind[col, t_sig, a]


@njit(cache=True)
def _margin_for(a, t_sig, reference, equity, acc, p, stop_col, ind):
    """The margin the sizing method asks for (before caps)."""
    method = int(p[P_SIZING])
    size = p[P_SIZE]
    lev = p[P_LEVERAGE]
    if method == SIZE_FRACTION:
        return size * equity
    if method == SIZE_NOTIONAL:
        return size / lev
    if method == SIZE_RISK:
        d = _stop_distance(p[P_STOP_LOSS], stop_col[0], reference, t_sig, a, ind) / reference
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


@njit(cache=True)
def _open_position(a, t, t_sig, side, reference, prices, row, pos, acc, p, orders):
    """Open a position on asset ``a`` at ``reference`` adjusted for slippage, sized and capped
    (``orders``: a ``kernels.program.Orders``, what sizing, slippage, stops and lot filters read)."""
    ind, stop_col, volume, tiers, lots = orders.ind, orders.stop_col, orders.volume, orders.tiers, orders.lots
    lev = p[P_LEVERAGE]
    fee_rate = p[P_TAKER_FEE]
    n_assets = pos.shape[0]
    equity = acc[A_WALLET]
    used = 0.0
    exposure = 0.0
    for b in range(n_assets):
        if pos[b, S_QTY] != 0.0:
            equity += pos[b, S_QTY] * (prices[row, b] - pos[b, S_ENTRY])
            used += pos[b, S_MARGIN]
            exposure += abs(pos[b, S_QTY]) * prices[row, b]
    margin = _margin_for(a, t_sig, reference, equity, acc, p, stop_col, ind) * acc[A_SCALE]
    cap = p[P_MAX_POSITION] * equity
    if margin > cap:
        margin = cap
    cap = p[P_MAX_EXPOSURE]
    if cap == cap and margin > (cap * equity - exposure) / lev:
        margin = (cap * equity - exposure) / lev
    cap = max_notional(lev, tiers[a]) / lev
    if margin > cap:
        margin = cap
    cap = (acc[A_WALLET] - used) / (1.0 + lev * fee_rate)
    if margin > cap:
        margin = cap
    if margin <= 1e-12 * abs(acc[A_WALLET]) or margin <= 0.0:
        return
    notional = margin * lev
    slip_rate = _slip_rate(p, notional / reference, volume[t_sig, a])
    price = reference * (1.0 + slip_rate) if side > 0 else reference * (1.0 - slip_rate)
    q = notional / price
    step = lots[a, L_STEP]
    if step > 0.0:
        q = np.floor(q / step + 1e-9) * step
        notional = q * price
        margin = notional / lev
    if q <= 0.0 or q < lots[a, L_MIN_QTY] or notional < lots[a, L_MIN_NOTIONAL]:
        return
    fee = notional * fee_rate
    acc[A_WALLET] -= fee
    acc[A_FEES] += fee
    slip = q * abs(price - reference)
    acc[A_SLIPPAGE] += slip
    qty = q if side > 0 else -q
    pos[a, S_QTY] = qty
    acc[A_OPEN] += 1.0
    pos[a, S_ENTRY] = price
    pos[a, S_MARGIN] = margin
    if int(p[P_MARGIN_MODE]) == MARGIN_CROSS:  # the account-level test liquidates cross positions
        pos[a, S_LIQ] = 0.0 if side > 0 else np.inf
    else:
        pos[a, S_LIQ] = liquidation_price(qty, price, margin, tiers[a])
    pos[a, S_ENTRY_BAR] = t
    pos[a, S_FEES] = fee
    pos[a, S_FUNDING] = 0.0
    pos[a, S_SLIPPAGE] = slip
    sl = _stop_distance(p[P_STOP_LOSS], stop_col[0], price, t_sig, a, ind)
    tp = _stop_distance(p[P_TAKE_PROFIT], stop_col[1], price, t_sig, a, ind)
    pos[a, S_STOP] = price - side * sl
    pos[a, S_TARGET] = price + side * tp
    pos[a, S_TRAIL] = _stop_distance(p[P_TRAILING_STOP], stop_col[2], price, t_sig, a, ind)
    pos[a, S_BEST] = price


@njit(cache=True, inline="always")
def _dust(pos, acc, p, min_notional):
    """Whether a flat account is too small for an order of at least ``min_notional``: its largest
    possible notional (the wallet, or the sized fraction of it, at the leverage with the fee set
    aside) is below it. ``_open_position`` would refuse the order; ``_fill`` skips the call (most of a
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


@njit(cache=True, inline="always")
def _fill(c, a, t, t_sig, target, reference, prices, row, pos, acc, p, record, trades, orders, reason):
    """Move asset ``a`` to side ``target`` at ``reference`` (a market order; an exit records ``reason``)."""
    qty = pos[a, S_QTY]
    side = 0 if qty == 0.0 else (1 if qty > 0.0 else -1)
    if side == target:
        return
    if side != 0:
        volume, tiers = orders.volume, orders.tiers
        if int(p[P_MARGIN_MODE]) == MARGIN_CROSS:
            pos[a, S_LIQ] = _exit_floor(a, pos, acc, prices, row, tiers)
        slip = _slip_rate(p, qty, volume[t_sig, a])
        px = reference * (1.0 - slip) if side > 0 else reference * (1.0 + slip)
        _close_position(c, a, t, px, reference, reason, pos, acc, p[P_LEVERAGE], p[P_TAKER_FEE], record, trades, 0.0)
    if target != 0 and not _dust(pos, acc, p, orders.lots[a, L_MIN_NOTIONAL]):
        _open_position(a, t, t_sig, target, reference, prices, row, pos, acc, p, orders)


@njit(cache=True)
def _intrabar_exits(c, a, t, o, h, lo, pos, acc, p, record, trades, volume, stops, targets, opens, tiers):
    """Stop (before liquidation when nearer), liquidation, take-profit; then trail the best price.
    Without ``stops`` only take-profit and the trail; without ``targets`` only stops and liquidation."""
    qty = pos[a, S_QTY]
    lev = p[P_LEVERAGE]
    taker = p[P_TAKER_FEE]
    cross = int(p[P_MARGIN_MODE]) == MARGIN_CROSS
    liq = pos[a, S_LIQ]
    if cross and stops:  # a stop beyond the account's liquidation price is never reached first
        liq = _exit_floor(a, pos, acc, opens, t, tiers)
    sl = pos[a, S_STOP]
    trail = pos[a, S_TRAIL]
    if qty > 0.0:
        if stops:
            stop = sl
            reason = EXIT_STOP_LOSS
            if trail == trail:
                level = pos[a, S_BEST] - trail
                if not (stop >= level):
                    stop = level
                    reason = EXIT_TRAILING_STOP
            if stop > liq and lo <= stop:
                ref = o if o <= stop else stop
                slip = _slip_rate(p, qty, volume)
                pos[a, S_LIQ] = liq
                _close_position(c, a, t, ref * (1.0 - slip), ref, reason, pos, acc, lev, taker, record, trades, 0.0)
                return
            if not cross and lo <= liq:
                _close_position(
                    c, a, t, liq, liq, EXIT_LIQUIDATION, pos, acc, lev, taker, record, trades, pos[a, S_MARGIN]
                )
                return
        if targets:
            tp = pos[a, S_TARGET]
            if h >= tp:
                px = o if o >= tp else tp
                _close_position(c, a, t, px, px, EXIT_TAKE_PROFIT, pos, acc, lev, p[P_MAKER_FEE], record, trades, 0.0)
                return
            if h > pos[a, S_BEST]:
                pos[a, S_BEST] = h
    else:
        if stops:
            stop = sl
            reason = EXIT_STOP_LOSS
            if trail == trail:
                level = pos[a, S_BEST] + trail
                if not (stop <= level):
                    stop = level
                    reason = EXIT_TRAILING_STOP
            if stop < liq and h >= stop:
                ref = o if o >= stop else stop
                slip = _slip_rate(p, qty, volume)
                pos[a, S_LIQ] = liq
                _close_position(c, a, t, ref * (1.0 + slip), ref, reason, pos, acc, lev, taker, record, trades, 0.0)
                return
            if not cross and h >= liq:
                _close_position(
                    c, a, t, liq, liq, EXIT_LIQUIDATION, pos, acc, lev, taker, record, trades, pos[a, S_MARGIN]
                )
                return
        if targets:
            tp = pos[a, S_TARGET]
            if lo <= tp:
                px = o if o <= tp else tp
                _close_position(c, a, t, px, px, EXIT_TAKE_PROFIT, pos, acc, lev, p[P_MAKER_FEE], record, trades, 0.0)
                return
            if lo < pos[a, S_BEST]:
                pos[a, S_BEST] = lo


@njit(cache=True)
def _cross_liquidated(t, at_open, mkt, pos, acc, px):
    """Whether the cross account is liquidated on bar ``t`` at the opens (``at_open``) or with every
    position at its worst price of the bar; ``px`` receives each position's fill price."""
    open_, high, low, close, tradable, tiers = mkt.open, mkt.high, mkt.low, mkt.close, mkt.tradable, mkt.tiers
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


@njit(cache=True)
def _cross_liquidate(c, t, pos, acc, px, lev, record, trades, tiers):
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
        _close_position(c, a, t, px[a], px[a], EXIT_LIQUIDATION, pos, acc, lev, 0.0, record, trades, share - u)


SIGNAL_BLOCK = 128  # bars whose conditions are evaluated together, vectorised over bars and assets


@njit(cache=True)
def _linear(out, ind_flat, s, add, side_start, col, coef, t0, m, n_bars, n_assets):
    """``out[i] = add[s] + sum_j coef[j] * ind[col[j], t0 + i // n_assets, i % n_assets]`` for ``m`` bars
    (summed in term order, as a bar-by-bar evaluation would)."""
    size = m * n_assets
    a0 = add[s]
    j0 = side_start[s]
    j1 = side_start[s + 1]
    if j0 == j1:
        for i in range(size):
            out[i] = a0
        return
    k = coef[j0]
    base = (col[j0] * n_bars + t0) * n_assets
    for i in range(size):
        out[i] = a0 + k * ind_flat[base + i]
    for j in range(j0 + 1, j1):
        k = coef[j]
        base = (col[j] * n_bars + t0) * n_assets
        for i in range(size):
            out[i] += k * ind_flat[base + i]


@njit(cache=True, inline="always")
def _put(dst, i, ok, mode):
    """A row result into ``dst[i]``: set (``mode`` 0), or-ed (1), and-ed (2)."""
    if mode == 0:
        dst[i] = ok
    elif mode == 1:
        dst[i] = dst[i] or ok
    else:
        dst[i] = dst[i] and ok


@njit(cache=True)
def _compare(dst, d, op, mode, size):
    """Row results ``d op 0`` (``op`` one of >, <, >=, <=) into ``dst`` (``mode`` as in ``_put``)."""
    for i in range(size):
        v = d[i]
        if op == OP_GT:
            ok = v > 0.0
        elif op == OP_LT:
            ok = v < 0.0
        elif op == OP_GE:
            ok = v >= 0.0
        else:
            ok = v <= 0.0
        _put(dst, i, ok, mode)


@njit(cache=True)
def _row(r, dst, mode, t0, m, ind_flat, n_bars, n_assets, cond_op, side_start, col, coef, add, d, d2):
    """Condition row ``r`` on bars ``t0 .. t0 + m - 1`` into ``dst`` (``mode`` as in ``_put``)."""
    size = m * n_assets
    s = 2 * r
    op = cond_op[r]
    if op == OP_CROSS_ABOVE or op == OP_CROSS_BELOW:
        # the side one bar earlier too: d[i + shift] is bar t, d[i + shift - n_assets] bar t - 1
        back = 1 if t0 > 0 else 0
        _linear(d, ind_flat, s, add, side_start, col, coef, t0 - back, m + back, n_bars, n_assets)
        shift = back * n_assets
        above = op == OP_CROSS_ABOVE
        for i in range(size):
            j = i + shift
            ok = False
            if j >= n_assets:
                now = d[j]
                before = d[j - n_assets]
                ok = (now > 0.0 and before <= 0.0) if above else (now < 0.0 and before >= 0.0)
            _put(dst, i, ok, mode)
        return
    _linear(d, ind_flat, s, add, side_start, col, coef, t0, m, n_bars, n_assets)
    if op != OP_BETWEEN:
        _compare(dst, d, op, mode, size)
        return
    _linear(d2, ind_flat, s + 1, add, side_start, col, coef, t0, m, n_bars, n_assets)
    for i in range(size):
        ok = d[i] >= 0.0 and d2[i] >= 0.0
        _put(dst, i, ok, mode)


@njit(cache=True)
def _eval_block(
    t0, m, ind_flat, n_bars, n_assets, cond_op, clause_start, group_start, side_start, col, coef, add, flags, d
):
    """Where each condition group holds on bars ``t0 .. t0 + m - 1``: ``flags[g, i]`` with ``i`` = bar
    offset x n_assets + asset (row ``N_GROUPS`` of ``flags`` and the rows of ``d`` are scratch). The
    same sums in the same order as a bar-by-bar evaluation, so the same flags."""
    size = m * n_assets
    hit = flags[N_GROUPS]
    for g in range(N_GROUPS):
        out = flags[g]
        if group_start[g] == group_start[g + 1]:  # an empty group never holds
            for i in range(size):
                out[i] = False
            continue
        for cl in range(group_start[g], group_start[g + 1]):
            r0 = clause_start[cl]
            r1 = clause_start[cl + 1]
            first = cl == group_start[g]
            single = r1 - r0 == 1  # one row: straight into the group
            for r in range(r0, r1):
                dst = out if single else hit
                mode = (0 if first else 2) if single else (0 if r == r0 else 1)
                _row(r, dst, mode, t0, m, ind_flat, n_bars, n_assets, cond_op, side_start, col, coef, add, d[0], d[1])
            if single:
                continue
            for i in range(size):
                out[i] = hit[i] if first else (out[i] and hit[i])


@njit(cache=True)
def simulate_combo(
    c,
    mkt,
    prog,
    params,
    initial,
    bars_per_year,
    record,
    trades,
    equity_out,
    metrics,
    m_row,
    flags_out,
    blk,
    blocks,
    targets_out,
):
    """Simulate combination ``c``; write its metrics to ``metrics[m_row]``, and records when ``record``.

    ``mkt`` is a ``kernels.program.Market`` and ``prog`` a ``kernels.program.Program`` (named inputs).
    With a non-empty ``flags_out`` ``(N_GROUPS, n_bars, n_assets)`` every group is evaluated on every
    tradable bar but the last and written there (how tests and other consumers read the signals).
    With a non-empty ``blk`` (a block id per bar, -1: none; each block one contiguous range) the
    block statistics of this combination accumulate in ``blocks[m_row]`` ``(n_blocks, N_BLOCK)``.
    With a non-empty ``targets_out`` ``(n_bars, n_assets)`` the side wanted after each bar's close is
    written there: the pending order's side, else the side held (what a live bot should hold next).
    """
    open_, high, low, close, volume = mkt.open, mkt.high, mkt.low, mkt.close, mkt.volume
    tradable, funding, settle, day, tiers, lots = mkt.tradable, mkt.funding, mkt.settle, mkt.day, mkt.tiers, mkt.lots
    ind, cond_op, clause_start, group_start = prog.ind, prog.cond_op, prog.clause_start, prog.group_start
    side_start, term_col, term_coef, side_add = prog.side_start, prog.term_col, prog.term_coef, prog.side_add
    entry_ok, warm, stop_cols = prog.entry_ok, prog.warm, prog.stop_cols
    n_bars, n_assets = close.shape
    p = params[c]
    lev = p[P_LEVERAGE]
    direction = int(p[P_DIRECTION])
    allow_long = direction != DIR_SHORT
    allow_short = direction != DIR_LONG
    fill_close = int(p[P_FILL_AT]) == FILL_CLOSE
    cross = int(p[P_MARGIN_MODE]) == MARGIN_CROSS
    fee = p[P_TAKER_FEE]
    col = term_col[c]
    coef = term_coef[c]
    add = side_add[c]
    warm_c = warm[c]
    stop_col = stop_cols[c]
    orders = Orders(ind, stop_col, volume, tiers, lots)  # what an order reads: sizing, stops, slippage, lots
    dd_scale_at = p[P_DD_SCALE_AT]
    dd_halt = p[P_DD_HALT]
    daily_loss = p[P_DAILY_LOSS]
    max_losses = p[P_MAX_LOSSES]
    cooldown = p[P_COOLDOWN] if p[P_COOLDOWN] > 0.0 else 0.0
    risk_on = dd_scale_at > 0.0 or dd_halt > 0.0 or daily_loss > 0.0 or max_losses > 0.0

    pos = np.zeros((n_assets, N_STATE))
    acc = np.zeros(N_ACC)
    acc[A_WALLET] = initial
    acc[A_SCALE] = 1.0
    order = np.zeros(n_assets, np.int64)
    has_order = np.zeros(n_assets, np.bool_)
    order_reason = np.zeros(n_assets, np.int64)
    px = np.zeros(n_assets)
    probe = flags_out.shape[0] > 0
    want_targets = targets_out.shape[0] > 0
    ind_flat = ind.reshape(ind.size)
    sig = np.zeros((N_GROUPS + 1, SIGNAL_BLOCK * n_assets), np.bool_)  # each group on the current block
    scratch = np.zeros((2, (SIGNAL_BLOCK + 1) * n_assets))
    blk_t0 = -SIGNAL_BLOCK  # first bar of the evaluated block

    prev_eq = initial
    peak = initial
    max_dd = 0.0
    n_ret = 0
    mean = 0.0
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    down_sq = 0.0
    use_blocks = blk.shape[0] > 0
    seen = np.zeros(4)  # trades, gross win, gross loss, liquidations up to the previous bar
    held = 0.0
    slots = float(tradable.sum())  # asset-bars that could be held
    halted = False
    resume = 0.0  # first bar whose close may act on signals again
    halt_day = -1  # a daily-loss halt lasts until this UTC day is over
    risk_peak = initial
    day_start = initial
    cur_day = day[0] if n_bars > 0 else 0

    for t in range(n_bars):
        last = t == n_bars - 1
        # 1-2. funding at the settlement instant, then gaps through the liquidation price
        for a in range(n_assets if acc[A_OPEN] > 0.0 else 0):
            qty = pos[a, S_QTY]
            if qty == 0.0:
                continue
            rate = funding[t, a]
            if rate != 0.0:
                pay = qty * settle[t, a] * rate
                acc[A_WALLET] -= pay
                acc[A_FUNDING] += pay
                pos[a, S_FUNDING] += pay
                if not cross:
                    pos[a, S_MARGIN] -= pay
                    pos[a, S_LIQ] = liquidation_price(qty, pos[a, S_ENTRY], pos[a, S_MARGIN], tiers[a])
            if tradable[t, a] and not cross:
                o = open_[t, a]
                liq = pos[a, S_LIQ]
                if (qty > 0.0 and o <= liq) or (qty < 0.0 and o >= liq):
                    _close_position(
                        c, a, t, o, o, EXIT_LIQUIDATION, pos, acc, lev, fee, record, trades, pos[a, S_MARGIN]
                    )
        if cross and acc[A_OPEN] > 0.0 and _cross_liquidated(t, True, mkt, pos, acc, px):
            _cross_liquidate(c, t, pos, acc, px, lev, record, trades, tiers)
        # 3. orders from the previous bar fill at this open
        for a in range(n_assets):
            if has_order[a] and tradable[t, a]:
                has_order[a] = False
                _fill(
                    c,
                    a,
                    t,
                    t - 1,
                    order[a],
                    open_[t, a],
                    open_,
                    t,
                    pos,
                    acc,
                    p,
                    record,
                    trades,
                    orders,
                    order_reason[a],
                )
        # 4. stops, liquidation and take-profit inside the bar: a scalar test of whether any level was
        #    touched, so that the exit routine (a call with array arguments) runs only when one was
        v_prev = t - 1 if t > 0 else 0
        for a in range(n_assets if acc[A_OPEN] > 0.0 else 0):
            qty = pos[a, S_QTY]
            if qty == 0.0 or not tradable[t, a]:
                continue
            hi_ = high[t, a]
            lo_ = low[t, a]
            if qty > 0.0:
                hit = lo_ <= pos[a, S_LIQ] or lo_ <= pos[a, S_STOP] or hi_ >= pos[a, S_TARGET]
                hit = hit or lo_ <= pos[a, S_BEST] - pos[a, S_TRAIL]
                if not hit and hi_ > pos[a, S_BEST]:
                    pos[a, S_BEST] = hi_
            else:
                hit = hi_ >= pos[a, S_LIQ] or hi_ >= pos[a, S_STOP] or lo_ <= pos[a, S_TARGET]
                hit = hit or hi_ >= pos[a, S_BEST] + pos[a, S_TRAIL]
                if not hit and lo_ < pos[a, S_BEST]:
                    pos[a, S_BEST] = lo_
            if hit:
                _intrabar_exits(
                    c,
                    a,
                    t,
                    open_[t, a],
                    hi_,
                    lo_,
                    pos,
                    acc,
                    p,
                    record,
                    trades,
                    volume[v_prev, a],
                    True,
                    not cross,
                    open_,
                    tiers,
                )
        if cross:
            if _cross_liquidated(t, False, mkt, pos, acc, px):
                _cross_liquidate(c, t, pos, acc, px, lev, record, trades, tiers)
            for a in range(n_assets):  # take-profits and the trail, only where the bar reached them
                qty = pos[a, S_QTY]
                if qty == 0.0 or not tradable[t, a]:
                    continue
                if qty > 0.0:
                    reached = high[t, a] >= pos[a, S_TARGET] or high[t, a] > pos[a, S_BEST]
                else:
                    reached = low[t, a] <= pos[a, S_TARGET] or low[t, a] < pos[a, S_BEST]
                if reached:
                    _intrabar_exits(
                        c,
                        a,
                        t,
                        open_[t, a],
                        high[t, a],
                        low[t, a],
                        pos,
                        acc,
                        p,
                        record,
                        trades,
                        0.0,
                        False,
                        True,
                        open_,
                        tiers,
                    )
        # 5. risk circuit breakers on the equity marked at this close
        if risk_on and not last:
            eq_now = acc[A_WALLET]
            for a in range(n_assets):
                if pos[a, S_QTY] != 0.0:
                    eq_now += pos[a, S_QTY] * (close[t, a] - pos[a, S_ENTRY])
            if day[t] != cur_day:
                cur_day = day[t]
                day_start = prev_eq
            if halted and t >= resume and day[t] != halt_day:
                halted = False
                risk_peak = eq_now
                halt_day = -1
            if not halted:
                if eq_now > risk_peak:
                    risk_peak = eq_now
                dd_now = 1.0 - eq_now / risk_peak if risk_peak > 0.0 else 1.0
                acc[A_SCALE] = p[P_DD_SCALE] if dd_now >= dd_scale_at else 1.0
                daily = eq_now <= day_start * (1.0 - daily_loss)
                if dd_now >= dd_halt or daily or acc[A_STREAK] >= max_losses:
                    halted = True
                    resume = t + 1.0 + cooldown
                    halt_day = day[t] if daily else -1
                    acc[A_STREAK] = 0.0
                    acc[A_HALTS] += 1.0
                    for a in range(n_assets):
                        has_order[a] = False
                        if pos[a, S_QTY] == 0.0:
                            continue
                        if fill_close and tradable[t, a]:
                            _fill(
                                c,
                                a,
                                t,
                                t,
                                0,
                                close[t, a],
                                close,
                                t,
                                pos,
                                acc,
                                p,
                                record,
                                trades,
                                orders,
                                EXIT_RISK_HALT,
                            )
                        else:
                            order[a] = 0
                            has_order[a] = True
                            order_reason[a] = EXIT_RISK_HALT
        # 6. signals on this bar's close
        if not last and not halted:
            if t >= blk_t0 + SIGNAL_BLOCK:
                blk_t0 = t
                _eval_block(
                    t,
                    min(SIGNAL_BLOCK, n_bars - t),
                    ind_flat,
                    n_bars,
                    n_assets,
                    cond_op,
                    clause_start,
                    group_start,
                    side_start,
                    col,
                    coef,
                    add,
                    sig,
                    scratch,
                )
            for a in range(n_assets):
                if not tradable[t, a]:
                    continue
                qty = pos[a, S_QTY]
                side = 0 if qty == 0.0 else (1 if qty > 0.0 else -1)
                may_enter = entry_ok[t] and t >= warm_c[a]
                # the groups that can change this side: flat -> both entries; in a position -> the
                # opposite entry (a reversal), then this side's exit (only if no reversal)
                if side == 0:
                    g1 = G_LONG_ENTRY if may_enter and allow_long else -1
                    g2 = G_SHORT_ENTRY if may_enter and allow_short else -1
                elif side > 0:
                    g1 = G_SHORT_ENTRY if allow_short else -1
                    g2 = G_LONG_EXIT
                else:
                    g1 = G_LONG_ENTRY if allow_long else -1
                    g2 = G_SHORT_EXIT
                i_blk = (t - blk_t0) * n_assets + a
                if probe:
                    for g in range(N_GROUPS):
                        flags_out[g, t, a] = sig[g, i_blk]
                f1 = g1 >= 0 and sig[g1, i_blk]
                f2 = g2 >= 0 and sig[g2, i_blk] and not (side != 0 and f1)
                target = side
                if side == 0:
                    if f1 and not f2:
                        target = 1
                    elif f2 and not f1:
                        target = -1
                elif f1:
                    target = -side if may_enter else 0
                elif f2:
                    target = 0
                if target != side:
                    if fill_close:
                        _fill(
                            c, a, t, t, target, close[t, a], close, t, pos, acc, p, record, trades, orders, EXIT_SIGNAL
                        )
                    else:
                        order[a] = target
                        has_order[a] = True
                        order_reason[a] = EXIT_SIGNAL
                else:
                    has_order[a] = False
        if want_targets:
            for a in range(n_assets):
                qty = pos[a, S_QTY]
                targets_out[t, a] = order[a] if has_order[a] else (0.0 if qty == 0.0 else (1.0 if qty > 0.0 else -1.0))
        # exposure is measured on positions held over the bar's close
        equity = acc[A_WALLET]
        for a in range(n_assets if acc[A_OPEN] > 0.0 else 0):
            qty = pos[a, S_QTY]
            if qty != 0.0:
                held += 1.0
                if last:
                    if cross:
                        pos[a, S_LIQ] = _exit_floor(a, pos, acc, close, t, tiers)
                    slip = _slip_rate(p, qty, volume[t, a])
                    pxe = close[t, a] * (1.0 - slip) if qty > 0.0 else close[t, a] * (1.0 + slip)
                    _close_position(
                        c, a, t, pxe, close[t, a], EXIT_END_OF_DATA, pos, acc, lev, fee, record, trades, 0.0
                    )
                else:
                    equity += qty * (close[t, a] - pos[a, S_ENTRY])
        if last:
            equity = acc[A_WALLET]
        # streaming return moments (Terriberry's update) and drawdown
        r = equity / prev_eq - 1.0 if prev_eq > 0.0 else 0.0
        n1 = n_ret
        n_ret += 1
        delta = r - mean
        dn = delta / n_ret
        dn2 = dn * dn
        term = delta * dn * n1
        mean += dn
        m4 += term * dn2 * (n_ret * n_ret - 3 * n_ret + 3) + 6.0 * dn2 * m2 - 4.0 * dn * m3
        m3 += term * dn * (n_ret - 2) - 3.0 * dn * m2
        m2 += term
        if r < 0.0:
            down_sq += r * r
        if use_blocks and blk[t] >= 0:
            bs = blocks[m_row, blk[t]]
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
        if use_blocks:
            seen[0] = acc[A_N_TRADES]
            seen[1] = acc[A_GROSS_WIN]
            seen[2] = acc[A_GROSS_LOSS]
            seen[3] = acc[A_N_LIQ]
        prev_eq = equity
        if equity > peak:
            peak = equity
        dd = 1.0 - equity / peak if peak > 0.0 else 1.0
        if dd > max_dd:
            max_dd = dd
        if record:
            equity_out[t] = equity

    nan = np.nan
    final = acc[A_WALLET]
    m = metrics[m_row]
    m[M_TOTAL_RETURN] = final / initial - 1.0
    years = n_bars / bars_per_year
    m[M_APR] = (final / initial) ** (1.0 / years) - 1.0 if final > 0.0 and years > 0.0 else -1.0
    std = np.sqrt(m2 / (n_ret - 1)) if n_ret > 1 else 0.0
    ann = np.sqrt(bars_per_year)
    m[M_VOLATILITY] = std * ann
    m[M_SHARPE] = mean / std * ann if std > 0.0 else nan
    down = np.sqrt(down_sq / n_ret) if n_ret > 0 else 0.0
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
    m[M_EXPOSURE] = held / slots if slots > 0.0 else 0.0
    m[M_SCORE] = risk_score(m[M_TOTAL_RETURN], max_dd, lev)
    m[M_SLIPPAGE_PAID] = acc[A_SLIPPAGE]
    m[M_REALIZED_PNL] = acc[A_REALIZED]
    m[M_SKEW] = np.sqrt(n_ret) * m3 / m2**1.5 if m2 > 0.0 else nan
    m[M_KURTOSIS] = n_ret * m4 / (m2 * m2) if m2 > 0.0 else nan
    m[M_LIQUIDATED] = 1.0 if acc[A_N_LIQ] > 0.0 else 0.0
    m[M_N_HALTS] = acc[A_HALTS]
    m[M_MAX_HOLDING_BARS] = acc[A_MAX_HOLD]


@njit(cache=True)
def risk_score(total_return, max_dd, lev):
    """Return per unit of risk, monotone in risk: R / (DD x L) for R >= 0, R x DD x L for R < 0, so
    more drawdown or leverage never ranks higher (0/0 for a flat run is NaN)."""
    if total_return < 0.0:
        return total_return * max_dd * lev
    return total_return / (max_dd * lev) if max_dd > 0.0 else np.nan


@njit(cache=True)
def _empty_trades(n):
    return np.zeros(n, dtype=trade_dt)


@njit(cache=True, parallel=True)
def simulate_grid(mkt, prog, params, lo, hi, initial, bars_per_year, blk, n_blocks):
    """Metrics ``(hi - lo, N_METRICS)`` of combinations ``lo..hi-1``, in parallel, no records; and
    their block statistics ``(hi - lo, n_blocks, N_BLOCK)`` (``blk``: a block id per bar, or empty)."""
    n = hi - lo
    metrics = np.full((n, N_METRICS), np.nan)
    blocks = np.zeros((n if blk.shape[0] > 0 else 0, n_blocks, N_BLOCK))
    no_trades = _empty_trades(0)
    no_equity = np.zeros(0)
    no_flags = np.zeros((0, 0, 0), dtype=np.bool_)
    no_targets = np.zeros((0, 0))
    # neighbouring combinations cost alike (a grid's first axis varies slowest) and prange hands each
    # thread one contiguous range: visit them in a low-discrepancy order so every range is a sample
    order = np.argsort((np.arange(n) * 0.6180339887498949) % 1.0)
    for k in prange(n):
        i = order[k]
        simulate_combo(
            lo + i,
            mkt,
            prog,
            params,
            initial,
            bars_per_year,
            False,
            no_trades,
            no_equity,
            metrics,
            i,
            no_flags,
            blk,
            blocks,
            no_targets,
        )
    return metrics, blocks


@njit(cache=True)
def _simulate_one(c, mkt, prog, params, initial, bars_per_year, record, trades, equity, flags, targets):
    """Metrics row of combination ``c`` alone, writing records, signal flags and targets where asked."""
    metrics = np.full((1, N_METRICS), np.nan)
    no_blk = np.zeros(0, np.int64)
    no_blocks = np.zeros((0, 0, N_BLOCK))
    simulate_combo(
        c,
        mkt,
        prog,
        params,
        initial,
        bars_per_year,
        record,
        trades,
        equity,
        metrics,
        0,
        flags,
        no_blk,
        no_blocks,
        targets,
    )
    return metrics[0]


@njit(cache=True)
def simulate_records(c, n_trades, mkt, prog, params, initial, bars_per_year):
    """Trades, equity curve and metrics row of one combination (``n_trades`` from its metrics)."""
    trades = _empty_trades(n_trades)
    equity = np.zeros(mkt.close.shape[0])
    no_flags = np.zeros((0, 0, 0), dtype=np.bool_)
    no_targets = np.zeros((0, 0))
    row = _simulate_one(c, mkt, prog, params, initial, bars_per_year, True, trades, equity, no_flags, no_targets)
    return trades, equity, row


@njit(cache=True)
def signal_targets(c, mkt, prog, params, initial, bars_per_year):
    """Signal flags ``(N_GROUPS, n_bars, n_assets)`` of combination ``c`` and the side ``(n_bars,
    n_assets)`` it wants after each bar's close (-1, 0, 1): what a registered model returns."""
    close = mkt.close
    flags = np.zeros((N_GROUPS, close.shape[0], close.shape[1]), dtype=np.bool_)
    targets = np.zeros(close.shape)
    _simulate_one(c, mkt, prog, params, initial, bars_per_year, False, _empty_trades(0), np.zeros(0), flags, targets)
    return flags, targets


@njit(cache=True)
def signal_flags(c, mkt, prog, params, initial, bars_per_year):
    """``(N_GROUPS, n_bars, n_assets)``: where each condition group of combination ``c`` holds, as the
    simulation evaluates it (raw conditions: time filters and warm-up gate entries separately)."""
    return signal_targets(c, mkt, prog, params, initial, bars_per_year)[0]
