"""``python -m runner [overrides] [-m]``: pre-flight checks, then the Hydra app."""

import os
import shlex
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
    if spec.detail:
        from runner.detail import fine_panel

        fine_panel(spec.data, panel, spec.detail)
    if spec.strategy.signals is not None:
        from runner.strategy.signals_file import load_signals

        load_signals(spec.strategy.signals, panel)


def _resume(args: list[str], value: str) -> list[str]:
    """The recorded command of the sweep ``resume=`` names, set up to run again under its id (or one
    line, exit 2)."""
    from hydra import compose, initialize_config_dir

    from runner import app, preflight
    from runner.config import tracking_spec
    from runner.errors import PerplabError, one_line
    from runner.resume import RESUME_ENV, resumed_args, sweep_run
    from runner.tracking import client_for

    try:
        jobs = preflight.job_overrides([a for a in args if a not in preflight.MULTIRUN_FLAGS], True)
        with initialize_config_dir(str(preflight.CONF), version_base="1.3"):
            cfg = compose("config", overrides=jobs[0])
        run = sweep_run(client_for(tracking_spec(cfg)), value)
        out = resumed_args(args, run, preflight.MULTIRUN_FLAGS)
    except PerplabError as exc:
        sys.stderr.write(one_line(exc) + "\n")
        sys.exit(exc.exit_code)
    except Exception as exc:  # composition errors: the pre-flight of the recorded command explains them
        sys.stderr.write(f"error: resume={value}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}\n")
        sys.exit(2)
    sweep_id = run.data.tags["sweep_dir"]
    os.environ[app.SWEEP_ENV] = os.environ[RESUME_ENV] = sweep_id
    os.environ[app.OVERRIDES_ENV] = run.data.tags.get("command", "")
    print(f"resuming sweep {sweep_id} (MLflow run {run.info.run_id}): {' '.join(out[:-1])}", file=sys.stderr)
    return out


def _terminate(signum, frame) -> None:
    """SIGTERM ends the process like an error does: its running MLflow runs are closed (KILLED)."""
    sys.exit(128 + signum)


def main() -> None:
    import signal

    from runner import help, preflight
    from runner.resume import split_resume

    signal.signal(signal.SIGTERM, _terminate)
    if sys.argv[1:] in help.FLAGS:  # Hydra would take seconds to list the groups
        print(help.app_help())
        return
    resume, args = split_resume(preflight.expand_shorthand(sys.argv[1:]))
    if resume is not None:
        args = preflight.expand_shorthand(_resume(args, resume))
    preflight.check_or_exit(args, _validate)
    from runner import app, callbacks

    if resume is None:
        os.environ[app.OVERRIDES_ENV] = shlex.join(sys.argv[1:])
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
    from runner import short_lived

    short_lived.run(main)
