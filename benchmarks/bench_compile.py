"""Cold start: the default run with an empty numba cache (every kernel compiled) against the same run
with the cache filled; the difference is what a fresh install waits once (``COMPILE_SECONDS`` in
runner/backtest.py, printed on a first run).

    python benchmarks/bench_compile.py
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["data.start=2024-01-01", "data.end=2024-06-30", "tracking.report=none"]


def timed(env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "runner", *ARGS], cwd=ROOT, env=env, check=False, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "NUMBA_CACHE_DIR": f"{tmp}/numba",
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
            "PERPLAB_CACHE": f"{tmp}/cache",
        }
        cold = timed(env)
        warm = min(timed(env) for _ in range(2))
    cores = os.cpu_count()
    print(
        f"default run, half a year: cold {cold:.1f} s, warm {warm:.1f} s, compile {cold - warm:.1f} s ({cores} cores)"
    )


if __name__ == "__main__":
    main()
