"""Signal programs: the condition tables the simulation kernel evaluates, and a builder.

A strategy compiles to condition rows grouped into clauses (a clause holds when any of its rows
holds) and groups (a group holds when all of its clauses hold; an empty group never fires).
Each row has two sides, each a linear form ``add + sum(coef_k * ind[col_k, t, a])`` whose
columns and numbers are chosen per combination. A row compares its first side ``d`` with zero
(``d = lhs - rhs``); ``between`` needs both sides ``>= 0``.

The kernels take two named inputs declared here: the ``Market`` panel and the signal ``Program``
(numba compiles NamedTuples like tuples; every read is by name). ``Orders`` is what an order reads.
"""

from typing import NamedTuple

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


class Market(NamedTuple):
    """The market panel: ``(n_bars, n_assets)`` price, volume and funding panels, the prices that
    trigger liquidations and stops (the same arrays as ``open``/``high``/``low`` when those trigger),
    a UTC day number per bar, maintenance brackets and lot filters of each era of exchange rules
    stacked (one era: ``(n_assets, n_tiers, N_TIER)`` and ``(n_assets, N_LOT)``) and the era's first
    row in force at each bar (``rules_row``: era x n_assets; all 0 with one era)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    tradable: np.ndarray  # bool: the bar exists and may trade
    funding: np.ndarray  # rate settled at the bar's open (0: none)
    settle: np.ndarray  # the price funding settles at
    liq_open: np.ndarray  # the prices that trigger liquidation: the mark price's open, high and low
    liq_high: np.ndarray  # (``execution.liquidation_trigger=mark``) or the open, high and low above
    liq_low: np.ndarray
    stop_open: np.ndarray  # the prices that trigger stops (``execution.stop_trigger``), likewise
    stop_high: np.ndarray
    stop_low: np.ndarray
    day: np.ndarray  # (n_bars,) int64
    tiers: np.ndarray  # (n_eras * n_assets, n_tiers, N_TIER): era e's brackets in rows e * n_assets ...
    lots: np.ndarray  # (n_eras * n_assets, N_LOT): likewise
    rules_row: np.ndarray  # (n_bars,) int64: the first row of ``tiers``/``lots`` in force at each bar


class Program(NamedTuple):
    """A signal program (module docstring): shared condition tables, per-combination terms."""

    ind: np.ndarray  # (n_cols, n_bars, n_assets): every series a combination may read
    cond_op: np.ndarray  # (n_rows,) E.OP_*
    clause_start: np.ndarray  # (n_clauses + 1,)
    group_start: np.ndarray  # (N_GROUPS + 1,)
    side_start: np.ndarray  # (2 * n_rows + 1,)
    term_col: np.ndarray  # (n_combos, n_terms)
    term_coef: np.ndarray  # (n_combos, n_terms)
    side_add: np.ndarray  # (n_combos, 2 * n_rows)
    entry_ok: np.ndarray  # (n_bars, n_assets) bool: time filters
    warm: np.ndarray  # (n_combos, n_assets): first bar with every referenced series defined
    stop_cols: np.ndarray  # (n_combos, 4): ATR column of each stop (-1: percent), then of vol sizing


class Orders(NamedTuple):
    """What an order of one combination reads: sizing, stops, slippage, lot filters."""

    ind: np.ndarray
    stop_col: np.ndarray  # (4,) this combination's row of ``Program.stop_cols``
    volume: np.ndarray
    tiers: np.ndarray
    lots: np.ndarray


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


def group_program(signals: np.ndarray, n_combos: int = 1) -> Program:
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
    return Program(
        ind=ind,
        cond_op=cond_op,
        clause_start=clause_start,
        group_start=group_start,
        side_start=side_start,
        term_col=term_col,
        term_coef=term_coef,
        side_add=side_add,
        entry_ok=np.ones((n_bars, n_assets), dtype=np.bool_),
        warm=np.zeros((n_combos, n_assets), dtype=np.int64),
        stop_cols=np.full((n_combos, 4), -1, dtype=np.int64),
    )
