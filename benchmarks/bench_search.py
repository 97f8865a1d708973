"""Candidates evaluated per second: in-job search (a generation or batch per kernel call) against one
Hydra job per candidate (hydra/sweeper=nevergrad and hydra/sweeper=optuna), and strategy discovery.

RSI on BTC/ETH/XRP/LTC perpetuals, 1h bars 2020-2025 (52,608 bars); discovery on 4h bars.
``python benchmarks/bench_search.py [--budget 400] [--jobs 8]``
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

from rich.console import Console
from rich.table import Table

from runner.config import validate
from runner.data.panel import build_panel
from runner.preflight import CONF, expand_shorthand
from runner.tracking import TrackedRun


def spec_for(store: str, *overrides: str):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=expand_shorthand(["filters=none", f"tracking.uri={store}", *overrides]))
    return cfg, validate(cfg)


def in_job(store: str, budget: int, workers: int) -> tuple[float, int]:
    from runner.search.job import param_search

    _, spec = spec_for(store, "search=nevergrad", f"search.budget={budget}", f"search.num_workers={workers}")
    panel = build_panel(spec.data)
    param_search(spec, panel, TrackedRun(spec.tracking, "warm-up", {}))  # compile, caches
    _, spec = spec_for(
        store, "search=nevergrad", f"search.budget={budget}", f"search.num_workers={workers}", "search.seed=1"
    )
    t = time.perf_counter()
    ev, _ = param_search(spec, panel, TrackedRun(spec.tracking, "bench", {}))
    return time.perf_counter() - t, ev.n_combos


def in_job_optuna(store: str, budget: int, batch: int) -> tuple[float, int]:
    from runner.search.optuna_job import optuna_search

    cfg, spec = spec_for(store, "search=optuna", f"search.budget={batch}", f"search.batch={batch}", "search.seed=9")
    panel = build_panel(spec.data)
    optuna_search(spec, panel, TrackedRun(spec.tracking, "warm-up", {}), cfg)  # compile, caches
    cfg, spec = spec_for(store, "search=optuna", f"search.budget={budget}", f"search.batch={batch}", "search.seed=1")
    t = time.perf_counter()
    ev, _ = optuna_search(spec, panel, TrackedRun(spec.tracking, "bench", {}), cfg)
    return time.perf_counter() - t, ev.n_combos


def discovery(store: str, budget: int, workers: int) -> tuple[float, int]:
    from runner.discovery.job import discover

    cfg, spec = spec_for(
        store, "experiment=discover", "filters=none", f"search.budget={budget}", f"search.num_workers={workers}"
    )
    OmegaConf = __import__("omegaconf").OmegaConf
    OmegaConf.set_struct(cfg, False)
    cfg.search.discover.export_dir = tempfile.mkdtemp()
    spec = validate(cfg)
    panel = build_panel(spec.data)
    t = time.perf_counter()
    ev, _ = discover(spec, panel, TrackedRun(spec.tracking, "bench", {}))
    return time.perf_counter() - t, ev.n_combos


def hydra_jobs(store_dir: str, jobs: int, sweeper: str = "nevergrad") -> float:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store_dir}/hydra-{sweeper}.db"}
    if sweeper == "nevergrad":
        budget = [f"hydra.sweeper.optim.budget={jobs}", f"hydra.sweeper.optim.num_workers={min(jobs, 4)}"]
    else:
        budget = [f"hydra.sweeper.n_trials={jobs}", f"hydra.sweeper.n_jobs={min(jobs, 4)}"]
        budget.append(f"hydra.sweeper.storage=sqlite:///{store_dir}/sweeper-optuna.db")
    args = [
        sys.executable,
        "-m",
        "runner",
        "-m",
        f"hydra/sweeper={sweeper}",
        "filters=none",
        "leverage=int(interval(1,5))",
        "strategy.params.lower=interval(10,40)",
        "strategy.params.period=int(interval(2,50))",
        *budget,
        f"hydra.sweep.dir={store_dir}/multirun-{sweeper}",
    ]
    t = time.perf_counter()
    subprocess.run(args, env=env, cwd=store_dir, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=400)
    ap.add_argument("--workers", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{tmp}/bench.db"
        s_in, n_in = in_job(store, args.budget, args.workers)
        s_opt, n_opt = in_job_optuna(store, args.budget, args.workers)
        s_disc, n_disc = discovery(store, 3 * args.budget // 2, 60)
        s_hydra = hydra_jobs(tmp, args.jobs)
        s_hydra_opt = hydra_jobs(tmp, args.jobs, "optuna")
    table = Table(title="candidates evaluated per second (RSI, 4 perpetuals, 1h 2020-2025; discovery on 4h)")
    for col in ("mode", "candidates", "seconds", "candidates/s"):
        table.add_column(col, justify="right")
    table.add_row(
        f"in-job search=nevergrad ({args.workers}/generation)", f"{n_in}", f"{s_in:.1f}", f"{n_in / s_in:.1f}"
    )
    table.add_row(
        f"in-job search=optuna ({args.workers}/batch, TPE)", f"{n_opt}", f"{s_opt:.1f}", f"{n_opt / s_opt:.1f}"
    )
    table.add_row("in-job search=discover (60/generation)", f"{n_disc}", f"{s_disc:.1f}", f"{n_disc / s_disc:.1f}")
    table.add_row(
        "hydra/sweeper=nevergrad (a job each)", f"{args.jobs}", f"{s_hydra:.1f}", f"{args.jobs / s_hydra:.2f}"
    )
    table.add_row(
        "hydra/sweeper=optuna (a job each)", f"{args.jobs}", f"{s_hydra_opt:.1f}", f"{args.jobs / s_hydra_opt:.2f}"
    )
    Console().print(table)
    print(f"in-job nevergrad is {(n_in / s_in) / (args.jobs / s_hydra):.0f}x the per-job nevergrad sweeper's rate")
    print(f"in-job optuna is {(n_opt / s_opt) / (args.jobs / s_hydra_opt):.0f}x the per-job optuna sweeper's rate")


if __name__ == "__main__":
    main()
