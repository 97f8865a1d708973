"""Jobs per minute of a multirun with Hydra's basic launcher, the joblib launcher and the Ray launcher
(a Ray instance started on this machine, ``hydra/launcher=ray_local``): the same N jobs (RSI on
BTC/ETH/XRP/LTC, 1h, one RSI period per job, a window of a year, default tracking into a fresh SQLite
store), wall time from the command's start to its exit (start-up, kernel compile cache warm,
data loading, logging included).

    python benchmarks/bench_launchers.py [--jobs 12] [--launchers basic,joblib,ray_local]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = {"basic": [], "joblib": ["hydra/launcher=joblib"], "ray_local": ["hydra/launcher=ray_local"]}


def run(launcher: str, jobs: int, tmp: Path) -> tuple[float, int]:
    store = tmp / launcher / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}", "PERPLAB_CACHE": str(tmp / "cache")}
    args = [
        f"strategy.params.period=range(2,{2 + jobs})",
        "data.start=2024-01-01",
        "data.end=2024-12-31",
        "filters=none",
        "-m",
        f"hydra.sweep.dir={tmp}/{launcher}/multirun",
        *LAUNCHER[launcher],
    ]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "runner", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if out.returncode not in (0, 3):
        sys.exit(f"{launcher}: exit {out.returncode}\n{out.stderr[-2000:]}")
    return took, out.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--launchers", default="basic,joblib,ray_local")
    args = parser.parse_args()
    print(f"{args.jobs} jobs per multirun, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        run("basic", 1, Path(tmp) / "warm")  # kernels compiled and data cached before timing
        for launcher in args.launchers.split(","):
            took, _ = run(launcher, args.jobs, Path(tmp))
            print(f"{launcher:>10}: {took:6.1f} s, {args.jobs / took * 60:5.1f} jobs/min")


if __name__ == "__main__":
    main()
