"""A live account advancing bar by bar: the backtest's bar loop (``kernels.simulate.run_bars``) run
over new bars from a persisted state, nothing closed at the end.

The state is plain arrays a caller stores between calls: positions ``pos`` ``(n_assets, N_STATE)``,
the account ``acc`` ``(N_ACC,)``, the pending orders (side, active, reason per asset), the
breakers ``rs`` ``(N_RISK,)`` and the equity at the previous close. Bar numbers are rows of the
caller's panel, which must keep its first bar from call to call (trades record them).
"""

import numpy as np
from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.book import new_account
from kernels.conditions import SIGNAL_BLOCK
from kernels.enums import N_BLOCK, N_GROUPS, N_STATE
from kernels.metrics import Curve
from kernels.orders import Pending, no_pending
from kernels.program import Orders
from kernels.risk import new_state
from kernels.simulate import Work, run_bars

TRADES_PER_ASSET_BAR = 8  # more than one bar can close per asset (open gap, fill, exit, halt, close fill)


@njit(cache=True)
def new_live_state(initial, n_assets, first_day):
    """A flat account of ``initial`` USDT: positions, account, pending side, active, reason, breakers."""
    p = no_pending(n_assets)
    return (
        np.zeros((n_assets, N_STATE)),
        new_account(initial),
        p.side,
        p.active,
        p.reason,
        new_state(initial, first_day),
    )


@njit(cache=True)
def advance(c, mkt, prog, params, t0, t1, pos, acc, side, active, reason, rs, prev_equity, trades, equity_out):
    """Advance combination ``c``'s account over bars ``t0..t1-1`` of ``mkt``/``prog`` in place (the
    state arrays are updated); signals are evaluated on every bar, ``t1 - 1`` included, and orders
    they decide stay pending for the next bar. Returns the equity at bar ``t1 - 1``'s close.

    The trades closed meanwhile are ``acc[A_N_TRADES]`` before .. after, written to
    ``trades[k % len(trades)]`` (give it ``TRADES_PER_ASSET_BAR * n_assets * (t1 - t0)`` rows);
    ``equity_out`` ``(t1 - t0,)`` receives each bar's equity at its close."""
    n_assets = mkt.close.shape[1]
    work = Work(
        pos=pos,
        acc=acc,
        pending=Pending(side, active, reason),
        px=np.zeros(n_assets),
        sig=np.zeros((N_GROUPS + 1, SIGNAL_BLOCK * n_assets), np.bool_),
        scratch=np.zeros((2, (SIGNAL_BLOCK + 1) * n_assets)),
        ind_flat=prog.ind.reshape(prog.ind.size),
        rs=rs,
        seen=np.zeros(4),
    )
    orders = Orders(prog.ind, prog.stop_cols[c], mkt.volume, mkt.tiers, mkt.lots)
    curve = Curve(0, 0.0, 0.0, 0.0, 0.0, 0.0, prev_equity, prev_equity, 0.0)
    curve, _ = run_bars(
        c,
        mkt,
        prog,
        params[c],
        work,
        orders,
        True,
        trades,
        equity_out,
        np.int64(0),
        np.zeros((0, 0, 0), dtype=np.bool_),
        np.zeros(0, np.int64),
        np.zeros((0, 0, N_BLOCK)),
        np.zeros((0, 0)),
        curve,
        t0,
        t1,
        False,
    )
    return curve.prev
