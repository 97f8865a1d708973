"""The defenses' view of a grid's block statistics, reduced chunk by chunk as the grid runs.

The kernel's block statistics of every combination are ``n_blocks x N_BLOCK`` numbers each (11 KB on
2020-2025 hourly bars with every defense): too many to keep for a large grid. Each chunk is reduced
at once to what the defenses read (``Reduction.add``), in any chunk order; every figure is exactly
the one the defenses compute from the whole grid's blocks.
"""

from typing import TYPE_CHECKING

import numpy as np

from kernels import enums as E
from runner.filters import pbo, purged_kfold, walk_forward
from runner.filters.outcome import Chunk
from runner.filters.splits import purged_kfold as kfold_splits
from runner.spec import ObjectiveSpec

if TYPE_CHECKING:
    from runner.filters.pipeline import Plan


class Reduction:
    """The walk-forward, purged k-fold and PBO partials of a grid of ``n`` combinations (their size per
    combination: ``runner.compute.partial_bytes``)."""

    def __init__(self, schedule: "Plan", n: int, objective: ObjectiveSpec, bars_per_year: float):
        spec, part = schedule.spec, schedule.partition
        self.n = n
        self.wf = self.kfold = self.pbo = None
        if spec.walk_forward is not None and n >= 2:
            self.wf = walk_forward.Partial(schedule.windows, part, n, objective, bars_per_year)
        if spec.purged_kfold is not None:
            k, purge, embargo = len(schedule.folds), schedule.purge, schedule.embargo

            def folds_for(extra: int) -> list:
                return kfold_splits(part.n_bars, k, purge, embargo + extra)

            self.kfold = purged_kfold.Partial(folds_for, schedule.ladder, part, n, objective, bars_per_year)
        if spec.pbo is not None and n >= 2:
            self.pbo = pbo.Partial(schedule.cscv, part, n, objective)

    @property
    def needs_blocks(self) -> bool:
        return any(p is not None for p in (self.wf, self.kfold, self.pbo))

    def add(self, lo: int, metrics: np.ndarray, blocks: np.ndarray, leverage: np.ndarray) -> None:
        """Reduce the block statistics of combinations ``lo..lo+len(blocks)-1`` (``metrics`` and
        ``leverage``: theirs)."""
        chunk = Chunk(lo, blocks, leverage, self.n > 1)
        if self.wf is not None:
            self.wf.add(chunk)
        if self.kfold is not None:
            self.kfold.add(chunk, metrics[:, E.M_MAX_HOLDING_BARS])
        if self.pbo is not None:
            self.pbo.add(chunk)
