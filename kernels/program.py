"""Signal programs: the condition tables the simulation kernel evaluates, and a builder.

A strategy compiles to condition rows grouped into clauses (a clause holds when any of its rows
holds) and groups (a group holds when all of its clauses hold; an empty group never fires).
Each row has two sides, each a linear form ``add + sum(coef_k * ind[col_k, t, a])`` whose
columns and numbers are chosen per combination. A row compares its first side ``d`` with zero
(``d = lhs - rhs``); ``between`` needs both sides ``>= 0``.
"""

import numpy as np

from kernels.enums import N_GROUPS, OP_GT


def group_program(signals: np.ndarray, n_combos: int = 1) -> tuple:
    """A program whose group ``g`` holds where ``signals[g, t, a] > 0.5`` (explicit entry/exit flags).

    ``signals`` is ``(N_GROUPS, n_bars, n_assets)``; no time filter, no warm-up, no stops.
    """
    n_bars, n_assets = signals.shape[1], signals.shape[2]
    ind = np.ascontiguousarray(signals, dtype=np.float64)
    cond_op = np.full(N_GROUPS, OP_GT, dtype=np.int64)
    clause_start = np.arange(N_GROUPS + 1, dtype=np.int64)
    group_start = np.arange(N_GROUPS + 1, dtype=np.int64)
    side_start = np.repeat(np.arange(N_GROUPS + 1, dtype=np.int64), 2)[1:]  # side 2g: term g; side 2g+1: none
    term_col = np.tile(np.arange(N_GROUPS, dtype=np.int64), (n_combos, 1))
    term_coef = np.ones((n_combos, N_GROUPS))
    side_add = np.zeros((n_combos, 2 * N_GROUPS))
    side_add[:, 0::2] = -0.5
    return (
        ind,
        cond_op,
        clause_start,
        group_start,
        side_start,
        term_col,
        term_coef,
        side_add,
        np.ones(n_bars, dtype=np.bool_),
        np.zeros((n_combos, n_assets), dtype=np.int64),
        np.full((n_combos, 3), -1, dtype=np.int64),
    )
