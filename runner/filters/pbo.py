"""Probability of backtest overfitting over the grid by CSCV."""

import numpy as np
import polars as pl

from kernels import enums as E
from runner.filters import stats
from runner.filters.outcome import Chunk, Context, Outcome, not_applicable
from runner.filters.spec import Pbo
from runner.filters.splits import Partition, Range
from runner.filters.windows import block_sum
from runner.spec import ObjectiveSpec


class Partial:
    """Per combination and CSCV block: sums of returns and squared returns, and the first block with a
    liquidation; filled chunk by chunk as the grid runs."""

    def __init__(self, cscv_blocks: list[Range], part: Partition, n: int, objective: ObjectiveSpec):
        self.idx = [part.blocks(rng) for rng in cscv_blocks]
        self.cnt = np.array([float(hi - lo) for lo, hi in cscv_blocks])
        self.s1 = np.empty((n, len(cscv_blocks)))
        self.s2 = np.empty((n, len(cscv_blocks)))
        self.first_liq = np.full(n, len(cscv_blocks), np.int64)
        self.discard_liquidated = objective.discard_liquidated

    def add(self, chunk: Chunk) -> None:
        rows = slice(chunk.lo, chunk.hi)
        first_liq = self.first_liq[rows]
        for s, idx in reversed(list(enumerate(self.idx))):
            self.s1[rows, s] = block_sum(chunk.stats, idx, E.B_SUM, chunk.in_order)
            self.s2[rows, s] = block_sum(chunk.stats, idx, E.B_SUMSQ, chunk.in_order)
            if self.discard_liquidated:  # never chosen once liquidated (walking back: the first)
                first_liq[block_sum(chunk.stats, idx, E.B_LIQ, chunk.in_order) > 0] = s


def run(spec: Pbo, ctx: Context, cscv_blocks: list[Range], partial: Partial | None = None) -> Outcome:
    """The defense over a job's grid (``partial``: its reduced blocks; default: from ``ctx.blocks``)."""
    n = ctx.n_combos
    if n < 2:
        return not_applicable(
            "pbo", ctx, "one combination: CSCV measures the overfitting of a selection (it needs a grid)"
        )
    if partial is None:
        partial = Partial(cscv_blocks, ctx.partition, n, ctx.objective)
        partial.add(ctx.whole())
    s1, s2, cnt, first_liq = partial.s1, partial.s2, partial.cnt, partial.first_liq
    value, logits, best = stats.pbo(s1, s2, cnt, first_liq)
    grid_pass = bool(value <= spec.max_pbo)
    passed = np.full(n, grid_pass)
    share = np.bincount(best, minlength=n) / max(len(best), 1)
    return Outcome(
        "pbo",
        passed,
        columns={"pbo": np.full(n, value), "cscv_is_best": share, "pbo_pass": passed},
        metrics={"pbo": value, "pbo_logit_median": float(np.median(logits)) if len(logits) else float("nan")},
        tables={"pbo_logits.parquet": pl.DataFrame({"split": np.arange(len(logits)), "logit": logits, "best": best})},
        summary=(
            f"PBO {value:.2f} over {len(logits):,} CSCV splits of {len(cscv_blocks)} blocks (max {spec.max_pbo})"
            if len(logits)
            else "no CSCV split had an eligible (never liquidated) combination to select"
        ),
    )
