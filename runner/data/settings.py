"""Validated settings of ``python -m runner.data`` (``conf/datastore.yaml``): one line naming the key."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from omegaconf import DictConfig, OmegaConf

from runner.data.paths import data_root_candidate, resolve_data_root, writable_data_root
from runner.data.source.binance import INTERVALS
from runner.data.source.client import ClientSettings
from runner.data.timeframes import parse_utc
from runner.errors import ConfigError
from runner.redact import redact

COMMANDS = ("download", "update", "status", "verify", "rebuild")
WRITERS = ("download", "update", "rebuild")
SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")


@dataclass(frozen=True)
class StoreSpec:
    command: str
    root: Path
    symbols: tuple[str, ...] | None
    intervals: tuple[str, ...]
    mark_intervals: tuple[str, ...]
    funding: bool
    start_ms: int
    end_ms: int | None  # exclusive
    archive_url: str
    rest_url: str
    client: ClientSettings
    info_max_age_ms: int
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)


def _value(cfg: DictConfig, key: str):
    value = OmegaConf.select(cfg, key)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _list(cfg: DictConfig, key: str, valid: tuple[str, ...] | None = None, pattern=None) -> tuple[str, ...]:
    raw = _value(cfg, key)
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{key}={raw!r}: must be a list like [{(valid or ('BTCUSDT',))[0]}]")
    for item in items:
        if valid is not None and item not in valid:
            raise ConfigError(f"{key}: unknown value {item!r}; valid: {', '.join(valid)}")
        if pattern is not None and not pattern.match(item):
            raise ConfigError(f"{key}: {item!r} is not a symbol like BTCUSDT (capital letters and digits)")
    if len(set(items)) != len(items):
        raise ConfigError(f"{key}={items}: values repeat")
    return tuple(items)


def _number(cfg: DictConfig, key: str, lo: float, hi: float, integer: bool = False) -> float:
    raw = _value(cfg, key)
    ok = isinstance(raw, (int, float)) and not isinstance(raw, bool) and lo <= raw <= hi
    if not ok or (integer and float(raw) != int(raw)):
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{key}={raw!r}: must be {kind} from {lo:g} to {hi:g}")
    return float(raw)


def _url(cfg: DictConfig, key: str, credentials: dict[str, tuple[str, str]]) -> str:
    """The URL without user info (a mirror's ``user:password@`` goes to ``credentials``, by host,
    and never into the archive index, messages or logs)."""
    raw = _value(cfg, key)
    parts = urlsplit(str(raw)) if isinstance(raw, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        shown = redact(str(raw)) if isinstance(raw, str) else raw
        raise ConfigError(f"{key}={shown!r}: must be an http(s) URL like https://data.binance.vision")
    if parts.username is not None:
        credentials[parts.hostname] = (unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, "")).rstrip("/")


def store_spec(cfg: DictConfig, check_root: bool = True) -> StoreSpec:
    """Check every key; the data root is resolved as the runner resolves it (writable for writers)."""
    command = _value(cfg, "command")
    if command not in COMMANDS:
        raise ConfigError(f"command {command!r}: valid: {', '.join(COMMANDS)} (python -m runner.data <command>)")
    symbols_raw = _value(cfg, "symbols")
    symbols = None if symbols_raw is None else _list(cfg, "symbols", pattern=SYMBOL)
    if command == "download" and not symbols:
        raise ConfigError("symbols: download needs the symbols to fetch, e.g. 'symbols=[BTCUSDT,DOGEUSDT]'")
    intervals = _list(cfg, "intervals", INTERVALS)
    marks = _list(cfg, "mark_intervals", INTERVALS)
    if command == "download" and not intervals and not marks and not _value(cfg, "funding"):
        raise ConfigError("intervals=[]: nothing to download (no intervals, mark_intervals or funding)")
    start = parse_utc(_value(cfg, "start"), "start")
    end_raw = _value(cfg, "end")
    end = None if end_raw is None else parse_utc(end_raw, "end", end=True)
    if end is not None and end <= start:
        raise ConfigError(f"end={end_raw}: must be after start={_value(cfg, 'start')}")
    if check_root:
        root = writable_data_root(_value(cfg, "data.root")) if command in WRITERS else _readable(cfg)
    else:
        root = data_root_candidate(_value(cfg, "data.root"))[1]
    client = ClientSettings(
        timeout_s=_number(cfg, "source.timeout_s", 0.1, 600),
        retries=int(_number(cfg, "source.retries", 1, 50, integer=True)),
        backoff_s=_number(cfg, "source.backoff_s", 0, 600),
        max_backoff_s=_number(cfg, "source.max_backoff_s", 0, 3600),
        max_retry_after_s=_number(cfg, "source.max_retry_after_s", 0, 86400),
        workers=int(_number(cfg, "source.workers", 1, 32, integer=True)),
        weight_limit=int(_number(cfg, "source.weight_limit", 1, 1e6, integer=True)),
        weight_share=_number(cfg, "source.weight_share", 0.01, 1),
        weight_window_s=_number(cfg, "source.weight_window_s", 0.1, 3600),
    )
    if check_root and command in ("update", "rebuild") and not (root / "archive" / "index.sqlite").is_file():
        raise ConfigError(
            f"data.root={root}: no series stored yet (no archive/index.sqlite); run python -m runner.data download"
        )
    credentials: dict[str, tuple[str, str]] = {}
    archive_url = _url(cfg, "source.archive_url", credentials)
    rest_url = _url(cfg, "source.rest_url", credentials)
    return StoreSpec(
        command=command,
        root=root,
        symbols=symbols,
        intervals=intervals,
        mark_intervals=marks,
        funding=bool(_value(cfg, "funding")),
        start_ms=start,
        end_ms=end,
        archive_url=archive_url,
        rest_url=rest_url,
        client=client,
        info_max_age_ms=int(_number(cfg, "source.exchange_info_max_age_h", 0, 1e5) * 3_600_000),
        credentials=credentials,
    )


def _readable(cfg: DictConfig) -> Path:
    return resolve_data_root(_value(cfg, "data.root"))
