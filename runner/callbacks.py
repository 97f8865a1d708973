"""Hydra callbacks: a summary table of every run of a multirun, read back from MLflow."""

import os
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console

FAILED_JOBS: list[str] = []


class SweepSummary(Callback):
    """After a multirun, print its runs best first and remember the failures (exit code 1)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from runner.app import SWEEP_ENV
        from runner.config import tracking_spec
        from runner.report import print_sweep
        from runner.tracking import client_for

        sweep = os.environ.get(SWEEP_ENV) or str(config.hydra.sweep.dir)
        try:
            spec = tracking_spec(config)
            client = client_for(spec)
            ids = [e.experiment_id for e in client.search_experiments()]
            found = client.search_runs(ids, f"tags.sweep_id = '{sweep}'", max_results=10_000)
        except Exception as exc:  # the summary must never hide the sweep's own result
            Console(stderr=True).print(f"sweep summary unavailable: {exc}")
            return
        runs = [
            {
                "job": r.data.tags.get("job_num", "?"),
                "overrides": r.data.tags.get("hydra_overrides", ""),
                "status": r.info.status,
                "metrics": r.data.metrics,
            }
            for r in found
        ]
        FAILED_JOBS.extend(r["job"] for r in runs if r["status"] != "FINISHED")
        print_sweep(runs, str(config.objective.metric))
        if FAILED_JOBS:
            Console(stderr=True).print(f"[red]{len(FAILED_JOBS)} of {len(runs)} jobs FAILED[/red] (errors in MLflow)")
