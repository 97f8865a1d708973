"""User-facing errors: one line naming the file, field or override, and exit code 2."""


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
