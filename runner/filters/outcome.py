"""What every defense returns, and the context it reads."""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import polars as pl

from kernels import enums as E
from runner.filters.splits import Partition
from runner.filters.windows import window_metrics
from runner.spec import Axis, ObjectiveSpec


@dataclass
class Context:
    """One job's grid: metrics ``(n, N_METRICS)``, block statistics ``(n, n_blocks, N_BLOCK)`` (empty when
    they were reduced chunk by chunk as the grid ran: ``runner.filters.stream``)."""

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

    def whole(self) -> "Chunk":
        """Every combination's block statistics as one chunk."""
        return Chunk(0, self.blocks, self.leverage, self.n_combos > 1)


@dataclass
class Chunk:
    """Block statistics ``(rows, n_blocks, N_BLOCK)`` of combinations ``lo..lo+rows-1`` of a job with
    their leverage; ``in_order``: sums over blocks in time order (a grid's, whatever the chunk holds)."""

    lo: int
    stats: np.ndarray
    leverage: np.ndarray
    in_order: bool

    @property
    def hi(self) -> int:
        return self.lo + len(self.stats)

    @cached_property
    def _liquidations_through(self) -> np.ndarray:
        return np.cumsum(self.stats[:, :, E.B_LIQ], axis=1)

    def liquidated_by(self, idx: np.ndarray) -> np.ndarray:
        """Per combination, liquidations from the first bar to the end of the last of blocks ``idx``:
        an account liquidated before or inside the bars a choice is made on is never chosen."""
        if len(idx) == 0:
            return np.zeros(len(self.stats))
        return self._liquidations_through[:, int(np.max(idx))]

    def window(self, idx: np.ndarray, bars_per_year: float) -> dict[str, np.ndarray]:
        """``window_metrics`` of these combinations over blocks ``idx``."""
        return window_metrics(self.stats, idx, bars_per_year, self.leverage, self.in_order)


def not_applicable(name: str, ctx: "Context", why: str) -> "Outcome":
    """A defense with nothing to measure: neither pass nor fail (it removes no combination)."""
    return Outcome(name, np.ones(ctx.n_combos, dtype=bool), summary=f"not applicable: {why}", applicable=False)


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
    params: dict[str, float] = field(default_factory=dict)  # figures the defense used (logged as params)
    applicable: bool = True  # False: nothing to measure (e.g. selection statistics of one combination)
