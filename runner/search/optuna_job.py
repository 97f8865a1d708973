"""``search=optuna`` inside one job: batches of trials asked from a persisted study, each batch one
kernel call; extra worker processes share the study; the job's run gathers every trial."""

import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from runner import PROJECT_ROOT
from runner.backtest import Evaluation, run_grid
from runner.data.panel import MarketPanel
from runner.errors import ConfigError
from runner.filters.pareto import front_ranks
from runner.filters.pipeline import Plan
from runner.search import loop
from runner.search import study as st
from runner.search.job import compile_rows, fitness_of, search_plan
from runner.search.progress import SearchProgress
from runner.search.space import Space, grid_of
from runner.search.spec import Dim, SearchSpec
from runner.spec import RunSpec

PARETO = loop.PARETO_METRICS


def study_key(cfg: DictConfig) -> str:
    """A fingerprint of what defines a study's trials (not how many processes run it, or where)."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    search = tree.get("search", {})
    for k in ("resume", "workers", "storage", "study_name", "budget"):
        search.pop(k, None)
    tree.pop("tracking", None)
    return hashlib.sha256(json.dumps(tree, sort_keys=True, default=str).encode()).hexdigest()[:16]


def suggest(trial, dims: tuple[Dim, ...]) -> dict:
    """A trial's value of every searched dimension (Optuna's distributions of perplab's dims)."""
    out = {}
    for d in dims:
        if d.choices:
            out[d.key] = trial.suggest_categorical(d.key, list(d.choices))
        elif d.integer:
            step = int(d.step or 1)
            out[d.key] = trial.suggest_int(d.key, int(d.low), int(d.high), step=step, log=d.log and step == 1)
        else:
            out[d.key] = trial.suggest_float(d.key, d.low, d.high, step=None if d.log else d.step, log=d.log)
    return out


@dataclass
class Local:
    """What this process evaluated: trial number -> (row, metrics, blocks, fitness, batch)."""

    results: dict[int, tuple] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    calls: int = 0  # kernel calls (one per batch; two with pruning)
    bar_evaluations: int = 0  # bar-combinations simulated (counted when pruning)
    pruned: int = 0


def _told(s: SearchSpec, metrics: np.ndarray, fitness: float, passed: bool) -> tuple[list | float | None, str]:
    """What the study is told: the value(s), or None (FAIL) for a liquidated or undefined trial."""
    if not math.isfinite(fitness):
        return None, "undefined"
    if s.pareto:
        sharpe, dd, pf = (float(metrics[loop.E.METRIC_NAMES.index(m)]) for m in PARETO)
        values = [sharpe, dd, min(pf, 100.0)]
        if not all(math.isfinite(v) for v in values):
            return None, "undefined"
        return (values, "complete") if passed else (None, "constraints")
    return (fitness if passed else fitness - loop.PENALTY), ("complete" if passed else "constraints")


@dataclass(frozen=True)
class Staged:
    """Pruning: each batch is first simulated on the bars of the first walk-forward train window
    (``prefix`` bars, ``evaluate_prefix``), its in-sample objective reported as the trial's first
    intermediate value, and only the trials kept are simulated on all ``bars``. ``liquidated``:
    a trial liquidated there is pruned (lossless: it would be discarded whatever its return);
    ``median``: also Optuna's median pruner on that objective (lossy: early windows may disagree
    with the whole run)."""

    evaluate_prefix: object
    prefix: int
    bars: int
    pruner: str
    discard_liquidated: bool = True


def _pruner(name: str):
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5) if name == "median" else optuna.pruners.NopPruner()


def run_batches(
    study, store, url: str, s: SearchSpec, space: Space, evaluate, local: Local, progress=None, staged=None
) -> None:
    """Ask, evaluate and tell batches until the study holds ``s.budget`` counted trials."""
    from optuna.storages import fail_stale_trials
    from optuna.trial import TrialState

    o = s.optuna
    seen: dict[bytes, tuple] = {}
    n_obj = 3 if s.pareto else 1
    if staged is not None:
        study.pruner = _pruner(o.pruner)
    while True:
        with st.ask_lock(url, study.study_name):
            fail_stale_trials(study)
            trials = study.get_trials(deepcopy=False)
            done = len(st.counted(trials))
            running = sum(t.state == TrialState.RUNNING for t in trials)
            k = min(o.batch, s.budget - done - running)
            if k <= 0:
                return
            study.sampler = st.sampler(o, st.next_seed(s.seed, done), n_obj, space.dims)
            asked = [study.ask() for _ in range(k)]
            rows = np.stack([space.row(suggest(t, space.dims)) for t in asked])
        generation = done // o.batch
        keys = [r.tobytes() for r in rows]
        with st.Heartbeat(store, [t._trial_id for t in asked]):
            pruned = _stage(staged, asked, rows, keys, local) if staged is not None else set()
            full = [i for i in range(k) if i not in pruned]
            new = [i for i in full if keys[i] not in seen and keys[i] not in [keys[j] for j in full if j < i]]
            if new:
                metrics, blocks, fitness, passed, _ = evaluate(rows[new])
                local.calls += 1
                local.bar_evaluations += len(new) * (staged.bars if staged is not None else 0)
                for j, i in enumerate(new):
                    ok = True if passed is None else bool(passed[j])
                    seen[keys[i]] = (metrics[j], blocks[j] if len(blocks) else None, float(fitness[j]), ok)
        fit = np.full(k, np.nan)
        for i, (trial, key) in enumerate(zip(asked, keys, strict=True)):
            trial.set_user_attr(st.BATCH_ATTR, generation)
            trial.set_user_attr(st.WORKER_ATTR, st.worker_id())
            if i in pruned:
                trial.set_user_attr(st.OUTCOME, "pruned")
                study.tell(trial, state=TrialState.PRUNED)
                local.pruned += 1
                continue
            m, b, f, ok = seen[key]
            values, outcome = _told(s, m, f, ok)
            trial.set_user_attr(st.OUTCOME, outcome)
            study.tell(trial, values, state=TrialState.FAIL if values is None else None)
            local.results[trial.number] = (rows[i], m, b, f, generation)
            fit[i] = f
        local.history.append(loop.generation_summary(fit, local.history))
        if progress is not None:
            progress(local, done + k)


def _stage(staged: Staged, asked: list, rows: np.ndarray, keys: list[bytes], local: Local) -> set[int]:
    """The first walk-forward train window of the batch's distinct candidates, one kernel call;
    the trials the pruner stops (their first intermediate value reported)."""
    order = list(dict.fromkeys(keys))
    first = {key: keys.index(key) for key in order}
    metrics, _, fitness, _, _ = staged.evaluate_prefix(rows[[first[key] for key in order]])
    local.calls += 1
    local.bar_evaluations += len(order) * staged.prefix
    value = dict(zip(order, fitness, strict=True))
    dead = dict(zip(order, metrics[:, loop.E.M_N_LIQUIDATIONS] > 0, strict=True))
    out = set()
    for i, trial in enumerate(asked):
        v = float(value[keys[i]])
        trial.report(v if math.isfinite(v) else -loop.WORST, step=0)
        if (staged.discard_liquidated and dead[keys[i]]) or trial.should_prune():
            out.add(i)
    return out


def open_study(spec: RunSpec, cfg: DictConfig):
    """The run's study (created on first use) with its storage URL and storage."""
    import optuna

    o = spec.search.optuna
    url = o.storage or st.default_storage(spec.tracking.uri)
    name = o.study_name or st.study_name(spec.strategy.name, study_key(cfg))
    store = st.storage(url)
    directions = ["maximize", "minimize", "maximize"] if spec.search.pareto else ["maximize"]
    study = optuna.create_study(study_name=name, storage=store, directions=directions, load_if_exists=True)
    if [d.name.lower() for d in study.directions] != directions:
        raise ConfigError(f"search.study_name={name}: the stored study optimises other objectives; use another name")
    return study, store, url


def evaluator(spec: RunSpec, panel: MarketPanel, space: Space, blk, n_blocks: int):
    def evaluate(rows: np.ndarray):
        compiled = compile_rows(spec, panel, space.axes, rows)
        metrics, blocks = run_grid(panel, compiled, spec.initial_capital, progress=False, blk=blk, n_blocks=n_blocks)
        fitness, passed = fitness_of(spec, metrics)
        return metrics, blocks, fitness, passed, {}

    return evaluate


def staging(spec: RunSpec, panel: MarketPanel, space: Space, schedule: Plan) -> Staged | None:
    """The pruning stage of ``search.pruner`` (its first walk-forward train window), or None."""
    if spec.search.optuna.pruner == "none":
        return None
    prefix = schedule.windows[0].train[1]
    head = panel.head(prefix)
    o = spec.search.optuna
    return Staged(
        evaluator(spec, head, space, None, 0), prefix, panel.n_bars, o.pruner, spec.objective.discard_liquidated
    )


def optuna_search(
    spec: RunSpec, panel: MarketPanel, run, cfg: DictConfig, console=None, resumed: bool = False
) -> tuple[Evaluation, Plan]:
    """Run the study to its budget (this process and ``workers - 1`` more); every counted trial of the
    study, this run's and earlier ones', in one Evaluation."""
    s = spec.search
    o = s.optuna
    space, schedule, blk, n_blocks = search_plan(spec, panel)
    study, store, url = open_study(spec, cfg)
    run.set_tags(
        {
            "search": "optuna",
            "search_dims": ",".join(d.key for d in space.dims),
            "optuna_study": study.study_name,
            "optuna_storage": url,
            "optuna_sampler": o.sampler,
            "search_generations": "0",
        }
    )
    if resumed:
        st.take_over(study)
    evaluate = evaluator(spec, panel, space, blk, n_blocks)
    staged = staging(spec, panel, space, schedule)
    local = Local()
    workers = _spawn(cfg, url, study.study_name, o.workers - 1)
    _ready(workers)

    def fields(local: Local, done: int) -> tuple[int, int, float]:
        return done, len(local.history), local.history[-1]["search_best_so_far"]

    counted = len(st.counted(study.get_trials(deepcopy=False)))
    with SearchProgress(console, s.budget, counted, "optuna", "trials", "batch", fields) as progress:
        run_batches(study, store, url, s, space, evaluate, local, progress, staged)
        failed = _join(workers)
        if st.take_over(study):  # a worker died with trials in flight: finish them here
            run_batches(study, store, url, s, space, evaluate, local, progress, staged)
    if staged is not None:
        run.log_metrics({"optuna_pruned": local.pruned, "optuna_bar_evaluations": local.bar_evaluations})
    if failed:
        console and console.print(f"[yellow]warning:[/yellow] {failed}", highlight=False)
    return _gather(spec, panel, study, space, evaluate, local, schedule, blk), schedule


def _gather(spec, panel, study, space: Space, evaluate, local: Local, schedule: Plan, blk) -> Evaluation:
    """Every counted trial, by number: this process's results, the others re-simulated in one call."""
    from optuna.trial import TrialState

    trials = [t for t in st.counted(study.get_trials(deepcopy=False)) if t.state != TrialState.PRUNED]
    trials.sort(key=lambda t: t.number)
    if not trials:
        raise ConfigError(f"search: the study {study.study_name} has no evaluated trial")
    missing = [t for t in trials if t.number not in local.results]
    if missing:
        rows = np.stack([space.row(t.params) for t in missing])
        metrics, blocks, fitness, _, _ = evaluate(rows)
        for j, t in enumerate(missing):
            b = blocks[j] if len(blocks) else None
            local.results[t.number] = (rows[j], metrics[j], b, float(fitness[j]), t.user_attrs.get(st.BATCH_ATTR, 0))
    got = [local.results[t.number] for t in trials]
    rows = np.stack([g[0] for g in got])
    metrics = np.stack([g[1] for g in got])
    blocks = np.stack([g[2] for g in got]) if blk is not None else np.zeros((len(got), 0, 0))
    fitness = np.array([g[3] for g in got])
    generation = np.array([g[4] for g in got], dtype=np.int64)
    axes, idx = grid_of(space.axes, rows)
    extra = {"trial": np.array([t.number for t in trials]), "generation": generation, "fitness": fitness}
    if spec.search.pareto:
        extra["search_pareto_rank"] = front_ranks(metrics)
    history = []
    for g in np.unique(generation):
        history.append(loop.generation_summary(fitness[generation == g], history))
    lev = [a.key for a in space.axes].index("leverage.value")
    return Evaluation(
        axes,
        idx,
        metrics,
        blocks,
        rows[:, lev].copy(),
        extra,
        lambda i: (compile_rows(spec, panel, space.axes, rows[i : i + 1]), 0),
        history,
    )


def _spawn(cfg: DictConfig, url: str, name: str, n: int) -> list[tuple[subprocess.Popen, Path]]:
    """``n`` worker processes on the same study (each with its share of the cores for numba)."""
    if n <= 0:
        return []
    tree = OmegaConf.to_container(cfg, resolve=True)
    tree["search"].update({"storage": url, "study_name": name, "workers": 1, "resume": None})
    folder = Path(tempfile.mkdtemp(prefix="perplab-optuna-"))
    conf = folder / "config.yaml"  # may hold the storage's password: readable by this user alone
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(OmegaConf.to_yaml(OmegaConf.create(tree)))
    threads = max(1, (os.cpu_count() or 1) // (n + 1))
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    out = []
    for i in range(n):
        log = folder / f"worker{i}.log"
        with open(log, "w") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "runner.search.optuna_worker", str(conf), str(log.with_suffix(".ready"))],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        out.append((proc, log))
    try:
        import numba

        numba.set_num_threads(threads)
    except (ImportError, ValueError):
        pass
    return out


READY_S = 300


def _ready(workers: list[tuple[subprocess.Popen, Path]]) -> None:
    """Wait until every worker has loaded its data and opened the study (so all start together)."""
    import time

    deadline = time.monotonic() + READY_S
    for proc, log in workers:
        while not log.with_suffix(".ready").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)


def _join(workers: list[tuple[subprocess.Popen, Path]]) -> str:
    """Wait for the workers; a line naming those that failed (their trials are finished here)."""
    import shutil

    bad = []
    for i, (proc, log) in enumerate(workers):
        code = proc.wait()
        if code:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            bad.append(f"optuna worker {i + 1} exited with {code}: {tail[0]}")
    if workers:
        shutil.rmtree(workers[0][1].parent, ignore_errors=True)
    return "; ".join(bad)
