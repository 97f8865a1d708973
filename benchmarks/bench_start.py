"""Warm start: ``python -m runner --help`` and the default experiment end to end (numba's cache
filled, a fresh SQLite store), best of three each, next to the floor no run avoids: a process that
imports MLflow and opens the store.

    python benchmarks/bench_start.py
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "from mlflow.tracking import MlflowClient; MlflowClient(tracking_uri='{uri}')"  # opens the store


def best(cmd: list[str], env: dict, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        subprocess.run([sys.executable, "-m", "runner"], cwd=ROOT, env=env, check=True, capture_output=True)
        helped = best([sys.executable, "-m", "runner", "--help"], env)
        default = best([sys.executable, "-m", "runner"], env)
        floor = best([sys.executable, "-c", FLOOR.format(uri=uri)], env)
    print(
        f"warm: --help {helped:.2f} s, default experiment {default:.2f} s"
        f" (importing MLflow and opening the store: {floor:.2f} s)"
    )


if __name__ == "__main__":
    main()
