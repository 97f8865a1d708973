"""Probabilistic and deflated Sharpe ratios (Bailey and Lopez de Prado 2012, 2014), PBO by CSCV
(Bailey, Borwein, Lopez de Prado and Zhu 2015) and Pareto ranks. Sharpe ratios here are per bar
(not annualised), as in the papers' formulas; kurtosis is non-excess (3 for a normal)."""

from itertools import combinations

import numpy as np
from scipy.special import ndtr, ndtri  # the standard normal's cdf and ppf (scipy.stats costs 1.2 s to import)

from kernels.selection import cscv_logits, pareto_ranks

EULER_GAMMA = 0.5772156649015329


def psr(sr: np.ndarray, n_obs: np.ndarray, skew: np.ndarray, kurt: np.ndarray, benchmark=0.0) -> np.ndarray:
    """P(true Sharpe > ``benchmark``) given the observed per-bar ``sr`` over ``n_obs`` returns."""
    sr = np.asarray(sr, dtype=np.float64)
    var = 1.0 - np.asarray(skew) * sr + (np.asarray(kurt) - 1.0) / 4.0 * sr * sr
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (sr - benchmark) * np.sqrt(np.asarray(n_obs, dtype=np.float64) - 1.0) / np.sqrt(var)
    out = ndtr(z)
    return np.where(np.isfinite(z) & (var > 0.0), out, np.nan)


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe estimates with variance ``sr_variance`` and true value 0."""
    if n_trials <= 1 or not sr_variance > 0.0:
        return 0.0
    a = ndtri(1.0 - 1.0 / n_trials)
    b = ndtri(1.0 - 1.0 / (n_trials * np.e))
    return float(np.sqrt(sr_variance) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b))


def dsr(sr, n_obs, skew, kurt, n_trials: int, sr_variance: float) -> np.ndarray:
    """The PSR against the expected maximum Sharpe of ``n_trials`` unskilled trials."""
    return psr(sr, n_obs, skew, kurt, expected_max_sharpe(n_trials, sr_variance))


def cscv_splits(n_blocks: int) -> np.ndarray:
    """Every choice of ``n_blocks / 2`` in-sample blocks: ``(C(S, S/2), S/2)``."""
    return np.array(list(combinations(range(n_blocks), n_blocks // 2)), dtype=np.int64)


def pbo(
    s1: np.ndarray, s2: np.ndarray, cnt: np.ndarray, first_liq: np.ndarray | None = None
) -> tuple[float, np.ndarray, np.ndarray]:
    """``(PBO, logits, in-sample best per split)`` from per-block sums ``(n_combos, S)``; ``first_liq``:
    each combination's first block with a liquidation (none: never). PBO is the share of splits whose
    in-sample choice ranks in the bottom half out of sample, over the splits that had a choice (NaN
    when none had)."""
    n, s = s1.shape
    liq = np.full(n, s, np.int64) if first_liq is None else np.ascontiguousarray(first_liq, dtype=np.int64)
    logits, best = cscv_logits(
        np.ascontiguousarray(s1),
        np.ascontiguousarray(s2),
        np.ascontiguousarray(cnt, dtype=np.float64),
        cscv_splits(s),
        liq,
    )
    chosen = np.isfinite(logits)
    value = float(np.mean(logits[chosen] <= 0.0)) if chosen.any() else float("nan")
    return value, logits[chosen], best[chosen]


def pareto(points: np.ndarray, valid: np.ndarray, max_rank: int = 50) -> np.ndarray:
    """Pareto rank per row (1: the front; 0: not ranked), every column maximised."""
    pts = np.ascontiguousarray(points, dtype=np.float64)
    ok = np.asarray(valid, dtype=np.bool_) & ~np.isnan(pts).any(axis=1)
    return pareto_ranks(pts, ok, max_rank)
