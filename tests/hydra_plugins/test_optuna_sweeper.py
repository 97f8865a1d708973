"""perplab's Hydra Optuna sweeper: discovered by Hydra, converging on a known optimum, failed jobs
told as failed trials while the sweep goes on, and the runner end to end (a tracked run per trial,
the study's best trial promoted)."""

import os
import subprocess
from pathlib import Path

import numpy as np
import optuna
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper

from hydra_plugins.perplab_optuna_sweeper.sweeper import OptunaSweeper
from runner.search import study as st
from tests.hydra_plugins.quadratic_app import sweep as run_sweep
from tests.prewarmed import run_module
from tests.runner.test_cli import cli, runs

APP = Path(__file__).with_name("quadratic_app.py")
SHORT = ("data.start=2024-01-01", "data.end=2024-03-31", "data.symbols=[BTCUSDT]", "filters=none")


def sweep(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, np.ndarray, dict]:
    return run_sweep(tmp_path, "optuna", f"hydra.sweeper.storage=sqlite:///{tmp_path / 'optuna.db'}", *args)


def test_hydra_discovers_the_sweeper() -> None:
    found = {f"{p.__module__}.{p.__name__}" for p in Plugins.instance().discover(Sweeper)}
    assert f"{OptunaSweeper.__module__}.{OptunaSweeper.__name__}" in found


def test_the_sweep_converges_on_the_known_optimum(tmp_path: Path) -> None:
    out, values, result = sweep(
        tmp_path,
        "x=interval(-10,10)",
        "y=interval(-10,10)",
        "hydra.sweeper.n_trials=60",
        "hydra.sweeper.n_jobs=6",
        "hydra.sweeper.sampler.seed=1",
    )
    assert out.returncode == 0, out.stderr
    assert len(values) == 60 and result["trials"] == 60
    assert np.median(values[-10:, 2]) > np.median(values[:10, 2])  # the objective rises as the study goes on
    best = result["best_evaluated_params"]
    assert abs(best["x"] - 3.0) < 1.0 and abs(best["y"] + 1.0) < 1.0
    assert result["best_evaluated_result"] == max(values[:, 2])


def test_failing_jobs_are_failed_trials_and_the_sweep_goes_on(tmp_path: Path) -> None:
    out, values, result = sweep(
        tmp_path,
        "x=interval(-10,10)",
        "y=choice(-1,0,1)",
        "fail_above=2",
        "hydra.sweeper.n_trials=20",
        "hydra.sweeper.n_jobs=5",
        "hydra.sweeper.sampler.seed=2",
    )
    assert out.returncode == 0, out.stderr
    study = optuna.load_study(study_name=result["study_name"], storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert len(study.trials) == 20 and failed and all(t.params["x"] > 2 for t in failed)
    assert len(values) == 20 - len(failed)  # the others ran and were told their values
    assert "Error executing job with overrides" not in out.stderr


def test_the_runner_sweep_tracks_a_run_per_trial_and_promotes_the_best(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    out = cli(
        tmp_path,
        "-m",
        "hydra/sweeper=optuna",
        "strategy.params.lower=interval(15,40)",
        "leverage=choice(1,2,3)",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_jobs=3",
        "hydra.sweeper.study_name=runner-sweep",
        f"hydra.sweeper.storage={storage}",
        *SHORT,
    )
    assert out.returncode == 0, out.stderr
    client, found = runs(tmp_path / "mlruns" / "mlflow.db")
    assert sorted(int(r.data.tags["optuna_trial"]) for r in found) == list(range(6))
    assert {r.data.tags["optuna_study"] for r in found} == {"runner-sweep"}
    study = optuna.load_study(study_name="runner-sweep", storage=st.storage(storage))
    best = study.best_trial.number
    gates = [f"promote.gates.{g}=null" for g in ("no_liquidation", "min_trades", "max_drawdown", "require_survivor")]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"}
    promote = ("promote.study=runner-sweep", f"promote.study_storage={storage}", *gates)
    promoted = run_module("runner.promote", *promote, cwd=tmp_path, env=env, timeout=300)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    (version,) = client.search_model_versions("name='perplab-rsi'")
    assert client.get_run(version.run_id).data.tags["optuna_trial"] == str(best)
