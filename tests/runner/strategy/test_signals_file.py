"""strategy=signals_file: external signals aligned to the panel, filled like any condition (next
open), with hand-computed trades; bad files give one line naming the file, row and column."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from kernels import enums as E
from runner.backtest import records, run_grid
from runner.errors import ConfigError, DataError
from tests.runner.strategy.test_compile import HOUR, T0, compiled_for, synthetic
from tests.runner.test_cli import FAST, cli, runs

CLOSES = [100, 101, 102, 103, 104, 105, 106, 107, 108, 109]


def signals_strategy(path: Path, **signals) -> dict:
    return {"name": "signals_file", "direction": "both", "signals": {"path": str(path), **signals}}


def write(path: Path, rows: list[dict], symbols=("A0USDT",)) -> Path:
    """Rows ``{bar, symbol?, column: value}`` -> a file with every signal column (false elsewhere)."""
    cols = ("long_entry", "long_exit", "short_entry", "short_exit")
    named = {r.get("symbol", symbols[0]) for r in rows}
    frame = pl.DataFrame(
        [
            {"time": T0 + HOUR * r["bar"], "symbol": r.get("symbol", symbols[0])} | {c: bool(r.get(c)) for c in cols}
            for r in rows
        ]
        + [{"time": T0, "symbol": s} | dict.fromkeys(cols, False) for s in symbols if s not in named],
        schema={"time": pl.Int64, "symbol": pl.String} | dict.fromkeys(cols, pl.Boolean),
    )
    frame = frame.with_columns(pl.col("time").cast(pl.Datetime("ms", "UTC")))
    if path.suffix == ".csv":
        frame.with_columns(pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(path)
    else:
        frame.write_parquet(path)
    return path


def trades_of(raw: dict, closes=CLOSES, n_assets: int = 1, *overrides: str) -> list[tuple]:
    panel = synthetic(closes, n_assets=n_assets)
    _, c = compiled_for(raw, panel, *overrides)
    m = run_grid(panel, c, 1000.0, progress=False)[0]
    tr = records(panel, c, 1000.0, 0, int(m[0, E.M_N_TRADES])).trades
    return [(r["asset"], r["side"], r["entry_bar"], r["exit_bar"], r["exit_reason"]) for r in tr.iter_rows(named=True)]


@pytest.mark.parametrize(
    "rows, expected",
    [
        # a long entry on bar 1's row fills at bar 2's open; the exit on bar 5's row at bar 6's open
        ([{"bar": 1, "long_entry": 1}, {"bar": 5, "long_exit": 1}], [(0, "long", 2, 6, "signal")]),
        # a short held to the end of the data (closed on the last bar)
        ([{"bar": 3, "short_entry": 1}], [(0, "short", 4, 9, "end_of_data")]),
        # a long reversed by a short entry: one exit and one entry at the same open
        (
            [{"bar": 0, "long_entry": 1}, {"bar": 4, "short_entry": 1}, {"bar": 6, "short_exit": 1}],
            [(0, "long", 1, 5, "signal"), (0, "short", 5, 7, "signal")],
        ),
        # long and short entries on the same flat bar cancel out; the last bar never signals
        ([{"bar": 2, "long_entry": 1, "short_entry": 1}, {"bar": 9, "long_entry": 1}], []),
        # an exit while flat does nothing
        ([{"bar": 2, "long_exit": 1}, {"bar": 3, "long_entry": 1}], [(0, "long", 4, 9, "end_of_data")]),
    ],
)
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_signals_fill_at_the_next_open(tmp_path: Path, rows, expected, suffix) -> None:
    path = write(tmp_path / f"s{suffix}", rows)
    assert trades_of(signals_strategy(path)) == expected


def test_signals_per_symbol_and_fill_at_close(tmp_path: Path) -> None:
    rows = [{"bar": 1, "symbol": "A1USDT", "long_entry": 1}, {"bar": 3, "symbol": "A0USDT", "short_entry": 1}]
    path = write(tmp_path / "s.parquet", rows, symbols=("A0USDT", "A1USDT"))
    got = trades_of(signals_strategy(path), CLOSES, 2)
    assert sorted(got) == [(0, "short", 4, 9, "end_of_data"), (1, "long", 2, 9, "end_of_data")]
    got = trades_of(signals_strategy(path), CLOSES, 2, "execution=close")
    assert sorted(got) == [(0, "short", 3, 9, "end_of_data"), (1, "long", 1, 9, "end_of_data")]


def test_long_only_file_and_conditions_combining_signals_with_indicators(tmp_path: Path) -> None:
    frame = pl.DataFrame({"time": [T0 + HOUR, T0 + 5 * HOUR], "symbol": ["A0USDT"] * 2, "buy": [1, 1], "sell": [0, 0]})
    path = tmp_path / "s.parquet"
    frame.write_parquet(path)
    raw = signals_strategy(path, columns=["buy", "sell"]) | {"entry": {"long": ["buy > 0", "close > 104"]}}
    assert trades_of(raw) == [(0, "long", 6, 9, "end_of_data")]  # bar 1's buy fails close > 104
    raw = signals_strategy(path, columns=["long_entry"])
    with pytest.raises(DataError, match=r"s.parquet: missing column\(s\) long_entry; the file has time, symbol"):
        trades_of(raw)


@pytest.mark.parametrize(
    "frame, message",
    [
        (
            {"time": ["2024-01-01T00:30:00Z"], "symbol": ["A0USDT"], "long_entry": [True]},
            r"s.csv: line 2: 2024-01-01T00:30Z is not a bar open of the 1h grid",
        ),
        (
            {"time": ["2024-01-01T00:00:00Z", "yesterday"], "symbol": ["A0USDT"] * 2, "long_entry": [1, 0]},
            r"s.csv: line 3: time='yesterday' is not a time",
        ),
        (
            {"time": ["2024-01-01T01:00:00Z"] * 2, "symbol": ["A0USDT"] * 2, "long_entry": [1, 0]},
            r"s.csv: line 3: a second row for A0USDT at 2024-01-01T01:00Z",
        ),
        (
            {"time": ["2024-01-01T01:00:00Z"], "symbol": ["BTCUSDT"], "long_entry": [1]},
            r"s.csv: no rows for A0USDT \(the file has BTCUSDT\)",
        ),
        (
            {"time": ["2024-01-01T01:00:00Z"], "symbol": ["A0USDT"], "long_entry": ["maybe"]},
            r"s.csv: line 2: long_entry='maybe': a signal is true/false or 1/0",
        ),
    ],
)
def test_bad_signal_files(tmp_path: Path, frame, message) -> None:
    path = tmp_path / "s.csv"
    pl.DataFrame(frame).write_csv(path)
    with pytest.raises(DataError, match=message):
        trades_of(signals_strategy(path, columns=["long_entry"]))


def test_bad_signals_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"strategy.signals.path='.*nope.parquet': no such file"):
        trades_of(signals_strategy(tmp_path / "nope.parquet"))
    path = tmp_path / "s.txt"
    path.write_text("x")
    with pytest.raises(DataError, match=r"s.txt: unknown format; use .parquet or .csv"):
        trades_of(signals_strategy(path))
    with pytest.raises(ConfigError, match=r"strategy.signals.columns=\['close'\]: 'close' must be an identifier"):
        trades_of(signals_strategy(path, columns=["close"]))


def test_signals_file_end_to_end_on_real_data(tmp_path: Path) -> None:
    """Random signals for BTC and ETH over the first half of 2024: every trade enters one bar after
    a signal row of its symbol; the parquet and the CSV copy give the same run."""
    rng = np.random.default_rng(7)
    times = pl.datetime_range(
        pl.datetime(2024, 1, 1, time_zone="UTC"), pl.datetime(2024, 6, 30, 23, time_zone="UTC"), "1h", eager=True
    )
    frames = []
    for s in ("BTCUSDT", "ETHUSDT"):
        n = len(times)
        cols = {c: rng.random(n) < 0.02 for c in ("long_entry", "long_exit", "short_entry", "short_exit")}
        frames.append(pl.DataFrame({"time": times, "symbol": [s] * n} | cols))
    sig = pl.concat(frames)
    sig.write_parquet(tmp_path / "sig.parquet")
    sig.with_columns(pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(tmp_path / "sig.csv")
    finals = []
    for name in ("sig.parquet", "sig.csv"):
        path = f"strategy.signals.path={tmp_path / name}"
        out = cli(tmp_path, "strategy=signals_file", path, "data.symbols=[BTCUSDT,ETHUSDT]", "filters=none", *FAST)
        assert out.returncode == 0, out.stderr
    client, found = runs(tmp_path / "mlruns" / "mlflow.db")
    for r in found:
        finals.append(r.data.metrics["final_equity"])
        trades = pl.read_parquet(
            client.download_artifacts(r.info.run_id, "trades.parquet", str(tmp_path / r.info.run_id))
        )
        assert trades.height > 50
        decided = trades.select(
            pl.col("symbol"), (pl.col("entry_time") - pl.duration(hours=1)).alias("time"), pl.col("side")
        )
        entries = sig.select(
            "time", "symbol", pl.col("long_entry").alias("long"), pl.col("short_entry").alias("short")
        ).with_columns(pl.col("time").cast(pl.Datetime("ms", "UTC")))
        joined = decided.join(entries, on=["time", "symbol"], how="left")
        wanted = np.where(joined["side"] == "long", joined["long"], joined["short"])
        assert wanted.all()
    assert len(finals) == 2 and finals[0] == pytest.approx(finals[1], rel=1e-12)
