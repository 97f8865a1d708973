"""The ask/evaluate/tell loop: one batch of ``num_workers`` candidates per generation, evaluated by
one call of an evaluator (one kernel call); checkpointed after every generation so that a killed
search resumes from its last logged generation."""

import math
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kernels import enums as E

WORST = 1e9  # the loss of failed, liquidated or undefined candidates
PENALTY = 1e6  # added to the loss of candidates that break the hard constraints (keeps their order)
PARETO_METRICS = ("sharpe", "max_drawdown", "profit_factor")  # maximise, minimise, maximise


@dataclass
class Evaluated:
    """Everything a search evaluated, in order of evaluation."""

    rows: list[np.ndarray] = field(default_factory=list)  # per evaluated generation: (n, n_axes) new candidates
    metrics: list[np.ndarray] = field(default_factory=list)
    blocks: list[np.ndarray] = field(default_factory=list)
    fitness: list[np.ndarray] = field(default_factory=list)  # higher is better; NaN: worst
    extra: list[dict] = field(default_factory=list)  # per generation: whatever the evaluator adds
    gen: list[np.ndarray] = field(default_factory=list)  # the generation of each new candidate
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per generation

    @property
    def generations(self) -> int:
        return len(self.history)

    def stacked(self, name: str) -> np.ndarray:
        return np.concatenate(getattr(self, name), axis=0)

    @property
    def generation(self) -> np.ndarray:
        return np.concatenate(self.gen)


@dataclass
class State:
    optimizer: object
    told: int = 0
    evaluated: Evaluated = field(default_factory=Evaluated)
    generation: int = 0
    seen: dict = field(default_factory=dict)  # candidate row bytes -> (index, loss told, fitness)


def make_optimizer(param, name: str, budget: int, num_workers: int):
    import nevergrad as ng

    return ng.optimizers.registry[name](parametrization=param, budget=budget, num_workers=num_workers)


def losses(fitness: np.ndarray, metrics: np.ndarray, passed: np.ndarray | None, pareto: bool) -> list:
    """What nevergrad is told: ``-fitness`` (penalised when a hard constraint fails, WORST when
    undefined), or for a Pareto search the losses of (sharpe, max_drawdown, profit_factor)."""
    out: list = []
    for i, f in enumerate(fitness):
        bad = not math.isfinite(float(f))
        if pareto:
            sharpe, dd, pf = (float(metrics[i, E.METRIC_NAMES.index(m)]) for m in PARETO_METRICS)
            vec = [-sharpe, dd, -min(pf, 100.0)]
            out.append([WORST if bad or not math.isfinite(v) else v for v in vec])
        else:
            loss = WORST if bad else -float(f)
            if not bad and passed is not None and not passed[i]:
                loss += PENALTY
            out.append(loss)
    return out


def run_search(
    state: State,
    budget: int,
    num_workers: int,
    encode: Callable[[object], np.ndarray],
    evaluate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, dict]],
    pareto: bool,
    on_generation: Callable[[State], None] | None = None,
    progress=None,
) -> State:
    """Ask, evaluate (one call per generation), tell, until the budget is spent.

    ``evaluate(rows) -> (metrics, blocks, fitness, passed, extra)``; ``on_generation`` checkpoints.
    """
    opt = state.optimizer
    ev = state.evaluated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nevergrad's notes on budgets and bounds
        while state.told < budget:
            n = min(num_workers, budget - state.told)
            cands = [opt.ask() for _ in range(n)]
            rows = np.stack([encode(c.value) for c in cands])
            # a candidate met before (integer and step dimensions repeat) is told its known losses
            keys = [r.tobytes() for r in rows]
            new = [i for i, k in enumerate(keys) if k not in state.seen and k not in keys[:i]]
            told = [None] * n
            fit = np.full(n, np.nan)
            if new:
                metrics, blocks, fitness, passed, extra = evaluate(rows[new])
                fresh = losses(fitness, metrics, passed, pareto)
                base = sum(len(r) for r in ev.rows)
                for j, i in enumerate(new):
                    state.seen[keys[i]] = (base + j, fresh[j], float(fitness[j]))
                ev.rows.append(rows[new])
                ev.metrics.append(metrics)
                ev.blocks.append(blocks)
                ev.fitness.append(np.asarray(fitness, dtype=np.float64))
                ev.extra.append(extra)
                ev.gen.append(np.full(len(new), state.generation, dtype=np.int64))
            for i, k in enumerate(keys):
                _, told[i], fit[i] = state.seen[k]
            for cand, loss in zip(cands, told, strict=True):
                opt.tell(cand, loss)
            state.told += n
            state.generation += 1
            ev.history.append(generation_summary(fit, ev.history))
            if on_generation is not None:
                on_generation(state)
            if progress is not None:
                progress(state)
    return state


HISTORY_METRICS = ("search_best", "search_median", "search_best_so_far", "search_valid")  # stepped, per generation


def generation_summary(f: np.ndarray, history: list[dict[str, float]]) -> dict[str, float]:
    """Fitness of one generation's candidates (met before or not)."""
    finite = f[np.isfinite(f)]
    before = [h["search_best_so_far"] for h in history if math.isfinite(h["search_best_so_far"])]
    best_so_far = max([*before, *finite.tolist()], default=math.nan)
    values = (
        float(finite.max()) if finite.size else math.nan,
        float(np.median(finite)) if finite.size else math.nan,
        best_so_far,
        float(finite.size / max(len(f), 1)),
    )
    return dict(zip(HISTORY_METRICS, values, strict=True))


def shown(state: State) -> tuple[int, int, float]:
    """What a progress bar shows of a search: candidates told, generations, the best so far."""
    return state.told, state.evaluated.generations, state.evaluated.history[-1]["search_best_so_far"]


def save(state: State, path: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load(path: Path) -> State:
    with open(path, "rb") as fh:
        return pickle.load(fh)
