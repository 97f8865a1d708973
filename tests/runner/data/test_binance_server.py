"""The local Binance imitation: archive and REST formats, the clock, request weight and every fault kind."""

import csv
import hashlib
import io
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator

import httpx
import polars as pl
import pytest

from runner import PROJECT_ROOT
from tests.conftest import DATA_ROOT
from tests.runner.data.binance_server import (
    H_MS,
    KLINE_HEADER,
    BinanceServer,
    Fault,
    Market,
    market_from_shared,
    to_ms,
    with_funding_schedule,
)

NOW = "2024-01-15T05:30"
ARCHIVE = "/data/futures/um"
DEC_1H = f"{ARCHIVE}/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2023-12.zip"


@pytest.fixture(scope="module")
def market() -> Market:
    return market_from_shared(
        DATA_ROOT, ["BTCUSDT", "LTCUSDT"], "2023-11-01", "2024-02-01", alias={"DOGEUSDT": "BTCUSDT"}
    )


@pytest.fixture
def server(market: Market) -> Iterator[BinanceServer]:
    with BinanceServer(market, NOW) as srv:
        yield srv


@pytest.fixture
def client(server: BinanceServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def unzip(data: bytes) -> list[list[str]]:
    """The CSV rows of a single-member archive zip."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        (name,) = zf.namelist()
        return list(csv.reader(io.StringIO(zf.read(name).decode())))


def shared(sub: str, name: str, lo: str, hi: str) -> pl.DataFrame:
    """Rows of a shared file straight from disk, lo <= time < hi."""
    frame = pl.read_csv(DATA_ROOT / "binance/futures_um" / sub / name)
    time_col = "funding_time_ms" if sub == "funding" else "open_time_ms"
    return frame.filter(pl.col(time_col).is_between(to_ms(lo), to_ms(hi), closed="left"))


def eventually(check: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def klines(client: httpx.Client, **params: object) -> list[list]:
    reply = client.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1h", **params})
    assert reply.status_code == 200, reply.text
    return reply.json()


# ------------------------------------------------------------------------------------------------ archive


@pytest.mark.parametrize(
    ("kind", "sub", "name", "cols"),
    [
        ("klines", "klines_1h", "BTCUSDT-1h.csv.gz", ["open", "high", "low", "close", "volume"]),
        ("markPriceKlines", "mark_price_1h", "BTCUSDT-mark-1h.csv.gz", ["open", "high", "low", "close"]),
    ],
)
def test_monthly_zip_holds_the_shared_rows(client: httpx.Client, kind: str, sub: str, name: str, cols: list) -> None:
    path = f"{ARCHIVE}/monthly/{kind}/BTCUSDT/1h/BTCUSDT-1h-2023-12.zip"
    reply = client.get(path)
    assert reply.status_code == 200 and reply.content == client.get(path).content  # deterministic bytes
    with zipfile.ZipFile(io.BytesIO(reply.content)) as zf:
        assert zf.namelist() == ["BTCUSDT-1h-2023-12.csv"]
        assert zf.infolist()[0].compress_type == zipfile.ZIP_DEFLATED
    header, *rows = unzip(reply.content)
    assert ",".join(header) == KLINE_HEADER
    want = shared(sub, name, "2023-12-01", "2024-01-01")
    assert len(rows) == want.height == 744
    assert [int(r[0]) for r in rows] == want["open_time_ms"].to_list()
    for i, col in enumerate(cols, start=1):
        assert [float(r[i]) for r in rows] == want[col].to_list()
    assert all(int(r[6]) == int(r[0]) + H_MS - 1 for r in rows)
    if kind == "klines":
        assert all(r[7] == repr(float(r[5]) * float(r[4])) and r[8:] == ["0"] * 4 for r in rows)
    else:
        assert all(r[5] == r[7] == "0" and r[8:] == ["0"] * 4 for r in rows)


def test_checksum_matches_the_zip(client: httpx.Client) -> None:
    data = client.get(DEC_1H).content
    body = client.get(DEC_1H + ".CHECKSUM").text
    assert body == f"{hashlib.sha256(data).hexdigest()}  BTCUSDT-1h-2023-12.zip\n"


@pytest.mark.parametrize(
    ("header_from", "path", "has_header"),
    [
        ("2022-01-01", DEC_1H, True),
        ("2024-01-01", DEC_1H, False),
        ("2024-01-01", f"{ARCHIVE}/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-02.zip", True),
        ("2024-01-01", f"{ARCHIVE}/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2023-12.zip", False),
        ("2022-01-01", f"{ARCHIVE}/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2023-12.zip", True),
    ],
)
def test_header_by_header_from(market: Market, header_from: str, path: str, has_header: bool) -> None:
    with BinanceServer(market, NOW, header_from=header_from) as srv:
        first = unzip(httpx.get(srv.url + path).content)[0]
    assert (not first[0].isdigit()) == has_header


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (DEC_1H, 200),
        (DEC_1H + ".CHECKSUM", 200),
        (f"{ARCHIVE}/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip", 404),  # month not over at now
        (f"{ARCHIVE}/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip.CHECKSUM", 404),
        (f"{ARCHIVE}/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2023-10.zip", 404),  # no rows in the slice
        (f"{ARCHIVE}/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-14.zip", 200),
        (f"{ARCHIVE}/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-15.zip", 404),  # today
        (f"{ARCHIVE}/daily/markPriceKlines/LTCUSDT/1h/LTCUSDT-1h-2024-01-14.zip", 200),
        (f"{ARCHIVE}/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2023-12.zip", 404),  # interval not loaded
        (f"{ARCHIVE}/monthly/klines/ETHUSDT/1h/ETHUSDT-1h-2023-12.zip", 404),  # symbol not served
        (f"{ARCHIVE}/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2023-12-01.zip", 404),  # daily label on monthly
        (f"{ARCHIVE}/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2023-12.zip", 200),
        (f"{ARCHIVE}/daily/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01-14.zip", 404),  # no daily funding
    ],
)
def test_archive_availability(client: httpx.Client, path: str, status: int) -> None:
    reply = client.get(path)
    assert reply.status_code == status
    if status == 404:
        assert "<Code>NoSuchKey</Code>" in reply.text


def test_funding_archive_and_rest_agree(client: httpx.Client, market: Market) -> None:
    path = f"{ARCHIVE}/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2023-12.zip"
    header, *rows = unzip(client.get(path).content)
    assert ",".join(header) == "calc_time,funding_interval_hours,last_funding_rate"
    want = shared("funding", "BTCUSDT-funding.csv.gz", "2023-12-01", "2024-01-01")
    assert [int(r[0]) // H_MS * H_MS for r in rows] == want["funding_time_ms"].to_list()
    assert [float(r[2]) for r in rows] == want["funding_rate"].to_list()
    assert {r[1] for r in rows} == {"8"}
    assert {int(r[0]) % H_MS for r in rows} <= set(range(10)) and len({int(r[0]) % H_MS for r in rows}) > 1
    rest = client.get(
        "/fapi/v1/fundingRate", params={"symbol": "BTCUSDT", "startTime": to_ms("2023-12-01"), "limit": 3}
    )
    assert [e["fundingTime"] for e in rest.json()] == [int(r[0]) for r in rows[:3]]


# ------------------------------------------------------------------------------------------------ REST


T = to_ms("2023-12-01")
LAST_BAR = to_ms("2024-01-15T05:00")  # in progress at now, served


@pytest.mark.parametrize(
    ("params", "first", "last", "n"),
    [
        ({}, LAST_BAR - 499 * H_MS, LAST_BAR, 500),
        ({"limit": 3, "startTime": T}, T, T + 2 * H_MS, 3),
        ({"limit": 3, "startTime": T + 1}, T + H_MS, T + 3 * H_MS, 3),
        ({"startTime": T, "endTime": T + 2 * H_MS}, T, T + 2 * H_MS, 3),
        ({"limit": 2, "endTime": T}, T - H_MS, T, 2),
        ({"limit": 2, "endTime": to_ms("2024-02-01")}, LAST_BAR - H_MS, LAST_BAR, 2),
        ({"startTime": LAST_BAR - H_MS}, LAST_BAR - H_MS, LAST_BAR, 2),
        ({"limit": 1500, "startTime": to_ms("2023-01-01")}, to_ms("2023-11-01"), to_ms("2024-01-02T11:00"), 1500),
    ],
)
def test_klines_paging(client: httpx.Client, params: dict, first: int, last: int, n: int) -> None:
    rows = klines(client, **params)
    assert (rows[0][0], rows[-1][0], len(rows)) == (first, last, n)
    assert [r[0] for r in rows] == list(range(first, last + 1, H_MS))


def test_no_rows_after_now(client: httpx.Client, server: BinanceServer) -> None:
    assert klines(client, startTime=LAST_BAR + H_MS) == []
    server.set_now("2024-01-15T06:00")
    assert klines(client, limit=1)[0][0] == LAST_BAR + H_MS


def test_kline_row_format(client: httpx.Client, market: Market) -> None:
    (row,) = klines(client, startTime=T, limit=1)
    src = market.klines["BTCUSDT", "1h"].filter(pl.col("time") == T).row(0, named=True)
    o, h, lo, c, v = (src[k] for k in ("open", "high", "low", "close", "volume"))
    assert row == [T, repr(o), repr(h), repr(lo), repr(c), repr(v), T + H_MS - 1, repr(v * c), 0, "0", "0", "0"]
    params = {"symbol": "BTCUSDT", "interval": "1h", "startTime": T, "limit": 1}
    (mark,) = client.get("/fapi/v1/markPriceKlines", params=params).json()
    assert mark[5:] == ["0", T + H_MS - 1, "0", 0, "0", "0", "0"] and float(mark[1]) > 0


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 1501}, -1130),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 0}, -1130),
        ("/fapi/v1/klines", {"symbol": "FOOUSDT", "interval": "1h"}, -1121),
        ("/fapi/v1/markPriceKlines", {"symbol": "BTCUSDT", "interval": "7m"}, -1120),
        ("/fapi/v1/klines", {"interval": "1h"}, -1102),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h", "startTime": "x"}, -1100),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h", "startTime": 2, "endTime": 1}, -1023),
        ("/fapi/v1/fundingRate", {"symbol": "BTCUSDT", "limit": 1001}, -1130),
        ("/fapi/v1/fundingRate", {"symbol": "FOOUSDT"}, -1121),
    ],
)
def test_rest_errors(client: httpx.Client, path: str, params: dict, code: int) -> None:
    reply = client.get(path, params=params)
    assert reply.status_code == 400 and reply.json()["code"] == code
    assert "X-MBX-USED-WEIGHT-1M" in reply.headers


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert client.get("/fapi/v1/nope").status_code == 404
    assert client.get("/elsewhere").status_code == 404


def test_funding_rest(client: httpx.Client, market: Market) -> None:
    events = client.get("/fapi/v1/fundingRate", params={"symbol": "BTCUSDT"}).json()
    assert len(events) == 100
    times = [e["fundingTime"] for e in events]
    assert times == sorted(times) and times[-1] <= to_ms(NOW) and times[-1] // H_MS * H_MS == to_ms("2024-01-15")
    assert all(0 <= t % H_MS <= 9 for t in times) and any(t % H_MS for t in times)
    assert all(re.fullmatch(r"-?\d+\.\d{8}", e["fundingRate"]) for e in events)
    rates = market.funding["BTCUSDT"].filter(pl.col("time").is_in([t // H_MS * H_MS for t in times]))["rate"]
    assert [float(e["fundingRate"]) for e in events] == pytest.approx(rates.to_list(), abs=5e-9)
    marks = market.mark["BTCUSDT", "1h"]
    first = events[0]["fundingTime"] // H_MS * H_MS
    assert events[0]["markPrice"] == f"{marks.filter(pl.col('time') == first)['open'][0]:.8f}"
    window = {"symbol": "BTCUSDT", "startTime": times[0], "endTime": times[2]}
    assert [e["fundingTime"] for e in client.get("/fapi/v1/fundingRate", params=window).json()] == times[:3]
    window["startTime"] = times[0] + 10  # past the jittered time: that event is excluded
    assert [e["fundingTime"] for e in client.get("/fapi/v1/fundingRate", params=window).json()] == times[1:3]


def test_exchange_info_and_funding_info(client: httpx.Client, server: BinanceServer) -> None:
    info = client.get("/fapi/v1/exchangeInfo").json()
    assert info["serverTime"] == server.now == client.get("/fapi/v1/time").json()["serverTime"]
    weight = {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}
    assert info["rateLimits"][0] == weight
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == {"BTCUSDT", "LTCUSDT", "DOGEUSDT"}
    btc = symbols["BTCUSDT"]
    assert (btc["contractType"], btc["status"], btc["onboardDate"]) == ("PERPETUAL", "TRADING", 1567962000000)
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.10" and btc["pricePrecision"] == 2
    assert (filters["LOT_SIZE"]["stepSize"], filters["LOT_SIZE"]["minQty"]) == ("0.001", "0.001")
    assert filters["MIN_NOTIONAL"]["notional"] == "100" and filters["MAX_NUM_ORDERS"]["limit"] == 200
    assert {f["filterType"] for f in btc["filters"]} >= {"MARKET_LOT_SIZE", "MAX_NUM_ALGO_ORDERS", "PERCENT_PRICE"}
    doge = {f["filterType"]: f for f in symbols["DOGEUSDT"]["filters"]}
    assert (doge["LOT_SIZE"]["stepSize"], doge["MIN_NOTIONAL"]["notional"]) == ("1", "5")
    funding = client.get("/fapi/v1/fundingInfo").json()
    assert [(f["symbol"], f["fundingIntervalHours"]) for f in funding] == [
        ("BTCUSDT", 8),
        ("LTCUSDT", 8),
        ("DOGEUSDT", 8),
    ]


def test_weight_header_and_429(market: Market) -> None:
    with BinanceServer(market, NOW, weight_limit=12, weight_window_s=3600) as srv, httpx.Client(base_url=srv.url) as c:
        params = {"symbol": "BTCUSDT", "interval": "1h"}
        used = [c.get("/fapi/v1/klines", params=params).headers["X-MBX-USED-WEIGHT-1M"] for _ in range(2)]
        assert used == ["5", "10"]  # limit 500 weighs 5
        assert c.get("/fapi/v1/klines", params={**params, "limit": 99}).headers["X-MBX-USED-WEIGHT-1M"] == "11"
        over = c.get("/fapi/v1/klines", params={**params, "limit": 100})  # weighs 2: 13 > 12
        assert over.status_code == 429 and over.json() == {"code": -1003, "msg": "Too many requests"}
        assert 1 <= int(over.headers["Retry-After"]) <= 3600 and over.headers["X-MBX-USED-WEIGHT-1M"] == "11"
        assert c.get("/fapi/v1/time").headers["X-MBX-USED-WEIGHT-1M"] == "12"  # the 429 was not counted


def test_weight_window_resets(market: Market) -> None:
    with BinanceServer(market, NOW, weight_limit=1, weight_window_s=0.3) as srv, httpx.Client(base_url=srv.url) as c:
        over = next(r for r in (c.get("/fapi/v1/time") for _ in range(5)) if r.status_code == 429)
        time.sleep(0.35)  # past the window's end
        after = c.get("/fapi/v1/time")
    assert over.headers["Retry-After"] == "1"
    assert (after.status_code, after.headers["X-MBX-USED-WEIGHT-1M"]) == (200, "1")


# ------------------------------------------------------------------------------------------------ faults


@pytest.mark.parametrize("status", [418, 429, 500, 502, 503])
def test_status_fault_once(client: httpx.Client, server: BinanceServer, status: int) -> None:
    server.add_fault(Fault("status", r"/fapi/v1/klines$", times=1, status=status, retry_after=7))
    first = client.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1h", "limit": 1})
    assert (first.status_code, first.headers["Retry-After"]) == (status, "7")
    if status in (418, 429):
        assert first.json()["code"] == -1003
    else:
        assert first.headers["content-type"].startswith("text/plain")
    assert len(klines(client, limit=1)) == 1
    assert server.count(r"/fapi/v1/klines$") == 2


def test_missing_fault(client: httpx.Client, server: BinanceServer) -> None:
    server.add_fault(Fault("missing", r"2023-12\.zip$", times=1))
    assert client.get(DEC_1H).status_code == 404
    assert client.get(DEC_1H).status_code == 200


def test_truncate_fault(client: httpx.Client, server: BinanceServer) -> None:
    full = client.get(DEC_1H).content
    server.add_fault(Fault("truncate", r"2023-12\.zip$"))
    cut = client.get(DEC_1H)
    assert cut.status_code == 200 and cut.content == full[: len(full) // 2]
    assert int(cut.headers["content-length"]) == len(cut.content)
    assert hashlib.sha256(cut.content).hexdigest() != client.get(DEC_1H + ".CHECKSUM").text.split()[0]
    with pytest.raises(zipfile.BadZipFile):
        unzip(cut.content)


def test_reset_fault(client: httpx.Client, server: BinanceServer) -> None:
    server.add_fault(Fault("reset", r"2023-12\.zip$", times=1))
    with pytest.raises(httpx.TransportError):
        client.get(DEC_1H)
    whole = client.get(DEC_1H)  # the fault is spent, and the client recovers
    assert whole.status_code == 200 and unzip(whole.content)
    cut, ok = [r for r in server.requests if r.path == DEC_1H]
    assert 0 < cut.bytes_sent < len(whole.content)
    assert eventually(lambda: ok.bytes_sent == len(whole.content))  # counted right after the write returns


def test_bad_checksum_fault(client: httpx.Client, server: BinanceServer) -> None:
    server.add_fault(Fault("bad_checksum", r"BTCUSDT-1h-2023-12\.zip$"))
    data = client.get(DEC_1H).content
    digest, name = client.get(DEC_1H + ".CHECKSUM").text.split()
    assert name == "BTCUSDT-1h-2023-12.zip" and digest != hashlib.sha256(data).hexdigest()
    assert len(unzip(data)) == 745  # the zip itself is intact


def test_corrupt_fault(client: httpx.Client, server: BinanceServer) -> None:
    clean = unzip(client.get(DEC_1H).content)
    server.add_fault(Fault("corrupt", r"BTCUSDT-1h-2023-12\.zip$"))
    data = client.get(DEC_1H).content
    rows = unzip(data)
    bad = [i for i, r in enumerate(rows[1:]) if float(r[2]) < float(r[3])]
    assert bad == [2] and rows[3][2] == repr(float(rows[3][3]) / 2)
    assert rows[:3] + rows[4:] == clean[:3] + clean[4:]
    assert client.get(DEC_1H + ".CHECKSUM").text.split()[0] == hashlib.sha256(data).hexdigest()
    (row,) = klines(client, startTime=int(rows[3][0]), limit=1)
    assert float(row[2]) >= float(row[3])  # REST unaffected


def test_delay_fault(client: httpx.Client, server: BinanceServer) -> None:
    server.add_fault(Fault("delay", r"/fapi/v1/time$", times=1, delay_s=0.3))
    t0 = time.monotonic()
    client.get("/fapi/v1/time")
    t1 = time.monotonic()
    client.get("/fapi/v1/time")
    assert t1 - t0 >= 0.3 and time.monotonic() - t1 < 0.3


# ------------------------------------------------------------------------------------------------ market builders


def test_funding_schedule_intervals(market: Market) -> None:
    schedule = [("2023-11-01", 8, 1e-4), ("2023-12-01", 4, 2e-4), ("2024-01-01", 1, -5e-5)]
    varied = with_funding_schedule(market, "BTCUSDT", schedule)
    frame = varied.funding["BTCUSDT"]
    gaps = frame["time"].diff().drop_nulls() // H_MS
    assert set(gaps.to_list()) == {8, 4, 1}
    assert frame["time"][-1] == to_ms("2024-01-31T23:00")
    assert set(market.funding["BTCUSDT"]["interval_hours"].to_list()) == {8}  # the original is untouched
    with BinanceServer(varied, NOW) as srv, httpx.Client(base_url=srv.url) as c:
        month = unzip(c.get(f"{ARCHIVE}/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2023-12.zip").content)[1:]
        assert len(month) == 31 * 6 and {r[1] for r in month[1:]} == {"4"} and float(month[0][2]) == 2e-4
        events = c.get("/fapi/v1/fundingRate", params={"symbol": "BTCUSDT", "limit": 3}).json()
        assert [e["fundingTime"] // H_MS for e in events] == [to_ms(f"2024-01-15T0{h}:00") // H_MS for h in "345"]
        assert [e["fundingRate"] for e in events] == ["-0.00005000"] * 3
        info = {f["symbol"]: f["fundingIntervalHours"] for f in c.get("/fapi/v1/fundingInfo").json()}
        assert info["BTCUSDT"] == 1 and info["LTCUSDT"] == 8


def test_alias_serves_source_rows(client: httpx.Client) -> None:
    doge = client.get(f"{ARCHIVE}/monthly/klines/DOGEUSDT/1h/DOGEUSDT-1h-2023-12.zip")
    with zipfile.ZipFile(io.BytesIO(doge.content)) as zf:
        assert zf.namelist() == ["DOGEUSDT-1h-2023-12.csv"]
    assert unzip(doge.content) == unzip(client.get(DEC_1H).content)
    rows = client.get("/fapi/v1/klines", params={"symbol": "DOGEUSDT", "interval": "1h", "startTime": T}).json()
    assert rows == klines(client, startTime=T)


def test_one_minute_klines_only_for_btc() -> None:
    with pytest.raises(ValueError, match="1m only for BTCUSDT"):
        market_from_shared(DATA_ROOT, ["ETHUSDT"], "2025-06-01", "2025-06-02", intervals=("1m",))
    small = market_from_shared(DATA_ROOT, ["BTCUSDT"], "2025-06-01", "2025-06-03", intervals=("1m",), mark=False)
    assert set(small.klines) == {("BTCUSDT", "1m")} and small.klines["BTCUSDT", "1m"].height == 2880
    with BinanceServer(small, "2025-06-02T12:00") as srv:
        day = httpx.get(srv.url + f"{ARCHIVE}/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-01.zip")
        rows = httpx.get(srv.url + "/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m"}).json()
    assert len(unzip(day.content)) == 1441 and unzip(day.content)[1][6] == str(to_ms("2025-06-01") + 59_999)
    assert rows[-1][0] == to_ms("2025-06-02T12:00") and len(rows) == 500


def test_cli_serves_until_terminated() -> None:
    args = ["--symbols", "LTCUSDT", "--start", "2024-01-01", "--end", "2024-01-03", "--now", "2024-01-05T00:00"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.runner.data.binance_server", *args, "--alias", "DOGEUSDT=LTCUSDT"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert httpx.get(url + "/fapi/v1/time").json() == {"serverTime": to_ms("2024-01-05")}
        assert httpx.get(url + "/fapi/v1/klines", params={"symbol": "DOGEUSDT", "interval": "1h"}).json()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
