"""The sweeper's configuration: the published hydra-optuna-sweeper's surface."""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class SamplerConfig:
    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.perplab_optuna_sweeper.sweeper.OptunaSweeper"
    sampler: Any = field(default_factory=SamplerConfig)  # any optuna sampler, instantiated by Hydra
    direction: Any = "maximize"  # perplab jobs return a higher-is-better objective; a list: multi-objective
    study_name: str | None = None  # null: perplab-sweep-<hash of the parameters>
    storage: str | None = None  # an RDB URL; null: SQLite beside the MLflow store (perplab), else in memory
    n_trials: int = 20
    n_jobs: int = 2  # trials per batch (the launcher may run them in parallel)
    max_failure_rate: float = 1.0
    # key -> Hydra's sweep syntax: choice(a,b), range(1,10), interval(0,1), int(interval(1,20)),
    # tag(log, interval(1e-3,1)); or a list (a choice)
    params: dict[str, Any] | None = None


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="perplab")
