"""Derived files from the raw archive, deterministically: the same payloads always give the same bytes.

Each series' good payloads are merged in precedence order (monthly archive, daily archive, REST;
then by retrieval time): a time present in several keeps the first. The result is written in the
layout the data layer reads (``binance/futures_um/klines_<interval>/``, ``mark_price_<interval>/``,
``funding/``), numbers as Python ``repr`` (the shortest text that reads back to the same float),
gzip with a fixed header. ``instruments.json`` holds the exchange rules of the stored symbols from
the newest exchangeInfo.
"""

import gzip
import io
import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from runner.data.archive import Archive, Payload, sha256
from runner.data.paths import MARKET, funding_path, instruments_path, kline_path, mark_path
from runner.data.readers import FUNDING_COLUMNS, INTERVAL_COLUMN, KLINE_COLUMNS, MARK_COLUMNS
from runner.data.source.binance import FUNDING, KLINES, Dataset, parse_archive, parse_exchange_info, parse_rest

FUNDING_HEADER = (*FUNDING_COLUMNS, INTERVAL_COLUMN)


def derived_path(root: Path, ds: Dataset) -> Path:
    if ds.kind == KLINES:
        return kline_path(root, MARKET, ds.interval, ds.symbol)
    if ds.kind == FUNDING:
        return funding_path(root, ds.symbol)
    return mark_path(root, ds.symbol, ds.interval)


def payload_name(p: Payload) -> str:
    """A readable name for messages: the archive file name, or the REST call."""
    return p.url.rsplit("/", 1)[-1] if p.source != "rest" else p.url


def parse_payload(ds: Dataset, body: bytes, source: str, name: str) -> pl.DataFrame:
    return parse_rest(ds, body, name) if source == "rest" else parse_archive(ds, body, name)


@dataclass
class Derived:
    path: str  # relative to the data root
    sha256: str
    rows: int
    first: int | None
    last: int | None


def _parsed_path(archive: Archive, ds: Dataset, p: Payload) -> Path:
    # the same body can stand for several series (an empty REST page ``[]``): key by what parses it
    return archive.base / "parsed" / f"{ds.kind}-{ds.interval or 'events'}-{p.source}-{p.sha256}.parquet"


def keep_parsed(archive: Archive, ds: Dataset, p: Payload, frame: pl.DataFrame) -> None:
    """Cache a payload's checked rows beside the archive (a cache: deleting it only costs parsing)."""
    path = _parsed_path(archive, ds, p)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # threads share bodies
        frame.write_parquet(tmp)
        os.replace(tmp, path)


def payload_rows(archive: Archive, ds: Dataset, p: Payload) -> pl.DataFrame:
    """A good payload's rows: from the parsed cache, else parsed (and checked) from its bytes."""
    path = _parsed_path(archive, ds, p)
    if path.is_file():
        try:
            return pl.read_parquet(path)
        except Exception:  # a damaged cache entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    frame = parse_payload(ds, archive.read(p), p.source, payload_name(p))
    keep_parsed(archive, ds, p, frame)
    return frame


def merged(archive: Archive, ds: Dataset) -> tuple[pl.DataFrame, list[Payload]]:
    """The series' rows from its good payloads (first in precedence wins) and those payloads."""
    payloads = archive.payloads(ds, status="ok")
    frames = [
        payload_rows(archive, ds, p).with_columns(pl.lit(rank, pl.Int32).alias("_rank"))
        for rank, p in enumerate(payloads)
    ]
    if not frames:
        return pl.DataFrame(), payloads
    rows = pl.concat(frames, how="vertical_relaxed").sort(["time", "_rank"]).unique("time", keep="first")
    return rows.sort("time").drop("_rank"), payloads


def _text(values: pl.Series) -> pl.Series:
    return pl.Series([repr(float(v)) for v in values.to_list()], dtype=pl.String)


def render(ds: Dataset, rows: pl.DataFrame) -> bytes:
    """CSV text of a series in the data layer's layout."""
    iso = pl.from_epoch(rows["time"], "ms").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    ms = rows["time"].cast(pl.String)
    if ds.kind == FUNDING:
        header = FUNDING_HEADER
        hours = rows["interval_hours"].cast(pl.String).fill_null("")
        cols = [iso, ms, _text(rows["rate"]), hours]
    else:
        header = KLINE_COLUMNS if ds.kind == KLINES else MARK_COLUMNS
        cols = [iso, ms, *(_text(rows[c]) for c in header[2:])]
    lines = pl.DataFrame({str(i): c for i, c in enumerate(cols)}).select(
        pl.concat_str(pl.all(), separator=",").alias("line")
    )["line"]
    return (",".join(header) + "\n" + "".join(f"{line}\n" for line in lines.to_list())).encode()


def write_gzip(path: Path, text: bytes) -> str:
    """Write ``text`` gzipped with a fixed header (no name, mtime 0) atomically; its sha256."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(text)
    data = buf.getvalue()
    _atomic_write(path, data)
    return sha256(data)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def foreign(archive: Archive, datasets: list[Dataset]) -> list[str]:
    """Derived paths of ``datasets`` that hold a file this archive did not write (data placed by
    hand or another tool): a download never overwrites them."""
    out = []
    for ds in datasets:
        path = derived_path(archive.root, ds)
        if path.is_file() and archive.derivation(str(path.relative_to(archive.root))) is None:
            out.append(str(path.relative_to(archive.root)))
    return out


def stale(archive: Archive, ds: Dataset) -> bool:
    """Whether a series' derived file is missing or was not built from its current good payloads
    (a run killed between archiving and deriving leaves it so)."""
    path = derived_path(archive.root, ds)
    last = archive.derivation(str(path.relative_to(archive.root)))
    current = [p.sha256 for p in archive.payloads(ds, status="ok")]
    return bool(current) and (not path.is_file() or last is None or last[2] != current)


def derive(archive: Archive, ds: Dataset) -> Derived | None:
    """Write one series' derived file from the archive and record which payloads made it."""
    rows, payloads = merged(archive, ds)
    if rows.height == 0:
        return None
    path = derived_path(archive.root, ds)
    digest = write_gzip(path, render(ds, rows))
    rel = str(path.relative_to(archive.root))
    archive.record_derivation(rel, digest, rows.height, [p.sha256 for p in payloads])
    return Derived(rel, digest, rows.height, int(rows["time"][0]), int(rows["time"][-1]))


def derive_instruments(archive: Archive) -> Derived | None:
    """``instruments.json``: the newest exchangeInfo's rules for every symbol the archive holds."""
    info = archive.latest("exchangeInfo")
    if info is None:
        return None
    funding = archive.latest("fundingInfo")
    rules = parse_exchange_info(archive.read(info), archive.read(funding) if funding else None)
    symbols = sorted({ds.symbol for ds in archive.datasets()})
    doc = {
        "source": info.url,
        "retrieved_at": info.retrieved_at,
        "symbols": {s: asdict(rules[s]) for s in symbols if s in rules},
    }
    data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
    path = instruments_path(archive.root)
    _atomic_write(path, data)
    digest = sha256(data)
    inputs = [info.sha256] + ([funding.sha256] if funding else [])
    rel = str(path.relative_to(archive.root))
    archive.record_derivation(rel, digest, len(doc["symbols"]), inputs)
    return Derived(rel, digest, len(doc["symbols"]), None, None)
