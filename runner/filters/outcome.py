"""What every defense returns, and the context it reads."""

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from runner.config import Axis, ObjectiveSpec
from runner.filters.splits import Partition


@dataclass
class Context:
    """One job's grid: metrics ``(n, N_METRICS)``, block statistics ``(n, n_blocks, N_BLOCK)``."""

    metrics: np.ndarray
    blocks: np.ndarray
    partition: Partition
    times: np.ndarray
    bars_per_year: float
    leverage: np.ndarray
    objective: ObjectiveSpec
    axes: list[Axis]
    grid_idx: np.ndarray

    @property
    def n_combos(self) -> int:
        return self.metrics.shape[0]


@dataclass
class Outcome:
    """A defense's verdict: ``passed`` per combination, grid-table columns, run-level metrics,
    per-step metrics (windows, folds), artifact tables and a one-line summary."""

    name: str
    passed: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    steps: dict[str, list[float]] = field(default_factory=dict)
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    summary: str = ""
