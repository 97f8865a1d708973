"""Condition programs evaluated inside the kernels.

A strategy compiles to rows ``(group, op, lhs_kind, lhs_idx, rhs_kind, rhs_idx)`` sorted by
group; ``group_start[g]:group_start[g+1]`` are the rows of group ``g``. Operands are an
indicator slot (its column chosen per combination), a parameter column, or a constant.
"""

from numba import njit

from kernels.enums import (
    C_LIDX,
    C_LKIND,
    C_OP,
    C_RIDX,
    C_RKIND,
    K_IND,
    K_PARAM,
    OP_CROSS_ABOVE,
    OP_CROSS_BELOW,
    OP_GE,
    OP_GT,
    OP_LE,
    OP_LT,
)


@njit(cache=True, inline="always")
def operand(kind, idx, c, t, a, ind, combo_ind, params, consts):
    """Value of one operand at bar ``t`` of asset ``a`` for combination ``c``."""
    if kind == K_IND:
        return ind[combo_ind[c, idx], t, a]
    if kind == K_PARAM:
        return params[c, idx]
    return consts[idx]


@njit(cache=True)
def condition(row, c, t, a, conds, ind, combo_ind, params, consts):
    """Whether condition ``row`` holds on bar ``t`` (NaN operands never satisfy it)."""
    op = conds[row, C_OP]
    lk = conds[row, C_LKIND]
    li = conds[row, C_LIDX]
    rk = conds[row, C_RKIND]
    ri = conds[row, C_RIDX]
    x = operand(lk, li, c, t, a, ind, combo_ind, params, consts)
    y = operand(rk, ri, c, t, a, ind, combo_ind, params, consts)
    if op == OP_GT:
        return x > y
    if op == OP_LT:
        return x < y
    if op == OP_GE:
        return x >= y
    if op == OP_LE:
        return x <= y
    if t == 0:
        return False
    xp = operand(lk, li, c, t - 1, a, ind, combo_ind, params, consts)
    yp = operand(rk, ri, c, t - 1, a, ind, combo_ind, params, consts)
    if op == OP_CROSS_ABOVE:
        return x > y and xp <= yp
    if op == OP_CROSS_BELOW:
        return x < y and xp >= yp
    return False


@njit(cache=True)
def group_holds(g, c, t, a, conds, group_start, ind, combo_ind, params, consts):
    """All conditions of group ``g`` hold; an empty group never holds."""
    start = group_start[g]
    end = group_start[g + 1]
    if start == end:
        return False
    for row in range(start, end):
        if not condition(row, c, t, a, conds, ind, combo_ind, params, consts):
            return False
    return True
