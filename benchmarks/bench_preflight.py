"""Pre-flight of a 50-job sweep (``leverage=1..5`` x ten taker fees, two months of data): every job
composed and validated before Hydra starts, next to composing each job from scratch with Hydra's
``compose`` (what the pre-flight did before ``runner.compose.SharedDefaults``).

    PERPLAB_DATA=../shared/data python benchmarks/bench_preflight.py
"""

import time

from hydra import compose, initialize_config_dir

from runner import preflight
from runner.__main__ import _validate

ARGS = [
    "leverage=1,2,3,4,5",
    "fees.taker_bps=2,4,6,8,10,12,14,16,18,20",
    "data.start=2024-01-01",
    "data.end=2024-03-01",
    "-m",
]


def main() -> None:
    args = preflight.expand_shorthand(ARGS)
    jobs = preflight.job_overrides([a for a in args if a not in preflight.MULTIRUN_FLAGS], True)
    preflight.check(args[:1] + args[2:], _validate)  # warm: imports, the data panel's cache
    start = time.perf_counter()
    preflight.check(args, _validate)
    checked = time.perf_counter() - start
    start = time.perf_counter()
    with initialize_config_dir(str(preflight.CONF), version_base="1.3"):
        for job in jobs:
            compose("config", overrides=job)
    composed = time.perf_counter() - start
    print(
        f"pre-flight of {len(jobs)} jobs: {checked:.2f} s composed and validated"
        f" (composing each from scratch alone: {composed:.2f} s)"
    )


if __name__ == "__main__":
    main()
