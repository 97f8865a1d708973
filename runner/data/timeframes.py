"""Bar intervals and UTC times as written in configs."""

from datetime import UTC, datetime, timedelta

from runner.errors import ConfigError

TIMEFRAME_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
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


def parse_utc(raw: object, key: str, end: bool = False) -> int:
    """Epoch ms of ``YYYY-MM-DD`` or an ISO datetime (UTC unless it says otherwise). As an ``end``,
    a date means the whole day and a datetime is included (the returned bound is exclusive)."""
    text = str(raw)
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{key}={text!r}: not a date; use YYYY-MM-DD or an ISO datetime (UTC)") from None
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    if end:
        stamp = stamp + timedelta(days=1) if len(text) <= 10 else stamp + timedelta(milliseconds=1)
    return int(stamp.timestamp() * 1000)
