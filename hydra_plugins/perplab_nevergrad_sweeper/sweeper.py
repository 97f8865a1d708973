"""The sweeper: ask a batch of candidates, launch them as Hydra jobs, tell their objectives back."""

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, ListConfig, OmegaConf

from runner.compose import shared_context

from .config import OptimConf, ScalarConfigSpec

log = logging.getLogger(__name__)
WORST = 1e9  # the loss told for a failed, liquidated or undefined job


def _shorthand(line: str) -> str:
    """perplab's short forms (``leverage=5`` -> ``leverage.value=5``) when perplab is importable."""
    try:
        from runner.preflight import expand_shorthand
    except ImportError:
        return line
    return expand_shorthand([line])[0]


def param_from_config(key: str, spec: Any) -> Any:
    """A nevergrad parameter from a ``parametrization`` entry (a list, a mapping or sweep syntax)."""
    import nevergrad as ng

    if isinstance(spec, (ListConfig, DictConfig)):
        spec = OmegaConf.to_container(spec, resolve=True)
    if isinstance(spec, str):
        return param_from_override(OverridesParser.create().parse_override(_shorthand(f"{key}={spec}")))
    if isinstance(spec, Sequence):
        return ng.p.Choice(list(spec))
    if isinstance(spec, Mapping):
        s = ScalarConfigSpec(**spec)
        bounds = {"lower": s.lower, "upper": s.upper, "init": s.init}
        if s.log:
            scalar = ng.p.Log(**{k: v for k, v in bounds.items() if v is not None})
        else:
            scalar = ng.p.Scalar(**{k: v for k, v in bounds.items() if v is not None})
            if s.step is not None:
                scalar.set_mutation(sigma=s.step)
        if s.integer:
            scalar.set_integer_casting()
        return scalar
    return spec


def param_from_override(override: Override) -> Any:
    """A nevergrad parameter from a command-line sweep (the value itself when not a sweep)."""
    import nevergrad as ng

    value = override.value()
    if not override.is_sweep_override():
        return value
    if override.is_choice_sweep():
        assert isinstance(value, ChoiceSweep)
        items = list(override.sweep_iterator(transformer=Transformer.encode))
        return ng.p.TransitionChoice(items) if "ordered" in value.tags else ng.p.Choice(items)
    if override.is_range_sweep():
        return ng.p.Choice(list(override.sweep_iterator(transformer=Transformer.encode)))
    assert isinstance(value, IntervalSweep)
    if "log" in value.tags:
        scalar = ng.p.Log(lower=value.start, upper=value.end)
    else:
        scalar = ng.p.Scalar(lower=value.start, upper=value.end)
    if isinstance(value.start, int) and isinstance(value.end, int):
        scalar.set_integer_casting()
    return scalar


class NevergradSweeper(Sweeper):
    """Batches of ``num_workers`` jobs until ``budget`` jobs have run; failures get the worst value."""

    def __init__(self, optim: OptimConf, parametrization: DictConfig | None, strategy_params: bool = False):
        self.opt_config = optim
        self.strategy_params = strategy_params
        self.parametrization = {
            _shorthand(f"{k}=0").split("=")[0]: param_from_config(str(k), v) for k, v in (parametrization or {}).items()
        }
        self.config: DictConfig | None = None
        self.launcher = None
        self.hydra_context: HydraContext | None = None
        self.job_idx = 0
        self.results: list[tuple[dict, float | None]] = []

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        hydra_context = shared_context(hydra_context)  # each set of group choices composed once
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _parametrization(self, arguments: list[str]):
        import nevergrad as ng

        params = {**self._strategy_params(), **self.parametrization}
        fixed: list[str] = []
        for override in OverridesParser.create().parse_overrides([_shorthand(a) for a in arguments]):
            if override.is_sweep_override():
                params[override.get_key_element()] = param_from_override(override)
            else:
                fixed.append(override.input_line)
        searched = {k: v for k, v in params.items() if isinstance(v, ng.p.Parameter)}
        fixed += [f"{k}={v}" for k, v in params.items() if k not in searched]
        if not searched:
            raise ValueError(
                "hydra/sweeper=nevergrad: nothing to search; give a sweep such as 'leverage=int(interval(1,20))' "
                "or hydra.sweeper.parametrization"
            )
        param = ng.p.Dict(**searched)
        param.function.deterministic = not self.opt_config.noisy
        if self.opt_config.seed is not None:
            param.random_state.seed(self.opt_config.seed)
        return param, fixed

    def _strategy_params(self) -> dict:
        """With ``strategy_params``: every parameter of the configured strategy over its low..high."""
        import nevergrad as ng

        out = {}
        if not self.strategy_params or self.config is None:
            return out
        declared = OmegaConf.select(self.config, "strategy.params") or {}
        for name, body in declared.items():
            low, high = body.get("low"), body.get("high")
            if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high:
                scalar = ng.p.Scalar(lower=float(low), upper=float(high))
                if body.get("type") == "int":
                    scalar.set_integer_casting()
                out[f"strategy.params.{name}.default"] = scalar
        return out

    def sweep(self, arguments: list[str]) -> list:
        import nevergrad as ng

        assert self.config is not None and self.launcher is not None
        c = self.opt_config
        if c.optimizer not in ng.optimizers.registry:
            raise ValueError(f"hydra.sweeper.optim.optimizer={c.optimizer!r}: not a nevergrad optimizer")
        sign = -1.0 if c.maximize else 1.0
        param, fixed = self._parametrization(arguments)
        optimizer = ng.optimizers.registry[c.optimizer](param, c.budget, c.num_workers)
        log.info(f"nevergrad sweeper: {c.optimizer}, budget {c.budget}, {c.num_workers} workers, over {param}")
        remaining, failures, returns = c.budget, 0, []
        best: tuple[float, dict | None] = (math.inf, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            while remaining > 0:
                batch = min(c.num_workers, remaining)
                remaining -= batch
                cands = [optimizer.ask() for _ in range(batch)]
                overrides = [tuple(fixed) + tuple(f"{k}={_fmt(v)}" for k, v in cand.value.items()) for cand in cands]
                self.validate_batch_is_legal(overrides)
                rets = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
                self.job_idx += len(rets)
                for cand, ret in zip(cands, rets, strict=True):
                    value = _value(ret)
                    loss = WORST if value is None else sign * value
                    failures += value is None
                    optimizer.tell(cand, loss)
                    self.results.append((dict(cand.value), value))
                    if value is not None and loss < best[0]:
                        best = (loss, dict(cand.value))
                returns.extend(rets)
                if failures > c.max_failure_rate * c.budget:
                    log.error(f"nevergrad sweeper: {failures} jobs failed; stopping")
                    break
        summary = {
            "name": "nevergrad",
            "optimizer": c.optimizer,
            "jobs": len(self.results),
            "failed_or_undefined": failures,
            "best_evaluated_params": best[1],
            "best_evaluated_result": None if best[1] is None else sign * best[0],
        }
        OmegaConf.save(OmegaConf.create(summary), f"{self.config.hydra.sweep.dir}/optimization_results.yaml")
        if best[1] is not None:
            log.info("best: %s -> %s", " ".join(f"{k}={v}" for k, v in best[1].items()), sign * best[0])
        else:
            log.warning("no job returned a finite objective (all failed, liquidated or without survivors)")
        return returns


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(round(value, 12))
    return str(value)


def _value(ret) -> float | None:
    """A job's objective, or None when it failed or returned nothing usable (NaN: liquidated, no survivor)."""
    if ret.status != JobStatus.COMPLETED:  # reading a failed job's value would print its overrides
        return None
    value = ret.return_value
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
