"""Walk-forward optimization: rank the grid in each train window, evaluate the choice out of sample.

Windows are read from the one continuous run of every combination (positions are not reset at
window edges; indicators are causal, so no window sees later bars). The stitched out-of-sample
equity chains each window's chosen combination over its test span up to the next test start.
"""

import numpy as np
import polars as pl

from runner.data.panel import iso
from runner.filters.outcome import Context, Outcome, not_applicable
from runner.filters.spec import WalkForward
from runner.filters.splits import Window
from runner.filters.windows import best_of, objective_of, window_metrics


def _at(values: np.ndarray, c: int) -> float:
    return float(values[c]) if c >= 0 else float("nan")


def _mean(values: np.ndarray) -> float:
    """Mean of the finite values (NaN when there are none: no window chose anything)."""
    ok = np.isfinite(values)
    return float(values[ok].mean()) if ok.any() else float("nan")


def param_stability(ctx: Context, chosen: list[int]) -> float:
    """Mean over varying axes of the share of windows that chose the axis' most frequent value."""
    picks = [c for c in chosen if c >= 0]
    shares = []
    for j, axis in enumerate(ctx.axes):
        if len(axis.values) < 2 or not picks:
            continue
        values = ctx.grid_idx[picks, j]
        shares.append(np.bincount(values).max() / len(values))
    return float(np.mean(shares)) if shares else 1.0


def run(spec: WalkForward, ctx: Context, windows: list[Window]) -> Outcome:
    if ctx.n_combos < 2:
        return not_applicable("walk_forward", ctx, "one combination: nothing is chosen in a window (it needs a grid)")
    part = ctx.partition
    n = ctx.n_combos
    is_apr = np.zeros((len(windows), n))
    oos_apr = np.zeros((len(windows), n))
    chosen: list[int] = []
    rows = []
    stitched = []
    for w, win in enumerate(windows):
        train = part.blocks(win.train)
        ins = window_metrics(ctx.blocks, train, ctx.bars_per_year, ctx.leverage)
        oos = window_metrics(ctx.blocks, part.blocks(win.test), ctx.bars_per_year, ctx.leverage)
        is_apr[w] = ins["apr"]
        oos_apr[w] = oos["apr"]
        values = objective_of(ins[ctx.objective.metric], ctx.liquidated_by(train), ctx.objective)
        c = best_of(values)
        chosen.append(c)
        piece_end = windows[w + 1].test[0] if w + 1 < len(windows) else win.test[1]
        if c >= 0:
            stitched.append(ctx.blocks[c, part.blocks((win.test[0], min(piece_end, win.test[1])))])
        row = {
            "window": w,
            "train_start": iso(int(ctx.times[win.train[0]])),
            "train_end": iso(int(ctx.times[win.train[1] - 1])),
            "test_start": iso(int(ctx.times[win.test[0]])),
            "test_end": iso(int(ctx.times[win.test[1] - 1])),
            "combo": c,
        }
        for j, axis in enumerate(ctx.axes):
            row[axis.key] = str(axis.display(int(ctx.grid_idx[c, j]))) if c >= 0 else ""
        row.update(
            is_objective=_at(values * (1 if ctx.objective.maximize else -1), c),
            is_apr=_at(ins["apr"], c),
            oos_apr=_at(oos["apr"], c),
            oos_return=_at(oos["total_return"], c),
            oos_sharpe=_at(oos["sharpe"], c),
            oos_max_drawdown=_at(oos["max_drawdown"], c),
            oos_trades=_at(oos["n_trades"], c),
        )
        rows.append(row)
    table = pl.DataFrame(rows)
    mean_is, mean_oos = (_mean(table[k].to_numpy()) for k in ("is_apr", "oos_apr"))
    wfe = mean_oos / mean_is if mean_is > 0.0 else float("nan")
    profitable = float(np.mean(np.nan_to_num(table["oos_return"].to_numpy(), nan=-1.0) > 0.0))
    if stitched:
        joined = np.concatenate(stitched, axis=0)[None]
        s = window_metrics(joined, np.arange(joined.shape[1]), ctx.bars_per_year, np.ones(1))
        oos_sharpe, oos_dd, oos_ret = float(s["sharpe"][0]), float(s["max_drawdown"][0]), float(s["total_return"][0])
    else:
        oos_sharpe = oos_dd = oos_ret = float("nan")
    grid_pass = bool(wfe >= spec.min_wfe and profitable >= spec.min_profitable)
    with np.errstate(invalid="ignore", divide="ignore"):
        own_is = is_apr.mean(axis=0)
        own_wfe = np.where(own_is > 0.0, oos_apr.mean(axis=0) / np.where(own_is > 0.0, own_is, 1.0), np.nan)
    counts = np.bincount([c for c in chosen if c >= 0], minlength=n)
    passed = np.full(n, grid_pass)
    return Outcome(
        "walk_forward",
        passed,
        columns={
            "wf_chosen": counts,
            "wf_is_apr": is_apr.mean(axis=0),
            "wf_oos_apr": oos_apr.mean(axis=0),
            "wfe": own_wfe,
            "wf_pass": passed,
        },
        metrics={
            "wfe": wfe,
            "oos_sharpe": oos_sharpe,
            "wf_oos_return": oos_ret,
            "wf_oos_max_drawdown": oos_dd,
            "wf_profitable_share": profitable,
            "wf_param_stability": param_stability(ctx, chosen),
            "wf_windows": float(len(windows)),
            "wf_windows_without_choice": float(sum(c < 0 for c in chosen)),
        },
        # per-window series under their own names: a run figure and a stepped series never share one
        steps={f"wf_window_{k}": table[k].to_list() for k in ("is_apr", "oos_apr", "oos_sharpe", "oos_return")},
        tables={"walk_forward.parquet": table},
        summary=(
            (f"{sum(c < 0 for c in chosen)} with no eligible combination; " if min(chosen) < 0 else "")
            + f"{len(windows)} windows, efficiency {wfe:.2f} (min {spec.min_wfe}), "
            f"{profitable:.0%} profitable OOS (min {spec.min_profitable:.0%}), stitched OOS Sharpe {oos_sharpe:.2f}"
        ),
    )
