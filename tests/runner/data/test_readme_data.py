"""The README's market-data commands, run as written against the loopback exchange, in order."""

import os
from pathlib import Path

from runner import PROJECT_ROOT
from tests.conftest import DATA_ROOT
from tests.prewarmed import run_module
from tests.readme import commands
from tests.runner.data.binance_server import BinanceServer, market_from_shared

EXPECT = {  # the first words after the module -> what its output must show
    "download": ["DOGEUSDT klines 1m", "SOLUSDT funding", "rows/s"],
    "update": ["nothing new"],
    "status": ["DOGEUSDT", "klines 1m", "funding intervals DOGEUSDT: 8h"],
    "verify": ["no problems"],
    "rebuild": ["unchanged"],
    "data.symbols=[DOGEUSDT]": ["DOGEUSDT 15m"],
}


def test_market_data_commands_work_as_written(tmp_path: Path) -> None:
    found = commands("Any Binance USDT-M perpetual")
    assert [c[0] for c in found] == ["export", *["python"] * 6]
    # two symbols served from real BTCUSDT rows (the shared data has 1m bars for BTCUSDT only)
    market = market_from_shared(
        DATA_ROOT,
        [],
        "2025-05-26",
        "2025-06-24",
        intervals=("1h", "1m"),
        alias={"DOGEUSDT": "BTCUSDT", "SOLUSDT": "BTCUSDT"},
    )
    for s in ("DOGEUSDT", "SOLUSDT"):
        market.instruments[s].update(step="0.001", min_qty="0.001", min_notional="5")  # lots that suit BTC's prices
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PERPLAB_CACHE": str(tmp_path / "cache"),
    }
    with BinanceServer(market, now="2025-06-09T12:00") as srv:
        for words in found:
            if words[0] == "export":
                name, _ = words[1].split("=", 1)
                env[name] = str(tmp_path / "perplab-data")  # the folder the README names, made temporary
                continue
            module = words[2]
            args = words[3:]
            if module == "runner.data":
                args += [f"source.archive_url={srv.url}", f"source.rest_url={srv.url}"]
            out = run_module(module, *args, cwd=PROJECT_ROOT, env=env)
            shown = out.stdout + out.stderr
            assert out.returncode == 0, f"{' '.join(words)}\n{shown}"
            for fragment in EXPECT[words[3]]:
                assert fragment in shown, f"{' '.join(words)}: {fragment!r} not in\n{shown}"
