"""Fixtures for the data pipeline: a loopback Binance built from the real shared files, and stores."""

from pathlib import Path

import polars as pl
import pytest
from hydra import compose, initialize_config_dir

from runner import PROJECT_ROOT
from runner.data.download import fetch_store
from runner.data.settings import StoreSpec, store_spec
from runner.data.source.client import HttpClient
from runner.report import make_console
from tests.conftest import DATA_ROOT
from tests.runner.data.binance_server import BinanceServer, Market, market_from_shared

NOW = "2025-01-15T05:30"  # the loopback exchange's clock


@pytest.fixture(scope="session")
def market() -> Market:
    """BTCUSDT and LTCUSDT 1h klines, 1h mark price and funding, 2023-01-01 .. 2025-01-31 (real)."""
    return market_from_shared(DATA_ROOT, ["BTCUSDT", "LTCUSDT"], "2023-01-01", "2025-02-01")


@pytest.fixture
def server(market: Market):
    with BinanceServer(market, now=NOW) as srv:
        yield srv


def spec_for(root: Path, srv: BinanceServer, *overrides: str, command: str = "download") -> StoreSpec:
    """A validated ``runner.data`` spec pointed at the loopback server."""
    with initialize_config_dir(str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "datastore",
            overrides=[
                f"command={command}",
                f"data.root={root}",
                f"source.archive_url={srv.url}",
                f"source.rest_url={srv.url}",
                *overrides,
            ],
        )
    return store_spec(cfg)


class Sleeps(list):
    """Records the client's back-off sleeps instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fetch(spec: StoreSpec, sleeps: Sleeps | None = None):
    """Run download/update in-process with sleeps recorded (not slept)."""
    client = HttpClient(spec.client, sleep=sleeps if sleeps is not None else Sleeps())
    try:
        return fetch_store(spec, make_console(stderr=True), http=client)
    finally:
        client.close()


SHARED_FILES = {
    "klines": ("klines_1h/{s}-1h.csv.gz", "open_time_ms"),
    "mark": ("mark_price_1h/{s}-mark-1h.csv.gz", "open_time_ms"),
    "funding": ("funding/{s}-funding.csv.gz", "funding_time_ms"),
}


def rows(root: Path, kind: str, symbol: str, start: int | None = None, end: int | None = None) -> pl.DataFrame:
    """A data file's rows (as text-parsed values), optionally within ``[start, end)``; the shared
    file's columns only."""
    rel, col = SHARED_FILES[kind]
    frame = pl.read_csv(root / "binance" / "futures_um" / rel.format(s=symbol))
    if start is not None:
        frame = frame.filter((pl.col(col) >= start) & (pl.col(col) < end))
    shared = pl.read_csv(DATA_ROOT / "binance" / "futures_um" / rel.format(s=symbol), n_rows=0).columns
    return frame.select(shared)
