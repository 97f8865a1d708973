"""Reference implementations in plain numpy, bar by bar: what the kernel's block statistics and the
window metrics must equal."""

import numpy as np

from kernels import enums as E


def returns(equity: np.ndarray, initial: float) -> np.ndarray:
    prev = np.concatenate([[initial], equity[:-1]])
    return np.where(prev > 0.0, equity / np.where(prev > 0.0, prev, 1.0) - 1.0, 0.0)


def block_stats(equity: np.ndarray, blk: np.ndarray, n_blocks: int, initial: float) -> np.ndarray:
    """``(n_combos, n_blocks, N_BLOCK)`` from equity curves ``(n_combos, n_bars)`` (no trade fields)."""
    out = np.zeros((equity.shape[0], n_blocks, E.N_BLOCK))
    for c, eq in enumerate(equity):
        r = returns(eq, initial)
        prev = np.concatenate([[initial], eq[:-1]])
        for b in range(n_blocks):
            idx = np.flatnonzero(blk == b)
            if not len(idx):
                continue
            start = prev[idx[0]]
            path = np.concatenate([[start], eq[idx]])
            peaks = np.maximum.accumulate(path)
            o = out[c, b]
            o[E.B_BARS] = len(idx)
            o[E.B_SUM] = r[idx].sum()
            o[E.B_SUMSQ] = (r[idx] ** 2).sum()
            o[E.B_DOWNSQ] = (np.minimum(r[idx], 0.0) ** 2).sum()
            o[E.B_START] = start
            o[E.B_END] = eq[idx[-1]]
            o[E.B_PEAK] = path.max()
            o[E.B_TROUGH] = path.min()
            o[E.B_MAXDD] = np.max(np.where(peaks > 0, 1.0 - path / np.where(peaks > 0, peaks, 1.0), 1.0))
    return out


def chained(equity: np.ndarray, pieces: list[tuple[int, int]], initial: float) -> np.ndarray:
    """The relative equity path (starting at 1) of bar ranges ``pieces`` traded back to back; a piece
    starting with a ruined account (equity <= 0) ruins the path."""
    r = returns(equity, initial)
    prev = np.concatenate([[initial], equity[:-1]])
    path = [1.0]
    for lo, hi in pieces:
        if prev[lo] <= 0.0:
            path.append(0.0)
        for x in r[lo:hi]:
            path.append(path[-1] * (1.0 + x))
    return np.array(path)


def max_drawdown(path: np.ndarray) -> float:
    return float(np.max(1.0 - path / np.maximum.accumulate(path)))
