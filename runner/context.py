"""What a job knows of its sweep before anything heavy loads: the environment variables the CLI
sets, the job's place in a Hydra multirun, and its run name."""

import os

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

SWEEP_ENV = "PERPLAB_SWEEP_ID"
OPTUNA_STUDY_ENV = "PERPLAB_OPTUNA_STUDY"
OPTUNA_TRIAL_ENV = "PERPLAB_OPTUNA_TRIAL"
OVERRIDES_ENV = "PERPLAB_ARGV"


def job_context() -> tuple[bool, str, list[str], int]:
    """(multirun?, sweep id, the job's overrides, job number)."""
    if not HydraConfig.initialized():
        return False, "", [], 0
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    sweep = os.environ.get(SWEEP_ENV) or (str(hc.sweep.dir) if multirun else "")
    num = hc.job.num if multirun else 0
    return multirun, sweep, list(hc.overrides.task), int(num or 0)


NAMED_ELSEWHERE = ("data.start", "data.end", "data.timeframe", "strategy")  # in a run name's first words


def run_name(cfg: DictConfig, overrides: list[str], num: int | None = None) -> str:
    """A run's name says what sets it apart: strategy (or discovery), timeframe, window, and the
    overrides or grid that define it (``period=[7,14]`` for ``strategy.params.period``); a sweep's
    job number first. Secrets masked."""
    from runner.redact import redact_override

    what = "discover" if OmegaConf.select(cfg, "search.method") == "discover" else str(cfg.strategy.name)
    start, end = (str(OmegaConf.select(cfg, f"data.{k}", default="")) for k in ("start", "end"))
    parts = [what, str(OmegaConf.select(cfg, "data.timeframe", default="")), f"{start[:10]}..{end[:10]}"]
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        if key in NAMED_ELSEWHERE or key.split(".")[0] in ("tracking", "hydra"):
            continue
        if key.startswith("strategy.params."):
            key = key.split(".")[2]
        key = {"leverage.value": "leverage"}.get(key.removesuffix(".default"), key.removesuffix(".default"))
        parts.append(redact_override(f"{key}={value}"))
    name = " ".join(p for p in parts if p)
    return (f"#{num} " if num is not None else "") + name[:240]
