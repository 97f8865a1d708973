"""Purged k-fold cross-validation with embargo.

Per combination: its Sharpe on each test fold (mean and standard deviation across folds). For the
grid: in each fold the objective picks the best combination on the purged training bars, and its
test-fold Sharpe is the cross-validated estimate of what optimizing this grid delivers.

Purging covers the label horizon as well as the lookback: after each test fold, training resumes
only once the longest position any combination held could have closed (the embargo is extended by
the run's longest holding period, rounded up to a power of two), so no training return comes from
a position opened on test bars.

The longest holding period is known only once every combination has run, so while the grid runs in
chunks (``Partial``) each fold's choice is kept for every embargo rung the final one may still be.
"""

from collections.abc import Callable

import numpy as np
import polars as pl

from kernels import enums as E
from runner.data.panel import iso
from runner.filters.outcome import Chunk, Context, Outcome
from runner.filters.spec import PurgedKFold
from runner.filters.splits import Fold, Partition
from runner.filters.windows import Choice, objective_of
from runner.spec import ObjectiveSpec


def rung(ladder: list[int], hold: int) -> int:
    """The embargo extension covering a holding period of ``hold`` bars: the smallest rung at least that
    long (the longest rung when none is)."""
    return next((r for r in ladder if r >= hold), ladder[-1] if ladder else 0)


class Partial:
    """Per combination its Sharpe on each test fold; per fold and embargo rung the choice on the
    purged training bars, accumulated over chunks of the grid (``folds_for(rung)``: the folds)."""

    def __init__(
        self,
        folds_for: Callable[[int], list[Fold]],
        ladder: list[int],
        part: Partition,
        n: int,
        objective: ObjectiveSpec,
        bars_per_year: float,
    ):
        self.folds_for, self.ladder, self.part = folds_for, ladder or [0], part
        self.objective, self.bars_per_year = objective, bars_per_year
        self.tests = [part.blocks(f.test) for f in folds_for(self.ladder[0])]
        self.sharpe = np.zeros((len(self.tests), n))
        self.hold = 0  # the longest holding period so far
        self.choices: dict[int, list[Choice]] = {}  # rung -> per fold: the best on its training bars

    def add(self, chunk: Chunk, max_holding_bars: np.ndarray) -> None:
        self.hold = max(self.hold, int(np.nanmax(max_holding_bars, initial=0.0)))
        for f, test in enumerate(self.tests):
            self.sharpe[f, chunk.lo : chunk.hi] = np.nan_to_num(
                chunk.window(test, self.bars_per_year)["sharpe"], nan=0.0
            )
        live = [r for r in self.ladder if r >= self.hold] or self.ladder[-1:]  # rungs the final one may be
        self.choices = {r: self.choices.get(r) or [Choice() for _ in self.tests] for r in live}
        users: dict[tuple, list[tuple[int, int]]] = {}  # training ranges -> the (rung, fold) choosing on them
        for r in live:
            for f, fold in enumerate(self.folds_for(r)):
                users.setdefault(fold.train, []).append((r, f))
        for ranges, chosen_by in users.items():
            idx = self.part.blocks(*ranges)
            if not len(idx):
                continue
            train = chunk.window(idx, self.bars_per_year)
            values = objective_of(train[self.objective.metric], chunk.liquidated_by(idx), self.objective)
            for r, f in chosen_by:
                self.choices[r][f].offer(values, chunk.lo, lambda i, sharpe=train["sharpe"]: float(sharpe[i]))


def run(
    spec: PurgedKFold,
    ctx: Context,
    folds: list[Fold],
    purge: int,
    embargo: int,
    hold: int = 0,
    extra: int = 0,
    partial: Partial | None = None,
) -> Outcome:
    """The defense with the embargo extended by ``extra`` bars (``partial``: the grid's reduced blocks,
    holding that rung; default: from ``ctx.blocks``)."""
    if partial is None:
        partial = Partial(lambda r: folds, [extra], ctx.partition, ctx.n_combos, ctx.objective, ctx.bars_per_year)
        partial.add(ctx.whole(), ctx.metrics[:, E.M_MAX_HOLDING_BARS])
    sharpe = partial.sharpe
    rows = []
    for f, (fold, choice) in enumerate(zip(folds, partial.choices[extra], strict=True)):
        c = choice.index
        rows.append(
            {
                "fold": f,
                "test_start": iso(int(ctx.times[fold.test[0]])),
                "test_end": iso(int(ctx.times[fold.test[1] - 1])),
                "train_bars": int(sum(hi - lo for lo, hi in fold.train)),
                "combo": c,
                "train_sharpe": choice.kept if c >= 0 else float("nan"),
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
