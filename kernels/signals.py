"""Signals (event 6): from the condition groups on bar ``t``'s close to the side each asset should
hold, filled at the close (``fill_at=close``) or pending for the next open.

Entries need the bar's time filter to allow them and every referenced series to be defined
(warm-up); a reversal whose entry is not allowed only exits. Flat, both entries are read (both at
once cancel out); in a position, the opposite entry (a reversal) first, then this side's exit.
"""

from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.book import side_of
from kernels.enums import (
    A_OPEN,
    DIR_LONG,
    DIR_SHORT,
    EXIT_SIGNAL,
    G_LONG_ENTRY,
    G_LONG_EXIT,
    G_SHORT_ENTRY,
    G_SHORT_EXIT,
    N_GROUPS,
    P_DIRECTION,
    REASON_SIGNAL,
    S_QTY,
)
from kernels.orders import fill


@njit(cache=True, inline="always")
def target_side(side, may_enter, allow_long, allow_short, sig, i):
    """The side wanted after this close, from the groups' flags ``sig[:, i]``."""
    # the groups that can change this side: flat -> both entries; in a position -> the opposite
    # entry (a reversal), then this side's exit (only if no reversal)
    if side == 0:
        g1 = G_LONG_ENTRY if may_enter and allow_long else -1
        g2 = G_SHORT_ENTRY if may_enter and allow_short else -1
    elif side > 0:
        g1 = G_SHORT_ENTRY if allow_short else -1
        g2 = G_LONG_EXIT
    else:
        g1 = G_LONG_ENTRY if allow_long else -1
        g2 = G_SHORT_EXIT
    f1 = g1 >= 0 and sig[g1, i]
    f2 = g2 >= 0 and sig[g2, i] and not (side != 0 and f1)
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
    return target


@njit(cache=True, inline="always")
def may_move(side, sig, i):
    """Whether a group that can change ``side`` holds at ``sig[:, i]`` (flat: either entry; in a
    position: the opposite entry or this side's exit); if none does, ``target_side`` keeps the side."""
    if side == 0:
        return sig[G_LONG_ENTRY, i] or sig[G_SHORT_ENTRY, i]
    if side > 0:
        return sig[G_SHORT_ENTRY, i] or sig[G_LONG_EXIT, i]
    return sig[G_LONG_ENTRY, i] or sig[G_SHORT_EXIT, i]


@njit(cache=True, inline="always")
def quiet(sig, i0, pending):
    """Whether, in a flat account, no asset has an order waiting or a group that could move it
    (``may_move`` of a flat side at ``sig[:, i0 + a]``)."""
    for a in range(pending.active.shape[0]):
        if pending.active[a] or may_move(0, sig, i0 + a):
            return False
    return True


@njit(cache=True, inline="always")
def act_on_signals(c, t, mkt, prog, pos, acc, p, sig, i0, pending, fill_close, record, trades, orders, flags_out):
    """Event 6 on bar ``t``: each tradable asset moves toward the side its signals want (``sig[:, i0 +
    a]``: the groups' flags of asset ``a``; copied to a non-empty ``flags_out``)."""
    direction = int(p[P_DIRECTION])
    allow_long = direction != DIR_SHORT
    allow_short = direction != DIR_LONG
    probe = flags_out.shape[0] > 0
    if not probe and acc[A_OPEN] == 0.0 and quiet(sig, i0, pending):
        return  # flat, no order waiting, no entry signal: every asset stays as it is
    warm = prog.warm[c]
    for a in range(pos.shape[0]):
        if not mkt.tradable[t, a]:
            continue
        side = side_of(pos[a, S_QTY])
        i = i0 + a
        if probe:
            for g in range(N_GROUPS):
                flags_out[g, t, a] = sig[g, i]
        if not pending.active[a] and not may_move(side, sig, i):
            continue  # no order to cancel, no signal to act on
        may_enter = prog.entry_ok[t, a] and t >= warm[a]
        target = target_side(side, may_enter, allow_long, allow_short, sig, i)
        if target == side:
            pending.active[a] = False
        elif fill_close:
            fill(c, a, t, t, target, mkt.close[t, a], mkt.close, t, pos, acc, p, record, trades, orders, REASON_SIGNAL)
        else:
            pending.side[a] = target
            pending.active[a] = True
            pending.reason[a] = EXIT_SIGNAL
