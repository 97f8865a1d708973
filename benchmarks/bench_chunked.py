"""A giant RSI grid within a memory budget: period x lower x upper over BTC/ETH/XRP/LTC 2020-2025
hourly, filters=all, run as one job (``runner.app.run_job``: simulation in chunks sized from
``compute.max_memory_gb``, the filters, the grid table, MLflow logging into a temporary store).

Prints: the chunking used, wall time end to end and of the chunked simulation (kernel + the filters'
reduction of each chunk), bar-combinations per second (a bar is one symbol's candle, as in
bench_grid.py) and peak memory (RSS) against the budget.
``python benchmarks/bench_chunked.py [--combos 1000000] [--max-memory-gb 3] [--backend local|ray]
[--start 2020-01-01 --end 2025-12-31] [override ...]``
(the full million: 2.1e11 bar-combinations, about an hour of both cores of this machine).
"""

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil


def grid_overrides(n_combos: int) -> list[str]:
    """``period x lower x upper`` of about ``n_combos`` combinations inside the RSI's ranges."""
    periods = min(99, max(1, round(n_combos ** (1 / 3))))  # integers 2..100
    lowers = max(1, round(math.sqrt(n_combos / periods)))
    uppers = max(1, round(n_combos / (periods * lowers)))
    return [
        f"strategy.params.period={[int(p) for p in np.linspace(2, 100, periods).round()]}",
        f"strategy.params.lower={[float(x) for x in np.linspace(5, 45, lowers).round(4)]}",
        f"strategy.params.upper={[float(x) for x in np.linspace(55, 95, uppers).round(4)]}",
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--combos", type=int, default=1_000_000)
    ap.add_argument("--max-memory-gb", type=float, default=3.0)
    ap.add_argument("--backend", choices=("local", "ray"), default="local")
    ap.add_argument("--start", default="2020-01-01")
    ap.add_argument("--end", default="2025-12-31")
    ap.add_argument("overrides", nargs="*", help="more overrides, e.g. filters.walk_forward.train=60d")
    args = ap.parse_args()

    from hydra import compose, initialize_config_dir
    from mlflow.tracking import MlflowClient

    from runner import compute
    from runner.app import run_job
    from runner.compute import peak_rss_mb
    from runner.preflight import CONF, expand_shorthand

    store = Path(tempfile.mkdtemp(prefix="bench-chunked-")) / "mlflow.db"
    overrides = [
        *grid_overrides(args.combos),
        "filters=all",
        f"compute={args.backend}",
        f"compute.max_memory_gb={args.max_memory_gb}",
        f"data.start={args.start}",
        f"data.end={args.end}",
        f"tracking.uri=sqlite:///{store}",
        "tracking.experiment=bench-chunked",
        *args.overrides,
    ]
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=expand_shorthand(overrides))

    simulate, timed = compute.simulate, []

    def timed_simulate(*a, **kw):
        t = time.perf_counter()
        out = simulate(*a, **kw)
        timed.append(time.perf_counter() - t)
        return out

    compute.simulate = timed_simulate
    t = time.perf_counter()
    run_job(cfg)
    wall = time.perf_counter() - t
    client = MlflowClient(f"sqlite:///{store}")
    ids = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(ids, "tags.`perplab.kind` = 'job'")
    tags, metrics = run.data.tags, run.data.metrics
    n, bars = int(metrics["n_combos"]), int(tags["data_bars"])
    assets = len(cfg.data.symbols)
    print(f"grid: {n:,} combinations x {bars:,} bars x {assets} assets, filters=all, backend {args.backend}")
    print(f"cores: {psutil.cpu_count(logical=True)}; budget compute.max_memory_gb={args.max_memory_gb:g}")
    print(f"chunks: {tags['compute.chunks']} of up to {int(tags['compute.chunk_combos']):,} combinations")
    print(f"wall time end to end: {wall:,.1f} s; chunked simulation + reduction: {timed[0]:,.1f} s")
    rate = n * bars * assets / 1e6
    print(f"bar-combinations per second (one bar = one symbol's candle): {rate / timed[0]:,.1f} M simulating, ")
    print(f"  {rate / wall:,.1f} M end to end")
    peak = peak_rss_mb()
    print(f"peak memory (RSS): {peak:,.0f} MiB = {peak / 1024:.2f} GiB of {args.max_memory_gb:g} GiB")
    print(f"objective: {metrics['objective']}; survivors: {int(metrics.get('n_survivors', 0)):,}")
    print(f"results digest (grid table and filter tables, equal for any chunking or backend): {digest(client, run)}")


def digest(client, run) -> str:
    """sha256 over every column of the run's parquet artifacts (the grid table: every combination's
    parameters and metrics; the filters' tables), read back from the store: two runs of one grid
    with equal numbers have equal digests."""
    import hashlib

    import polars as pl

    h = hashlib.sha256()
    folder = Path(client.download_artifacts(run.info.run_id, "", tempfile.mkdtemp(prefix="bench-chunked-art-")))
    for path in sorted(folder.rglob("*.parquet")):
        frame = pl.read_parquet(path)
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(",".join(frame.columns).encode())
        h.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return h.hexdigest()[:16]


if __name__ == "__main__":
    main()
