"""Two processes on one Optuna study (SQLite and PostgreSQL): the budget exactly, every trial told
once by one of them, the job's run gathers them all, and the best trial's run promotes."""

import os
import subprocess
from pathlib import Path

import optuna
import polars as pl
import pytest
from mlflow import MlflowClient

from runner.search import study as st
from tests.prewarmed import run_module

WINDOW = ["data.start=2024-01-01", "data.end=2024-12-31", "data.symbols=[BTCUSDT]", "filters=none"]


def _run(module: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}", "PERPLAB_CACHE": str(tmp / "c")}
    return run_module(module, *args, cwd=tmp, env=env)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_two_workers_share_a_study_and_its_best_trial_promotes(tmp_path: Path, store: str, request) -> None:
    url = st.default_storage(f"sqlite:///{tmp_path / 'mlflow.db'}")
    if store == "postgresql":
        url = request.getfixturevalue("postgres")["url"]  # the throwaway cluster
    name = f"workers-{store}"
    out = _run(
        "runner",
        tmp_path,
        "search=optuna",
        "search.workers=2",
        "search.budget=30",
        "search.batch=3",
        f"search.storage={url}",
        f"search.study_name={name}",
        *WINDOW,
    )
    assert out.returncode == 0, out.stderr
    study = optuna.load_study(study_name=name, storage=st.storage(url))
    counted = st.counted(study.trials)
    assert len(counted) == 30  # exactly the budget
    assert not [t for t in study.trials if t.state.name in ("RUNNING", "WAITING")]
    workers = {t.user_attrs[st.WORKER_ATTR] for t in counted}
    assert len(workers) == 2  # both processes evaluated trials, each trial told by one of them
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = [
        r
        for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
        if r.data.tags.get("optuna_study") == name
    ]
    grid = pl.read_parquet(client.download_artifacts(run.info.run_id, "grid.parquet", str(tmp_path)))
    assert sorted(grid["trial"].to_list()) == sorted(t.number for t in counted)  # the run gathers every trial
    gates = [f"promote.gates.{g}=null" for g in ("no_liquidation", "min_trades", "max_drawdown", "require_survivor")]
    out = _run("runner.promote", tmp_path, f"promote.study={name}", f"promote.study_storage={url}", *gates)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"from run {run.info.run_id}" in out.stdout or "version 1" in out.stdout
    assert client.get_registered_model("perplab-rsi").latest_versions[0].run_id == run.info.run_id
