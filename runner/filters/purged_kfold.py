"""Purged k-fold cross-validation with embargo.

Per combination: its Sharpe on each test fold (mean and standard deviation across folds). For the
grid: in each fold the objective picks the best combination on the purged training bars, and its
test-fold Sharpe is the cross-validated estimate of what optimizing this grid delivers.

Purging covers the label horizon as well as the lookback: after each test fold, training resumes
only once the longest position any combination held could have closed (the embargo is extended by
the run's longest holding period, rounded up to a power of two), so no training return comes from
a position opened on test bars. A combination liquidated before or inside a fold's training bars
is never chosen in that fold.
"""

import numpy as np
import polars as pl

from runner.data.panel import iso
from runner.filters.outcome import Context, Outcome
from runner.filters.spec import PurgedKFold
from runner.filters.splits import Fold
from runner.filters.windows import best_of, objective_of, window_metrics


def run(
    spec: PurgedKFold, ctx: Context, folds: list[Fold], purge: int, embargo: int, hold: int = 0, extra: int = 0
) -> Outcome:
    part = ctx.partition
    sharpe = np.zeros((len(folds), ctx.n_combos))
    rows = []
    for f, fold in enumerate(folds):
        idx = part.blocks(*fold.train)
        train = window_metrics(ctx.blocks, idx, ctx.bars_per_year, ctx.leverage)
        test = window_metrics(ctx.blocks, part.blocks(fold.test), ctx.bars_per_year, ctx.leverage)
        sharpe[f] = np.nan_to_num(test["sharpe"], nan=0.0)
        c = (
            best_of(objective_of(train[ctx.objective.metric], ctx.liquidated_by(idx), ctx.objective))
            if len(idx)
            else -1
        )
        rows.append(
            {
                "fold": f,
                "test_start": iso(int(ctx.times[fold.test[0]])),
                "test_end": iso(int(ctx.times[fold.test[1] - 1])),
                "train_bars": int(sum(hi - lo for lo, hi in fold.train)),
                "combo": c,
                "train_sharpe": float(train["sharpe"][c]) if c >= 0 else float("nan"),
                "test_sharpe": float(sharpe[f, c]) if c >= 0 else float("nan"),
            }
        )
    table = pl.DataFrame(rows)
    mean = sharpe.mean(axis=0)
    std = sharpe.std(axis=0, ddof=1)
    passed = mean >= spec.min_sharpe
    chosen = table["test_sharpe"].to_numpy()
    sel_mean = float(np.nanmean(chosen)) if np.isfinite(chosen).any() else float("nan")
    sel_std = float(np.nanstd(chosen, ddof=1)) if np.isfinite(chosen).sum() > 1 else float("nan")
    return Outcome(
        "purged_kfold",
        passed,
        columns={"pkfold_sharpe_mean": mean, "pkfold_sharpe_std": std, "pkfold_pass": passed},
        metrics={
            "pkfold_sharpe_mean": sel_mean,
            "pkfold_sharpe_std": sel_std,
            "pkfold_folds": float(len(folds)),
            "pkfold_purge_bars": float(purge),
            "pkfold_embargo_bars": float(embargo),
            "pkfold_folds_without_choice": float(sum(r["combo"] < 0 for r in rows)),
        },
        params={
            "pkfold_purge_bars": purge,
            "pkfold_embargo_bars": embargo,
            "pkfold_longest_hold_bars": hold,
            "pkfold_hold_embargo_bars": extra,
        },
        steps={"pkfold_test_sharpe": chosen.tolist()},
        tables={"purged_kfold.parquet": table},
        summary=(
            f"{len(folds)} folds, purge {purge} bars, embargo {embargo} + {extra} bars (longest hold {hold}); "
            + (
                f"selected OOS Sharpe {sel_mean:.2f} +/- {sel_std:.2f}"
                if np.isfinite(sel_mean)
                else "no fold had an eligible combination to select"
            )
        ),
    )
