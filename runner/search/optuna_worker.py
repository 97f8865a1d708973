"""``python -m runner.search.optuna_worker <config.yaml> [<ready file>]``: one more process on a job's study (spawned
by ``search.workers``); it asks, evaluates and tells batches until the study's budget is reached."""

import sys
from pathlib import Path

from omegaconf import OmegaConf


def main(path: str, ready: str | None = None) -> int:
    from runner.config import validate
    from runner.data.panel import panel_for
    from runner.data.timeframes import timeframe_ms
    from runner.filters.pipeline import lookback, plan
    from runner.search import study as st
    from runner.search.job import compile_rows, corner_rows
    from runner.search.optuna_job import Local, evaluator, open_study, run_batches, staging
    from runner.search.space import build_space

    cfg = OmegaConf.load(path)
    spec = validate(cfg)
    panel = panel_for(spec.data)
    space = build_space(spec, spec.search)
    corners = compile_rows(spec, panel, space.axes, corner_rows(space))
    schedule = plan(spec.filters, panel.times, timeframe_ms(panel.timeframe), lookback(corners.warm, panel.tradable))
    blk = schedule.partition.blk if schedule.needs_blocks else None
    study, store, url = open_study(spec, cfg)
    st.quiet()
    if ready:  # the job waits for this before it starts asking, so the workers share the budget
        Path(ready).touch()
    evaluate = evaluator(spec, panel, space, blk, schedule.partition.n_blocks)
    run_batches(study, store, url, spec.search, space, evaluate, Local(), None, staging(spec, panel, space, schedule))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
