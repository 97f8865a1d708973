"""The README's Optuna commands, read from the README and run in order on a short data window into
a temporary store (the budgets shortened); the promotion uses the study the first command made."""

import os
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from tests.readme import commands

SHORT = ["data.start=2023-07-01", "data.end=2024-06-30", "data.symbols=[BTCUSDT]"]
QUICK = {"runner": ["search.budget=12"], "sweeper": ["hydra.sweeper.n_trials=3"]}


def test_optuna_commands_work_as_written(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PERPLAB_CACHE": str(tmp_path / "c"),
    }
    found = commands("Optuna search with persisted studies")
    assert found[-1][0] == "optuna-dashboard"  # documented, not installed by perplab
    study = None
    for words in found[:-1]:
        assert words[:2] == ["python", "-m"], words
        args = words[2:]
        if args[0] == "runner.promote":
            assert study, "a search must come first"
            args = [a.replace("<study>", study) for a in args]
            args += [
                f"promote.gates.{g}=null" for g in ("no_liquidation", "min_trades", "max_drawdown", "require_survivor")
            ]
        elif "hydra/sweeper=optuna" in args:
            args += [*SHORT, *QUICK["sweeper"], f"hydra.sweeper.storage=sqlite:///{tmp_path / 'sweep.db'}"]
        else:
            args += [*SHORT, *QUICK["runner"]]
        out = subprocess.run(
            [sys.executable, "-m", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert out.returncode == 0, f"{' '.join(words)}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        if study is None and args[0] == "runner":
            client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
            (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
            study = run.data.tags["optuna_study"]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.search_model_versions("name='perplab-rsi'")  # the promotion registered a version
