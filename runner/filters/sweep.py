"""The deflated Sharpe ratio of each job of a multirun, with the trials of the whole sweep."""

from collections.abc import Mapping, Sequence

import numpy as np

from runner.filters import stats

NEEDED = ("dsr_trials", "sr_trials_mean", "sr_trials_var", "sr_bar", "n_obs", "skew", "kurtosis")


def pooled(counts: Sequence[float], means: Sequence[float], variances: Sequence[float]) -> tuple[float, float]:
    """Mean and sample variance of all trials together, from each job's count, mean and variance."""
    n = np.asarray(counts, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    v = np.nan_to_num(np.asarray(variances, dtype=np.float64))
    total = n.sum()
    mean = float((n * m).sum() / total)
    if total < 2:
        return mean, 0.0
    ss = ((n - 1.0) * v).sum() + (n * (m - mean) ** 2).sum()
    return mean, float(ss / (total - 1.0))


def sweep_dsr(jobs: Sequence[Mapping[str, float]]) -> tuple[int, list[float]]:
    """``(total trials, DSR per job)`` for jobs that logged every field of ``NEEDED``."""
    n_trials = int(sum(j["dsr_trials"] for j in jobs))
    _, var = pooled(
        [j["dsr_trials"] for j in jobs], [j["sr_trials_mean"] for j in jobs], [j["sr_trials_var"] for j in jobs]
    )
    values = [float(stats.dsr(j["sr_bar"], j["n_obs"], j["skew"], j["kurtosis"], n_trials, var)) for j in jobs]
    return n_trials, values
