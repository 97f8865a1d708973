"""Property: a kline file with one random corruption (a cell replaced by garbage, an infinity, NaN, a
negative or absurd number; a duplicated or swapped row) is refused naming the file and the line,
or loads exactly the clean rows; a panel never holds a non-finite or non-positive price."""

import gzip

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.data.panel import DataSpec, build_panel
from runner.data.readers import read_klines
from runner.data.timeframes import parse_utc
from runner.errors import DataError
from tests.conftest import DATA_ROOT

H = 3_600_000
REL = "binance/futures_um/klines_1h/BTCUSDT-1h.csv.gz"
LINES = gzip.decompress((DATA_ROOT / REL).read_bytes()).decode().splitlines()
HEADER = LINES[0]
CLEAN = [ln for ln in LINES[1:] if ln.startswith("2024-01")][:200]
BAD_CELLS = ["garbage", "inf", "-inf", "nan", "NaN", "-1", "-0.5", "1e308", "1e400", "", "0x10"]
BAD_PRICES = [*BAD_CELLS, "0", "0.0"]

corruption = st.one_of(
    st.tuples(st.just("cell"), st.integers(0, len(CLEAN) - 1), st.integers(0, 6), st.sampled_from(BAD_PRICES)),
    st.tuples(st.just("duplicate"), st.integers(0, len(CLEAN) - 1), st.just(0), st.just("")),
    st.tuples(st.just("swap"), st.integers(0, len(CLEAN) - 2), st.just(0), st.just("")),
)


def corrupt(kind: str, i: int, col: int, value: str) -> tuple[list[str], int]:
    """The corrupted rows and the line (header = 1) the loader must name."""
    rows = list(CLEAN)
    if kind == "cell":
        parts = rows[i].split(",")
        if col == 6 and value in ("0", "0.0"):  # a zero volume is a valid bar: use a negative one
            value = "-1"
        parts[col] = value
        rows[i] = ",".join(parts)
        return rows, i + 2
    if kind == "duplicate":
        return [*rows[: i + 1], rows[i], *rows[i + 1 :]], i + 3
    rows[i], rows[i + 1] = rows[i + 1], rows[i]
    return rows, i + 3


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=corruption)
def test_a_corrupted_file_is_refused_at_its_line_or_loads_clean(tmp_path_factory, case) -> None:
    root = tmp_path_factory.mktemp("prop")
    rows, line = corrupt(*case)
    path = root / REL
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(("\n".join([HEADER, *rows]) + "\n").encode()))
    try:
        frame, _ = read_klines(path, H)
    except DataError as exc:
        text = str(exc)
        assert text.startswith(f"{path}: ") and "\n" not in text
        assert f"line {line}:" in text, (case, text)
        return
    clean = root / "clean.csv.gz"
    clean.write_bytes(gzip.compress(("\n".join([HEADER, *CLEAN]) + "\n").encode()))
    assert frame.equals(read_klines(clean, H)[0]), case
    spec = DataSpec(
        root,
        "futures_um",
        ("BTCUSDT",),
        "1h",
        "1h",
        parse_utc("2024-01-01", "s"),
        parse_utc("2024-01-09", "e"),
        funding=False,
    )
    panel = build_panel(spec)
    for a in (panel.open, panel.high, panel.low, panel.close):
        assert np.isfinite(a).all() and (a > 0).all()
