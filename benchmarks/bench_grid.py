"""Throughput of a 1000-combination RSI grid over BTC/ETH/XRP/LTC, 2020-2025 hourly, with a 3 %
stop-loss, a 6 % take-profit, funding (mark price) and liquidation on, against vectorbt.

Prints: cold compile time (fresh numba cache, in a subprocess), cached first-call time,
end-to-end seconds (TA-Lib indicators + simulation + metrics), bar-combinations per second (a bar
is one symbol's candle, so the grid has n_assets x n_bars bars per combination; the rate per
timestamp is printed too),
peak memory, and vectorbt's ``Portfolio.from_signals`` plus ``sharpe_ratio``/``max_drawdown`` on
the same grid (same RSI signals, next-open prices, same stops; a cash account without funding or
liquidation), run in column chunks. ``python benchmarks/bench_grid.py [--combos 1000|10000]
[--no-vectorbt]``
"""

import argparse
import hashlib
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


def spec_for(n_combos: int, leverage: int, stops: bool = True, trigger: str = "mark"):
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
                    f"execution.liquidation_trigger={trigger}",
                    *(["+strategy.stop_loss.percent=3", "+strategy.take_profit.percent=6"] if stops else []),
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
    ap.add_argument("--no-vectorbt", action="store_true")
    ap.add_argument("--no-stops", action="store_true", help="the grid without stop-loss and take-profit")
    ap.add_argument("--trigger", choices=("mark", "last"), default="mark", help="the price that liquidates")
    ap.add_argument("--vbt-chunk", type=int, default=100, help="combinations per vectorbt call")
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

    spec = spec_for(args.combos, args.leverage, stops=not args.no_stops, trigger=args.trigger)
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
    # a bar is one symbol's candle: the grid is n_assets x n_bars bars, each simulated per combination
    rate = bar_combos * panel.n_assets / best / 1e6
    print(f"bar-combinations per second (one bar = one symbol's candle): {rate:,.1f} M")
    print(f"  counting one bar per timestamp for all {panel.n_assets} symbols together: {rate / panel.n_assets:,.1f} M")
    print(f"peak memory (RSS): {peak:,.0f} MiB")
    print(f"trades simulated: {int(metrics[:, 9].sum()):,}; liquidated combinations: {(metrics[:, 10] > 0).sum()}")
    print(f"metrics digest (sha256 of the metrics matrix): {hashlib.sha256(metrics.tobytes()).hexdigest()[:16]}")
    if not args.no_vectorbt:
        vbt_seconds, prep = vectorbt_seconds(spec, panel, compiled, args.vbt_chunk)
        print(f"vectorbt from_signals + sharpe_ratio + max_drawdown, same grid: {vbt_seconds:.2f} s")
        print(f"  (+ {prep:.2f} s building its signal matrices); perplab is {vbt_seconds / best:.1f}x faster")


def vectorbt_seconds(spec, panel, compiled, chunk: int) -> tuple[float, float]:
    """vectorbt's time for the same grid: long/short RSI signals per combination and asset (shifted
    one bar, filled at the open), 3 % stop-loss / 6 % take-profit, fees and slippage; in chunks of
    ``chunk`` combinations (``chunk x n_assets`` columns) to bound memory."""
    import pandas as pd
    import talib
    import vectorbt as vbt

    from kernels import enums as E

    keys = [a.key for a in compiled.axes]
    vals = {k: np.asarray(compiled.axes[j].values)[compiled.grid_idx[:, j]] for j, k in enumerate(keys)}
    k = panel.n_assets
    rsi = {
        int(p): np.column_stack([talib.RSI(panel.close[:, a], timeperiod=int(p)) for a in range(k)])
        for p in np.unique(vals["strategy.params.period"])
    }
    fee = compiled.params[0, E.P_TAKER_FEE]
    slip = compiled.params[0, E.P_SLIPPAGE]
    total = prep = 0.0
    for lo in range(0, compiled.n_combos, chunk):
        hi = min(lo + chunk, compiled.n_combos)
        t = time.perf_counter()
        r = np.concatenate([rsi[int(vals["strategy.params.period"][c])] for c in range(lo, hi)], axis=1)
        lower = np.repeat(vals["strategy.params.lower"][lo:hi], k)
        upper = np.repeat(vals["strategy.params.upper"][lo:hi], k)
        exit_level = (
            np.repeat(vals["strategy.params.exit_level"][lo:hi], k) if "strategy.params.exit_level" in vals else 50.0
        )

        def shifted(mask: np.ndarray) -> np.ndarray:
            out = np.zeros_like(mask)
            out[1:] = mask[:-1]
            return out

        le, se = shifted(r < lower), shifted(r > upper)
        lx, sx = shifted(r > exit_level), shifted(r < exit_level)
        cols = hi - lo
        price = pd.DataFrame(np.tile(panel.open, cols))
        prep += time.perf_counter() - t
        t = time.perf_counter()
        pf = vbt.Portfolio.from_signals(
            close=pd.DataFrame(np.tile(panel.close, cols)),
            entries=le,
            exits=lx,
            short_entries=se,
            short_exits=sx,
            price=price,
            sl_stop=0.03,
            tp_stop=0.06,
            fees=fee,
            slippage=slip,
            init_cash=spec.initial_capital,
            freq="1h",
        )
        pf.sharpe_ratio()
        pf.max_drawdown()
        total += time.perf_counter() - t
    return total, prep


if __name__ == "__main__":
    main()
