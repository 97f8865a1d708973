"""Split generators: window counts, no train/test overlap, purge and embargo, calendar spans."""

from datetime import UTC, datetime

import numpy as np
import pytest

from runner.errors import ConfigError
from runner.filters.spec import filters_spec
from runner.filters.splits import Partition, Span, equal_blocks, parse_span, purged_kfold, walk_forward_windows

HOUR = 3_600_000


def hourly(start: str, end: str) -> np.ndarray:
    t0 = int(datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp() * 1000)
    t1 = int(datetime.fromisoformat(end).replace(tzinfo=UTC).timestamp() * 1000)
    return np.arange(t0, t1, HOUR, dtype=np.int64)


def day(t: int) -> str:
    return datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%Y-%m-%d")


def test_two_years_with_9mo_train_3mo_test_1mo_step_gives_13_windows() -> None:
    times = hourly("2022-01-01", "2024-01-01")
    wins = walk_forward_windows(times, HOUR, Span(9, "mo"), Span(3, "mo"), Span(1, "mo"), anchored=False)
    assert len(wins) == 13
    assert [day(times[w.train[0]]) for w in wins[:3]] == ["2022-01-01", "2022-02-01", "2022-03-01"]
    assert day(times[wins[0].test[0]]) == "2022-10-01"
    assert wins[-1].test[1] == len(times)  # the last test window ends with the data
    for w in wins:
        assert w.train[1] == w.test[0] and w.train[0] < w.train[1] < w.test[1]


@pytest.mark.parametrize(
    ("train", "test", "step", "anchored", "count"),
    [
        (Span(100), Span(50), Span(50), False, 18),  # (1000 - 150) // 50 + 1
        (Span(100), Span(50), Span(25), False, 35),
        (Span(100), Span(50), Span(50), True, 18),
        (Span(900), Span(100), Span(100), False, 1),
        (Span(901), Span(100), Span(100), False, 0),
    ],
)
def test_bar_windows(train, test, step, anchored, count) -> None:
    times = np.arange(1000, dtype=np.int64) * HOUR
    wins = walk_forward_windows(times, HOUR, train, test, step, anchored)
    assert len(wins) == count
    for k, w in enumerate(wins):
        assert w.train[0] == (0 if anchored else k * step.n)
        assert w.train[1] == w.test[0] and w.test[1] - w.test[0] == test.n
        assert set(range(*w.train)).isdisjoint(range(*w.test))


def test_anchored_windows_grow_from_the_first_bar() -> None:
    times = hourly("2022-01-01", "2024-01-01")
    wins = walk_forward_windows(times, HOUR, Span(270, "d"), Span(90, "d"), Span(90, "d"), anchored=True)
    assert all(w.train[0] == 0 for w in wins)
    assert [w.train[1] - wins[0].train[1] for w in wins[:3]] == [0, 90 * 24, 180 * 24]


@pytest.mark.parametrize(("n", "k", "purge", "embargo"), [(1000, 5, 20, 10), (997, 4, 0, 0), (500, 10, 7, 3)])
def test_purged_kfold_removes_purge_and_embargo_around_each_test_fold(n, k, purge, embargo) -> None:
    folds = purged_kfold(n, k, purge, embargo)
    assert len(folds) == k
    tests = [set(range(*f.test)) for f in folds]
    assert set().union(*tests) == set(range(n)) and sum(map(len, tests)) == n  # a partition
    for f in folds:
        lo, hi = f.test
        train = set().union(*(set(range(*r)) for r in f.train))
        forbidden = set(range(max(0, lo - purge), min(n, hi + purge + embargo)))
        assert train.isdisjoint(forbidden)
        assert train | forbidden == set(range(n))  # nothing else is dropped


def test_equal_blocks_and_partition() -> None:
    blocks = equal_blocks(103, 4)
    assert blocks[0][0] == 0 and blocks[-1][1] == 103
    assert all(b[0] == a[1] for a, b in zip(blocks[:-1], blocks[1:], strict=True))
    part = Partition(103, [(10, 60), *blocks])
    assert part.blk.shape == (103,) and part.blk[0] == 0 and part.blk[-1] == part.n_blocks - 1
    idx = part.blocks((10, 60))
    assert part.edges[idx[0]] == 10 and part.edges[idx[-1] + 1] == 60
    assert (part.blk[10:60][:, None] == idx[None]).any(axis=1).all()
    with pytest.raises(ValueError, match="block edges"):
        part.blocks((11, 60))


def test_calendar_month_shift_keeps_day_and_time() -> None:
    t = int(datetime(2023, 1, 31, 5, tzinfo=UTC).timestamp() * 1000)
    assert day(Span(1, "mo").shift(t)) == "2023-02-28"  # clipped to the month's end
    assert day(Span(1, "y").shift(t)) == "2024-01-31"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {
                "walk_forward": {
                    "mode": "rolling",
                    "train": "9x",
                    "test": "3mo",
                    "step": None,
                    "min_wfe": 0.5,
                    "min_profitable": 0.5,
                }
            },
            "filters.walk_forward.train='9x': must be a number of bars",
        ),
        ({"dsr": {"threshold": 2}}, "filters.dsr.threshold=2: must be a number from 0 to 1"),
        ({"pbo": {"blocks": 7, "max_pbo": 0.5}}, "filters.pbo.blocks=7: must be an even integer"),
        ({"oracle": {}}, "filters.oracle: unknown defense; valid: constraints, dsr"),
        ({"dsr": {"treshold": 0.9}}, "filters.dsr.treshold: unknown setting; valid: threshold"),
    ],
)
def test_bad_filter_settings_name_the_key(raw, message) -> None:
    with pytest.raises(ConfigError) as exc:
        filters_spec(raw)
    assert message in str(exc.value)


def test_parse_span() -> None:
    assert parse_span(120, "k") == Span(120) and parse_span("270d", "k") == Span(270, "d")
    assert parse_span("9mo", "k") == Span(9, "mo")
    with pytest.raises(ConfigError, match="k=0"):
        parse_span(0, "k")
