"""How long tracking takes for a 5,000-combination grid job, per child-run policy.

Runs the real job (``runner.app.run_job``) in-process against a fresh temporary SQLite store and
times every MLflow call of the job's run (params, metrics, tags, artifacts incl. report.html, child
runs). Prints seconds per policy and the job's total.
``python benchmarks/bench_logging.py [--policies none,best,pareto,all]``
"""

import argparse
import os
import tempfile
import time
from collections import defaultdict

from hydra import compose, initialize_config_dir

from runner.preflight import CONF, expand_shorthand
from runner.tracking import TrackedRun

TIMED = ("log_params", "log_metrics", "log_series", "set_tags", "log_files", "log_children", "finish")
GRID = [
    "strategy.params.period=[7,10,14,18,21,25,30,35,40,50]",
    "strategy.params.lower=[15,20,25,30,35]",
    "strategy.params.upper=[65,70,75,80,85]",
    "leverage.value=[1,2,3,4,5,6,8,10,15,20]",
    "filters=none",
    "data.start=2024-01-01",
    "data.end=2024-12-31",
]


def timed(spent: dict) -> None:
    for name in TIMED:
        original = getattr(TrackedRun, name)

        def wrapper(self, *a, _f=original, _n=name, **kw):
            t = time.perf_counter()
            try:
                return _f(self, *a, **kw)
            finally:
                spent[_n] += time.perf_counter() - t

        setattr(TrackedRun, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policies", default="none,best,pareto,all")
    args = ap.parse_args()
    spent: dict[str, float] = defaultdict(float)
    timed(spent)
    from runner import app

    for policy in args.policies.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
            with initialize_config_dir(str(CONF), version_base="1.3"):
                cfg = compose("config", overrides=expand_shorthand([*GRID, f"tracking.child_runs={policy}"]))
            spent.clear()
            t = time.perf_counter()
            app.run_job(cfg)
            total = time.perf_counter() - t
            logging = sum(spent.values())
            children = spent.get("log_children", 0.0)
            print(
                f"child_runs={policy:7s} job {total:6.1f} s, of which MLflow {logging:6.2f} s "
                f"(artifacts {spent['log_files']:.2f} s, child runs {children:.2f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
