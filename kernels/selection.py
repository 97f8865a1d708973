"""Selection statistics over a grid: CSCV logits (probability of backtest overfitting) and Pareto
fronts. Inputs are per-combination summaries, never bars."""

import numpy as np
from numba import njit, prange

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)
from kernels.jit import inner


@njit(cache=True, inline="always")
def _sharpe(s1, s2, n):
    """Per-bar Sharpe from the sums of returns and squared returns over ``n >= 2`` bars (0 without
    variance; NaN stays NaN), without branches so that a loop over combinations vectorises."""
    mean = s1 / n
    var = (s2 - n * mean * mean) / (n - 1.0)
    ok = not var <= 0.0
    ratio = mean / np.sqrt(var if ok else 1.0)
    return ratio if ok else 0.0


TILE = 2048  # combinations whose block sums (2 x S x 8 bytes each) stay in cache across a chunk of splits
SPLIT_CHUNK = 64  # splits a thread runs over each tile of combinations


@inner
def _out_of_sample(splits, n_blocks):
    """``(M, S - S/2)``: the blocks each split leaves out of sample, ascending."""
    m, half = splits.shape
    out = np.empty((m, n_blocks - half), np.int64)
    for k in range(m):
        is_in = np.zeros(n_blocks, np.bool_)
        for j in range(half):
            is_in[splits[k, j]] = True
        i = 0
        for b in range(n_blocks):
            if not is_in[b]:
                out[k, i] = b
                i += 1
    return out


@inner
def _tile_sharpes(t1, t2, c0, c1, blocks, n, a1, a2, out):
    """Sharpe of combinations ``c0..c1-1`` over ``blocks`` (ascending, so each sum adds its blocks in
    the order a pass over every block would) into ``out[:c1 - c0]``; ``t1``/``t2`` are ``(S,
    n_combos)`` (a block's sums contiguous), ``a1``/``a2`` scratch."""
    w = c1 - c0
    for i in range(w):
        a1[i] = 0.0
        a2[i] = 0.0
    for j in range(blocks.shape[0]):
        b = blocks[j]
        for i in range(w):
            a1[i] += t1[b, c0 + i]
            a2[i] += t2[b, c0 + i]
    if n < 2.0:
        for i in range(w):
            out[i] = 0.0
        return
    for i in range(w):
        out[i] = _sharpe(a1[i], a2[i], n)


@njit(cache=True, parallel=True)
def cscv_logits(s1, s2, cnt, splits, first_liq):
    """CSCV (Bailey, Borwein, Lopez de Prado, Zhu 2015). ``s1``/``s2`` ``(n_combos, S)``: sums of
    returns and squared returns per block; ``cnt`` ``(S,)`` bars per block; ``splits`` ``(M, S/2)``:
    the in-sample blocks of each split (ascending); ``first_liq`` ``(n_combos,)``: the first block in
    which a combination was liquidated (S: never). Per split: the in-sample best combination (by
    Sharpe; the first on a tie) among those not liquidated before or inside the in-sample blocks, its
    out-of-sample relative rank ``w`` in ``(0, 1)`` (ties share ranks) and the logit ``ln(w/(1-w))``;
    a split with no eligible combination has logit NaN and best -1. Returns ``(logits (M,), best
    (M,))``.

    Two passes (the in-sample best, then the out-of-sample rank against it), each over tiles of
    ``TILE`` combinations that stay in cache while a thread runs ``SPLIT_CHUNK`` splits over them (a
    million combinations' block sums are read once per chunk instead of once per split), the sums
    vectorised over a tile's combinations."""
    n_combos, n_blocks = s1.shape
    m = splits.shape[0]
    outs = _out_of_sample(splits, n_blocks)
    t1 = np.ascontiguousarray(s1.T)
    t2 = np.ascontiguousarray(s2.T)
    logits = np.empty(m)
    best = np.empty(m, np.int64)
    n_chunks = (m + SPLIT_CHUNK - 1) // SPLIT_CHUNK
    for q in prange(n_chunks):
        k0 = q * SPLIT_CHUNK
        k1 = min(m, k0 + SPLIT_CHUNK)
        n_is = np.zeros(k1 - k0)
        n_oos = np.zeros(k1 - k0)
        last_in = np.zeros(k1 - k0, np.int64)
        top = np.full(k1 - k0, -np.inf)
        star = np.full(k1 - k0, -1, np.int64)
        a1 = np.empty(TILE)
        a2 = np.empty(TILE)
        sr = np.empty(TILE)
        for k in range(k0, k1):  # bars in and out of sample, in ascending block order like the sums
            i = k - k0
            for j in range(splits.shape[1]):
                n_is[i] += cnt[splits[k, j]]
                last_in[i] = max(last_in[i], splits[k, j])
            for j in range(outs.shape[1]):
                n_oos[i] += cnt[outs[k, j]]
        for c0 in range(0, n_combos, TILE):  # pass 1: each split's in-sample best, combinations in order
            c1 = min(n_combos, c0 + TILE)
            for k in range(k0, k1):
                i = k - k0
                _tile_sharpes(t1, t2, c0, c1, splits[k], n_is[i], a1, a2, sr)
                for c in range(c0, c1):
                    v = sr[c - c0]
                    if first_liq[c] > last_in[i] and (star[i] < 0 or v > top[i]):
                        top[i] = v
                        star[i] = c
        target = np.zeros(k1 - k0)
        below = np.zeros(k1 - k0)
        ties = np.zeros(k1 - k0)
        for k in range(k0, k1):
            i = k - k0
            if star[i] >= 0:
                _tile_sharpes(t1, t2, star[i], star[i] + 1, outs[k], n_oos[i], a1, a2, sr)
                target[i] = sr[0]
        for c0 in range(0, n_combos, TILE):  # pass 2: where the choice ranks out of sample
            c1 = min(n_combos, c0 + TILE)
            for k in range(k0, k1):
                i = k - k0
                if star[i] < 0:
                    continue
                _tile_sharpes(t1, t2, c0, c1, outs[k], n_oos[i], a1, a2, sr)
                x = target[i]
                lo = 0.0
                eq = 0.0
                for c in range(c1 - c0):  # counts, branch-free so that they vectorise
                    lo += 1.0 if sr[c] < x else 0.0
                    eq += 1.0 if sr[c] == x else 0.0
                below[i] += lo
                ties[i] += eq
        for k in range(k0, k1):
            i = k - k0
            if star[i] < 0:
                logits[k] = np.nan
                best[k] = -1
                continue
            rank = below[i] + (ties[i] + 1.0) / 2.0  # 1..n_combos, ties averaged
            w = rank / (n_combos + 1.0)
            logits[k] = np.log(w / (1.0 - w))
            best[k] = star[i]
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
