"""``search=nevergrad`` inside one job: candidates of the run's own parameter space, a generation
per kernel call, every candidate in the grid table, checkpoints for resuming."""

import hashlib
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from runner.backtest import Evaluation, objective_values, run_grid
from runner.data.panel import MarketPanel
from runner.data.timeframes import timeframe_ms
from runner.errors import ConfigError
from runner.filters import constraints
from runner.filters.pareto import front_ranks
from runner.filters.pipeline import Plan, lookback, plan
from runner.search import loop
from runner.search.progress import SearchProgress
from runner.search.space import Space, build_space, grid_of
from runner.spec import Axis, RunSpec
from runner.strategy.assemble import Compiled
from runner.strategy.compile import compile_strategy

CHECKPOINT = "search/checkpoint.pkl"


def with_axes(spec: RunSpec, axes: list[Axis]) -> RunSpec:
    """``spec`` with its axes (in ``spec.axes`` order) replaced."""
    n_sim = len(spec.sim_axes)
    sim = dict(zip(spec.sim_axes, axes[:n_sim], strict=True))
    strat = {a.key: a for a in axes[n_sim:]}
    return replace(spec, sim_axes=sim, strategy_axes=strat)


def compile_rows(spec: RunSpec, panel: MarketPanel, space_axes: list[Axis], rows: np.ndarray) -> Compiled:
    """Kernel inputs for exactly these candidates (raw axis values per row)."""
    axes, idx = grid_of(space_axes, rows)
    return compile_strategy(with_axes(spec, axes), panel, idx)


def search_key(cfg: DictConfig) -> str:
    """A fingerprint of everything that defines a search except how it is resumed."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    tree.get("search", {}).pop("resume", None)
    return hashlib.sha256(json.dumps(tree, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resume_target(client, experiment_id: str, spec: RunSpec, cfg: DictConfig) -> str | None:
    """The run a ``search.resume`` names: a run id, or ``last`` (the newest unfinished search of this
    configuration with a checkpoint); a ConfigError when there is none."""
    how = spec.search.resume
    if how is None:
        return None
    if how != "last":
        try:
            run = client.get_run(how)
        except Exception:
            raise ConfigError(f"search.resume={how!r}: no such MLflow run; give a run id or 'last'") from None
        if run.data.tags.get("search_key") != search_key(cfg):
            raise ConfigError(f"search.resume={how!r}: that run searched another configuration")
        return how
    found = client.search_runs(
        [experiment_id],
        f"tags.search_key = '{search_key(cfg)}' and tags.search_generations != ''",
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    for run in found:
        if run.info.status != "FINISHED":
            return run.info.run_id
    raise ConfigError(
        "search.resume=last: no unfinished search of this configuration with a checkpoint in this experiment"
    )


def fitness_of(spec: RunSpec, metrics: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Higher-is-better objective per candidate (NaN: discarded) and the hard constraints' verdict."""
    values = objective_values(metrics, spec.objective)
    passed = None if spec.filters.constraints is None else constraints.verdict(spec.filters.constraints, metrics)[0]
    return values, passed


def corner_rows(space: Space) -> np.ndarray:
    """Two candidates at the low and high ends of every dimension (for the longest warm-up)."""
    rows = []
    for end in (0, 1):
        value = {}
        for d in space.dims:
            value[d.key] = d.choices[-end] if d.choices else (d.high if end else d.low)
        rows.append(space.row(value))
    return np.stack(rows)


class Checkpoints:
    """Per generation: the step metrics and the checkpoint, logged to the run."""

    def __init__(self, run):
        self.run = run

    def __call__(self, state: loop.State) -> None:
        ev = state.evaluated
        g = ev.generations - 1
        self.run.log_metrics({k: _finite(v) for k, v in ev.history[-1].items()}, step=g)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "checkpoint.pkl"
            loop.save(state, path)
            self.run.client.log_artifact(self.run.run_id, str(path), "search")
        self.run.set_tags({"search_generations": str(ev.generations), "search_told": str(state.told)})


def _finite(v: float) -> float:
    return v if np.isfinite(v) else float("nan")


def load_checkpoint(run) -> loop.State:
    with tempfile.TemporaryDirectory() as tmp:
        path = run.client.download_artifacts(run.run_id, CHECKPOINT, tmp)
        return loop.load(Path(path))


def search_plan(spec: RunSpec, panel: MarketPanel) -> tuple[Space, Plan, np.ndarray | None, int]:
    """A search's space and the filters' plan (its warm-up from the candidates at both ends of every
    dimension), with the block ids the kernel streams (None without filters that need them)."""
    space = build_space(spec, spec.search)
    corners = compile_rows(spec, panel, space.axes, corner_rows(space))
    schedule = plan(spec.filters, panel.times, timeframe_ms(panel.timeframe), lookback(corners.warm, panel.tradable))
    blk = schedule.partition.blk if schedule.needs_blocks else None
    return space, schedule, blk, schedule.partition.n_blocks


def param_search(
    spec: RunSpec, panel: MarketPanel, run, console=None, resumed: bool = False
) -> tuple[Evaluation, Plan]:
    """Run ``search=nevergrad`` over the run's space; every evaluated candidate in one Evaluation, and
    the filters' plan (its warm-up from the candidates at both ends of every dimension)."""
    s = spec.search
    space, schedule, blk, n_blocks = search_plan(spec, panel)
    lev = [a.key for a in space.axes].index("leverage.value")

    def evaluate(rows: np.ndarray):
        compiled = compile_rows(spec, panel, space.axes, rows)
        metrics, blocks = run_grid(panel, compiled, spec.initial_capital, progress=False, blk=blk, n_blocks=n_blocks)
        fitness, passed = fitness_of(spec, metrics)
        return metrics, blocks, fitness, passed, {}

    if resumed:
        state = load_checkpoint(run)
    else:
        opt = loop.make_optimizer(space.parametrization(s.seed), s.optimizer, s.budget, s.num_workers)
        state = loop.State(opt)
    run.set_tags(
        {"search": s.method, "search_optimizer": s.optimizer, "search_dims": ",".join(d.key for d in space.dims)}
    )

    with SearchProgress(console, s.budget, state.told, "searching", "candidates", "generation", loop.shown) as advance:
        loop.run_search(state, s.budget, s.num_workers, space.row, evaluate, s.pareto, Checkpoints(run), advance)
    done = state.evaluated
    rows = done.stacked("rows")
    axes, idx = grid_of(space.axes, rows)
    metrics = done.stacked("metrics")
    extra = {"generation": done.generation, "fitness": done.stacked("fitness")}
    if s.pareto:
        extra["search_pareto_rank"] = front_ranks(metrics)
    ev = Evaluation(
        axes,
        idx,
        metrics,
        done.stacked("blocks") if blk is not None else np.zeros((len(rows), 0, 0)),
        rows[:, lev].copy(),
        extra,
        lambda i: (compile_rows(spec, panel, space.axes, rows[i : i + 1]), 0),
        done.history,
    )
    return ev, schedule
