"""Pareto ranking over (sharpe, 1 - max_drawdown, profit_factor) of the survivors of the other
defenses."""

import numpy as np

from kernels import enums as E
from runner.filters import stats
from runner.filters.outcome import Context, Outcome
from runner.filters.spec import Pareto

PF_CAP = 100.0  # a profit factor above this (or infinite: no losing trade) ranks as this


def front_ranks(metrics: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Pareto rank of every row of a metrics table on (sharpe, 1 - max_drawdown, profit_factor);
    rows not ``valid`` (default: liquidated ones) get 0."""
    pts = np.column_stack(
        [metrics[:, E.M_SHARPE], 1.0 - metrics[:, E.M_MAX_DRAWDOWN], np.minimum(metrics[:, E.M_PROFIT_FACTOR], PF_CAP)]
    )
    return stats.pareto(pts, metrics[:, E.M_N_LIQUIDATIONS] == 0 if valid is None else valid)


def run(spec: Pareto, ctx: Context, survivors: np.ndarray) -> Outcome:
    m = ctx.metrics
    points = np.column_stack([m[:, E.M_SHARPE], 1.0 - m[:, E.M_MAX_DRAWDOWN], m[:, E.M_PROFIT_FACTOR]])
    ranks = stats.pareto(points, survivors, max_rank=max(spec.max_rank, 50))
    passed = (ranks >= 1) & (ranks <= spec.max_rank)
    front = int((ranks == 1).sum())
    return Outcome(
        "pareto",
        passed,
        columns={"pareto_rank": ranks, "pareto_pass": passed},
        metrics={"pareto_front_size": float(front)},
        summary=f"{front} on the front of {int(survivors.sum())} ranked",
    )
