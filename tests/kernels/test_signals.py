"""Condition groups as the simulation evaluates them (in blocks of bars, vectorised) against a
bar-by-bar numpy reference, on series long enough to cross several block boundaries."""

import numpy as np
import pytest

from kernels import enums as E
from kernels.conditions import SIGNAL_BLOCK
from kernels.program import Market, Program, default_params, flat_tiers, no_lots
from kernels.simulate import signal_flags

# rows: (op, first side terms [(col, coef)], first side add, second side terms, second side add)
ROWS = [
    (E.OP_CROSS_ABOVE, [(0, 1.0), (1, -1.0)], 0.0, [], 0.0),  # series 0 crosses above series 1
    (E.OP_GT, [(2, 1.0)], -0.2, [], 0.0),  # series 2 > 0.2
    (E.OP_CROSS_BELOW, [(0, 2.0)], 0.5, [], 0.0),  # 2 * series 0 + 0.5 crosses below 0
    (E.OP_BETWEEN, [(1, 1.0)], 0.3, [(1, -1.0)], 0.3),  # -0.3 <= series 1 <= 0.3
    (E.OP_LE, [(2, 1.0), (0, 0.5)], 0.0, [], 0.0),
    (E.OP_GE, [(1, 1.0)], 0.0, [], 0.0),
    (E.OP_LT, [(0, 1.0)], 0.0, [], 0.0),
]
# groups: clauses (all must hold), each a list of rows (any may hold); one group is empty
GROUPS = {
    E.G_LONG_ENTRY: [[0], [1, 6]],
    E.G_LONG_EXIT: [[2, 3]],
    E.G_SHORT_ENTRY: [[4], [5], [3]],
    E.G_SHORT_EXIT: [],
}


def program(ind: np.ndarray) -> Program:
    """The kernel's condition tables for ``GROUPS``: rows laid out clause by clause, group by group."""
    cond_op, side_start, cols, coefs, adds = [], [0], [], [], []
    clause_start, group_start = [0], [0]
    for g in range(E.N_GROUPS):
        for clause in GROUPS[g]:
            for r in clause:
                op, first, add1, second, add2 = ROWS[r]
                cond_op.append(op)
                for terms, add in ((first, add1), (second, add2)):
                    cols += [c for c, _ in terms]
                    coefs += [k for _, k in terms]
                    adds.append(add)
                    side_start.append(len(cols))
            clause_start.append(len(cond_op))
        group_start.append(len(clause_start) - 1)
    n_bars, n_assets = ind.shape[1], ind.shape[2]
    return Program(
        ind=np.ascontiguousarray(ind),
        cond_op=np.asarray(cond_op, np.int64),
        clause_start=np.asarray(clause_start, np.int64),
        group_start=np.asarray(group_start, np.int64),
        side_start=np.asarray(side_start, np.int64),
        term_col=np.asarray([cols], np.int64),
        term_coef=np.asarray([coefs], np.float64),
        side_add=np.asarray([adds], np.float64),
        entry_ok=np.ones((n_bars, n_assets), np.bool_),
        warm=np.zeros((1, n_assets), np.int64),
        stop_cols=np.full((1, 4), -1, np.int64),
    )


def reference(ind: np.ndarray) -> np.ndarray:
    """Each group bar by bar, straight from the definitions."""

    def side(terms, add):
        out = np.full(ind.shape[1:], add)
        for c, k in terms:
            out = out + k * ind[c]
        return out

    def row(r):
        op, first, add1, second, add2 = ROWS[r]
        d = side(first, add1)
        prev = np.vstack([np.full((1, d.shape[1]), np.nan), d[:-1]])
        with np.errstate(invalid="ignore"):
            if op == E.OP_GT:
                return d > 0
            if op == E.OP_LT:
                return d < 0
            if op == E.OP_GE:
                return d >= 0
            if op == E.OP_LE:
                return d <= 0
            if op == E.OP_BETWEEN:
                return (d >= 0) & (side(second, add2) >= 0)
            if op == E.OP_CROSS_ABOVE:
                return (d > 0) & (prev <= 0)
            return (d < 0) & (prev >= 0)

    out = np.zeros((E.N_GROUPS, *ind.shape[1:]), dtype=bool)
    for g, clauses in GROUPS.items():
        holds = np.full(ind.shape[1:], bool(clauses))
        for clause in clauses:
            holds &= np.logical_or.reduce([row(r) for r in clause])
        out[g] = holds
    return out


@pytest.mark.parametrize("n_bars", [SIGNAL_BLOCK - 1, SIGNAL_BLOCK + 2, 2 * SIGNAL_BLOCK + 37])
def test_blocks_match_bar_by_bar_reference(n_bars: int) -> None:
    rng = np.random.default_rng(n_bars)
    n_assets = 3
    ind = rng.normal(0.0, 0.5, (3, n_bars, n_assets))
    ind[:, :5, 1] = np.nan  # a warm-up: comparisons with NaN never hold
    boundary = n_bars > SIGNAL_BLOCK + 1
    if boundary:  # a crossing exactly over the first block boundary
        ind[0, SIGNAL_BLOCK - 1, :] = -1.0
        ind[1, SIGNAL_BLOCK - 1 : SIGNAL_BLOCK + 1, :] = 0.0
        ind[0, SIGNAL_BLOCK, :] = 1.0
        ind[2, SIGNAL_BLOCK, :] = 1.0
    close = np.full((n_bars, n_assets), 100.0)
    tradable = np.ones((n_bars, n_assets), np.bool_)
    tradable[40:45, 2] = False
    mkt = Market(
        open=close,
        high=close,
        low=close,
        close=close,
        volume=np.ones_like(close),
        tradable=tradable,
        funding=np.zeros_like(close),
        settle=close,
        liq_open=close,
        liq_high=close,
        liq_low=close,
        stop_open=close,
        stop_high=close,
        stop_low=close,
        day=np.zeros(n_bars, np.int64),
        tiers=flat_tiers(n_assets),
        lots=no_lots(n_assets),
        rules_row=np.zeros(n_bars, np.int64),
    )
    flags = signal_flags(0, mkt, program(ind), default_params(1), 1000.0, 8760.0)
    want = reference(ind)
    want[:, -1, :] = False  # the last bar never signals
    want[:, ~tradable] = False  # nor a bar that cannot trade
    if boundary:  # the entry crossing reads its previous bar from the block before
        assert want[E.G_LONG_ENTRY, SIGNAL_BLOCK].all()
    np.testing.assert_array_equal(flags, want)
    assert want.any(axis=(1, 2))[[E.G_LONG_ENTRY, E.G_LONG_EXIT, E.G_SHORT_ENTRY]].all()
    assert not want[E.G_SHORT_EXIT].any()


def test_a_skipped_asset_is_one_target_side_would_keep() -> None:
    """The signal step passes over an asset when no order waits and ``may_move`` is false; over every
    side, every combination of the four groups' flags, entry allowed or not and every direction,
    ``target_side`` then keeps the side. And ``quiet`` (a flat account's whole step skipped) holds
    exactly when no asset has an order waiting or an entry flag."""
    from itertools import product

    from kernels.orders import no_pending
    from kernels.signals import may_move, quiet, target_side

    kept = moved = 0
    for side, flags, may_enter, allow_long, allow_short in product(
        (-1, 0, 1), product((False, True), repeat=E.N_GROUPS), (False, True), (False, True), (False, True)
    ):
        sig = np.array(flags, np.bool_).reshape(E.N_GROUPS, 1)
        target = target_side(side, may_enter, allow_long, allow_short, sig, 0)
        if not may_move(side, sig, 0):
            assert target == side, (side, flags, may_enter, allow_long, allow_short)
            kept += 1
        else:
            moved += target != side
    assert kept == 3 * 4 * 8 and moved > 0  # each side has 2 of 4 flags that can move it

    n_assets = 3
    for flags, waiting in product(product((False, True), repeat=2 * n_assets), range(-1, n_assets)):
        sig = np.zeros((E.N_GROUPS + 1, n_assets), np.bool_)
        sig[E.G_LONG_ENTRY] = flags[:n_assets]
        sig[E.G_SHORT_ENTRY] = flags[n_assets:]
        sig[E.G_LONG_EXIT] = sig[E.G_SHORT_EXIT] = True  # exits cannot move a flat account
        pending = no_pending(n_assets)
        if waiting >= 0:
            pending.active[waiting] = True
        assert quiet(sig, 0, pending) == (not any(flags) and waiting < 0)
