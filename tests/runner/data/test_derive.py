"""A long-running process's derivations (``Merges``: a live feed's update after each bar) write the
same bytes as a full derivation and read only the payloads they have not merged before. Scenarios:
REST pages in Binance's format, cut from the real shared files, added step by step to an archive;
after each step the series is derived with the memory and then again without it."""

import io
import json
import random
import zipfile
from pathlib import Path

import polars as pl
import pytest

from runner.data import derive as derive_module
from runner.data.archive import Archive
from runner.data.derive import Merges, derive
from runner.data.source.binance import FUNDING, KLINES, MARK, Dataset
from tests.conftest import DATA_ROOT
from tests.runner.data.binance_server import KLINE_HEADER

FIRST = 1_704_067_200_000  # 2024-01-01T00:00Z
H = 3_600_000
SERIES = {
    "klines": (Dataset(KLINES, "BTCUSDT", "1h"), "klines_1h/BTCUSDT-1h.csv.gz", H),
    "mark": (Dataset(MARK, "BTCUSDT", "1h"), "mark_price_1h/BTCUSDT-mark-1h.csv.gz", H),
    "funding": (Dataset(FUNDING, "BTCUSDT"), "funding/BTCUSDT-funding.csv.gz", 8 * H),
}

# a step: (first row, rows, price factor, retrieval order); each step adds one REST page; a factor other
# than 1 gives rows another merged page already holds other prices (the first in precedence wins);
# pages are retrieved in the order given (a smaller number: retrieved before pages added earlier)
SCENARIOS = {
    "a page per bar": [(0, 24, 1, 1), (24, 1, 1, 2), (25, 1, 1, 3), (26, 1, 1, 4), (27, 2, 1, 5)],
    "pages overlapping the last rows with other prices": [(0, 24, 1, 1), (20, 6, 1.01, 2), (25, 3, 1.02, 3)],
    "an empty page, then a bar": [(0, 24, 1, 1), (24, 0, 1, 2), (24, 1, 1, 3)],
    "a page of rows merged before only": [(0, 12, 1, 1), (3, 4, 1.05, 2), (12, 1, 1, 3)],
    "a page filling a gap before the last row": [(0, 10, 1, 1), (12, 5, 1, 2), (10, 2, 1.03, 3), (17, 1, 1, 4)],
    "a page over merged rows and a gap": [(0, 10, 1, 1), (12, 3, 1, 2), (8, 4, 1.02, 3), (15, 1, 1, 4)],
    "a page retrieved before the pages merged": [(0, 10, 1, 1), (10, 5, 1, 3), (8, 9, 1.04, 2), (17, 1, 1, 4)],
    "an empty first page": [(0, 0, 1, 1), (0, 5, 1, 2), (5, 1, 1, 3)],
}
# steps whose merge reads only the page they add (the memory holds everything before it)
INCREMENTAL = {"a page per bar": [1, 2, 3, 4], "an empty page, then a bar": [1, 2]}


@pytest.fixture(scope="module")
def shared() -> dict[str, pl.DataFrame]:
    """40 rows of each series from 2024-01-01, as the shared files hold them."""
    out = {}
    for name, (_, rel, _) in SERIES.items():
        frame = pl.read_csv(DATA_ROOT / "binance" / "futures_um" / rel)
        time = frame.columns[1]
        out[name] = frame.filter(pl.col(time) >= FIRST).head(40).rename({time: "t"})
    return out


def rest_page(name: str, rows: pl.DataFrame, factor: float) -> bytes:
    """The rows as the REST endpoint answers (klines and mark-price klines: arrays of strings; funding:
    objects), prices multiplied by ``factor``."""
    if name == "funding":
        items = [
            {"symbol": "BTCUSDT", "fundingTime": r["t"], "fundingRate": str(r["funding_rate"] * factor)}
            for r in rows.iter_rows(named=True)
        ]
        return json.dumps(items).encode()
    items = []
    for r in rows.iter_rows(named=True):
        prices = [str(r[c] * factor) for c in ("open", "high", "low", "close")]
        volume = str(r["volume"]) if name == "klines" else "0"
        items.append([r["t"], *prices, volume, r["t"] + H - 1, "0", 0, "0", "0", "0"])
    return json.dumps(items).encode()


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_remembered_merge_derives_the_bytes_of_a_full_one(
    tmp_path: Path, shared, name: str, scenario: str, monkeypatch
) -> None:
    ds, _, step = SERIES[name]
    archive = Archive(tmp_path / "root")
    merges = Merges()
    reads: list[str] = []
    payload_rows = derive_module.payload_rows

    def counted(archive, ds, p):
        reads.append(p.sha256)
        return payload_rows(archive, ds, p)

    monkeypatch.setattr(derive_module, "payload_rows", counted)
    path = None
    for k, (first, n, factor, order) in enumerate(SCENARIOS[scenario]):
        rows = shared[name].slice(first, n)
        archive.add(
            rest_page(name, rows, factor),
            url=f"/rest/{scenario}/{k}",
            source="rest",
            dataset=ds,
            kind=ds.kind,
            period=(FIRST + first * step, FIRST + (first + n) * step),
            rows=n,
            retrieved_at=1_800_000_000_000 + order,
        )
        reads.clear()
        remembered = derive(archive, ds, merges)
        if remembered is None:  # nothing to derive yet (an empty page)
            assert derive(archive, ds) is None and k == 0
            continue
        path = archive.root / remembered.path
        written = path.read_bytes()
        if k in INCREMENTAL.get(scenario, []):
            assert len(reads) == 1, f"step {k}: read {len(reads)} payloads, wanted the new one only"
        full = derive(archive, ds)
        assert full == remembered, f"step {k}"
        assert path.read_bytes() == written, f"step {k}"
    assert path is not None
    got = pl.read_csv(path)
    assert got.height == len({t for f, n, _, _ in SCENARIOS[scenario] for t in range(f, f + n)})


def archive_zip(name: str, rows: pl.DataFrame, factor: float, hours: int | None) -> bytes:
    """The rows as a data.binance.vision monthly/daily zip (klines and mark price: the kline CSV;
    funding: ``calc_time,funding_interval_hours,last_funding_rate``)."""
    if name == "funding":
        lines = ["calc_time,funding_interval_hours,last_funding_rate"]
        lines += [f"{r['t']},{hours or ''},{r['funding_rate'] * factor}" for r in rows.iter_rows(named=True)]
    else:
        lines = [KLINE_HEADER]
        for r in rows.iter_rows(named=True):
            prices = ",".join(str(r[c] * factor) for c in ("open", "high", "low", "close"))
            volume = r["volume"] if name == "klines" else 0
            lines.append(f"{r['t']},{prices},{volume},{r['t'] + H - 1},0,0,0,0,0")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("BTCUSDT.csv", "\n".join(lines) + "\n")
    return out.getvalue()


@pytest.mark.parametrize("seed", range(3))
def test_random_payload_sequences_derive_the_bytes_of_a_full_merge(tmp_path: Path, shared, seed: int) -> None:
    """Five random sequences per seed: monthly and daily zips and REST pages over random rows (some
    empty, some quarantined, some with other prices, retrieved in random order)."""
    rng = random.Random(seed)
    for case in range(5):
        name = rng.choice(list(SERIES))
        ds, _, step = SERIES[name]
        archive = Archive(tmp_path / f"root-{case}")
        merges = Merges()
        for k in range(rng.randint(3, 12)):
            source = rng.choices(["rest", "daily", "monthly"], [6, 1, 1])[0]
            first, n = rng.randint(0, 35), rng.randint(0 if source == "rest" else 1, 8)
            factor = rng.choice([1, 1, 1, 1.01, 1.5])
            rows = shared[name].slice(first, n)
            if source == "rest":
                body = rest_page(name, rows, factor)
            else:
                body = archive_zip(name, rows, factor, rng.choice([None, 8, 4]))
            archive.add(
                body,
                url=f"/{source}/{case}/{k}",
                source=source,
                dataset=ds,
                kind=ds.kind,
                period=(FIRST + first * step, FIRST + (first + n) * step),
                rows=n,
                status="quarantined" if rng.random() < 0.1 else "ok",
                retrieved_at=1_800_000_000_000 + rng.choice([k, k, k, rng.randint(0, 20)]),
            )
            remembered = derive(archive, ds, merges)
            where = f"seed {seed} case {case} ({name}) step {k}"
            if remembered is None:
                assert derive(archive, ds) is None, where
                continue
            written = (archive.root / remembered.path).read_bytes()
            record = archive.derivation(remembered.path)
            assert derive(archive, ds) == remembered, where
            assert (archive.root / remembered.path).read_bytes() == written, where
            assert archive.derivation(remembered.path) == record, where
        archive.close()
