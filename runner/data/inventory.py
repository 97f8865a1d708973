"""What a data root holds and whether it is intact: ``status``, ``verify`` and ``rebuild``."""

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runner.data.archive import Archive, sha256
from runner.data.derive import derive, derive_instruments
from runner.data.funding import interval_hours, schedule
from runner.data.readers import file_sha256, read_funding, read_klines, read_mark
from runner.data.source.binance import iso_ms
from runner.data.timeframes import TIMEFRAME_MS
from runner.errors import DataError

KLINE_DIR = re.compile(r"^klines_(\w+)$")
MARK_DIR = re.compile(r"^mark_price_(\w+)$")


@dataclass
class FileReport:
    """One data file: its series, coverage and what is wrong with it (empty: nothing)."""

    path: Path
    symbol: str
    series: str
    rows: int = 0
    first: int | None = None
    last: int | None = None
    gaps: int = 0  # missing bars inside [first, last]; missed settlements for funding
    intervals: list[tuple[int, int]] = field(default_factory=list)  # (from ms, hours) for funding
    problem: str = ""


def data_files(root: Path) -> list[tuple[Path, str, str, int]]:
    """Every data file under ``root/binance``: (path, symbol, series label, bar step or 0)."""
    out = []
    base = root / "binance"
    for market in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        prefix = "" if market.name == "futures_um" else f"{market.name} "
        for folder in sorted(p for p in market.iterdir() if p.is_dir()):
            k, m = KLINE_DIR.match(folder.name), MARK_DIR.match(folder.name)
            for path in sorted(folder.glob("*.csv.gz")):
                symbol = path.name.split("-", 1)[0]
                if k and k.group(1) in TIMEFRAME_MS:
                    out.append((path, symbol, f"{prefix}klines {k.group(1)}", TIMEFRAME_MS[k.group(1)]))
                elif m and m.group(1) in TIMEFRAME_MS:
                    out.append((path, symbol, f"mark {m.group(1)}", TIMEFRAME_MS[m.group(1)]))
                elif folder.name == "funding":
                    out.append((path, symbol, "funding", 0))
    return out


def funding_intervals(times: np.ndarray, given: np.ndarray) -> tuple[list[tuple[int, int]], int]:
    """Settlement intervals as segments ``(from, hours)`` and the number of settlements missing
    between the first and the last (by the history's own schedule)."""
    hours = interval_hours(times, given)
    change = np.concatenate(([True], hours[1:] != hours[:-1]))
    segments = [(int(t), int(h)) for t, h in zip(times[change], hours[change], strict=True)]
    missed = schedule(times, hours, int(times[0]) - 1, int(times[-1]) + 1).size - times.size
    return segments, int(missed)


def inspect(path: Path, symbol: str, series: str, step: int) -> FileReport:
    """Read a file with the data layer's checks and measure its coverage."""
    report = FileReport(path, symbol, series)
    try:
        if series == "funding":
            frame, _ = read_funding(path)
        elif series.startswith("mark"):
            frame, _ = read_mark(path, step_ms=step)
        else:
            frame, _ = read_klines(path, step)
    except DataError as exc:
        report.problem = str(exc)
        return report
    times = frame["time"].to_numpy()
    report.rows, report.first, report.last = frame.height, int(times[0]), int(times[-1])
    if step:
        report.gaps = int((times[-1] - times[0]) // step + 1 - times.size)
    else:
        given = frame["interval_hours"].fill_null(0).to_numpy()
        report.intervals, report.gaps = funding_intervals(times, given)
    return report


def describe_intervals(segments: list[tuple[int, int]]) -> str:
    if not segments:
        return ""
    parts = [f"{segments[0][1]}h"] + [f"{h}h from {iso_ms(t)[:10]}" for t, h in segments[1:]]
    return ", ".join(parts)


def status(root: Path) -> tuple[list[FileReport], dict]:
    """Every data file's coverage, and a summary of the raw archive when there is one."""
    reports = sorted((inspect(*f) for f in data_files(root)), key=lambda r: (r.symbol, r.series))
    summary: dict = {}
    if Archive.exists(root):
        archive = Archive(root, create=False)
        try:
            payloads = archive.payloads()
            summary = {
                "payloads": len(payloads),
                "bytes": sum(p.size for p in payloads),
                "quarantined": [(p.url.rsplit("/", 1)[-1], p.reason) for p in payloads if p.status != "ok"],
            }
        finally:
            archive.close()
    return reports, summary


@dataclass
class Finding:
    what: str  # the file or payload
    problem: str


def verify(root: Path) -> tuple[list[FileReport], list[Finding], list[Finding]]:
    """Every file read with the data layer's checks; published and recorded checksums compared.
    Returns the file reports, the problems (which fail ``verify``) and notes (which do not)."""
    problems: list[Finding] = []
    notes: list[Finding] = []
    reports = [inspect(*f) for f in data_files(root)]
    for r in reports:
        rel = str(r.path.relative_to(root))
        if r.problem:
            problems.append(Finding(rel, r.problem))
        elif r.gaps:
            notes.append(Finding(rel, f"{r.gaps} missing {'settlements' if r.series == 'funding' else 'bars'}"))
    sums = root / "binance" / "SHA256SUMS"
    if sums.is_file():
        for line in sums.read_text().splitlines():
            digest, _, name = line.partition("  ")
            path = root / "binance" / name.strip()
            if not path.is_file():
                problems.append(Finding(f"binance/{name.strip()}", "listed in SHA256SUMS but missing"))
            elif file_sha256(path) != digest.strip():
                problems.append(Finding(f"binance/{name.strip()}", "sha256 differs from SHA256SUMS"))
    if Archive.exists(root):
        archive = Archive(root, create=False)
        try:
            _verify_archive(root, archive, problems, notes)
        finally:
            archive.close()
    return reports, problems, notes


def _verify_archive(root: Path, archive: Archive, problems: list[Finding], notes: list[Finding]) -> None:
    for p in archive.payloads():
        name = f"archive payload {p.id} ({p.url.rsplit('/', 1)[-1]})"
        obj = archive.object_path(p.sha256)
        if not obj.is_file():
            problems.append(Finding(name, "object missing from archive/objects"))
        elif sha256(obj.read_bytes()) != p.sha256:
            problems.append(Finding(name, "object bytes changed since it was archived"))
        if p.status != "ok":
            notes.append(Finding(name, f"quarantined: {p.reason}"))
    for rel in archive.derived_paths():
        digest, _, _ = archive.derivation(rel)
        path = root / rel
        if not path.is_file():
            problems.append(Finding(rel, "derived file missing (python -m runner.data rebuild)"))
        elif file_sha256(path) != digest:
            problems.append(Finding(rel, "edited after it was derived from the archive (rebuild restores it)"))


def rebuild(root: Path) -> list[tuple[str, str]]:
    """Regenerate every derived file from the archive; (path, 'unchanged' | 'rewritten' | 'new')."""
    archive = Archive(root, create=False)
    try:
        out = []
        before = {rel: (file_sha256(root / rel) if (root / rel).is_file() else None) for rel in archive.derived_paths()}
        for ds in archive.datasets():
            made = derive(archive, ds)
            if made:
                out.append(made)
        inst = derive_instruments(archive)
        if inst:
            out.append(inst)
        return [
            (
                d.path,
                "new" if before.get(d.path) is None else "unchanged" if before[d.path] == d.sha256 else "rewritten",
            )
            for d in out
        ]
    finally:
        archive.close()
