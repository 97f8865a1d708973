"""Deflated and probabilistic Sharpe ratios per combination; trials = every combination of the job."""

import numpy as np

from kernels import enums as E
from runner.filters import stats
from runner.filters.outcome import Context, Outcome, not_applicable
from runner.filters.spec import Deflated


def trial_sharpes(metrics: np.ndarray, bars_per_year: float) -> np.ndarray:
    """Per-bar Sharpe of every trial (a combination that never moved counts as 0)."""
    sr = metrics[:, E.M_SHARPE] / np.sqrt(bars_per_year)
    return np.where(np.isfinite(sr), sr, 0.0)


def run(spec: Deflated, ctx: Context) -> Outcome:
    if ctx.n_combos < 2:
        return not_applicable(
            "dsr", ctx, "one trial: deflating by the trials needs a grid (the DSR would equal the PSR)"
        )
    m = ctx.metrics
    sr = m[:, E.M_SHARPE] / np.sqrt(ctx.bars_per_year)
    n_obs = np.full(ctx.n_combos, float(len(ctx.times)))
    trials = trial_sharpes(m, ctx.bars_per_year)
    n = ctx.n_combos
    var = float(np.var(trials, ddof=1)) if n > 1 else 0.0
    dsr = stats.dsr(sr, n_obs, m[:, E.M_SKEW], m[:, E.M_KURTOSIS], n, var)
    psr = stats.psr(sr, n_obs, m[:, E.M_SKEW], m[:, E.M_KURTOSIS], 0.0)
    passed = np.nan_to_num(dsr, nan=0.0) >= spec.threshold
    sr0 = stats.expected_max_sharpe(n, var) * np.sqrt(ctx.bars_per_year)
    return Outcome(
        "dsr",
        passed,
        columns={"dsr": dsr, "psr": psr, "dsr_pass": passed},
        metrics={
            "dsr_trials": float(n),
            "dsr_expected_max_sharpe": sr0,
            "sr_trials_mean": float(np.mean(trials)),
            "sr_trials_var": var,
        },
        summary=f"{n} trials, expected best Sharpe of noise {sr0:.2f} (annualised), threshold {spec.threshold}",
    )
