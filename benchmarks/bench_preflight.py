"""Composing the jobs of a 50-job sweep (``leverage=1..5`` x ten taker fees, two months of data).

Pre-flight: every job composed and validated before Hydra starts, next to composing each job from
scratch with Hydra's ``compose`` (what the pre-flight did before ``runner.compose.SharedDefaults``).
Sweeper and launcher: Hydra's ``load_sweep_config`` twice per job (the basic sweeper validates each
batch, the launcher composes each job again), through ``runner.compose.SharedSweepConfigs``
(``hydra/sweeper=perplab_basic``, the default) and through Hydra's own loader (``hydra/sweeper=basic``).

    PERPLAB_DATA=../shared/data python benchmarks/bench_preflight.py
"""

import time

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode

from runner import preflight
from runner.__main__ import _validate
from runner.compose import SharedSweepConfigs

ARGS = [
    "leverage=1,2,3,4,5",
    "fees.taker_bps=2,4,6,8,10,12,14,16,18,20",
    "data.start=2024-01-01",
    "data.end=2024-03-01",
    "-m",
]


def _sweep(loader, master, jobs: list[list[str]]) -> float:
    """Seconds for the sweeper's and the launcher's ``load_sweep_config`` of every job."""
    start = time.perf_counter()
    for _ in range(2):
        for job in jobs:
            loader.load_sweep_config(master, job)
    return time.perf_counter() - start


def main() -> None:
    args = preflight.expand_shorthand(ARGS)
    jobs = preflight.job_overrides([a for a in args if a not in preflight.MULTIRUN_FLAGS], True)
    preflight.check(args[:1] + args[2:], _validate)  # warm: imports, the data panel's cache
    start = time.perf_counter()
    preflight.check(args, _validate)
    checked = time.perf_counter() - start
    with initialize_config_dir(str(preflight.CONF), version_base="1.3"):
        start = time.perf_counter()
        for job in jobs:
            compose("config", overrides=job)
        composed = time.perf_counter() - start
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=ARGS[:-1], run_mode=RunMode.MULTIRUN)
        hydras = _sweep(loader, master, jobs)
        shared = _sweep(SharedSweepConfigs(loader), master, jobs)
    print(
        f"pre-flight of {len(jobs)} jobs: {checked:.2f} s composed and validated"
        f" (composing each from scratch alone: {composed:.2f} s)"
    )
    print(f"sweeper and launcher composing them: {shared:.2f} s shared (Hydra's own loader: {hydras:.2f} s)")


if __name__ == "__main__":
    main()
