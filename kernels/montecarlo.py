"""Monte Carlo risk of one equity curve: stationary block bootstrap of bar returns and reshuffled
trade order, streamed (each path is simulated and reduced to a few numbers; no matrix of paths).

Every function takes its own seed and seeds numba's generator of the calling thread first, so a
chunk of paths gives the same numbers whichever thread runs it (``runner.montecarlo`` splits the
paths into chunks with seeds ``seed + chunk``).

The stationary bootstrap (Politis and Romano, 1994): a path starts at a uniformly drawn bar; each
next bar is the following one (wrapping at the end) or, with probability ``1 / mean_block``, a new
uniformly drawn bar, so blocks have geometric lengths of mean ``mean_block`` and the resampled
series keeps the returns' short-range dependence.
"""

import numpy as np
from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)


@njit(cache=True, inline="always")
def _next(j, n, p):
    """The bar after ``j`` in a stationary-bootstrap path: a new block with probability ``p``."""
    if np.random.random() < p:
        return np.random.randint(0, n)
    return j + 1 if j + 1 < n else 0


@njit(cache=True, nogil=True)
def horizon_returns(r, horizon, mean_block, seed, out):
    """``out[i]``: the compounded return over ``horizon`` bars of bootstrap path ``i`` of ``r``."""
    np.random.seed(seed)
    n = r.shape[0]
    p = 1.0 / mean_block
    for i in range(out.shape[0]):
        j = np.random.randint(0, n)
        growth = 1.0 + r[j]
        for _ in range(1, horizon):
            j = _next(j, n, p)
            growth *= 1.0 + r[j]
        out[i] = growth - 1.0


@njit(cache=True, nogil=True)
def path_statistics(r, n_steps, mean_block, bars_per_year, seed, out):
    """``out[i] = (sharpe, apr, max_drawdown)`` of bootstrap path ``i`` of ``n_steps`` bars of ``r``
    (Sharpe annualised with ``bars_per_year``; a path that reaches zero equity has APR -1)."""
    np.random.seed(seed)
    n = r.shape[0]
    p = 1.0 / mean_block
    for i in range(out.shape[0]):
        j = np.random.randint(0, n)
        mean = 0.0
        m2 = 0.0
        equity = 1.0
        peak = 1.0
        mdd = 0.0
        for s in range(n_steps):
            if s > 0:
                j = _next(j, n, p)
            x = r[j]
            delta = x - mean
            mean += delta / (s + 1)
            m2 += delta * (x - mean)
            equity *= 1.0 + x
            if equity > peak:
                peak = equity
            elif peak > 0.0 and 1.0 - equity / peak > mdd:
                mdd = 1.0 - equity / peak
        sd = np.sqrt(m2 / (n_steps - 1)) if n_steps > 1 else 0.0
        out[i, 0] = mean / sd * np.sqrt(bars_per_year) if sd > 0.0 else np.nan
        out[i, 1] = equity ** (bars_per_year / n_steps) - 1.0 if equity > 0.0 else -1.0
        out[i, 2] = mdd


@njit(cache=True, nogil=True)
def reshuffled_drawdowns(f, seed, out):
    """``out[i]``: the maximum drawdown of the trades' returns on equity ``f`` compounded in a random
    order (a Fisher-Yates shuffle per path)."""
    np.random.seed(seed)
    order = f.copy()
    n = order.shape[0]
    for i in range(out.shape[0]):
        for k in range(n - 1, 0, -1):
            m = np.random.randint(0, k + 1)
            order[k], order[m] = order[m], order[k]
        equity = 1.0
        peak = 1.0
        mdd = 0.0
        for k in range(n):
            equity *= 1.0 + order[k]
            if equity > peak:
                peak = equity
            elif peak > 0.0 and 1.0 - equity / peak > mdd:
                mdd = 1.0 - equity / peak
        out[i] = mdd


def value_at_risk(x: np.ndarray, alpha: float) -> tuple[float, float]:
    """``(VaR, CVaR)`` at level ``alpha`` (0.95) of returns ``x``, as positive losses: the empirical
    ``1 - alpha`` quantile (the ``ceil((1 - alpha) n)``-th smallest) and the mean of the returns at or
    below it. NumPy, not numba: one sort per call, and numba's sort took 2.5 s to compile on a first
    run; the mean sums in order (``cumsum``), as numba's compiled mean did, to the same bits."""
    s = np.sort(x)
    k = max(1, int(np.ceil((1.0 - alpha) * s.shape[0] - 1e-9)))
    return float(-s[k - 1]), float(-(np.cumsum(s[:k])[-1] / k))
