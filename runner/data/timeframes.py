"""Bar intervals."""

from runner.errors import ConfigError

TIMEFRAME_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "8h": 28_800_000,
    "1d": 86_400_000,
}
YEAR_MS = 365 * 86_400_000  # crypto trades every day


def timeframe_ms(name: str, key: str = "data.timeframe") -> int:
    try:
        return TIMEFRAME_MS[name]
    except KeyError:
        raise ConfigError(f"{key}={name!r}: unknown timeframe; valid: {', '.join(TIMEFRAME_MS)}") from None


def bars_per_year(name: str) -> float:
    return YEAR_MS / timeframe_ms(name)
