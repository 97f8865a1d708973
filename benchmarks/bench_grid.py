"""Throughput of a 1000-combination RSI grid over BTC/ETH/XRP/LTC, 2020-2025 hourly.

Prints: cold compile time (fresh numba cache, in a subprocess), cached first-call time,
end-to-end seconds (TA-Lib indicators + simulation + metrics), bar-combinations per second
and peak memory. ``python benchmarks/bench_grid.py [--combos 1000|10000]``
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import psutil

from runner.config import validate
from runner.preflight import CONF


def spec_for(n_combos: int, leverage: int):
    from hydra import compose, initialize_config_dir

    from runner.preflight import expand_shorthand

    side = round(n_combos ** (1 / 3))
    periods = [int(p) for p in np.linspace(5, 50, side).round()]
    lowers = [float(x) for x in np.linspace(15, 40, side).round(2)]
    uppers = [float(x) for x in np.linspace(60, 85, n_combos // (side * side)).round(2)]
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=expand_shorthand(
                [
                    f"strategy.params.period={periods}",
                    f"strategy.params.lower={lowers}",
                    f"strategy.params.upper={uppers}",
                    f"leverage.value={leverage}",
                ]
            ),
        )
    return validate(cfg)


def first_call_seconds() -> float:
    """Time the first kernel call of this process on a tiny panel (compile or cache load)."""
    t = time.perf_counter()
    from kernels.warmup import warmup

    warmup()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--combos", type=int, default=1000)
    ap.add_argument("--leverage", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--first-call-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.first_call_only:
        print(f"{first_call_seconds():.3f}")
        return
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cmd = [sys.executable, __file__, "--first-call-only"]
        cold = float(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.split()[-1])
    warm = first_call_seconds()

    from runner.backtest import run_grid
    from runner.data.panel import build_panel
    from runner.strategy.compile import compile_strategy

    spec = spec_for(args.combos, args.leverage)
    t = time.perf_counter()
    panel = build_panel(spec.data)
    load = time.perf_counter() - t
    best = np.inf
    for _ in range(args.repeat):
        t = time.perf_counter()
        compiled = compile_strategy(spec, panel)
        metrics = run_grid(panel, compiled, spec.initial_capital, progress=False)[0]
        best = min(best, time.perf_counter() - t)
    n = compiled.n_combos
    bar_combos = panel.n_bars * n
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"grid: {n:,} combinations x {panel.n_bars:,} bars x {panel.n_assets} assets (leverage {args.leverage})")
    print(f"cores: {psutil.cpu_count(logical=True)}")
    print(f"compile, cold cache (first call, fresh process): {cold:.2f} s")
    print(f"first call with the on-disk cache: {warm:.2f} s")
    print(f"data load (parquet cache): {load:.2f} s")
    print(f"end to end (indicators + simulation + metrics), best of {args.repeat}: {best:.3f} s")
    print(f"bar-combinations per second: {bar_combos / best / 1e6:,.1f} M")
    print(f"asset-bar-combinations per second: {bar_combos * panel.n_assets / best / 1e6:,.1f} M")
    print(f"peak memory (RSS): {peak:,.0f} MiB")
    print(f"trades simulated: {int(metrics[:, 9].sum()):,}; liquidated combinations: {(metrics[:, 10] > 0).sum()}")


if __name__ == "__main__":
    main()
