"""The README's Optuna commands, read from the README and run as written on a short data window into
temporary stores (the Hydra sweep with three trials): each search ends with a usable best (exit 0, a
survivor with a finite objective), and the promotion promotes the run behind the study the first
command made."""

import math
import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.prewarmed import run_module
from tests.readme import commands
from tests.runner.test_cli import expected_exit, runs

SHORT = ["data.start=2023-07-01", "data.end=2024-06-30", "data.symbols=[BTCUSDT]"]
TRIALS = 3  # trials of the Hydra sweep (a job each)
FOUND = commands("Optuna search with persisted studies")
SEARCHES = [w for w in FOUND[1:] if w[:3] == ["python", "-m", "runner"]]  # the first: with the promotion


def test_every_optuna_command_is_run() -> None:
    assert [w[:3] for w in FOUND] == [["python", "-m", "runner"]] * 6 + [
        ["python", "-m", "runner.promote"],
        ["optuna-dashboard", "sqlite:///mlruns/optuna.db"],  # documented, not installed by perplab
    ]
    assert len(SEARCHES) == 5


def search(tmp_path: Path, words: list[str]):
    """A README search command on SHORT in a store of its own: its output and job runs, checked
    usable (exit 0, some finished job never liquidated with a survivor and a finite objective)."""
    store = tmp_path / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}", "PERPLAB_CACHE": str(tmp_path / "c")}
    args = [*words[2:], *SHORT]
    if "hydra/sweeper=optuna" in args:
        args += [f"hydra.sweeper.n_trials={TRIALS}", f"hydra.sweeper.storage=sqlite:///{tmp_path / 'sweep.db'}"]
    out = run_module(*args, cwd=tmp_path, env=env)
    shown = f"{' '.join(words)}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    assert out.returncode == 0, shown
    _, jobs = runs(store)
    assert jobs and expected_exit(jobs) == 0, shown
    if "hydra/sweeper=optuna" in args:
        assert len(jobs) == TRIALS, shown  # a job (an MLflow run) per trial
    else:
        (run,) = jobs  # an in-job search, however many workers: one job run
        assert run.data.tags["no_survivor"] == "false" and math.isfinite(run.data.metrics["objective"]), shown
    return env, jobs


@pytest.mark.parametrize("words", SEARCHES, ids=[f"{i}" for i in range(1, 1 + len(SEARCHES))])
def test_optuna_search_command(tmp_path: Path, words: list[str]) -> None:
    search(tmp_path, words)


def test_optuna_search_then_promotion_of_its_study(tmp_path: Path) -> None:
    env, (run,) = search(tmp_path, FOUND[0])
    study = run.data.tags["optuna_study"]
    promote = [a.replace("<study>", study) for a in FOUND[-2][2:]]
    promote += [f"promote.gates.{g}=null" for g in ("no_liquidation", "min_trades", "max_drawdown", "require_survivor")]
    out = run_module(*promote, cwd=tmp_path, env=env)
    assert out.returncode == 0, f"{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    (version,) = client.search_model_versions("name='perplab-rsi'")  # the promotion registered the run
    assert version.run_id == run.info.run_id
