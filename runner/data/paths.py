"""Where market data lives."""

import os
import tempfile
from pathlib import Path

from runner import PROJECT_ROOT
from runner.errors import ConfigError

ENV_VAR = "PERPLAB_DATA"
MARKET = "futures_um"


def data_root_candidate(configured: str | None) -> tuple[str, Path]:
    """The data root a run would use and where that choice came from: ``data.root``, else
    ``$PERPLAB_DATA``, else ``../shared/data`` next to the repository."""
    if configured:
        return "data.root", Path(configured).expanduser()
    if os.environ.get(ENV_VAR):
        return f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser()
    return "default", PROJECT_ROOT.parent / "shared" / "data"


def resolve_data_root(configured: str | None) -> Path:
    """The data root to read: the candidate, which must hold a ``binance/`` folder."""
    origin, path = data_root_candidate(configured)
    if (path / "binance").is_dir():
        return path.resolve()
    raise ConfigError(
        f"data.root: no market data found; looked in {path} ({origin}) for a 'binance/' folder; "
        f"set data.root=... or ${ENV_VAR}"
    )


def writable_data_root(configured: str | None) -> Path:
    """The data root to write into (created when missing); one line naming ``data.root`` when it
    cannot be written."""
    origin, path = data_root_candidate(configured)
    where = f"{path} ({origin})" if origin != "data.root" else str(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"data.root={where}: cannot create it ({exc.strerror}); set data.root=<a writable folder> or ${ENV_VAR}"
        ) from None
    try:  # a real write: permissions, read-only mounts and ACLs all answer the same way
        with tempfile.NamedTemporaryFile(dir=path, prefix=".perplab-probe-"):
            pass
    except OSError:
        raise ConfigError(
            f"data.root={where}: not writable; downloads need a writable data root: "
            f"set data.root=<a writable folder> or ${ENV_VAR}"
        ) from None
    return path.resolve()


def kline_path(root: Path, market: str, interval: str, symbol: str) -> Path:
    return root / "binance" / market / f"klines_{interval}" / f"{symbol}-{interval}.csv.gz"


def funding_path(root: Path, symbol: str) -> Path:
    return root / "binance" / MARKET / "funding" / f"{symbol}-funding.csv.gz"


def mark_path(root: Path, symbol: str, interval: str = "1h") -> Path:
    return root / "binance" / MARKET / f"mark_price_{interval}" / f"{symbol}-mark-{interval}.csv.gz"


def instruments_path(root: Path) -> Path:
    """Exchange rules per symbol (lot filters, listing date, funding caps) from exchangeInfo."""
    return root / "binance" / MARKET / "instruments.json"


def available_symbols(root: Path, market: str, interval: str) -> list[str]:
    folder = root / "binance" / market / f"klines_{interval}"
    suffix = f"-{interval}.csv.gz"
    return sorted(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}"))
