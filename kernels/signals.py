"""Condition programs evaluated inside the kernels.

A strategy compiles to rows ``(group, op, lhs_kind, lhs_idx, rhs_kind, rhs_idx)`` sorted by
group; ``group_start[g]:group_start[g+1]`` are the rows of group ``g``. Operands are an
indicator slot (its column chosen per combination), a parameter column, or a constant.
Per combination the operands are resolved once (``resolve``): the hot loop then reads either
``ind[col, t, a]`` or a scalar, and compares with ``compare``; no array-heavy calls per bar.
"""

import numpy as np
from numba import njit

from kernels.enums import C_LIDX, C_LKIND, K_IND, K_PARAM, OP_CROSS_ABOVE, OP_CROSS_BELOW, OP_GE, OP_GT, OP_LE, OP_LT


@njit(cache=True)
def resolve(c, conds, combo_ind, params, consts):
    """Per condition row and side (0 lhs, 1 rhs): indicator column (or -1) and scalar value."""
    n = conds.shape[0]
    col = np.full((n, 2), -1, dtype=np.int64)
    val = np.full((n, 2), np.nan)
    for r in range(n):
        for side in range(2):
            kind = conds[r, C_LKIND + 2 * side]
            idx = conds[r, C_LIDX + 2 * side]
            if kind == K_IND:
                col[r, side] = combo_ind[c, idx]
            elif kind == K_PARAM:
                val[r, side] = params[c, idx]
            else:
                val[r, side] = consts[idx]
    return col, val


@njit(cache=True, inline="always")
def compare(op, x, y, xp, yp):
    """``x op y`` now (``xp``, ``yp``: previous bar, used by crossings); NaN never satisfies."""
    if op == OP_GT:
        return x > y
    if op == OP_LT:
        return x < y
    if op == OP_GE:
        return x >= y
    if op == OP_LE:
        return x <= y
    if op == OP_CROSS_ABOVE:
        return x > y and xp <= yp
    if op == OP_CROSS_BELOW:
        return x < y and xp >= yp
    return False


@njit(cache=True, inline="always")
def is_cross(op):
    return op == OP_CROSS_ABOVE or op == OP_CROSS_BELOW
