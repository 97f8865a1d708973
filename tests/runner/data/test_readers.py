"""Strict CSV readers: every rejection names the file and line."""

from pathlib import Path

import pytest

from runner.data.readers import read_funding, read_klines
from runner.errors import DataError
from tests.conftest import DATA_ROOT, KLINE_HEADER, kline_rows, write_gz

H = 3_600_000
T0 = 1_577_836_800_000  # 2020-01-01T00:00Z


def test_real_btc_file_reads() -> None:
    frame, sha = read_klines(DATA_ROOT / "binance/futures_um/klines_1h/BTCUSDT-1h.csv.gz", H)
    assert frame.height == 58623
    assert sha.startswith("ae90149f3846a3c7")  # data README
    assert frame.columns == ["time", "open", "high", "low", "close", "volume"]


def test_real_funding_reads() -> None:
    frame, _ = read_funding(DATA_ROOT / "binance/futures_um/funding/BTCUSDT-funding.csv.gz")
    assert frame.height == 7323
    row = frame.filter(frame["time"] == T0)
    assert row["rate"][0] == -0.00012359


def good_rows() -> list[str]:
    return kline_rows(T0, [100.0, 101.0, 102.0, 103.0])


def replace(rows: list[str], i: int, col: int, value: str) -> list[str]:
    parts = rows[i].split(",")
    parts[col] = value
    return [*rows[:i], ",".join(parts), *rows[i + 1 :]]


BAD = {
    "missing column": (
        KLINE_HEADER.replace(",volume", ""),
        [",".join(r.split(",")[:-1]) for r in good_rows()],
        "missing column(s) volume",
    ),
    "unparsable number": (
        KLINE_HEADER,
        replace(good_rows(), 2, 5, "abc"),
        "line 4: column 'close' has unparsable value 'abc'",
    ),
    "negative price": (KLINE_HEADER, replace(good_rows(), 1, 2, "-5"), "line 3: 'open' must be a positive number"),
    "zero price": (KLINE_HEADER, replace(good_rows(), 1, 4, "0"), "line 3: 'low' must be a positive number"),
    "NaN price": (KLINE_HEADER, replace(good_rows(), 0, 3, "nan"), "line 2: 'high' must be a positive number"),
    "negative volume": (KLINE_HEADER, replace(good_rows(), 3, 6, "-1"), "line 5: 'volume' must be >= 0"),
    "high below close": (
        KLINE_HEADER,
        replace(good_rows(), 2, 3, "101.5"),
        "line 4: OHLC violation (high below open or close)",
    ),
    "low above open": (
        KLINE_HEADER,
        replace(good_rows(), 2, 4, "101.5"),
        "line 4: OHLC violation (low above open or close)",
    ),
    "duplicate timestamp": (
        KLINE_HEADER,
        [*good_rows()[:2], good_rows()[1], *good_rows()[2:]],
        "line 4: duplicate timestamp",
    ),
    "unsorted timestamps": (
        KLINE_HEADER,
        [good_rows()[1], good_rows()[0], *good_rows()[2:]],
        "line 3: timestamps not increasing",
    ),
    "non-UTC timestamp": (
        KLINE_HEADER,
        replace(good_rows(), 1, 0, "2020-01-01T01:00:00+02:00"),
        "line 3: 'open_time_utc' value",
    ),
    "iso and ms disagree": (
        KLINE_HEADER,
        replace(good_rows(), 1, 1, str(T0 + 7 * H)),
        "line 3: 'open_time_utc' and 'open_time_ms' disagree",
    ),
    "off the bar grid": (
        KLINE_HEADER,
        [
            r.replace(str(T0), str(T0 + 60_000)).replace("00:00:00Z", "00:01:00Z", 1) if i == 0 else r
            for i, r in enumerate(good_rows())
        ],
        "line 2: timestamp 2020-01-01T00:01:00Z is off the bar grid",
    ),
    "empty file": (KLINE_HEADER, [], "no rows"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_kline_files_are_rejected_with_file_and_line(case: str, tmp_path: Path) -> None:
    header, rows, message = BAD[case]
    path = write_gz(tmp_path / "X-1h.csv.gz", header, rows)
    with pytest.raises(DataError) as err:
        read_klines(path, H)
    text = str(err.value)
    assert str(path) in text and message in text, text
    assert "\n" not in text


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_klines(tmp_path / "nope.csv.gz", H)


def test_bad_funding_rate(tmp_path: Path) -> None:
    path = write_gz(
        tmp_path / "F.csv.gz",
        "funding_time_utc,funding_time_ms,funding_rate",
        ["2020-01-01T00:00:00Z,1577836800000,0.0001", "2020-01-01T08:00:00Z,1577865600000,inf"],
    )
    with pytest.raises(DataError, match=r"line 3: 'funding_rate' must be finite"):
        read_funding(path)


def test_cache_is_keyed_by_content_and_skips_parsing(tmp_path: Path, monkeypatch) -> None:
    import runner.data.readers as readers

    path = write_gz(tmp_path / "X-1h.csv.gz", KLINE_HEADER, good_rows())
    first, sha = read_klines(path, H, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 1
    monkeypatch.setattr(readers, "_validate_klines", lambda *a: pytest.fail("parsed again"))
    second, sha2 = read_klines(path, H, tmp_path / "cache")
    assert second.equals(first) and sha2 == sha
    monkeypatch.undo()
    write_gz(path, KLINE_HEADER, kline_rows(T0, [100.0, 99.0]))  # new content -> new key
    third, sha3 = read_klines(path, H, tmp_path / "cache")
    assert sha3 != sha and third.height == 2
