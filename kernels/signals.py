"""Condition programs evaluated inside the kernels.

A strategy compiles to condition rows grouped into clauses (a clause holds when any of its rows
holds) and groups (a group holds when all of its clauses hold; an empty group never fires).
Each row has two sides, each a linear form ``add + sum(coef_k * ind[col_k, t, a])`` whose
columns and numbers are chosen per combination. A row compares its first side ``d`` with zero
(``d = lhs - rhs``); ``between`` needs both sides ``>= 0``.
"""

from numba import njit

from kernels.enums import OP_BETWEEN, OP_CROSS_ABOVE, OP_CROSS_BELOW, OP_GE, OP_GT, OP_LE, OP_LT


@njit(cache=True)
def side_value(s, t, a, side_start, col, coef, add, ind):
    """Value of side ``s`` at bar ``t`` for asset ``a`` (NaN while any series is undefined)."""
    v = add[s]
    for k in range(side_start[s], side_start[s + 1]):
        v += coef[k] * ind[col[k], t, a]
    return v


@njit(cache=True)
def group_holds(g, t, a, cond_op, clause_start, group_start, side_start, col, coef, add, ind):
    """Whether group ``g`` holds at bar ``t`` for asset ``a``; NaN never satisfies a comparison."""
    c0 = group_start[g]
    c1 = group_start[g + 1]
    if c0 == c1:
        return False
    for cl in range(c0, c1):
        hit = False
        for r in range(clause_start[cl], clause_start[cl + 1]):
            op = cond_op[r]
            d = side_value(2 * r, t, a, side_start, col, coef, add, ind)
            if op == OP_GT:
                ok = d > 0.0
            elif op == OP_LT:
                ok = d < 0.0
            elif op == OP_GE:
                ok = d >= 0.0
            elif op == OP_LE:
                ok = d <= 0.0
            elif op == OP_BETWEEN:
                ok = d >= 0.0 and side_value(2 * r + 1, t, a, side_start, col, coef, add, ind) >= 0.0
            elif t == 0:
                ok = False
            else:
                dp = side_value(2 * r, t - 1, a, side_start, col, coef, add, ind)
                if op == OP_CROSS_ABOVE:
                    ok = d > 0.0 and dp <= 0.0
                elif op == OP_CROSS_BELOW:
                    ok = d < 0.0 and dp >= 0.0
                else:
                    ok = False
            if ok:
                hit = True
                break
        if not hit:
            return False
    return True
