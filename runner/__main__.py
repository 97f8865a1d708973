"""``python -m runner [overrides] [-m]``: pre-flight checks, then the Hydra app."""

import os
import sys
import uuid


def _validate(cfg) -> None:
    """Every check of a job that can run before any work, the data-dependent ones included: the
    window against the data, the timeframe against the source interval, the filters' windows and
    an external signals file (the panel built here is reused by the first job)."""
    from runner.config import validate
    from runner.data.panel import check_symbols, panel_for
    from runner.data.timeframes import timeframe_ms
    from runner.errors import DataFileError
    from runner.filters.pipeline import plan
    from runner.tracking import check_store

    spec = validate(cfg)
    check_store(spec.tracking.uri)
    check_symbols(spec.data)
    try:
        panel = panel_for(spec.data)
    except DataFileError:  # a corrupt file: the job fails on it and is recorded FAILED; the sweep goes on
        return
    plan(spec.filters, panel.times, timeframe_ms(panel.timeframe), 0)
    if spec.strategy.signals is not None:
        from runner.strategy.signals_file import load_signals

        load_signals(spec.strategy.signals, panel)


def main() -> None:
    from runner import preflight

    args = preflight.expand_shorthand(sys.argv[1:])
    preflight.check_or_exit(args, _validate)
    from runner import app, callbacks

    os.environ[app.OVERRIDES_ENV] = " ".join(sys.argv[1:])
    if any(a in preflight.MULTIRUN_FLAGS for a in args):
        os.environ.setdefault(app.SWEEP_ENV, uuid.uuid4().hex[:12])
    flags = [a for a in args if a in preflight.MULTIRUN_FLAGS]
    sys.argv = [sys.argv[0], *flags[:1], *(a for a in args if a not in preflight.MULTIRUN_FLAGS)]
    app.main()
    if callbacks.FAILED_JOBS:
        sys.exit(1)
    if callbacks.NO_USABLE_JOB:
        from runner.errors import NO_RESULT

        sys.exit(NO_RESULT)


if __name__ == "__main__":
    main()
