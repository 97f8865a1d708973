"""Purged k-fold cross-validation with embargo.

Per combination: its Sharpe on each test fold (mean and standard deviation across folds). For the
grid: in each fold the objective picks the best combination on the purged training bars, and its
test-fold Sharpe is the cross-validated estimate of what optimizing this grid delivers.
"""

import numpy as np
import polars as pl

from runner.data.panel import iso
from runner.filters.outcome import Context, Outcome
from runner.filters.spec import PurgedKFold
from runner.filters.splits import Fold
from runner.filters.windows import best_of, objective_of, window_metrics


def run(spec: PurgedKFold, ctx: Context, folds: list[Fold], purge: int, embargo: int) -> Outcome:
    part = ctx.partition
    sharpe = np.zeros((len(folds), ctx.n_combos))
    rows = []
    for f, fold in enumerate(folds):
        train = window_metrics(ctx.blocks, part.blocks(*fold.train), ctx.bars_per_year, ctx.leverage)
        test = window_metrics(ctx.blocks, part.blocks(fold.test), ctx.bars_per_year, ctx.leverage)
        sharpe[f] = np.nan_to_num(test["sharpe"], nan=0.0)
        c = best_of(objective_of(train[ctx.objective.metric], train["n_liquidations"], ctx.objective))
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
        },
        steps={"pkfold_test_sharpe": chosen.tolist()},
        tables={"purged_kfold.parquet": table},
        summary=(
            f"{len(folds)} folds, purge {purge} bars, embargo {embargo} bars; selected OOS Sharpe "
            f"{sel_mean:.2f} +/- {sel_std:.2f}"
        ),
    )
