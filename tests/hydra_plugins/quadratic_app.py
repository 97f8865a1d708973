"""A Hydra app with a known optimum for the sweeper tests: maximise -(x-3)^2 - (y+1)^2; the job
fails when ``x > fail_above``; each job appends ``x y value`` to $SWEEP_LOG."""

import os
from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore


@dataclass
class Config:
    x: float = 0.0
    y: float = 0.0
    fail_above: float = 1e9


ConfigStore.instance().store(name="quadratic", node=Config)


@hydra.main(version_base="1.3", config_name="quadratic")
def main(cfg: Config) -> float:
    if cfg.x > cfg.fail_above:
        raise RuntimeError("x too large")
    value = -((cfg.x - 3.0) ** 2) - (cfg.y + 1.0) ** 2
    with open(os.environ["SWEEP_LOG"], "a") as fh:
        fh.write(f"{cfg.x} {cfg.y} {value}\n")
    return value


if __name__ == "__main__":
    main()
