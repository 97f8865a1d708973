"""Signal programs: the condition tables the simulation kernel evaluates, and a builder.

A strategy compiles to condition rows grouped into clauses (a clause holds when any of its rows
holds) and groups (a group holds when all of its clauses hold; an empty group never fires).
Each row has two sides, each a linear form ``add + sum(coef_k * ind[col_k, t, a])`` whose
columns and numbers are chosen per combination. A row compares its first side ``d`` with zero
(``d = lhs - rhs``); ``between`` needs both sides ``>= 0``.
"""

import numpy as np

from kernels.enums import (
    DIR_BOTH,
    N_GROUPS,
    N_LOT,
    N_SIM_PARAMS,
    N_TIER,
    OP_GT,
    P_COOLDOWN,
    P_DAILY_LOSS,
    P_DD_HALT,
    P_DD_SCALE,
    P_DD_SCALE_AT,
    P_DIRECTION,
    P_KELLY_FALLBACK,
    P_KELLY_MIN_TRADES,
    P_LEVERAGE,
    P_MAX_EXPOSURE,
    P_MAX_LOSSES,
    P_MAX_POSITION,
    P_SIZE,
    P_STOP_LOSS,
    P_TAKE_PROFIT,
    P_TRAILING_STOP,
    T_CAP,
    T_CUM,
    T_MAX_LEV,
    T_MMR,
)


def default_params(n_combos: int, n_extra: int = 0) -> np.ndarray:
    """Parameter rows with every optional rule off: fixed-fraction sizing of the whole equity, no
    stops, no caps but the position's (100 % of equity), no circuit breakers; isolated margin,
    next-open fills, long and short, zero fees and slippage, leverage 1."""
    params = np.zeros((n_combos, N_SIM_PARAMS + n_extra))
    params[:, P_LEVERAGE] = 1.0
    params[:, P_SIZE] = 1.0
    params[:, P_MAX_POSITION] = 1.0
    params[:, P_DIRECTION] = DIR_BOTH
    for col in (P_STOP_LOSS, P_TAKE_PROFIT, P_TRAILING_STOP, P_MAX_EXPOSURE, P_DD_SCALE_AT, P_DD_HALT):
        params[:, col] = np.nan
    for col in (P_DAILY_LOSS, P_MAX_LOSSES, P_COOLDOWN, P_KELLY_MIN_TRADES, P_KELLY_FALLBACK):
        params[:, col] = np.nan
    params[:, P_DD_SCALE] = 1.0
    return params


def flat_tiers(n_assets: int, mmr: float = 0.004, cum: float = 0.0, max_leverage: float = 125.0) -> np.ndarray:
    """One maintenance bracket of unbounded notional for every asset."""
    tiers = np.zeros((n_assets, 1, N_TIER))
    tiers[:, 0, T_CAP] = np.inf
    tiers[:, 0, T_MMR] = mmr
    tiers[:, 0, T_CUM] = cum
    tiers[:, 0, T_MAX_LEV] = max_leverage
    return tiers


def no_lots(n_assets: int) -> np.ndarray:
    """No quantity step, minimum quantity or minimum notional."""
    return np.zeros((n_assets, N_LOT))


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
        np.full((n_combos, 4), -1, dtype=np.int64),
    )
