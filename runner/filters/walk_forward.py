"""Walk-forward optimization: rank the grid in each train window, evaluate the choice out of sample.

Windows are read from the one continuous run of every combination (positions are not reset at
window edges; indicators are causal, so no window sees later bars). The stitched out-of-sample
equity chains each window's chosen combination over its test span up to the next test start.
The grid's block statistics are reduced chunk by chunk (``Partial``): per combination the sums of
its in- and out-of-sample APRs over the windows, per window the choice so far.
"""

import numpy as np
import polars as pl

from runner.data.panel import iso
from runner.filters.outcome import Chunk, Context, Outcome, not_applicable
from runner.filters.spec import WalkForward
from runner.filters.splits import Partition, Window
from runner.filters.windows import Choice, objective_of, window_metrics
from runner.spec import ObjectiveSpec

OOS = {
    "oos_return": "total_return",
    "oos_sharpe": "sharpe",
    "oos_max_drawdown": "max_drawdown",
    "oos_trades": "n_trades",
}
CHOICE = ("is_objective", "is_apr", "oos_apr", *OOS)  # the window table's figures of each window's choice


class Partial:
    """What the windows need of every combination, accumulated over chunks of the grid."""

    def __init__(self, windows: list[Window], part: Partition, n: int, objective: ObjectiveSpec, bars_per_year: float):
        self.objective, self.bars_per_year = objective, bars_per_year
        self.train = [part.blocks(w.train) for w in windows]
        self.test = [part.blocks(w.test) for w in windows]
        ends = [w.test[0] for w in windows[1:]] + [windows[-1].test[1]] if windows else []
        self.pieces = [part.blocks((w.test[0], min(end, w.test[1]))) for w, end in zip(windows, ends, strict=True)]
        self.is_apr = np.zeros(n)  # sums over the windows, added in window order (numpy's mean over a grid)
        self.oos_apr = np.zeros(n)
        self.choices = [Choice() for _ in windows]

    def add(self, chunk: Chunk) -> None:
        rows = slice(chunk.lo, chunk.hi)
        sign = 1 if self.objective.maximize else -1
        for w, (train, test) in enumerate(zip(self.train, self.test, strict=True)):
            ins = chunk.window(train, self.bars_per_year)
            oos = chunk.window(test, self.bars_per_year)
            if w == 0:
                self.is_apr[rows], self.oos_apr[rows] = ins["apr"], oos["apr"]
            else:
                self.is_apr[rows] += ins["apr"]
                self.oos_apr[rows] += oos["apr"]
            values = objective_of(ins[self.objective.metric], chunk.liquidated_by(train), self.objective)
            piece = self.pieces[w]

            def keep(i: int, values=values, ins=ins, oos=oos, piece=piece) -> dict:
                figures = {"is_objective": values[i] * sign, "is_apr": ins["apr"][i], "oos_apr": oos["apr"][i]}
                figures.update({col: oos[name][i] for col, name in OOS.items()})
                return {**{k: float(v) for k, v in figures.items()}, "piece": chunk.stats[i, piece].copy()}

            self.choices[w].offer(values, chunk.lo, keep)


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


def run(spec: WalkForward, ctx: Context, windows: list[Window], partial: Partial | None = None) -> Outcome:
    """The defense over a job's grid (``partial``: its reduced blocks; default: from ``ctx.blocks``)."""
    if ctx.n_combos < 2:
        return not_applicable("walk_forward", ctx, "one combination: nothing is chosen in a window (it needs a grid)")
    if partial is None:
        partial = Partial(windows, ctx.partition, ctx.n_combos, ctx.objective, ctx.bars_per_year)
        partial.add(ctx.whole())
    n = ctx.n_combos
    chosen = [ch.index for ch in partial.choices]
    rows = []
    stitched = [ch.kept["piece"] for ch in partial.choices if ch.index >= 0]
    for w, (win, ch) in enumerate(zip(windows, partial.choices, strict=True)):
        c = ch.index
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
        row.update({k: (ch.kept or {}).get(k, float("nan")) for k in CHOICE})
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
        own_is = partial.is_apr / len(windows)
        own_wfe = np.where(own_is > 0.0, partial.oos_apr / len(windows) / np.where(own_is > 0.0, own_is, 1.0), np.nan)
    counts = np.bincount([c for c in chosen if c >= 0], minlength=n)
    passed = np.full(n, grid_pass)
    return Outcome(
        "walk_forward",
        passed,
        columns={
            "wf_chosen": counts,
            "wf_is_apr": own_is,
            "wf_oos_apr": partial.oos_apr / len(windows),
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
