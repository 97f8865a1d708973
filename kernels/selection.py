"""Selection statistics over a grid: CSCV logits (probability of backtest overfitting) and Pareto
fronts. Inputs are per-combination summaries, never bars."""

import numpy as np
from numba import njit, prange

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)


@njit(cache=True)
def _sharpe(s1, s2, n):
    if n < 2.0:
        return 0.0
    mean = s1 / n
    var = (s2 - n * mean * mean) / (n - 1.0)
    if var <= 0.0:
        return 0.0
    return mean / np.sqrt(var)


@njit(cache=True, parallel=True)
def cscv_logits(s1, s2, cnt, splits, first_liq):
    """CSCV (Bailey, Borwein, Lopez de Prado, Zhu 2015). ``s1``/``s2`` ``(n_combos, S)``: sums of
    returns and squared returns per block; ``cnt`` ``(S,)`` bars per block; ``splits`` ``(M, S/2)``:
    the in-sample blocks of each split; ``first_liq`` ``(n_combos,)``: the first block in which a
    combination was liquidated (S: never). Per split: the in-sample best combination (by Sharpe)
    among those not liquidated before or inside the in-sample blocks, its out-of-sample relative
    rank ``w`` in ``(0, 1)`` (ties share ranks) and the logit ``ln(w/(1-w))``; a split with no
    eligible combination has logit NaN and best -1. Returns ``(logits (M,), best (M,))``."""
    n_combos, n_blocks = s1.shape
    m = splits.shape[0]
    logits = np.empty(m)
    best = np.empty(m, np.int64)
    for k in prange(m):
        is_in = np.zeros(n_blocks, np.bool_)
        last_in = 0
        for j in range(splits.shape[1]):
            is_in[splits[k, j]] = True
            last_in = max(last_in, splits[k, j])
        n_is = 0.0
        n_oos = 0.0
        for b in range(n_blocks):
            if is_in[b]:
                n_is += cnt[b]
            else:
                n_oos += cnt[b]
        oos = np.empty(n_combos)
        top = -np.inf
        star = -1
        for c in range(n_combos):
            a1 = 0.0
            a2 = 0.0
            o1 = 0.0
            o2 = 0.0
            for b in range(n_blocks):
                if is_in[b]:
                    a1 += s1[c, b]
                    a2 += s2[c, b]
                else:
                    o1 += s1[c, b]
                    o2 += s2[c, b]
            sr = _sharpe(a1, a2, n_is)
            if first_liq[c] > last_in and (star < 0 or sr > top):
                top = sr
                star = c
            oos[c] = _sharpe(o1, o2, n_oos)
        if star < 0:
            logits[k] = np.nan
            best[k] = -1
            continue
        below = 0.0
        ties = 0.0
        for c in range(n_combos):
            if oos[c] < oos[star]:
                below += 1.0
            elif oos[c] == oos[star]:
                ties += 1.0
        rank = below + (ties + 1.0) / 2.0  # 1..n_combos, ties averaged
        w = rank / (n_combos + 1.0)
        logits[k] = np.log(w / (1.0 - w))
        best[k] = star
    return logits, best


@njit(cache=True)
def pareto_ranks(points, valid, max_rank):
    """Non-dominated sorting (all objectives maximised): rank 1 is the Pareto front; fronts past
    ``max_rank`` get ``max_rank + 1``; invalid points get 0."""
    n, k = points.shape
    rank = np.zeros(n, np.int64)
    left = 0
    for i in range(n):
        if valid[i]:
            left += 1
    r = 0
    while left > 0:
        r += 1
        if r > max_rank:
            for i in range(n):
                if valid[i] and rank[i] == 0:
                    rank[i] = max_rank + 1
            break
        front = np.zeros(n, np.bool_)
        for i in range(n):
            if not valid[i] or rank[i] != 0:
                continue
            dominated = False
            for j in range(n):
                if j == i or not valid[j] or rank[j] != 0:
                    continue
                ge = True
                gt = False
                for d in range(k):
                    if points[j, d] < points[i, d]:
                        ge = False
                        break
                    if points[j, d] > points[i, d]:
                        gt = True
                if ge and gt:
                    dominated = True
                    break
            front[i] = not dominated
        for i in range(n):
            if front[i]:
                rank[i] = r
                left -= 1
    return rank
