"""User-facing errors: one line naming the file, field or override, and exit code 2."""


class PerplabError(Exception):
    """Bad input a user can fix; printed as one line, exit code 2."""

    exit_code = 2


class ConfigError(PerplabError):
    """An invalid configuration value or override."""


class DataError(PerplabError):
    """An unreadable or invalid market data file."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception message, prefixed with ``error:``."""
    text = str(exc).strip().splitlines()
    return f"error: {text[0] if text else type(exc).__name__}"
