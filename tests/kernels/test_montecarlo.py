"""Monte Carlo kernels: VaR/CVaR against closed forms (normal, Student-t, lognormal over 10 days),
hand-computed tables for the bootstrap's blocks, reshuffled drawdowns and path statistics, seeds,
and memory at 10,000 paths x 52,608 bars."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit
from scipy import stats

from kernels.montecarlo import horizon_returns, path_statistics, reshuffled_drawdowns, value_at_risk

N = 400_000  # samples of the known distribution
PATHS = 200_000


def closed_form(dist, alpha: float) -> tuple[float, float]:
    """VaR and CVaR (positive losses) of ``dist`` at level ``alpha``."""
    q = dist.ppf(1 - alpha)
    tail_mean = dist.expect(lambda x: x, ub=q, conditional=True)
    return -q, -tail_mean


def tolerance(dist, alpha: float, n: int) -> tuple[float, float]:
    """Five standard errors of the empirical quantile and tail mean from ``n`` draws."""
    a = 1 - alpha
    q = dist.ppf(a)
    se_q = np.sqrt(a * (1 - a) / n) / dist.pdf(q)
    tail_sd = np.sqrt(
        dist.expect(lambda x: x**2, ub=q, conditional=True) - dist.expect(lambda x: x, ub=q, conditional=True) ** 2
    )
    se_tail = np.sqrt(
        tail_sd**2 / (n * a) + (1 - a) * (q - dist.expect(lambda x: x, ub=q, conditional=True)) ** 2 / (n * a)
    )
    return 5 * se_q, 5 * se_tail


DISTRIBUTIONS = {
    "normal": stats.norm(0.001, 0.02),
    "student-t, 4 degrees of freedom": stats.t(4, loc=0.0005, scale=0.015),
}


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
@pytest.mark.parametrize("alpha", [0.95, 0.99])
def test_var_and_cvar_match_closed_forms(name: str, alpha: float) -> None:
    dist = DISTRIBUTIONS[name]
    x = dist.rvs(size=N, random_state=np.random.default_rng(11))
    var, cvar = closed_form(dist, alpha)
    tol_var, tol_cvar = tolerance(dist, alpha, N)
    got = value_at_risk(x, alpha)  # historical
    assert got[0] == pytest.approx(var, abs=tol_var) and got[1] == pytest.approx(cvar, abs=tol_cvar)
    boot = np.empty(PATHS)  # one-bar horizon, blocks of one: draws from the sample itself
    horizon_returns(x, 1, 1.0, 5, boot)
    tol_var, tol_cvar = tolerance(dist, alpha, N // 2)  # the sample's error and the resampling's
    got = value_at_risk(boot, alpha)
    assert got[0] == pytest.approx(var, abs=tol_var) and got[1] == pytest.approx(cvar, abs=tol_cvar)


def test_ten_bar_horizon_compounds_to_the_lognormal_closed_form() -> None:
    """1 + r = exp(N(mu, s)) per bar, independent: over 10 bars 1 + R = exp(N(10 mu, sqrt(10) s))."""
    mu, s = 0.0002, 0.01
    x = np.expm1(np.random.default_rng(3).normal(mu, s, N))
    boot = np.empty(PATHS)
    horizon_returns(x, 10, 1.0, 9, boot)
    log_ten = stats.norm(10 * mu, np.sqrt(10) * s)
    for alpha in (0.95, 0.99):
        var = -np.expm1(log_ten.ppf(1 - alpha))
        cvar = -log_ten.expect(np.expm1, ub=log_ten.ppf(1 - alpha), conditional=True)
        got = value_at_risk(boot, alpha)
        assert got == pytest.approx((var, cvar), rel=0.02)


def test_value_at_risk_by_hand() -> None:
    x = np.random.default_rng(0).permutation(np.arange(-5, 95) / 100)  # -5 % .. 94 %, 100 values
    assert value_at_risk(x, 0.95) == pytest.approx((0.01, 0.03))  # 5th smallest; mean of -5..-1 %
    assert value_at_risk(x, 0.99) == pytest.approx((0.05, 0.05))


def test_long_blocks_are_contiguous_windows() -> None:
    """With a mean block far beyond the path, every path is one window of the series (wrapping)."""
    r = np.array([0.1, -0.2, 0.05, 0.3, -0.1])
    windows = {round(np.prod(1 + np.roll(r, -i)[:3]) - 1, 12) for i in range(5)}
    out = np.empty(2000)
    horizon_returns(r, 3, 1e15, 1, out)
    assert set(np.round(out, 12)) == windows


RESHUFFLED = {
    # returns on equity -> every order's maximum drawdown and how often it occurs
    "two losses and a gain: adjacent losses in 2 of 3 orders": ([-0.1, -0.1, 0.5], {0.19: 2 / 3, 0.1: 1 / 3}),
    "gains only: no drawdown in any order": ([0.01, 0.2, 0.05], {0.0: 1.0}),
    "one loss: its size in every order": ([0.1, -0.25, 0.1, 0.1], {0.25: 1.0}),
}


@pytest.mark.parametrize("name", list(RESHUFFLED))
def test_reshuffled_drawdowns(name: str) -> None:
    f, want = RESHUFFLED[name]
    out = np.empty(30_000)
    reshuffled_drawdowns(np.array(f), 4, out)
    values, counts = np.unique(np.round(out, 12), return_counts=True)
    assert dict(zip(values, counts / out.size, strict=True)) == pytest.approx(want, abs=0.015)


def test_path_statistics_by_hand() -> None:
    out = np.empty((500, 3))
    path_statistics(np.full(10, 0.001), 10, 3.0, 8760.0, 2, out)  # a constant return
    assert np.isnan(out[:, 0]).all() and out[:, 2].max() == 0.0
    np.testing.assert_allclose(out[:, 1], 1.001**8760 - 1)
    path_statistics(np.array([0.1, -0.1]), 2, 1e15, 8760.0, 2, out)  # +10 % then -10 %, or the reverse
    np.testing.assert_allclose(out[:, 2], 0.1)
    np.testing.assert_allclose(out[:, 1], 0.99 ** (8760 / 2) - 1)
    np.testing.assert_allclose(np.abs(out[:, 0]), 0.0, atol=1e-12)  # mean 0


def test_same_seed_same_numbers_other_seed_others() -> None:
    r = np.random.default_rng(1).normal(0, 0.01, 5000)
    a, b, c = np.empty((300, 3)), np.empty((300, 3)), np.empty((300, 3))
    path_statistics(r, 5000, 24.0, 8760.0, 42, a)
    path_statistics(r, 5000, 24.0, 8760.0, 42, b)
    path_statistics(r, 5000, 24.0, 8760.0, 43, c)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_ten_thousand_full_length_paths_stay_within_500_mb() -> None:
    """In a fresh process, 10,000 paths of 52,608 bars add under 500 MB to the resident memory the
    process had after a first small call (importing numba and compiling or loading the kernel, which
    is not what is measured): sampled every few milliseconds while the paths run."""
    path_statistics(np.zeros(10), 10, 24.0, 8760.0, 0, np.empty((1, 3)))  # fills the on-disk cache
    code = textwrap.dedent(
        """
        import threading
        import numpy as np
        import psutil
        from kernels.montecarlo import path_statistics
        r = np.random.default_rng(0).normal(0.0, 0.005, 52_608)
        path_statistics(r[:100], 100, 24.0, 8760.0, 0, np.empty((2, 3)))
        me = psutil.Process()
        base = peak = me.memory_info().rss
        done = threading.Event()
        def watch():
            global peak
            while not done.is_set():
                peak = max(peak, me.memory_info().rss)
                done.wait(0.005)
        watcher = threading.Thread(target=watch)
        watcher.start()
        out = np.empty((10_000, 3))
        path_statistics(r, r.size, 24.0, 8760.0, 0, out)
        done.set()
        watcher.join()
        assert np.isfinite(out).all()
        print(base // 2**20, peak // 2**20)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    base, peak = (int(x) for x in done.stdout.split()[-2:])
    assert peak - base < 500 and peak >= base


@njit
def numba_value_at_risk(x, alpha):
    """``value_at_risk`` as it was compiled before it moved to NumPy: the reference for its bits."""
    s = np.sort(x)
    k = max(1, int(np.ceil((1.0 - alpha) * s.shape[0] - 1e-9)))
    return -s[k - 1], -s[:k].mean()


@pytest.mark.parametrize("n", [2, 5, 17, 100, 1000, 4096, 100_000])
@pytest.mark.parametrize("alpha", [0.9, 0.95, 0.99])
def test_value_at_risk_gives_the_compiled_version_bits(n: int, alpha: float) -> None:
    x = np.random.default_rng(n).standard_t(3, size=n) * 0.01
    assert value_at_risk(x, alpha) == numba_value_at_risk(x, alpha)
