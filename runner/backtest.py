"""Run a compiled grid through the kernels; pick the best combination; build records."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from kernels import enums as E
from kernels.simulate import simulate_records, simulate_rows
from runner import compute
from runner.data.panel import MarketPanel
from runner.filters.pipeline import Plan
from runner.filters.stream import Reduction
from runner.filters.windows import objective_of
from runner.spec import Axis, ComputeSpec, ObjectiveSpec, RunSpec
from runner.strategy.assemble import Compiled

COMPILE_SECONDS = 20  # cold compile of the kernels a default run uses: 20.4 s on 2 cores (bench_compile.py, 2026-12-02)


def kernels_compiled(kernel=None) -> bool:
    """Whether numba's on-disk cache holds ``kernel`` (default: the grid kernel) compiled from its
    current source; else the first call compiles the kernels (``COMPILE_SECONDS``, once per
    install). Read through numba's own cache index, which checks the source's stamp; where that
    is unavailable (another numba), assumed compiled."""
    cache = getattr(kernel or simulate_rows, "_cache", None)
    try:
        return bool(cache._cache_file._load_index())
    except AttributeError:
        return True


@dataclass
class Records:
    trades: pl.DataFrame
    equity: pl.DataFrame
    metrics: np.ndarray


@dataclass
class Evaluation:
    """Every combination a job evaluated (a grid, or a search's candidates): the axes and value
    indices of each, their metrics and block statistics, and how to rebuild one for its records."""

    axes: list[Axis]
    grid_idx: np.ndarray
    metrics: np.ndarray
    blocks: np.ndarray
    leverage: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # grid-table columns (generation, fitness)
    compiled_for: Callable[[int], tuple[Compiled, int]] | None = None
    history: list[dict[str, float]] = field(default_factory=list)  # a search's generations
    rank_values: np.ndarray | None = None  # higher is better; ranks instead of the objective (discovery)
    reduced: Reduction | None = None  # the filters' reduction of the blocks, chunk by chunk (then blocks is empty)
    tags: dict[str, str] = field(default_factory=dict)  # how it ran (compute.*)

    @property
    def n_combos(self) -> int:
        return self.metrics.shape[0]


def run_grid(
    panel: MarketPanel,
    compiled: Compiled,
    initial: float,
    progress: bool = True,
    blk: np.ndarray | None = None,
    n_blocks: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Metrics ``(n_combos, N_METRICS)`` and block statistics ``(n_combos, n_blocks, N_BLOCK)`` (empty
    without ``blk``, a block id per bar); large grids run in a few chunks to show progress (without
    ``progress``, every grid is one kernel call)."""
    n = compiled.n_combos
    out = np.empty((n, E.N_METRICS))
    blocks = np.zeros((n if blk is not None and len(blk) else 0, n_blocks, E.N_BLOCK))

    def sink(lo: int, metrics: np.ndarray, chunk: np.ndarray) -> None:
        out[lo : lo + len(metrics)] = metrics
        if len(blocks):
            blocks[lo : lo + len(metrics)] = chunk

    spec = ComputeSpec(chunk_combos=None if progress else max(n, 1))
    compute.simulate(panel, compiled, initial, spec, max(n, 1), sink, blk, n_blocks, progress)
    return out, blocks


def grid_evaluation(spec: RunSpec, panel: MarketPanel, compiled: Compiled, schedule: Plan) -> Evaluation:
    """Every combination of the grid in chunks within ``spec.compute``'s budget (a ConfigError before
    any simulation when it cannot fit): metrics, and each chunk's block statistics reduced for the
    filters as it ends (none kept)."""
    n = compiled.n_combos
    reduced = Reduction(schedule, n, spec.objective, panel.bars_per_year)
    n_blocks = schedule.partition.n_blocks if reduced.needs_blocks else 0
    per_combo, per_chunk = compute.job_bytes(n_blocks, compute.partial_bytes(schedule.spec), len(compiled.axes))
    room = compute.budget(spec.compute, n, per_combo, per_chunk)
    metrics = np.empty((n, E.N_METRICS))
    leverage = compiled.params[:, E.P_LEVERAGE]

    def sink(lo: int, chunk_metrics: np.ndarray, blocks: np.ndarray) -> None:
        hi = lo + len(chunk_metrics)
        metrics[lo:hi] = chunk_metrics
        if reduced.needs_blocks:
            reduced.add(lo, chunk_metrics, blocks, leverage[lo:hi])

    blk = schedule.partition.blk if reduced.needs_blocks else None
    chunking = compute.simulate(panel, compiled, spec.initial_capital, spec.compute, room.fit, sink, blk, n_blocks)
    return Evaluation(
        compiled.axes,
        compiled.grid_idx,
        metrics,
        np.zeros((0, n_blocks, E.N_BLOCK)),
        leverage,
        compiled_for=lambda i: (compiled, i),
        reduced=reduced,
        tags=chunking.tags(),
    )


def objective_values(metrics: np.ndarray, objective: ObjectiveSpec) -> np.ndarray:
    """Objective per combination ("higher is better"), NaN where undefined or discarded (liquidated)."""
    return objective_of(metrics[:, E.METRIC_NAMES.index(objective.metric)], metrics[:, E.M_N_LIQUIDATIONS], objective)


def rank(
    metrics: np.ndarray, objective: ObjectiveSpec, allowed: np.ndarray | None = None, values: np.ndarray | None = None
) -> np.ndarray:
    """Combination indices best first: the ``allowed`` ones (survivors of the filters) by objective
    (or by ``values``, higher is better), then the others; discarded and undefined ones last (in
    grid order)."""
    values = objective_values(metrics, objective) if values is None else values
    key = np.where(np.isnan(values), -np.inf, values)
    tier = np.where(np.isnan(values), 2, 0 if allowed is None else np.where(allowed, 0, 1))
    return np.lexsort((np.arange(len(key)), -key, tier))


def grid_table(
    compiled: Compiled, metrics: np.ndarray, objective: ObjectiveSpec, extra: dict | None = None
) -> pl.DataFrame:
    """One row per combination: its parameter values, every metric, the objective, and ``extra``
    columns (the filters' statistics and verdicts)."""
    cols: dict[str, object] = {"combo": np.arange(compiled.n_combos)}
    for j, axis in enumerate(compiled.axes):
        if axis.labels is not None:
            cols[axis.key] = pl.Series(axis.key, axis.labels, pl.String).gather(compiled.grid_idx[:, j])
        else:
            cols[axis.key] = np.asarray(axis.values)[compiled.grid_idx[:, j]]
    for k, name in enumerate(E.METRIC_NAMES):
        cols[name] = metrics[:, k]
    cols["objective"] = objective_values(metrics, objective) * (1 if objective.maximize else -1)
    cols.update(extra or {})
    return pl.DataFrame(cols)


def records(panel: MarketPanel, compiled: Compiled, initial: float, combo: int, n_trades: int) -> Records:
    """Full trades and equity of one combination (re-simulated by the same core)."""
    trades, equity, metrics = simulate_records(
        combo,
        n_trades,
        compiled.market(panel),
        compiled.program(),
        compiled.params,
        initial,
        panel.bars_per_year,
    )
    return as_records(panel, trades, equity, metrics)


def trades_frame(panel: MarketPanel, trades: np.ndarray) -> pl.DataFrame:
    """The kernel's trade records on ``panel``'s bars: symbols, sides, times and exit reasons named."""
    times = panel.times
    tr = pl.DataFrame({name: trades[name] for name in trades.dtype.names})
    return tr.with_columns(
        pl.col("asset").replace_strict(dict(enumerate(panel.symbols)), return_dtype=pl.String).alias("symbol"),
        pl.col("side").replace_strict({1: "long", -1: "short"}, return_dtype=pl.String),
        pl.Series("entry_time", times[trades["entry_bar"]]).cast(pl.Datetime("ms", "UTC")),
        pl.Series("exit_time", times[trades["exit_bar"]]).cast(pl.Datetime("ms", "UTC")),
        pl.col("exit_reason").replace_strict(dict(enumerate(E.EXIT_REASONS)), return_dtype=pl.String),
    )


def as_records(panel: MarketPanel, trades: np.ndarray, equity: np.ndarray, metrics: np.ndarray) -> Records:
    """The kernel's trade records and equity curve on ``panel``'s bars as polars frames."""
    times = panel.times
    tr = trades_frame(panel, trades)
    eq = pl.DataFrame(
        {
            "time": pl.Series(times).cast(pl.Datetime("ms", "UTC")),
            "equity": equity,
            "drawdown": 1.0 - equity / np.maximum.accumulate(equity),
        }
    )
    return Records(tr, eq, metrics)
