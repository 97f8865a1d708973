"""The book: closing a position into the account's statistics and trade records, and marking it.

Positions are rows of ``pos`` ``(n_assets, N_STATE)`` indexed by ``S_*``; the account is ``acc``
``(N_ACC,)`` indexed by ``A_*`` (both declared in ``kernels.enums``). A closed trade's return is on
the margin it opened with; its fees and funding are the ones charged while it was open.
"""

import numpy as np
from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.enums import (
    A_FEES,
    A_GROSS_LOSS,
    A_GROSS_WIN,
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
    EXIT_LIQUIDATION,
    N_ACC,
    N_STATE,
    S_ENTRY,
    S_ENTRY_BAR,
    S_FEES,
    S_FUNDING,
    S_LIQ,
    S_QTY,
    S_SLIPPAGE,
)
from kernels.jit import inner
from kernels.records import trade_dt


@inner
def close_position(c, a, t, price, reference, reason, pos, acc, lev, fee_rate, record, trades, loss):
    """Close asset ``a`` at ``price`` (slippage included; ``reference`` is the unslipped price). A
    liquidation books ``-loss`` as its PnL and pays no fee. Trade number ``k`` is recorded in
    ``trades[k % len(trades)]`` (a backtest's array holds every trade; a live step passes a ring)."""
    qty = pos[a, S_QTY]
    q = abs(qty)
    if reason == EXIT_LIQUIDATION:
        gross = -loss
        fee = 0.0
        slip = 0.0
        acc[A_N_LIQ] += 1.0
    else:
        # a market exit never fills beyond S_LIQ (isolated: the liquidation price; cross: the
        # caller's exit floor, else 0 / inf)
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
        _record(trades[k % trades.shape[0]], c, a, t, qty, price, lev, margin, fees, slip, gross, net, ret, reason, pos)
    for j in range(N_STATE):
        pos[a, j] = 0.0
    acc[A_OPEN] -= 1.0


@njit(cache=True, inline="always")
def _record(tr, c, a, t, qty, price, lev, margin, fees, slip, gross, net, ret, reason, pos):
    """Write the trade record of position ``a`` closing now (before its row is cleared)."""
    tr["combo"] = c
    tr["asset"] = a
    tr["side"] = 1 if qty > 0.0 else -1
    tr["entry_bar"] = int(pos[a, S_ENTRY_BAR])
    tr["exit_bar"] = t
    tr["entry_price"] = pos[a, S_ENTRY]
    tr["exit_price"] = price
    tr["qty"] = abs(qty)
    tr["leverage"] = lev
    tr["margin"] = margin
    tr["fees"] = fees
    tr["funding"] = pos[a, S_FUNDING]
    tr["slippage"] = pos[a, S_SLIPPAGE] + slip
    tr["gross_pnl"] = gross
    tr["net_pnl"] = net
    tr["ret"] = ret
    tr["exit_reason"] = reason


@inner
def new_account(initial):
    """An account holding ``initial`` USDT and no position."""
    acc = np.zeros(N_ACC)
    acc[A_WALLET] = initial
    acc[A_SCALE] = 1.0
    return acc


@njit(cache=True)
def empty_trades(n):
    """``n`` blank trade records."""
    return np.zeros(n, dtype=trade_dt)


@njit(cache=True, inline="always")
def side_of(qty):
    """-1, 0 or 1: the side of a position of ``qty``."""
    return 0 if qty == 0.0 else (1 if qty > 0.0 else -1)
