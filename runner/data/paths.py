"""Where market data lives."""

import os
from pathlib import Path

from runner import PROJECT_ROOT
from runner.errors import ConfigError

ENV_VAR = "PERPLAB_DATA"


def resolve_data_root(configured: str | None) -> Path:
    """``data.root``, else ``$PERPLAB_DATA``, else ``../shared/data`` next to the repository."""
    tried: list[str] = []
    candidates: list[tuple[str, Path]] = []
    if configured:
        candidates.append(("data.root", Path(configured).expanduser()))
    elif os.environ.get(ENV_VAR):
        candidates.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser()))
    else:
        candidates.append(("default", PROJECT_ROOT.parent / "shared" / "data"))
    for origin, path in candidates:
        if (path / "binance").is_dir():
            return path.resolve()
        tried.append(f"{path} ({origin})")
    raise ConfigError(
        f"data.root: no market data found; looked in {', '.join(tried)} for a 'binance/' folder; "
        f"set data.root=... or ${ENV_VAR}"
    )


def kline_path(root: Path, market: str, interval: str, symbol: str) -> Path:
    return root / "binance" / market / f"klines_{interval}" / f"{symbol}-{interval}.csv.gz"


def funding_path(root: Path, symbol: str) -> Path:
    return root / "binance" / "futures_um" / "funding" / f"{symbol}-funding.csv.gz"


def mark_path(root: Path, symbol: str) -> Path:
    return root / "binance" / "futures_um" / "mark_price_1h" / f"{symbol}-mark-1h.csv.gz"


def available_symbols(root: Path, market: str, interval: str) -> list[str]:
    folder = root / "binance" / market / f"klines_{interval}"
    suffix = f"-{interval}.csv.gz"
    return sorted(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}"))
