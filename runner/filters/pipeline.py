"""Plan the partition every enabled defense needs, then run the defenses on one grid's results."""

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from kernels import enums as E
from runner.data.panel import iso
from runner.errors import ConfigError
from runner.filters import constraints, deflated, pareto, pbo, purged_kfold, walk_forward
from runner.filters.outcome import Context, Outcome
from runner.filters.spec import FiltersSpec
from runner.filters.splits import (
    Fold,
    Partition,
    Range,
    Span,
    Window,
    equal_blocks,
    hold_ladder,
    walk_forward_windows,
)
from runner.filters.splits import purged_kfold as kfold_splits

MIN_BLOCK_BARS = 2


@dataclass
class Plan:
    spec: FiltersSpec
    partition: Partition
    windows: list[Window] = field(default_factory=list)
    folds: list[Fold] = field(default_factory=list)
    purge: int = 0
    embargo: int = 0
    ladder: list[int] = field(default_factory=list)  # extra embargo lengths the partition can express
    cscv: list[Range] = field(default_factory=list)

    def folds_covering(self, hold: int) -> tuple[list[Fold], int]:
        """The k-fold splits with the embargo after each test fold extended by the smallest ladder
        rung of at least ``hold`` bars (positions opened in a test fold are closed before training
        resumes), and that extension."""
        extra = purged_kfold.rung(self.ladder, hold)
        k = len(self.folds)
        return kfold_splits(self.partition.n_bars, k, self.purge, self.embargo + extra), extra

    @property
    def needs_blocks(self) -> bool:
        return any(x is not None for x in (self.spec.walk_forward, self.spec.purged_kfold, self.spec.pbo))


def lookback(warm: np.ndarray, tradable: np.ndarray) -> int:
    """The longest warm-up of any combination and asset: bars from an asset's first tradable bar to
    the first bar with every series the combination reads defined."""
    first = np.where(tradable.any(axis=0), tradable.argmax(axis=0), tradable.shape[0])
    return int(max(0, (warm - first[None, :]).max(initial=0)))


def _bars(span: Span, times: np.ndarray) -> int:
    if span.unit == "":
        return span.n
    return int(np.searchsorted(times, span.shift(int(times[0])), side="left"))


def plan(spec: FiltersSpec, times: np.ndarray, bar_ms: int, lookback: int) -> Plan:
    """Windows, folds and CSCV blocks on these bars; a ConfigError when they do not fit."""
    n = len(times)
    span = f"{n} bars from {iso(int(times[0]))} to {iso(int(times[-1]))}"
    ranges: list[Range] = []
    out = Plan(spec, Partition(n, []))
    if (wf := spec.walk_forward) is not None:
        out.windows = walk_forward_windows(times, bar_ms, wf.train, wf.test, wf.step, wf.anchored)
        if not out.windows:
            raise ConfigError(f"filters.walk_forward: train + test do not fit in the data ({span})")
        for w in out.windows:
            ranges += [w.train, w.test]
    if (pk := spec.purged_kfold) is not None:
        out.purge = max(lookback, _bars(pk.purge, times) if pk.purge is not None else 0)
        out.embargo = int(math.ceil(pk.embargo * n))
        out.folds = kfold_splits(n, pk.folds, out.purge, out.embargo)
        if any(not f.train or f.test[1] - f.test[0] < MIN_BLOCK_BARS for f in out.folds):
            raise ConfigError(
                f"filters.purged_kfold: {pk.folds} folds with a purge of {out.purge} bars and an embargo of "
                f"{out.embargo} bars leave a fold without training bars ({span}); use fewer folds or a shorter purge"
            )
        for f in out.folds:
            ranges += [f.test, *f.train]
        out.ladder = hold_ladder(n)
        for f in out.folds:
            after = f.test[1] + out.purge + out.embargo
            ranges += [(after + r, n) for r in out.ladder if after + r < n]
    if (pb := spec.pbo) is not None:
        if n < pb.blocks * MIN_BLOCK_BARS:
            raise ConfigError(f"filters.pbo.blocks={pb.blocks}: too many blocks for {span}")
        out.cscv = equal_blocks(n, pb.blocks)
        ranges += out.cscv
    out.partition = Partition(n, ranges)
    return out


@dataclass
class Report:
    """Every defense's outcome and the survivors of all of them."""

    outcomes: list[Outcome]
    survivors: np.ndarray
    ctx: Context

    @property
    def columns(self) -> dict[str, np.ndarray]:
        cols: dict[str, np.ndarray] = {}
        for o in self.outcomes:
            cols.update(o.columns)
        if self.outcomes:
            cols["survivor"] = self.survivors
        return cols

    @property
    def not_applicable(self) -> list[str]:
        """Defenses that had nothing to measure (neither passed nor failed anything)."""
        return [o.name for o in self.outcomes if not o.applicable]

    def run_params(self) -> dict[str, float]:
        """Figures the defenses used (e.g. the purge and embargo in bars), logged as params."""
        return {k: v for o in self.outcomes for k, v in o.params.items()}

    def run_metrics(self, best: int) -> dict[str, float]:
        """Run-level metrics, with the chosen combination's per-combination statistics."""
        out: dict[str, float] = {"n_survivors": float(self.survivors.sum())}
        for o in self.outcomes:
            if not o.applicable:
                continue
            out.update(o.metrics)
            if o.name == "dsr":
                out["dsr"] = float(o.columns["dsr"][best])
                out["psr"] = float(o.columns["psr"][best])
                # what a sweep needs to deflate this run's Sharpe by the trials of the whole sweep
                out["sr_bar"] = float(self.ctx.metrics[best, E.M_SHARPE] / np.sqrt(self.ctx.bars_per_year))
                out["n_obs"] = float(len(self.ctx.times))
            if o.name == "pareto":
                out["pareto"] = float(o.columns["pareto_rank"][best] == 1)
        return out

    def tables(self) -> dict[str, pl.DataFrame]:
        return {k: v for o in self.outcomes for k, v in o.tables.items()}

    def no_survivor_reason(self) -> str:
        """Which defense removed the last combinations."""
        alive = np.ones_like(self.survivors)
        for o in (o for o in self.outcomes if o.applicable):
            before = int(alive.sum())
            alive &= o.passed
            if not alive.any():
                return f"{o.name} removed the last {before:,} ({o.summary})"
        return ""


def evaluate(schedule: Plan, ctx: Context, reduced=None) -> Report:
    """Run the enabled defenses in a fixed order; Pareto ranks the survivors of the others.
    ``reduced``: the grid's block statistics reduced chunk by chunk (``runner.filters.stream``);
    default: reduced here from ``ctx.blocks``."""
    if reduced is None:
        from runner.filters.stream import Reduction

        reduced = Reduction(schedule, ctx.n_combos, ctx.objective, ctx.bars_per_year)
        if reduced.needs_blocks:
            reduced.add(0, ctx.metrics, ctx.blocks, ctx.leverage)
    spec = schedule.spec
    outcomes: list[Outcome] = []
    if spec.constraints is not None:
        outcomes.append(constraints.run(spec.constraints, ctx))
    if spec.dsr is not None:
        outcomes.append(deflated.run(spec.dsr, ctx))
    if spec.walk_forward is not None:
        outcomes.append(walk_forward.run(spec.walk_forward, ctx, schedule.windows, reduced.wf))
    if spec.purged_kfold is not None:
        hold = int(np.nanmax(ctx.metrics[:, E.M_MAX_HOLDING_BARS], initial=0.0))
        folds, extra = schedule.folds_covering(hold)
        outcomes.append(
            purged_kfold.run(
                spec.purged_kfold, ctx, folds, schedule.purge, schedule.embargo, hold, extra, reduced.kfold
            )
        )
    if spec.pbo is not None:
        outcomes.append(pbo.run(spec.pbo, ctx, schedule.cscv, reduced.pbo))
    survivors = np.ones(ctx.n_combos, dtype=bool)
    for o in outcomes:
        survivors &= o.passed
    if spec.pareto is not None:
        o = pareto.run(spec.pareto, ctx, survivors)
        outcomes.append(o)
        survivors &= o.passed
    return Report(outcomes, survivors, ctx)
