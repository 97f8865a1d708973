"""``search=discover``: evolve strategies over the DSL grammar; every generation one kernel call;
fitness on the in-sample bars; the top K exported as strategy YAML with their out-of-sample results."""

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from kernels import enums as E
from runner import PROJECT_ROOT
from runner.backtest import Evaluation, run_grid
from runner.data.panel import MarketPanel, iso
from runner.data.timeframes import timeframe_ms
from runner.discovery.batch import Columns, build
from runner.discovery.catalog import GENES, DiscoverSpec, discover_spec
from runner.discovery.export import rerun_command, strategy_dict, strategy_option, write_yaml
from runner.discovery.genome import Genome, Layout
from runner.errors import ConfigError
from runner.filters.pipeline import Plan, lookback, plan
from runner.filters.splits import Partition, Range
from runner.filters.windows import objective_of, window_metrics
from runner.report import print_discovered
from runner.search import loop
from runner.search.job import Checkpoints, load_checkpoint
from runner.search.progress import SearchProgress
from runner.spec import Axis, RunSpec
from runner.strategy.assemble import Compiled, first_valid
from runner.strategy.compile import compile_strategy
from runner.strategy.dsl import parse_strategy


def genome_spec(spec: RunSpec, genome: Genome, raw: dict) -> RunSpec:
    """The run spec that re-runs an exported genome through the DSL (its strategy, leverage, sizing)."""
    sim = dict(spec.sim_axes)
    sim[E.P_LEVERAGE] = Axis("leverage.value", (genome.leverage,))
    sim[E.P_SIZING] = Axis("sizing.method", (float(E.SIZE_FRACTION),), ("fixed_fraction",))
    sim[E.P_SIZE] = Axis("sizing.fraction", (genome.sizing,))
    sim[E.P_DIRECTION] = Axis("strategy.direction", (float(E.DIRECTIONS.index(genome.direction)),), (genome.direction,))
    strategy = parse_strategy(raw, f"discovered {raw['name']}", spec.data.timeframe)
    axes = {v.key: Axis(v.key, v.values) for v in strategy.values}
    return replace(spec, strategy=strategy, strategy_axes=axes, sim_axes=sim)


def _lookback(d: DiscoverSpec, cols: Columns, panel: MarketPanel) -> int:
    """The longest warm-up any gene may need (its longest period on every timeframe)."""
    warm = np.zeros((1, panel.n_assets), dtype=np.int64)
    for name in d.genes:
        gene = GENES[name]
        for tf in d.timeframes:
            warm = np.maximum(warm, first_valid(cols.get(cols.key_of(gene, max(gene.periods), tf)))[None, :])
    return lookback(warm, panel.tradable)


def _schedule(spec: RunSpec, d: DiscoverSpec, panel: MarketPanel, cols: Columns) -> tuple[Plan, Range, Range]:
    """The filters' plan, with the in-sample / holdout cut added to its partition; the two ranges."""
    schedule = plan(spec.filters, panel.times, timeframe_ms(panel.timeframe), _lookback(d, cols, panel))
    n = panel.n_bars
    split = int(round(n * (1.0 - d.holdout)))
    if split < 2:
        raise ConfigError(f"search.discover.holdout={d.holdout}: leaves no in-sample bars ({n} bars)")
    edges = schedule.partition.edges
    ranges = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)] + [(0, split), (split, n)]
    schedule.partition = Partition(n, ranges)
    return schedule, (0, split), (split, n)


def discover(
    spec: RunSpec, panel: MarketPanel, run, console=None, resumed: bool = False, rerun: list[str] | None = None
) -> tuple[Evaluation, Plan]:
    """Run the discovery search (the objective is one of IN_SAMPLE, as ``validate`` checked); export
    the top K, each with the command that re-runs it (``rerun``: the job's settings to replay, see
    ``export.rerun_base``); every candidate in one Evaluation."""
    s = spec.search
    d = discover_spec(s.discover, panel.timeframe)
    layout = Layout(d)
    cols = Columns(panel)
    schedule, ins, holdout = _schedule(spec, d, panel, cols)
    part = schedule.partition
    ins_blocks = part.blocks(ins)

    def evaluate(rows: np.ndarray):
        genomes = [layout.decode(r) for r in rows]
        compiled = build(spec, panel, genomes, layout.slots, cols)
        metrics, blocks = run_grid(panel, compiled, spec.initial_capital, False, part.blk, part.n_blocks)
        fitness, extra = _fitness(spec, d, genomes, metrics, blocks, ins_blocks, panel.bars_per_year)
        return metrics, blocks, fitness, None, extra

    if resumed:
        state = load_checkpoint(run)
    else:
        opt = loop.make_optimizer(layout.parametrization(s.seed), s.optimizer, s.budget, s.num_workers)
        state = loop.State(opt)
    run.set_tags({"search": "discover", "search_optimizer": s.optimizer, "discover_genes": ",".join(d.genes)})

    with SearchProgress(
        console, s.budget, state.told, "discovering", "candidates", "generation", loop.shown
    ) as advance:
        loop.run_search(state, s.budget, s.num_workers, layout.encode, evaluate, s.pareto, Checkpoints(run), advance)

    ev = state.evaluated
    rows = ev.stacked("rows")
    genomes = [layout.decode(r) for r in rows]
    metrics = ev.stacked("metrics")
    blocks = ev.stacked("blocks")
    fitness = ev.stacked("fitness")
    extra = {k: np.concatenate([x[k] for x in ev.extra]) for k in ev.extra[0]}
    lev_values, lev_idx = np.unique(rows[:, 1], return_inverse=True)
    axes = [
        Axis("leverage.value", tuple(float(v) for v in lev_values)),
        Axis("strategy.rule", tuple(float(i) for i in range(len(rows))), tuple(g.describe() for g in genomes)),
    ]
    grid_idx = np.column_stack([lev_idx.reshape(-1), np.arange(len(rows))]).astype(np.int64)
    found = Found(genomes, fitness, metrics, blocks)
    exported = _export(d, run, found, part, schedule, holdout, panel, console, rerun or [])

    def compiled_for(i: int) -> tuple[Compiled, int]:
        raw = strategy_dict(genomes[i], f"candidate_{i}")
        return compile_strategy(genome_spec(spec, genomes[i], raw), panel), 0

    extra = {"generation": ev.generation, "fitness": fitness, **extra, "exported": exported}
    return (
        Evaluation(axes, grid_idx, metrics, blocks, rows[:, 1].copy(), extra, compiled_for, ev.history, fitness),
        schedule,
    )


def _fitness(spec, d: DiscoverSpec, genomes: list[Genome], metrics, blocks, ins_blocks, bpy) -> tuple:
    """In-sample objective less the complexity penalty; NaN (the worst) when liquidated anywhere or
    with fewer in-sample trades than ``min_trades``."""
    leverage = np.array([g.leverage for g in genomes])
    ins = window_metrics(blocks, ins_blocks, bpy, leverage)
    n_cond = np.array([g.n_conditions for g in genomes], dtype=np.float64)
    values = objective_of(ins[spec.objective.metric], metrics[:, E.M_N_LIQUIDATIONS], spec.objective)
    fitness = values - d.complexity_penalty * (n_cond - 1.0)
    fitness[ins["n_trades"] < d.min_trades] = np.nan
    extra = {f"is_{k}": ins[k] for k in ("sharpe", "total_return", "max_drawdown", "n_trades")}
    extra["n_conditions"] = n_cond
    return fitness, extra


@dataclass
class Found:
    """Every candidate a discovery evaluated."""

    genomes: list[Genome]
    fitness: np.ndarray
    metrics: np.ndarray
    blocks: np.ndarray


def _export(d, run, found: Found, part, schedule, holdout, panel, console, rerun: list[str]) -> np.ndarray:
    """Write the top K (by fitness) as strategy YAML under ``export_dir`` and as artifacts, with a
    table of their whole-window, holdout and walk-forward test results and their re-run commands."""
    genomes, fitness, metrics, blocks = found.genomes, found.fitness, found.metrics, found.blocks
    exported = np.zeros(len(genomes), dtype=np.int64)
    key = np.where(np.isfinite(fitness), fitness, -np.inf)
    order = [int(i) for i in np.argsort(-key, kind="stable")[: d.top_k] if np.isfinite(fitness[i])]
    if not order:
        return exported
    folder = Path(d.export_dir)
    folder = folder if folder.is_absolute() else PROJECT_ROOT / folder
    tag = run.run_id[:8]
    bpy = panel.bars_per_year
    rows, wf_rows, files = [], [], {}
    for rank, i in enumerate(order, 1):
        g = genomes[i]
        name = f"d{tag}_{rank:02d}"
        raw = strategy_dict(g, name, f"discovered by MLflow run {run.run_id}, rank {rank}")
        path = folder / f"{name}.yaml"
        option, extra = strategy_option(path, PROJECT_ROOT / "conf")
        command = rerun_command(option, extra, g, rerun)
        header = (
            f"Discovered by perplab (MLflow run {run.run_id}), rank {rank} of {len(genomes):,} candidates.\n"
            f"Re-run: {command}"
        )
        write_yaml(raw, path, header)
        files[f"discovered/{name}.yaml"] = lambda p, src=path: shutil.copyfile(src, p)
        exported[i] = rank
        lev = np.array([g.leverage])
        full = {k: float(metrics[i, E.METRIC_NAMES.index(k)]) for k in ("sharpe", "total_return", "max_drawdown")}
        row = {
            "rank": rank,
            "strategy": option,
            "rule": g.describe(),
            "fitness": float(fitness[i]),
            "rerun": command,
        }
        if holdout[0] < holdout[1]:
            oos = window_metrics(blocks[i : i + 1], part.blocks(holdout), bpy, lev)
            row.update(
                {f"holdout_{k}": float(oos[k][0]) for k in ("sharpe", "total_return", "max_drawdown", "n_trades")}
            )
        row.update({f"full_{k}": v for k, v in full.items()})
        rows.append(row)
        for w, win in enumerate(schedule.windows):
            test = window_metrics(blocks[i : i + 1], part.blocks(win.test), bpy, lev)
            wf_rows.append(
                {
                    "rank": rank,
                    "window": w,
                    "test_start": iso(int(panel.times[win.test[0]])),
                    "test_end": iso(int(panel.times[win.test[1] - 1])),
                    **{f"oos_{k}": float(test[k][0]) for k in ("sharpe", "total_return", "max_drawdown", "n_trades")},
                }
            )
    top = pl.DataFrame(rows)
    files["discovered/top.parquet"] = top.write_parquet
    if wf_rows:
        files["discovered/walk_forward.parquet"] = pl.DataFrame(wf_rows).write_parquet
    run.log_files(files)
    run.set_tags({"discover_top": ",".join(r["strategy"] for r in rows)})
    print_discovered(top, console)
    return exported
