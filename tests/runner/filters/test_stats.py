"""PSR/DSR against the published worked example, PBO against a brute-force CSCV, Pareto ranks."""

from itertools import combinations

import numpy as np
import pytest
from scipy.stats import norm, rankdata

from runner.filters import stats
from runner.filters.sweep import pooled


def test_dsr_matches_bailey_lopez_de_prado_2014_numerical_example() -> None:
    """The Deflated Sharpe Ratio (JPM 2014), section 'A numerical example': 100 trials, annualised
    Sharpe variance 0.5 across them, best annualised Sharpe 2.5 over 1250 daily returns, skewness -3,
    kurtosis 10: SR0 = 0.1132 per day and DSR = 0.9004."""
    sr0 = stats.expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    got = stats.dsr(2.5 / np.sqrt(250), 1250, -3.0, 10.0, n_trials=100, sr_variance=0.5 / 250)
    assert float(got) == pytest.approx(0.9004, abs=5e-5)
    # the DSR is the PSR against SR0
    assert float(stats.psr(2.5 / np.sqrt(250), 1250, -3.0, 10.0, sr0)) == pytest.approx(float(got), rel=1e-12)


def test_psr_properties() -> None:
    sr, n = 0.05, 1000
    assert float(stats.psr(sr, n, 0.0, 3.0, sr)) == pytest.approx(0.5)
    normal = norm.cdf(sr * np.sqrt(n - 1) / np.sqrt(1 + sr * sr / 2))
    assert float(stats.psr(sr, n, 0.0, 3.0)) == pytest.approx(normal, rel=1e-12)
    # negative skew and fat tails lower the confidence in a positive Sharpe
    assert stats.psr(sr, n, -2.0, 9.0) < stats.psr(sr, n, 0.0, 3.0)
    # one trial: no deflation
    assert float(stats.dsr(sr, n, 0.0, 3.0, 1, 0.01)) == pytest.approx(float(stats.psr(sr, n, 0.0, 3.0)))


def test_expected_max_sharpe_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    draws = rng.standard_normal((20_000, 100)).max(axis=1).mean()
    assert stats.expected_max_sharpe(100, 1.0) == pytest.approx(draws, rel=0.02)


def brute_force_pbo(s1: np.ndarray, s2: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    n_combos, s = s1.shape
    logits = []
    for ins in combinations(range(s), s // 2):
        oos = [b for b in range(s) if b not in ins]

        def sharpe(blocks):
            n = cnt[blocks].sum()
            mean = s1[:, blocks].sum(axis=1) / n
            var = (s2[:, blocks].sum(axis=1) - n * mean**2) / (n - 1)
            return mean / np.sqrt(var)

        star = int(np.argmax(sharpe(list(ins))))
        w = rankdata(sharpe(oos))[star] / (n_combos + 1)
        logits.append(np.log(w / (1 - w)))
    return np.array(logits)


def test_pbo_equals_a_brute_force_cscv() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0.0, 0.01, size=(40, 8, 50))  # combos x blocks x bars
    s1, s2, cnt = r.sum(axis=2), (r**2).sum(axis=2), np.full(8, 50.0)
    value, logits, _ = stats.pbo(s1, s2, cnt)
    want = brute_force_pbo(s1, s2, cnt)
    np.testing.assert_allclose(logits, want, rtol=1e-12)
    assert value == pytest.approx(np.mean(want <= 0))


def test_pbo_limit_cases() -> None:
    cnt = np.full(4, 10.0)
    a = np.array([4.0, 2.0, -1.0, -5.0])  # sums to 0: what wins in-sample loses out of sample
    s2 = np.full((2, 4), 30.0)
    value, logits, _ = stats.pbo(np.stack([a, -a]) * 0.1, s2, cnt)
    assert value == 1.0 and np.allclose(logits, np.log(0.5))
    better = np.stack([np.full(4, 1.0), np.full(4, 0.5)])  # the first is best in every block
    value, logits, _ = stats.pbo(better, s2, cnt)
    assert value == 0.0 and np.allclose(logits, np.log(2.0))


def test_pareto_ranks() -> None:
    pts = np.array([[1.0, 1.0, 1.0], [2.0, 0.5, 1.0], [0.5, 0.5, 0.5], [0.4, 0.4, 0.4], [9.0, 9.0, np.nan]])
    ranks = stats.pareto(pts, np.array([True, True, True, True, True]))
    assert ranks.tolist() == [1, 1, 2, 3, 0]
    assert stats.pareto(pts, np.array([False, True, True, True, True])).tolist() == [0, 1, 2, 3, 0]


def test_pooled_variance_of_a_sweep_equals_the_variance_of_all_trials() -> None:
    rng = np.random.default_rng(1)
    jobs = [rng.normal(m, s, size=k) for m, s, k in ((0.0, 1.0, 30), (0.5, 2.0, 7), (-1.0, 0.3, 100))]
    mean, var = pooled([len(j) for j in jobs], [j.mean() for j in jobs], [j.var(ddof=1) for j in jobs])
    every = np.concatenate(jobs)
    assert mean == pytest.approx(every.mean()) and var == pytest.approx(every.var(ddof=1))


def straight_cscv(s1, s2, cnt, splits, first_liq):
    """CSCV one split at a time over every combination, each sum in ascending block order: what the
    tiled kernel must reproduce exactly (the in-sample choices, so the same ranks)."""
    n, s = s1.shape

    def sharpe(blocks):
        a1, a2 = np.zeros(n), np.zeros(n)
        for b in blocks:
            a1, a2 = a1 + s1[:, b], a2 + s2[:, b]
        k = sum(cnt[b] for b in blocks)
        mean = a1 / k
        var = (a2 - k * mean * mean) / (k - 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(var > 0.0, mean / np.sqrt(var), 0.0) if k >= 2.0 else np.zeros(n)

    logits, best = [], []
    for ins in splits:
        eligible = first_liq > max(ins)
        if not eligible.any():
            logits.append(np.nan)
            best.append(-1)
            continue
        star = int(np.argmax(np.where(eligible, sharpe(list(ins)), -np.inf)))
        oos = sharpe([b for b in range(s) if b not in ins])
        rank = (oos < oos[star]).sum() + ((oos == oos[star]).sum() + 1.0) / 2.0
        w = rank / (n + 1.0)
        logits.append(np.log(w / (1.0 - w)))
        best.append(star)
    return np.array(logits), np.array(best)


def test_the_tiled_cscv_kernel_equals_one_split_at_a_time() -> None:
    from kernels.selection import TILE, cscv_logits

    rng = np.random.default_rng(11)
    n, s = 2 * TILE + 37, 8  # three tiles, the last one short
    r = np.round(rng.normal(0.0, 0.01, size=(n, s, 20)), 3)  # rounded: many ties
    r[TILE + 5] += 0.05  # a clear best in every block, in the second tile
    s1, s2 = r.sum(axis=2), (r**2).sum(axis=2)
    s1[100], s2[100] = 0.0, 0.0  # zero variance: Sharpe 0
    liq = rng.integers(0, s + 1, n)  # liquidated in some block (s: never)
    liq[TILE + 5] = 6  # the best is liquidated in block 6: eligible only where every in-sample block comes first
    cnt = np.full(s, 20.0)
    splits = stats.cscv_splits(s)
    logits, best = cscv_logits(s1, s2, cnt, splits, liq)
    want_logits, want_best = straight_cscv(s1, s2, cnt, splits, liq)
    np.testing.assert_array_equal(best, want_best)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-15)
    before_6 = splits.max(axis=1) < 6
    assert before_6.sum() == 15 and (best[before_6] == TILE + 5).all() and (best[~before_6] != TILE + 5).all()
