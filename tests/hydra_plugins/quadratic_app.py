"""A Hydra app with a known optimum for the sweeper tests: maximise -(x-3)^2 - (y+1)^2; the job
fails when ``x > fail_above``; each job appends ``x y value`` to $SWEEP_LOG. ``sweep`` runs it."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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


def sweep(tmp_path: Path, sweeper: str, *args: str):
    """Run this app under ``hydra/sweeper=<sweeper>``: (the process, the jobs' ``x y value`` rows,
    ``optimization_results.yaml`` or {})."""
    import numpy as np
    import yaml

    log = tmp_path / "jobs.txt"
    out = subprocess.run(
        [sys.executable, __file__, "-m", f"hydra/sweeper={sweeper}", f"hydra.sweep.dir={tmp_path / 'sweep'}", *args],
        cwd=tmp_path,
        env={**os.environ, "SWEEP_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    values = np.loadtxt(log, ndmin=2) if log.exists() else np.zeros((0, 3))
    found = tmp_path / "sweep" / "optimization_results.yaml"
    return out, values, yaml.safe_load(found.read_text()) if found.exists() else {}


if __name__ == "__main__":
    main()
