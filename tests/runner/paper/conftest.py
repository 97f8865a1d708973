"""Fixtures of the paper-trading tests: promoted RSI runs on a real SQLite MLflow store, and the
``python -m runner.paper`` command line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prewarmed import run_module

REPLAY = ("feed.end=2024-06-30",)  # the backtest's own bars


def paper(store: Path, *args: str, module: str = "runner.paper", env: dict | None = None, wait: bool = True):
    """``python -m runner.paper`` on ``store`` (its state beside it); without ``wait`` the process,
    its stderr going to ``paper.err`` beside the store."""
    inherited = {k: v for k, v in os.environ.items() if k != "PERPLAB_POSTGRES_URL"}
    env = {
        **inherited,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
        "PERPLAB_CACHE": str(store.parent / "cache"),
        **(env or {}),
    }
    cmd = [sys.executable, "-m", module, *args, f"hydra.run.dir={store.parent / 'outputs'}"]
    if module != "runner.paper":
        cmd = cmd[:-1]
    if not wait:
        with open(store.parent / "paper.err", "a") as err:
            return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
    return run_module(*cmd[2:], env=env)


@pytest.fixture(scope="session")
def store(promoted_store) -> tuple[Path, dict[str, str]]:
    """The promoted RSI store (``tests/runner/conftest.py``), one per test process."""
    return promoted_store
