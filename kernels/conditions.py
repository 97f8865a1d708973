"""Conditions: where each condition group of a combination's signal program holds.

A program (``kernels.program``) is condition rows grouped into clauses (a clause holds when any of
its rows holds) and groups (a group holds when all of its clauses hold; an empty group never fires).
Groups are evaluated ``SIGNAL_BLOCK`` bars at a time, vectorised over bars and assets, with the same
sums in the same order as a bar-by-bar evaluation (so the same flags).
"""

from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.enums import N_GROUPS, OP_BETWEEN, OP_CROSS_ABOVE, OP_CROSS_BELOW, OP_GE, OP_GT, OP_LT
from kernels.jit import inner

SIGNAL_BLOCK = 128  # bars whose conditions are evaluated together, vectorised over bars and assets


@inner
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
    # each term's values as a slice: indexed by the loop counter alone, they load as contiguous vectors
    # (``ind_flat[base + i]`` would need a negative-index check per element, hence gathers)
    k = coef[j0]
    base = (col[j0] * n_bars + t0) * n_assets
    src = ind_flat[base : base + size]
    for i in range(size):
        out[i] = a0 + k * src[i]
    for j in range(j0 + 1, j1):
        k = coef[j]
        base = (col[j] * n_bars + t0) * n_assets
        src = ind_flat[base : base + size]
        for i in range(size):
            out[i] += k * src[i]


@njit(cache=True, inline="always")
def _put(dst, i, ok, mode):
    """A row result into ``dst[i]``: set (``mode`` 0), or-ed (1), and-ed (2)."""
    if mode == 0:
        dst[i] = ok
    elif mode == 1:
        dst[i] = dst[i] or ok
    else:
        dst[i] = dst[i] and ok


@inner
def _compare(dst, d, op, mode, size):
    """Row results ``d op 0`` (``op`` one of >, <, >=, <=) into ``dst`` (``mode`` as in ``_put``). One
    loop per operator: a test of ``op`` inside the loop was not hoisted by the compiler."""
    if op == OP_GT:
        for i in range(size):
            _put(dst, i, d[i] > 0.0, mode)
    elif op == OP_LT:
        for i in range(size):
            _put(dst, i, d[i] < 0.0, mode)
    elif op == OP_GE:
        for i in range(size):
            _put(dst, i, d[i] >= 0.0, mode)
    else:
        for i in range(size):
            _put(dst, i, d[i] <= 0.0, mode)


@inner
def _row(r, dst, mode, t0, m, ind_flat, n_bars, n_assets, cond_op, side_start, col, coef, add, d, d2):
    """Condition row ``r`` on bars ``t0 .. t0 + m - 1`` into ``dst`` (``mode`` as in ``_put``)."""
    size = m * n_assets
    s = 2 * r
    op = cond_op[r]
    if op == OP_CROSS_ABOVE or op == OP_CROSS_BELOW:
        # the side one bar earlier too (d from bar t0 - 1 on), except before the panel's first bar
        back = 1 if t0 > 0 else 0
        _linear(d, ind_flat, s, add, side_start, col, coef, t0 - back, m + back, n_bars, n_assets)
        # result i is bar t0 + i // n_assets; the first bar of the panel has no bar before it (never a cross)
        lo = min(n_assets - back * n_assets, size)
        for i in range(lo):
            _put(dst, i, False, mode)
        n = size - lo  # from result lo on: the side now is d[n_assets + k], one bar earlier d[k]
        out, now, before = dst[lo:size], d[n_assets : n_assets + n], d[:n]
        if op == OP_CROSS_ABOVE:
            for k in range(n):
                _put(out, k, now[k] > 0.0 and before[k] <= 0.0, mode)
        else:
            for k in range(n):
                _put(out, k, now[k] < 0.0 and before[k] >= 0.0, mode)
        return
    _linear(d, ind_flat, s, add, side_start, col, coef, t0, m, n_bars, n_assets)
    if op != OP_BETWEEN:
        _compare(dst, d, op, mode, size)
        return
    _linear(d2, ind_flat, s + 1, add, side_start, col, coef, t0, m, n_bars, n_assets)
    for i in range(size):
        ok = d[i] >= 0.0 and d2[i] >= 0.0
        _put(dst, i, ok, mode)


@inner
def eval_block(t0, m, prog, col, coef, add, ind_flat, flags, d):
    """Where each condition group holds on bars ``t0 .. t0 + m - 1``: ``flags[g, i]`` with ``i`` = bar
    offset x n_assets + asset (row ``N_GROUPS`` of ``flags`` and the rows of ``d`` are scratch). The
    same sums in the same order as a bar-by-bar evaluation, so the same flags. ``prog`` is a
    ``kernels.program.Program``; ``col``, ``coef`` and ``add`` are the combination's rows of its
    terms; ``ind_flat`` is ``prog.ind`` flattened."""
    n_bars, n_assets = prog.ind.shape[1], prog.ind.shape[2]
    cond_op, clause_start, group_start, side_start = prog.cond_op, prog.clause_start, prog.group_start, prog.side_start
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
