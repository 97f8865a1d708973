"""perplab's Hydra nevergrad sweeper: discovered by Hydra, converging on a known optimum, failed
jobs told the worst value, and the runner's example command end to end (one MLflow run a job)."""

import subprocess
from pathlib import Path

import numpy as np
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper

from hydra_plugins.perplab_nevergrad_sweeper.sweeper import NevergradSweeper
from tests.hydra_plugins.quadratic_app import sweep as run_sweep
from tests.runner.test_cli import cli, expected_exit, runs

APP = Path(__file__).with_name("quadratic_app.py")
SHORT = ("data.start=2024-01-01", "data.end=2024-03-31", "data.symbols=[BTCUSDT]")


def sweep(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, np.ndarray, dict]:
    out, values, result = run_sweep(tmp_path, "nevergrad", *args)
    return out, values, result if out.returncode == 0 else {}


def test_hydra_discovers_the_sweeper() -> None:
    found = {f"{p.__module__}.{p.__name__}" for p in Plugins.instance().discover(Sweeper)}
    assert f"{NevergradSweeper.__module__}.{NevergradSweeper.__name__}" in found


def test_the_sweep_converges_on_the_known_optimum(tmp_path: Path) -> None:
    out, values, result = sweep(
        tmp_path,
        "x=interval(-10,10)",
        "y=interval(-10,10)",
        "hydra.sweeper.optim.optimizer=CMA",
        "hydra.sweeper.optim.budget=60",
        "hydra.sweeper.optim.num_workers=10",
        "hydra.sweeper.optim.seed=1",
    )
    assert out.returncode == 0, out.stderr
    assert len(values) == 60 and result["jobs"] == 60
    first, last = values[:10, 2], values[-10:, 2]
    assert np.median(last) > np.median(first)  # the objective increases as the search goes on
    x, y = result["best_evaluated_params"]["x"], result["best_evaluated_params"]["y"]
    assert abs(x - 3.0) < 1.0 and abs(y + 1.0) < 1.0
    assert result["best_evaluated_result"] == max(values[:, 2])


def test_minimisation_integer_and_choice_sweeps(tmp_path: Path) -> None:
    out, values, result = sweep(
        tmp_path,
        "x=int(interval(-6,6))",
        "y=choice(-3,-1,2)",
        "hydra.sweeper.optim.maximize=false",
        "hydra.sweeper.optim.budget=30",
        "hydra.sweeper.optim.num_workers=5",
        "hydra.sweeper.optim.seed=0",
    )
    assert out.returncode == 0, out.stderr
    assert np.all(values[:, 0] == np.round(values[:, 0])) and set(values[:, 1]) <= {-3.0, -1.0, 2.0}
    assert result["best_evaluated_result"] == min(values[:, 2])  # minimised: the lowest value is the best


def test_failed_jobs_get_the_worst_value_and_the_sweep_goes_on(tmp_path: Path) -> None:
    out, values, result = sweep(
        tmp_path,
        "x=interval(-10,10)",
        "y=interval(-10,10)",
        "fail_above=0",
        "hydra.sweeper.optim.budget=40",
        "hydra.sweeper.optim.num_workers=8",
        "hydra.sweeper.optim.seed=2",
    )
    assert out.returncode == 0, out.stderr
    assert result["jobs"] == 40 and result["failed_or_undefined"] == 40 - len(values) > 0
    assert result["best_evaluated_params"]["x"] <= 0  # a failed job is never the best
    assert result["best_evaluated_result"] == max(values[:, 2])


def test_the_runner_example_runs_a_tracked_job_per_candidate(tmp_path: Path) -> None:
    out = cli(
        tmp_path,
        "-m",
        "hydra/sweeper=nevergrad",
        "strategy=rsi",
        "leverage=int(interval(1,20))",
        "strategy.params.lower=interval(10,40)",
        "hydra.sweeper.optim.budget=4",
        "hydra.sweeper.optim.num_workers=2",
        *SHORT,
        "filters=none",
    )
    client, found = runs(tmp_path / "mlruns" / "mlflow.db")
    assert out.returncode == expected_exit(found), out.stderr  # nevergrad's draws are not seeded here
    assert len(found) == 4 and len({r.data.tags["sweep_id"] for r in found}) == 1
    for r in found:
        lev = float(r.data.params["leverage.value"])
        lower = float(r.data.params["strategy.params.lower.default"])
        assert lev.is_integer() and 1 <= lev <= 20 and 10 <= lower <= 40
    assert "sweep: 4 runs" in out.stdout
    assert list(tmp_path.glob("multirun/*/*/optimization_results.yaml"))


def test_the_search_preset_makes_it_one_word(tmp_path: Path) -> None:
    out = cli(
        tmp_path,
        "search=hydra_nevergrad",
        "hydra.sweeper.optim.budget=2",
        "hydra.sweeper.optim.num_workers=2",
        *SHORT,
    )
    _, found = runs(tmp_path / "mlruns" / "mlflow.db")
    assert out.returncode == expected_exit(found), out.stderr
    assert len(found) == 2
    for r in found:  # leverage and every RSI parameter were searched
        assert "strategy.params.exit_level.default=" in r.data.tags["hydra_overrides"]
        assert "leverage.value=" in r.data.tags["hydra_overrides"]
