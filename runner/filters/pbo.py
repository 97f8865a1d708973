"""Probability of backtest overfitting over the grid by CSCV."""

import numpy as np
import polars as pl

from kernels import enums as E
from runner.filters import stats
from runner.filters.outcome import Context, Outcome, not_applicable
from runner.filters.spec import Pbo
from runner.filters.splits import Range


def run(spec: Pbo, ctx: Context, cscv_blocks: list[Range]) -> Outcome:
    part = ctx.partition
    n = ctx.n_combos
    if n < 2:
        return not_applicable(
            "pbo", ctx, "one combination: CSCV measures the overfitting of a selection (it needs a grid)"
        )
    s1 = np.empty((n, len(cscv_blocks)))
    s2 = np.empty((n, len(cscv_blocks)))
    cnt = np.empty(len(cscv_blocks))
    first_liq = np.full(n, len(cscv_blocks), np.int64)
    for s, rng in reversed(list(enumerate(cscv_blocks))):
        idx = part.blocks(rng)
        s1[:, s] = ctx.blocks[:, idx, E.B_SUM].sum(axis=1)
        s2[:, s] = ctx.blocks[:, idx, E.B_SUMSQ].sum(axis=1)
        cnt[s] = rng[1] - rng[0]
        if ctx.objective.discard_liquidated:  # never chosen once liquidated (walking back: the first)
            first_liq[ctx.blocks[:, idx, E.B_LIQ].sum(axis=1) > 0] = s
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
