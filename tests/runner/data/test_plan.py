"""What a download fetches: archive months and days, REST for the rest, never before a listing."""

import numpy as np
import pytest

from runner.data.archive import Payload
from runner.data.plan import archive_files, missing, rest_spans, window
from runner.data.source.binance import FUNDING, KLINES, Dataset
from runner.data.spans import holes, merge, subtract
from runner.data.timeframes import parse_utc

H = 3_600_000
K = Dataset(KLINES, "BTCUSDT", "1h")
F = Dataset(FUNDING, "BTCUSDT")


def t(text: str) -> int:
    return parse_utc(text, "t")


@pytest.mark.parametrize(
    "ds, start, end, listing, now, expected",
    [
        # the bar in progress at 05:30 is not final; a date end means the whole day
        (K, "2024-01-01", None, "2019-09-08", "2025-01-15T05:30", ("2024-01-01", "2025-01-15T05:00")),
        (K, "2024-01-01", "2024-06-30T23:59", "2019-09-08", "2025-01-15T05:30", ("2024-01-01", "2024-07-01")),
        # never before the listing, from its first whole bar
        (K, "2020-01-01", None, "2020-10-23T07:30", "2021-01-01T00:00", ("2020-10-23T08:00", "2021-01-01")),
        # a settlement at or before now is final
        (F, "2024-01-01", None, "2019-09-08", "2025-01-15T00:00", ("2024-01-01", "2025-01-15T00:00:00.001")),
    ],
)
def test_window(ds, start, end, listing, now, expected) -> None:
    end_ms = None if end is None else parse_utc(end, "e", end=True)
    assert window(ds, t(start), end_ms, t(listing), t(now)) == (t(expected[0]), t(expected[1]))


def _periods(ds, span, now, done=()):
    return [f.period for f in archive_files(ds, (t(span[0]), t(span[1])), t(now), list(done))]


def test_months_then_days_of_the_current_month() -> None:
    got = _periods(K, ("2024-11-15", "2025-01-04T05:00"), "2025-01-04T05:30")
    assert got == ["2024-11", "2024-12", "2025-01-01", "2025-01-02", "2025-01-03"]  # today: REST
    assert _periods(F, ("2024-11-15", "2025-01-04T05:00"), "2025-01-04T05:30") == ["2024-11", "2024-12"]


def test_done_periods_are_skipped_and_partly_done_ones_fetched() -> None:
    done = [(t("2024-11-01"), t("2024-12-01")), (t("2024-12-01"), t("2024-12-10"))]
    assert _periods(K, ("2024-11-01", "2025-01-01"), "2025-01-04", done) == ["2024-12"]


def _payload(source: str, lo: str, hi: str, status: str = "ok", gaps=()) -> Payload:
    import json

    hole_list = [[t(a), t(b)] for a, b in gaps]
    return Payload(
        1, "x", 0, "u", source, KLINES, "BTCUSDT", "1h", t(lo), t(hi), 0, None, status, "", 0, json.dumps(hole_list)
    )


def test_rest_fills_what_the_archive_lacks_once() -> None:
    span = (t("2024-01-01"), t("2024-03-01"))
    payloads = [
        _payload("monthly", "2024-01-01", "2024-02-01", gaps=[("2024-01-10", "2024-01-10T03:00")]),
        _payload("monthly", "2024-02-01", "2024-03-01", status="quarantined"),
    ]
    assert rest_spans(span, payloads) == [(t("2024-01-10"), t("2024-01-10T03:00")), (t("2024-02-01"), t("2024-03-01"))]
    # REST was asked for February and came back without 2024-02-05 00:00: that is a gap, not asked again
    payloads.append(_payload("rest", "2024-01-10", "2024-01-10T03:00"))
    payloads.append(_payload("rest", "2024-02-01", "2024-03-01", gaps=[("2024-02-05", "2024-02-05T01:00")]))
    assert rest_spans(span, payloads) == []
    assert missing(span, payloads) == [(t("2024-02-05"), t("2024-02-05T01:00"))]


def test_spans() -> None:
    assert merge([(5, 6), (0, 2), (2, 3)]) == [(0, 3), (5, 6)]
    assert subtract([(0, 10), (20, 30)], [(5, 25)]) == [(0, 5), (25, 30)]
    assert holes(np.array([2, 3, 6]), 0, 10, 1) == [(0, 2), (4, 6), (7, 10)]
    assert holes(np.array([], dtype=np.int64), 0, 4, 1) == [(0, 4)]
