"""User-facing errors: one line naming the file, field or override, and exit code 2; exit code 3 for
a search or sweep that ran but found no usable result."""

NO_RESULT = 3
NO_RESULT_LINE = (
    "no usable result: no candidate has a finite objective without liquidation that survives the filters "
    "(exit code 3; widen the space, lower leverage or relax the filters)"
)


class PerplabError(Exception):
    """Bad input a user can fix; printed as one line, exit code 2."""

    exit_code = 2


class ConfigError(PerplabError):
    """An invalid configuration value or override."""


class DataError(PerplabError):
    """Market data that cannot serve the run (a window without bars, gaps under gap_policy=error...)."""


class DataFileError(DataError):
    """An unreadable or invalid market data file (a job meeting one fails and is recorded FAILED)."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception message, prefixed with ``error:``, secrets masked."""
    from runner.redact import redact

    text = str(exc).strip().splitlines()
    return redact(f"error: {text[0] if text else type(exc).__name__}")


def exit_unexpected(exc: BaseException) -> None:
    """An error that is not bad input (a bug, a lost connection): its traceback with secrets masked,
    then exit code 1 (raised past Hydra, which would print the overrides unmasked)."""
    import sys
    import traceback

    from runner.redact import redact

    sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    sys.exit(1)


def run_reporting(work, interrupted: str | None = None) -> None:
    """Run an app's ``work() -> exit code``: bad input is one line and its exit code, an interrupt
    the ``interrupted`` line and 130 (when given), anything else a masked traceback and 1."""
    import sys

    try:
        code = work()
    except PerplabError as exc:
        sys.stderr.write(one_line(exc) + "\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        if interrupted is None:
            raise
        sys.stderr.write(interrupted + "\n")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - reported without secrets
        exit_unexpected(exc)
    if code:
        sys.exit(code)
