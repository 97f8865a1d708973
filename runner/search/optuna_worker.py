"""``python -m runner.search.optuna_worker <config.yaml> [<ready file>]``: one more process on a job's study (spawned
by ``search.workers``); it asks, evaluates and tells batches until the study's budget is reached."""

import sys
from pathlib import Path

from omegaconf import OmegaConf


def main(path: str, ready: str | None = None) -> int:
    from runner.config import validate
    from runner.data.panel import panel_for
    from runner.search import study as st
    from runner.search.job import search_plan
    from runner.search.optuna_job import Local, evaluator, open_study, run_batches, staging

    cfg = OmegaConf.load(path)
    spec = validate(cfg)
    panel = panel_for(spec.data)
    space, schedule, blk, n_blocks = search_plan(spec, panel)
    study, store, url = open_study(spec, cfg)
    st.quiet()
    if ready:  # the job waits for this before it starts asking, so the workers share the budget
        Path(ready).touch()
    evaluate = evaluator(spec, panel, space, blk, n_blocks)
    run_batches(study, store, url, spec.search, space, evaluate, Local(), None, staging(spec, panel, space, schedule))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
