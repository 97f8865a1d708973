"""Monte Carlo risk at scale: 10,000 stationary-bootstrap paths of a 52,608-bar hourly equity curve
(2020-2025), plus VaR over 1 and 10 days and 10,000 reshuffled trade orders; prints the time and
peak RSS. ``python benchmarks/bench_montecarlo.py [--paths 10000]``"""

import argparse
import resource
import time

import numpy as np
import polars as pl

from runner.montecarlo import risk
from runner.spec import MonteCarloSpec

H = 3_600_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=10_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = 52_608
    equity = 10_000 * np.cumprod(1 + rng.normal(0.00005, 0.004, n))
    times = 1_577_836_800_000 + H * np.arange(n)
    exits = np.arange(0, n, 20)
    trades = pl.DataFrame({"exit_bar": exits, "net_pnl": rng.normal(2.0, 80.0, exits.size)})
    spec = MonteCarloSpec(paths=args.paths)
    risk(equity[:500], times[:500], H, trades.head(10), 10_000.0, 8760.0, MonteCarloSpec(paths=300))  # compile
    t = time.perf_counter()
    out = risk(equity, times, H, trades, 10_000.0, 8760.0, spec)
    seconds = time.perf_counter() - t
    steps = args.paths * (n + 24 + 240) + args.paths * trades.height
    print(f"paths: {args.paths:,} per estimate; bars: {n:,}; trades: {trades.height:,}")
    print(f"all Monte Carlo figures: {seconds:.2f} s ({steps / seconds / 1e6:,.0f} M path-steps per second)")
    print(f"peak memory (RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    print(", ".join(f"{k} {v:.4f}" for k, v in out.metrics.items() if k in ("var_95", "var_99_10d_boot", "mdd_p95")))


if __name__ == "__main__":
    main()
