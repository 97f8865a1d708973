"""Nested MLflow runs per combination, by policy: none | best | pareto | all."""

import numpy as np
import polars as pl

from kernels import enums as E
from runner.backtest import Evaluation
from runner.filters.pareto import front_ranks

KIND_TAG = "perplab.kind"  # job | combo | sweep


def child_combos(policy: str, best: int, metrics: np.ndarray, survivors: np.ndarray) -> np.ndarray:
    """Which combinations get a child run: none; the best; the Pareto front of (sharpe,
    1 - max_drawdown, profit_factor) among the filters' survivors that were never liquidated; all."""
    if policy == "none":
        return np.zeros(0, np.int64)
    if policy == "best":
        return np.array([best])
    if policy == "pareto":
        valid = survivors & (metrics[:, E.M_N_LIQUIDATIONS] == 0)
        return np.nonzero(front_ranks(metrics, valid) == 1)[0]
    return np.arange(metrics.shape[0])


def child_runs(table: pl.DataFrame, ev: Evaluation, combos: np.ndarray, best: int, strategy: str) -> list[tuple]:
    """``(name, params, metrics, tags)`` of each child: its parameter values (and text columns) as
    params, its numeric grid-table columns as metrics."""
    keys = [a.key for a in ev.axes]
    numeric = [c for c, t in table.schema.items() if t.is_numeric() and c not in keys and c != "combo"]
    texts = [c for c, t in table.schema.items() if not t.is_numeric() and c not in keys]
    rows = table[[int(c) for c in combos]]
    out = []
    for c, row in zip(combos, rows.iter_rows(named=True), strict=True):
        params = {k: row[k] for k in keys} | {k: row[k] for k in texts}
        metrics = {k: float(row[k]) for k in numeric if row[k] is not None}
        tags = {KIND_TAG: "combo", "combo": str(int(c)), "strategy": strategy, "best": str(int(c) == best).lower()}
        out.append((f"combo {int(c)}", params, metrics, tags))
    return out
