"""Risk circuit breakers (event 5), read on the equity marked at bar ``t``'s close.

A drawdown from the running peak at or beyond ``dd_scale_at`` scales new positions by ``dd_scale``;
a drawdown at or beyond ``dd_halt``, a day's loss at or beyond ``daily_loss`` of the day's opening
equity, or ``max_losses`` losing trades in a row halt trading: every position closes (``risk_halt``)
and signals are ignored for ``cooldown`` bars (a daily-loss halt at least until the UTC day is over);
the peak restarts at the equity where trading resumes. The breakers' state is a small float array
indexed by ``R_*`` (day numbers are exact in float64).
"""

import numpy as np
from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.enums import (
    A_HALTS,
    A_SCALE,
    A_STREAK,
    A_WALLET,
    P_COOLDOWN,
    P_DAILY_LOSS,
    P_DD_HALT,
    P_DD_SCALE,
    P_DD_SCALE_AT,
    P_MAX_LOSSES,
    S_ENTRY,
    S_QTY,
)
from kernels.jit import inner

R_HALTED = 0  # 1.0 while halted
R_RESUME = 1  # first bar whose close may act on signals again
R_HALT_DAY = 2  # a daily-loss halt lasts until this UTC day is over (-1: none)
R_PEAK = 3  # the equity peak the drawdown is measured from
R_DAY_START = 4  # equity at the start of the current UTC day
R_DAY = 5  # the current UTC day
N_RISK = 6


@inner
def breakers_on(p):
    """Whether any breaker of parameter row ``p`` is set."""
    return p[P_DD_SCALE_AT] > 0.0 or p[P_DD_HALT] > 0.0 or p[P_DAILY_LOSS] > 0.0 or p[P_MAX_LOSSES] > 0.0


@inner
def new_state(initial, first_day):
    """Breakers' state before the first bar."""
    rs = np.zeros(N_RISK)
    rs[R_HALT_DAY] = -1.0
    rs[R_PEAK] = initial
    rs[R_DAY_START] = initial
    rs[R_DAY] = first_day
    return rs


@njit(cache=True, inline="always")
def halted(rs):
    """Whether signals are ignored now."""
    return rs[R_HALTED] != 0.0


@njit(cache=True, inline="always")
def breach(t, day, close, pos, acc, p, rs, prev_eq):
    """Update the breakers on bar ``t``'s close (``prev_eq``: the equity marked at the previous close);
    whether a halt starts now (the caller closes every position)."""
    eq_now = acc[A_WALLET]
    for a in range(pos.shape[0]):
        if pos[a, S_QTY] != 0.0:
            eq_now += pos[a, S_QTY] * (close[t, a] - pos[a, S_ENTRY])
    if day != rs[R_DAY]:
        rs[R_DAY] = day
        rs[R_DAY_START] = prev_eq
    if rs[R_HALTED] != 0.0 and t >= rs[R_RESUME] and day != rs[R_HALT_DAY]:
        rs[R_HALTED] = 0.0
        rs[R_PEAK] = eq_now
        rs[R_HALT_DAY] = -1.0
    if rs[R_HALTED] != 0.0:
        return False
    if eq_now > rs[R_PEAK]:
        rs[R_PEAK] = eq_now
    peak = rs[R_PEAK]
    dd_now = 1.0 - eq_now / peak if peak > 0.0 else 1.0
    acc[A_SCALE] = p[P_DD_SCALE] if dd_now >= p[P_DD_SCALE_AT] else 1.0
    daily = eq_now <= rs[R_DAY_START] * (1.0 - p[P_DAILY_LOSS])
    if not (dd_now >= p[P_DD_HALT] or daily or acc[A_STREAK] >= p[P_MAX_LOSSES]):
        return False
    cooldown = p[P_COOLDOWN] if p[P_COOLDOWN] > 0.0 else 0.0
    rs[R_HALTED] = 1.0
    rs[R_RESUME] = t + 1.0 + cooldown
    rs[R_HALT_DAY] = day if daily else -1.0
    acc[A_STREAK] = 0.0
    acc[A_HALTS] += 1.0
    return True
