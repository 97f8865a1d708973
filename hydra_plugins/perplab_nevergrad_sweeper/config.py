"""The sweeper's configuration, the same surface as the published hydra-nevergrad-sweeper."""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class ScalarConfigSpec:
    """A number dimension written as a mapping in ``parametrization``."""

    lower: float | None = None
    upper: float | None = None
    init: float | None = None
    step: float | None = None
    log: bool = False
    integer: bool = False


@dataclass
class OptimConf:
    optimizer: str = "TwoPointsDE"  # any name of nevergrad's optimizer registry (see the README on NGOpt)
    budget: int = 80  # jobs in all
    num_workers: int = 10  # jobs per batch (the launcher may run them in parallel)
    noisy: bool = False
    maximize: bool = True  # perplab jobs return a higher-is-better objective
    seed: int | None = None
    max_failure_rate: float = 1.0  # stop the sweep when more jobs than this share fail


@dataclass
class NevergradSweeperConf:
    _target_: str = "hydra_plugins.perplab_nevergrad_sweeper.sweeper.NevergradSweeper"
    optim: OptimConf = field(default_factory=OptimConf)
    # key -> a list (a choice), a {lower, upper, log, integer, step} mapping, or Hydra's sweep syntax as
    # a string: "choice(a,b)", "interval(1,20)", "int(interval(1,20))", "tag(log, interval(1e-3,1))"
    parametrization: dict[str, Any] = field(default_factory=dict)
    # also search every parameter of the configured strategy (strategy.params.*) over its low..high
    strategy_params: bool = False


ConfigStore.instance().store(group="hydra/sweeper", name="nevergrad", node=NevergradSweeperConf, provider="perplab")
