"""How big the MLflow store grows: a multirun of default 6-year jobs (RSI, the default data, one
job per RSI period and leverage 1 or 2) into a fresh SQLite store with default tracking, then the store's size on disk:
the database, the jobs' artifacts by file name, the shared plotly.js and the sweep-level run.

    python benchmarks/bench_store.py [--jobs 100]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "mlruns"
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db"}
        half = (args.jobs + 1) // 2  # jobs: RSI periods 2, 3, ... at leverage 1 and 2
        sweep = [f"strategy.params.period=range(2,{2 + half})", "leverage=1,2" if args.jobs > 1 else "leverage=1"]
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "runner", *sweep, "filters=none", "-m", f"hydra.sweep.dir={tmp}/multirun"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if out.returncode not in (0, 3):
            sys.exit(f"the multirun failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
        artifacts = store / "artifacts"
        by_name: dict[str, list[int]] = defaultdict(list)
        for path in (artifacts / "perplab-rsi").glob("*/artifacts/**/*"):
            if path.is_file():
                by_name[path.name].append(path.stat().st_size)
        total, db = size(store), size(store / "mlflow.db")
        assets = size(artifacts / "perplab-assets") if (artifacts / "perplab-assets").exists() else 0
        mb = 1e6
        print(f"{2 * half if args.jobs > 1 else 1} default 6-year jobs in {seconds:.0f} s: store {total / mb:.1f} MB")
        print(f"  database {db / mb:.2f} MB, shared plotly.js {assets / mb:.2f} MB")
        for name, sizes in sorted(by_name.items(), key=lambda kv: -sum(kv[1])):
            print(f"  {name:24s} {len(sizes):4d} files, {sum(sizes) / len(sizes) / 1e3:8.1f} KB each")
        per_job = (total - assets) / args.jobs  # artifacts, sweep run and database rows grow per job
        print(f"  per job {per_job / mb:.2f} MB (artifacts and database rows)")
        if args.jobs != 100:
            print(f"  a 100-job multirun at this rate: {(assets + 100 * per_job) / mb:.0f} MB")


if __name__ == "__main__":
    main()
