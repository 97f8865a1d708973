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


def _ranked(frame: pl.DataFrame, rank: int) -> pl.DataFrame:
    return frame.with_columns(pl.lit(rank, pl.Int32).alias("_rank"))


def _first_wins(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Ranked frames merged by time, the lowest rank winning a time several hold."""
    rows = pl.concat(frames, how="vertical_relaxed").sort(["time", "_rank"]).unique("time", keep="first")
    return rows.sort("time").drop("_rank")


@dataclass
class _Merge:
    shas: list[str]  # the good payloads merged, in precedence order
    rows: pl.DataFrame  # their rows, first in precedence wins, by time
    body: bytes  # ``rows`` as the derived file's lines, without its header


class Merges:
    """A long-running process's last merge of each series (a live feed's): when a series' good
    payloads are the ones merged before plus newer ones after them (a REST page per closed bar), the
    next merge reads only the new payloads and renders only rows after the last one, instead of
    every payload and row the series ever had. The bytes derived are the same as a full merge's
    (``derive``); any other change (a payload removed, an archive file before the REST pages) merges
    in full. It holds each series' rows and text: about 150 bytes a row (8,760 a year at 1h)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, Dataset], _Merge] = {}

    def before(self, archive: Archive, ds: Dataset, shas: list[str]) -> _Merge | None:
        last = self._last.get((str(archive.root), ds))
        return last if last is not None and shas[: len(last.shas)] == last.shas else None

    def keep(self, archive: Archive, ds: Dataset, merge: _Merge) -> None:
        self._last[(str(archive.root), ds)] = merge


def _merge(archive: Archive, ds: Dataset, payloads: list[Payload], merges: Merges | None) -> _Merge:
    """The series' rows from its good payloads (first in precedence wins) and their lines."""
    shas = [p.sha256 for p in payloads]
    before = merges.before(archive, ds, shas) if merges is not None else None
    if before is None or before.rows.height == 0:
        frames = [_ranked(payload_rows(archive, ds, p), rank) for rank, p in enumerate(payloads)]
        rows = _first_wins(frames) if frames else pl.DataFrame()
        merge = _Merge(shas, rows, _lines(ds, rows))
    else:
        new = payloads[len(before.shas) :]
        frames = [_ranked(before.rows, 0), *(_ranked(payload_rows(archive, ds, p), 1 + i) for i, p in enumerate(new))]
        rows = _first_wins(frames) if new else before.rows
        n = before.rows.height  # every earlier row is kept: appended rows leave the first n as they were
        if rows["time"][n - 1] == before.rows["time"][n - 1]:
            body = before.body + _lines(ds, rows.slice(n))
        else:  # a new row before the last one
            body = _lines(ds, rows)
        merge = _Merge(shas, rows, body)
    if merges is not None:
        merges.keep(archive, ds, merge)
    return merge


def _text(values: pl.Series) -> pl.Series:
    return pl.Series([repr(float(v)) for v in values.to_list()], dtype=pl.String)


def _header(ds: Dataset) -> tuple[str, ...]:
    if ds.kind == FUNDING:
        return FUNDING_HEADER
    return KLINE_COLUMNS if ds.kind == KLINES else MARK_COLUMNS


def _lines(ds: Dataset, rows: pl.DataFrame) -> bytes:
    """The rows as CSV lines in the data layer's layout (each line ends in a newline)."""
    if rows.height == 0:
        return b""
    iso = pl.from_epoch(rows["time"], "ms").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    ms = rows["time"].cast(pl.String)
    if ds.kind == FUNDING:
        hours = rows["interval_hours"].cast(pl.String).fill_null("")
        cols = [iso, ms, _text(rows["rate"]), hours]
    else:
        cols = [iso, ms, *(_text(rows[c]) for c in _header(ds)[2:])]
    lines = pl.DataFrame({str(i): c for i, c in enumerate(cols)}).select(
        pl.concat_str(pl.all(), separator=",").alias("line")
    )["line"]
    return "".join(f"{line}\n" for line in lines.to_list()).encode()


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


def derive(archive: Archive, ds: Dataset, merges: Merges | None = None) -> Derived | None:
    """Write one series' derived file from the archive and record which payloads made it (``merges``:
    a long-running process's memory of the last merge, see ``Merges``)."""
    payloads = archive.payloads(ds, status="ok")
    merge = _merge(archive, ds, payloads, merges)
    rows = merge.rows
    if rows.height == 0:
        return None
    path = derived_path(archive.root, ds)
    digest = write_gzip(path, (",".join(_header(ds)) + "\n").encode() + merge.body)
    rel = str(path.relative_to(archive.root))
    archive.record_derivation(rel, digest, rows.height, merge.shas)
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
