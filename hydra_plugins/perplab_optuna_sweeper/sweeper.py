"""The sweeper: ask a batch of trials, launch them as Hydra jobs, tell their objectives back."""

import hashlib
import logging
import math
import os
import warnings
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from runner.compose import shared_context

log = logging.getLogger(__name__)
STUDY_ENV = "PERPLAB_OPTUNA_STUDY"  # set in each job (hydra.job.env_set): the runner tags its run
TRIAL_ENV = "PERPLAB_OPTUNA_TRIAL"


def _shorthand(line: str) -> str:
    """perplab's short forms (``leverage=5`` -> ``leverage.value=5``) when perplab is importable."""
    try:
        from runner.preflight import expand_shorthand
    except ImportError:
        return line
    return expand_shorthand([line])[0]


def distribution(override: Override):
    """An Optuna distribution from a command-line sweep (None: a fixed value)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not override.is_sweep_override():
        return None
    value = override.value()
    if override.is_choice_sweep():
        assert isinstance(value, ChoiceSweep)
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    if override.is_range_sweep():
        assert isinstance(value, RangeSweep)
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return IntDistribution(int(value.start), int(value.stop) - 1, step=int(value.step))
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    assert isinstance(value, IntervalSweep)
    log_scale = "log" in value.tags
    if isinstance(value.start, int) and isinstance(value.end, int):
        return IntDistribution(int(value.start), int(value.end), log=log_scale)
    return FloatDistribution(float(value.start), float(value.end), log=log_scale)


class OptunaSweeper(Sweeper):
    """Batches of ``n_jobs`` trials until ``n_trials`` have run; a failed job is a failed trial."""

    def __init__(
        self,
        sampler: Any,
        direction: Any,
        study_name: str | None,
        storage: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        params: DictConfig | None,
    ):
        self.sampler_conf = sampler
        self.direction = direction
        self.study_name = study_name
        self.storage = storage
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failure_rate = max_failure_rate
        self.params = params or {}
        self.config: DictConfig | None = None
        self.launcher = None
        self.hydra_context: HydraContext | None = None
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        hydra_context = shared_context(hydra_context)  # each set of group choices composed once
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _space(self, arguments: list[str]) -> tuple[dict, list[str]]:
        lines = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        space, fixed = {}, []
        for override in OverridesParser.create().parse_overrides([_shorthand(a) for a in lines]):
            dist = distribution(override)
            if dist is None:
                fixed.append(override.input_line)
            else:
                space[override.get_key_element()] = dist
        if not space:
            raise ValueError("hydra/sweeper=optuna: nothing to search; give a sweep such as 'x=interval(-5,5)'")
        return space, fixed

    def _study(self, space: dict):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        directions = list(self.direction) if isinstance(self.direction, (list, ListConfig)) else [self.direction]
        name = (
            self.study_name
            or "perplab-sweep-" + hashlib.sha256(repr(sorted(map(str, space.items()))).encode()).hexdigest()[:10]
        )
        storage = self.storage or _default_storage()
        if storage is not None:
            try:
                from runner.search.study import storage as perplab_storage

                storage = perplab_storage(storage)
            except ImportError:
                pass
        sampler = self.sampler_conf  # Hydra instantiates the _target_ when it builds the sweeper
        if isinstance(sampler, (dict, DictConfig)):
            sampler = instantiate(sampler)
        return optuna.create_study(
            study_name=name, storage=storage, sampler=sampler, directions=directions, load_if_exists=True
        )

    def sweep(self, arguments: list[str]) -> list:
        from optuna.trial import TrialState

        assert self.config is not None and self.launcher is not None
        space, fixed = self._space(arguments)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = self._study(space)
        log.info(f"optuna sweeper: study {study.study_name}, {self.n_trials} trials, {self.n_jobs} a batch")
        done = sum(t.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED) for t in study.get_trials())
        failures, returns = 0, []
        while done < self.n_trials:
            batch = min(self.n_jobs, self.n_trials - done)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trials = [study.ask(space) for _ in range(batch)]
            overrides = [
                tuple(fixed)
                + tuple(f"{k}={_fmt(v)}" for k, v in t.params.items())
                + (f"+hydra.job.env_set.{STUDY_ENV}={study.study_name}", f"+hydra.job.env_set.{TRIAL_ENV}={t.number}")
                for t in trials
            ]
            self.validate_batch_is_legal(overrides)
            rets = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            self.job_idx += len(rets)
            for trial, ret in zip(trials, rets, strict=True):
                values = _values(ret, len(study.directions))
                failures += values is None
                study.tell(trial, values, state=TrialState.FAIL if values is None else None)
            returns.extend(rets)
            done += batch
            if failures > self.max_failure_rate * self.n_trials:
                log.error(f"optuna sweeper: {failures} jobs failed; stopping")
                break
        self._save(study)
        return returns

    def _save(self, study) -> None:
        from optuna.trial import TrialState

        complete = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
        summary: dict[str, Any] = {"name": "optuna", "study_name": study.study_name, "trials": len(study.trials)}
        if complete and len(study.directions) == 1:
            summary.update(best_evaluated_params=study.best_trial.params, best_evaluated_result=study.best_value)
            summary["best_trial"] = study.best_trial.number
        elif complete:
            summary["best_trials"] = [{"params": t.params, "values": t.values} for t in study.best_trials]
        else:
            log.warning("no job returned a finite objective (all failed, liquidated or without survivors)")
        OmegaConf.save(OmegaConf.create(summary), f"{self.config.hydra.sweep.dir}/optimization_results.yaml")


def _default_storage() -> str | None:
    """perplab's default (SQLite beside the MLflow store) when the runner is importable."""
    try:
        from runner.search.study import default_storage
    except ImportError:
        return None
    uri = os.environ.get("MLFLOW_TRACKING_URI") or ""
    return default_storage(uri)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(round(value, 12))
    return str(value)


def _values(ret, n: int):
    """A job's objective(s), or None when it failed or returned nothing usable (NaN: liquidated)."""
    if ret.status != JobStatus.COMPLETED:  # reading a failed job's value would print its overrides
        return None
    value = ret.return_value
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        items = [float(v) for v in items]
    except (TypeError, ValueError):
        return None
    if len(items) != n or not all(math.isfinite(v) for v in items):
        return None
    return items if n > 1 else items[0]
