"""The Hydra app: ``main`` runs one job (``runner.job.run_job``). The job's modules (numba, TA-Lib,
scipy, MLflow) load when a job runs, not for ``--help`` or a config error."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from runner.context import (  # noqa: F401  (the CLI, callbacks and plugins read them here)
    OPTUNA_STUDY_ENV,
    OPTUNA_TRIAL_ENV,
    OVERRIDES_ENV,
    SWEEP_ENV,
    run_name,
)


def run_job(cfg: DictConfig) -> float:
    """Run one configured job; return its objective (NaN when it failed or nothing survived)."""
    from runner.job import run_job as run

    return run(cfg)


@hydra.main(version_base="1.3", config_path=str(Path(__file__).resolve().parent.parent / "conf"), config_name="config")
def main(cfg: DictConfig) -> float:
    return run_job(cfg)
