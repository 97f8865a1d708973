"""Hydra callbacks: a summary table of every run of a multirun, read back from MLflow; secrets kept
out of Hydra's output folders and logs."""

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console

FAILED_JOBS: list[str] = []
NO_USABLE_JOB: list[bool] = []  # set when a finished sweep has no usable job (exit code 3)


def _deflate_by_sweep(client, found: list) -> None:
    """Log ``dsr_sweep`` to every job that computed a DSR: its best Sharpe deflated by all the trials
    of the sweep (the sum of the jobs' grids), with the trials' pooled Sharpe variance."""
    from mlflow.entities import Metric, RunTag

    from runner.filters.sweep import NEEDED, sweep_dsr

    done = [r for r in found if r.info.status == "FINISHED" and all(k in r.data.metrics for k in NEEDED)]
    if not done:
        return
    n_trials, values = sweep_dsr([r.data.metrics for r in done])
    now = int(time.time() * 1000)
    for r, value in zip(done, values, strict=True):
        value = value if np.isfinite(value) else float("nan")
        client.log_batch(
            r.info.run_id,
            metrics=[Metric("dsr_sweep", value, now, 0)],
            tags=[RunTag("dsr_sweep_trials", str(n_trials))],
        )
        r.data.metrics["dsr_sweep"] = value


SWEEP_RUN: list = []  # the running sweep's TrackedRun (created when it starts, finished by its summary)


def _start_sweep_run(config: DictConfig) -> None:
    """The sweep-level run, RUNNING from the start with a heartbeat: it records the command and the
    output folder that ``resume=`` needs; a resumed sweep continues its own."""
    from runner.app import OVERRIDES_ENV, SWEEP_ENV
    from runner.children import KIND_TAG
    from runner.config import tracking_spec
    from runner.resume import OUTPUT_TAG, resuming, sweep_run
    from runner.tracking import TrackedRun, client_for

    sweep = os.environ.get(SWEEP_ENV) or str(config.hydra.sweep.dir)
    spec = tracking_spec(config)
    if resuming() == sweep:
        SWEEP_RUN.append(TrackedRun.attach(spec, sweep_run(client_for(spec), sweep).info.run_id))
        return
    tags = {
        KIND_TAG: "sweep",
        "sweep_dir": sweep,
        OUTPUT_TAG: str(Path(str(config.hydra.sweep.dir)).resolve()),
        "command": os.environ.get(OVERRIDES_ENV, ""),
    }
    SWEEP_RUN.append(TrackedRun(spec, f"sweep {sweep}", tags))


class SweepSummary(Callback):
    """A sweep-level run from the start of a multirun; at its end, its runs best first (one per job:
    a resumed sweep's finished run of each), the failures remembered (exit code 1)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        SWEEP_RUN.clear()
        try:
            _start_sweep_run(config)
        except Exception as exc:  # the jobs still run and are tracked; the summary gets its own run
            Console(stderr=True).print(f"sweep-level run not started: {exc}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from runner.app import SWEEP_ENV
        from runner.config import tracking_spec
        from runner.report import job_state, print_sweep
        from runner.resume import latest_per_job
        from runner.tracking import client_for

        sweep = os.environ.get(SWEEP_ENV) or str(config.hydra.sweep.dir)
        try:
            spec = tracking_spec(config)
            client = client_for(spec)
            ids = [e.experiment_id for e in client.search_experiments()]
            query = f"tags.sweep_id = '{sweep}' and tags.`perplab.kind` = 'job'"
            found = latest_per_job(client.search_runs(ids, query, max_results=10_000))
        except Exception as exc:  # the summary must never hide the sweep's own result
            Console(stderr=True).print(f"sweep summary unavailable: {exc}")
            return
        _deflate_by_sweep(client, found)
        from runner.sweep_summary import job_row, log_sweep

        try:
            sweep_run = log_sweep(spec, sweep, found, client, SWEEP_RUN[0] if SWEEP_RUN else None)
        except Exception as exc:
            Console(stderr=True).print(f"sweep-level run not logged: {exc}")
            sweep_run = None
            if SWEEP_RUN:
                SWEEP_RUN[0].fail(exc)
        runs = [job_row(r) for r in found]
        FAILED_JOBS.extend(r["job"] for r in runs if r["status"] != "FINISHED")
        print_sweep(runs, str(config.objective.metric))
        if sweep_run:
            Console(stderr=True).print(f"sweep summary (Pareto front, every run): MLflow run {sweep_run}")
        if FAILED_JOBS:
            Console(stderr=True).print(f"[red]{len(FAILED_JOBS)} of {len(runs)} jobs FAILED[/red] (errors in MLflow)")
        if runs and not any(job_state(r) == "ok" for r in runs):
            from runner.errors import NO_RESULT_LINE

            NO_USABLE_JOB.append(True)
            Console(stderr=True).print(f"[yellow]warning:[/yellow] {NO_RESULT_LINE}", highlight=False)


class _RedactingFilter(logging.Filter):
    """Masks secrets in log records (Hydra logs every job's overrides)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from runner.redact import redact

        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def _redact_logs() -> None:
    root = logging.getLogger()
    for logger in (root, logging.getLogger("hydra")):
        for handler in logger.handlers:
            if not any(isinstance(f, _RedactingFilter) for f in handler.filters):
                handler.addFilter(_RedactingFilter())


def _redact_yaml_files(folder: Path) -> None:
    """Rewrite Hydra's record of a job (``.hydra/*.yaml``, ``multirun.yaml``) with secrets masked."""
    from omegaconf import OmegaConf

    from runner.redact import redact_override, redact_tree

    for path in [*folder.glob(".hydra/*.yaml"), *folder.glob("multirun.yaml")]:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        if path.name == "overrides.yaml":
            clean = [redact_override(str(o)) for o in data]
        else:
            clean = _redact_overrides(redact_tree(data))
        if clean != data:
            OmegaConf.save(OmegaConf.create(clean), path)


def _redact_overrides(tree):
    """Override lists inside Hydra's config (``hydra.overrides.task``) with secret values masked."""
    from runner.redact import redact_override

    if isinstance(tree, dict):
        return {
            k: [redact_override(str(o)) for o in v]
            if k in ("task", "hydra") and isinstance(v, list)
            else _redact_overrides(v)
            for k, v in tree.items()
        }
    return tree


class Redact(Callback):
    """No secret in Hydra's output folders or logs: the job's ``.hydra/`` files and the sweep's
    ``multirun.yaml`` are rewritten with passwords and tokens masked, and log records are filtered."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _redact_logs()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _redact_logs()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        _redact_logs()
        hc = HydraConfig.get()
        folders = [Path(hc.runtime.output_dir)]
        if hc.mode is not None and hc.mode.name == "MULTIRUN":
            folders.append(Path(hc.sweep.dir))
        for folder in folders:
            if folder.is_dir():
                _redact_yaml_files(folder)
