"""Exact metrics of any set of blocks of a run, for every combination at once.

Returns pool by their sums; growth multiplies block by block; the drawdown of blocks laid end to
end is ``max(dd_A, dd_B, 1 - trough_B / peak_A)`` applied left to right (exact: a deeper point of B
measured against a later, higher peak inside B is already in ``dd_B``). Non-adjacent blocks are
chained as if traded back to back.

Every figure of a combination is computed from its own row alone, so the grid may be evaluated in
chunks of any size: sums over blocks are added in time order for a grid (the order numpy takes for
two or more rows) and pairwise for a lone row (numpy's order for one), whatever the chunk holds.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels import enums as E
from runner.spec import ObjectiveSpec


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0.0, a / np.where(b != 0.0, b, 1.0), np.nan)


def block_sum(blocks: np.ndarray, idx: np.ndarray, field: int, in_order: bool | None = None) -> np.ndarray:
    """Per combination, statistic ``field`` summed over blocks ``idx``: added in time order (``in_order``;
    default: for two or more rows, as numpy sums a grid's) or pairwise (numpy's sum of a lone row). A
    chunk of a grid passes ``in_order=True``, so a chunk of one sums like any other."""
    if in_order is None:
        in_order = len(blocks) > 1
    if not in_order or len(idx) == 0:
        return blocks[:, idx, field].sum(axis=1)
    out = blocks[:, idx[0], field].copy()
    for j in idx[1:]:
        out += blocks[:, j, field]
    return out


def window_metrics(
    blocks: np.ndarray, idx: np.ndarray, bars_per_year: float, leverage: np.ndarray, in_order: bool | None = None
) -> dict[str, np.ndarray]:
    """Metrics of each combination over blocks ``idx`` (time order): arrays of shape ``(n_combos,)``
    (``in_order``: how sums are added, see ``block_sum``). Reads the blocks in place, one at a time."""

    def summed(field: int) -> np.ndarray:
        return block_sum(blocks, idx, field, in_order)

    n = summed(E.B_BARS)
    s1 = summed(E.B_SUM)
    s2 = summed(E.B_SUMSQ)
    down = summed(E.B_DOWNSQ)
    mean = _div(s1, n)
    var = _div(s2 - n * mean * mean, n - 1.0)
    std = np.sqrt(np.maximum(var, 0.0))
    ann = np.sqrt(bars_per_year)
    sharpe = _div(mean, std) * ann
    sortino = _div(mean, np.sqrt(_div(down, n))) * ann

    # chain each block's equity relative to its start: a flat block is a ratio of exactly 1, so a dead
    # account's window is exactly zero return and drawdown (no x * (1/x) residue)
    growth = np.ones(len(blocks))
    peak = np.ones(len(blocks))
    dd = np.zeros(len(blocks))
    for j in idx:
        b = blocks[:, j, :]
        start = b[:, E.B_START]
        alive = start > 0.0  # a ruined start: ruin
        base = np.where(alive, start, 1.0)
        trough = growth * np.where(alive, b[:, E.B_TROUGH] / base, 0.0)
        dd = np.maximum(dd, np.maximum(b[:, E.B_MAXDD], np.where(peak > 0.0, 1.0 - trough / peak, 1.0)))
        peak = np.maximum(peak, growth * np.where(alive, b[:, E.B_PEAK] / base, 0.0))
        growth = growth * np.where(alive, b[:, E.B_END] / base, 0.0)
    total = growth - 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        apr = np.where((growth > 0.0) & (n > 0), growth ** (bars_per_year / np.maximum(n, 1.0)) - 1.0, -1.0)
    wins = summed(E.B_GROSS_WIN)
    losses = summed(E.B_GROSS_LOSS)
    pf = np.where(losses > 0.0, _div(wins, losses), np.where(wins > 0.0, np.inf, np.nan))
    return {
        "total_return": total,
        "apr": apr,
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": _div(apr, dd),
        "max_drawdown": dd,
        "score": np.where(total < 0.0, total * dd * leverage, _div(total, dd * leverage)),
        "profit_factor": pf,
        "n_trades": summed(E.B_TRADES),
        "n_liquidations": summed(E.B_LIQ),
        "n_bars": n,
    }


def objective_of(values: np.ndarray, liquidated: np.ndarray, objective: ObjectiveSpec) -> np.ndarray:
    """The objective as "higher is better", NaN where undefined or discarded (``liquidated``: a count
    or flag per combination of liquidations up to the end of the bars the choice is made on)."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[~np.isfinite(out)] = np.nan
    if objective.discard_liquidated:
        out[np.asarray(liquidated) > 0] = np.nan
    return out if objective.maximize else -out


def best_of(values: np.ndarray, allowed: np.ndarray | None = None) -> int:
    """Index of the largest finite value (among ``allowed``), or -1."""
    key = np.where(np.isnan(values), -np.inf, values)
    if allowed is not None:
        key = np.where(allowed, key, -np.inf)
    i = int(np.argmax(key))
    return i if np.isfinite(key[i]) else -1


@dataclass
class Choice:
    """``best_of`` over a column that arrives in chunks, in any order: the first (lowest index) of the
    largest finite values, and what was ``kept`` of it when it was offered."""

    value: float = -np.inf
    index: int = -1
    kept: Any = None

    def offer(self, values: np.ndarray, lo: int, keep=lambda i: None) -> None:
        """Consider ``values`` of combinations ``lo, lo + 1, ...``; ``keep(i)`` (``i`` into ``values``)
        is stored when the chunk's best becomes the choice."""
        i = best_of(values)
        if i < 0:
            return
        v = float(values[i])
        if self.index < 0 or v > self.value or (v == self.value and lo + i < self.index):
            self.value, self.index, self.kept = v, lo + i, keep(i)
