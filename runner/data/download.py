"""``download`` and ``update``: plan, fetch (archive files in parallel, then REST), archive, derive.

Every payload is archived the moment it arrives, so a run killed at any point resumes from the
index: the plan is recomputed from what is stored, and nothing stored is fetched again.
"""

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from difflib import get_close_matches
from urllib.parse import urlencode

import httpx
import polars as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from runner.data.archive import Archive, Payload, writer_lock
from runner.data.derive import (
    Derived,
    Merges,
    derive,
    derive_instruments,
    foreign,
    keep_parsed,
    parse_payload,
    stale,
)
from runner.data.plan import ArchiveFile, archive_done, archive_files, missing, rest_spans, window
from runner.data.settings import StoreSpec
from runner.data.source.binance import (
    FUNDING,
    HOUR_MS,
    KLINES,
    MARK,
    REST_LIMITS,
    REST_PATHS,
    Dataset,
    SymbolRules,
    iso_ms,
    kline_weight,
    parse_checksum,
    parse_exchange_info,
)
from runner.data.source.client import HttpClient, HttpStatusError
from runner.data.spans import Span, holes, length
from runner.errors import ConfigError, DataError

CHECKSUM_ATTEMPTS = 3  # downloads of a file whose bytes do not match its published checksum


class SeriesFailed(Exception):
    """A series could not be fetched (the network kept failing); what arrived is kept."""


@dataclass
class SeriesResult:
    dataset: Dataset
    span: Span = (0, 0)
    files: int = 0
    rows: int = 0
    bytes: int = 0
    not_in_archive: int = 0
    quarantined: list[str] = field(default_factory=list)
    gaps: list[Span] = field(default_factory=list)
    error: str = ""
    derived: Derived | None = None

    @property
    def missing_bars(self) -> int:
        step = self.dataset.step_ms
        return length(self.gaps) // step if step else len(self.gaps)


@dataclass
class Fetched:
    """One payload as received, with what validation made of it."""

    dataset: Dataset
    body: bytes
    url: str
    source: str
    period: Span
    frame: pl.DataFrame | None
    reason: str = ""
    published: str | None = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, HttpStatusError):
        return str(exc)
    if isinstance(exc, httpx.TransportError):
        where = exc.request.url if getattr(exc, "_request", None) is not None else "the server"
        return f"GET {where}: {type(exc).__name__}: {exc or 'connection failed'}"
    return f"{type(exc).__name__}: {exc}"


class Fetcher:
    """Talks to the archive and the REST API and files every payload in the archive."""

    def __init__(self, spec: StoreSpec, archive: Archive, http: HttpClient, console: Console):
        self.spec, self.archive, self.http, self.console = spec, archive, http, console
        self.new_info = False

    # --- the exchange ---------------------------------------------------------------------------
    def server_time(self) -> int:
        body = self._rest("/fapi/v1/time", {}, 1)
        try:
            return int(json.loads(body)["serverTime"])
        except (ValueError, KeyError, TypeError):
            raise DataError(f"{self.spec.rest_url}/fapi/v1/time: unexpected response {body[:100]!r}") from None

    def rules(self, symbols: tuple[str, ...], now: int, strict: bool = True) -> dict[str, SymbolRules]:
        """Exchange rules of ``symbols``: the stored exchangeInfo when fresh, else a new one. A symbol
        the exchange does not list is an error (``strict``) or left out."""
        info = self.archive.latest("exchangeInfo")
        funding = self.archive.latest("fundingInfo")
        rules: dict[str, SymbolRules] = {}
        if info is not None:
            rules = parse_exchange_info(self.archive.read(info), self.archive.read(funding) if funding else None)
        fresh = info is not None and now - info.retrieved_at <= self.spec.info_max_age_ms
        if not fresh or any(s not in rules for s in symbols):
            body = self._rest("/fapi/v1/exchangeInfo", {}, 1)
            extra = self._rest("/fapi/v1/fundingInfo", {}, 1)
            rules = parse_exchange_info(body, extra)
            for kind, data in (("exchangeInfo", body), ("fundingInfo", extra)):
                url = f"{self.spec.rest_url}/fapi/v1/{kind}"
                self.archive.add(data, url=url, source="info", dataset=None, kind=kind, period=(now, now))
            self.new_info = True
        unknown = [s for s in symbols if s not in rules]
        if unknown and strict:
            close = get_close_matches(unknown[0], list(rules), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"symbols: {unknown[0]} is not a USDT-M perpetual in {self.spec.rest_url}/fapi/v1/exchangeInfo "
                f"({len(rules)} perpetuals listed){hint}"
            )
        for s in unknown:
            self.console.print(f"[yellow]warning:[/yellow] {s} is no longer listed in exchangeInfo; not updated")
        return rules

    def _rest(self, path: str, params: dict, weight: int) -> bytes:
        try:
            return self.http.get(self.spec.rest_url + path, params, weight)
        except HttpStatusError as exc:
            if exc.status == 400 and b"-1121" in exc.body:
                raise ConfigError(f"symbols: {params.get('symbol')} is not a symbol of {self.spec.rest_url}") from None
            raise DataError(_describe(exc)) from None
        except httpx.TransportError as exc:
            raise DataError(f"{self.spec.rest_url}{path}: {_describe(exc)}") from None

    # --- payloads -------------------------------------------------------------------------------
    def archive_file(self, f: ArchiveFile) -> Fetched | None:
        """An archive file verified against its ``.CHECKSUM`` (None: the archive does not have it)."""
        url = f"{self.spec.archive_url}/{f.dataset.archive_path(f.period)}"
        name = url.rsplit("/", 1)[-1]
        body, published = b"", None
        for _ in range(CHECKSUM_ATTEMPTS):
            try:
                published = parse_checksum(self.http.get(url + ".CHECKSUM"), name)
                body = self.http.get(url)
            except HttpStatusError as exc:
                if exc.status in (403, 404):
                    return None
                raise
            if _sha(body) == published:
                return self._checked(f.dataset, body, url, f.source, (f.start, f.end), published)
        reason = f"{name}: sha256 {_sha(body)[:16]}... does not match the published .CHECKSUM {published[:16]}..."
        return Fetched(f.dataset, body, url, f.source, (f.start, f.end), None, reason, published)

    def rest_pages(self, ds: Dataset, span: Span) -> Iterator[Fetched]:
        """Pages of ``span`` from the REST endpoint, each as received; the last page of a range (or
        an empty one) covers the range to its end."""
        lo, hi = span
        limit = REST_LIMITS[ds.kind]
        if ds.step_ms:  # klines: no larger page than the range needs (a live update's few bars weigh 1, not 10)
            limit = min(limit, max(1, -(-(hi - lo) // ds.step_ms)))
        url = self.spec.rest_url + REST_PATHS[ds.kind]
        weight = kline_weight(limit) if ds.kind != FUNDING else 1
        cursor = lo
        while cursor < hi:
            params = ds.rest_params(cursor, hi, limit)
            try:
                body = self.http.get(url, params, weight)
            except HttpStatusError as exc:
                if exc.status == 400 and b"-1121" in exc.body:
                    raise ConfigError(f"symbols: {ds.symbol} is not a symbol of {self.spec.rest_url}") from None
                raise
            items = json.loads(body) if body[:1] == b"[" else []
            page_end = hi
            if len(items) >= limit:
                last = max(int(i["fundingTime"]) + 1 if ds.kind == FUNDING else int(i[0]) + ds.step_ms for i in items)
                page_end = min(hi, max(last, cursor + 1))
            page = self._checked(ds, body, f"{url}?{urlencode(params)}", "rest", (cursor, page_end), None)
            yield page
            if page.frame is None:
                return  # a malformed page: its range stays unfetched, the rest is not guessed
            cursor = page_end

    def _checked(self, ds: Dataset, body: bytes, url: str, source: str, period: Span, published) -> Fetched:
        """Parse and check a payload; a bad one comes back without rows and with the reason."""
        name = url.rsplit("/", 1)[-1] if source != "rest" else url
        # settlement times are rounded to the hour from the exchange's raw, jittered times
        lo, hi = (period[0] - HOUR_MS // 2, period[1] + HOUR_MS // 2) if ds.kind == FUNDING else period
        try:
            frame = parse_payload(ds, body, source, name)
            outside = frame.filter((pl.col("time") < lo) | (pl.col("time") >= hi))
            if outside.height:
                raise DataError(f"{name}: a row at {iso_ms(outside['time'][0])} lies outside the requested period")
        except DataError as exc:
            return Fetched(ds, body, url, source, period, None, str(exc), published)
        return Fetched(ds, body, url, source, period, frame, "", published)

    def store(self, got: Fetched) -> Payload:
        ds, frame = got.dataset, got.frame
        gaps: list[Span] = []
        if frame is not None and ds.step_ms:
            gaps = holes(frame["time"].to_numpy(), got.period[0], got.period[1], ds.step_ms)
        payload = self.archive.add(
            got.body,
            url=got.url,
            source=got.source,
            dataset=ds,
            kind=ds.kind,
            period=got.period,
            status="ok" if frame is not None else "quarantined",
            reason=got.reason,
            rows=frame.height if frame is not None else 0,
            holes=gaps,
            published=got.published,
        )
        if frame is not None:
            keep_parsed(self.archive, ds, payload, frame)
        return payload


def _sha(body: bytes) -> str:
    import hashlib

    return hashlib.sha256(body).hexdigest()


class Run:
    """One download or update over a set of series."""

    def __init__(self, fetcher: Fetcher, console: Console, merges: Merges | None = None):
        self.f, self.console, self.merges = fetcher, console, merges
        self.results: dict[Dataset, SeriesResult] = {}
        self.progress = Progress(
            TextColumn("{task.description:<26}"),
            BarColumn(bar_width=18),
            MofNCompleteColumn(),
            TextColumn("files {task.fields[rows]:>10,} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[Dataset, int] = {}

    def _note(self, got: Fetched) -> None:
        payload = self.f.store(got)
        r = self.results[got.dataset]
        r.files += 1
        r.bytes += payload.size
        r.rows += payload.rows
        if payload.status != "ok":
            r.quarantined.append(got.reason)
        self.progress.update(self.tasks[got.dataset], advance=1, rows=r.rows)

    def _fail(self, ds: Dataset, exc: BaseException) -> None:
        if isinstance(exc, ConfigError):
            raise exc
        self.results[ds].error = _describe(exc)

    def _file(self, f: ArchiveFile) -> tuple[ArchiveFile, Fetched | None]:
        return f, self.f.archive_file(f)

    def fetch(self, spans: dict[Dataset, Span], now: int) -> dict[Dataset, SeriesResult]:
        archive = self.f.archive
        self.results = {ds: SeriesResult(ds, span) for ds, span in spans.items()}
        plans = {ds: archive_files(ds, span, now, archive_done(archive.payloads(ds))) for ds, span in spans.items()}
        workers = self.f.spec.client.workers
        with self.progress:
            for ds in spans:
                self.tasks[ds] = self.progress.add_task(ds.label, total=len(plans[ds]), rows=0)
            with ThreadPoolExecutor(workers) as pool:
                jobs = {pool.submit(self._file, f): f for files in plans.values() for f in files}
                for job in as_completed(jobs):
                    ds = jobs[job].dataset
                    try:
                        f, got = job.result()
                    except Exception as exc:  # noqa: BLE001 - reported per series, the others go on
                        self._fail(ds, exc)
                        self.progress.update(self.tasks[ds], advance=1)
                        continue
                    if got is None:
                        self.results[ds].not_in_archive += 1
                        self.progress.update(self.tasks[ds], advance=1)
                    else:
                        self._note(got)
            with ThreadPoolExecutor(workers) as pool:
                jobs = {
                    pool.submit(self._fill, ds, span): ds for ds, span in spans.items() if not self.results[ds].error
                }
                for job in as_completed(jobs):
                    try:
                        job.result()
                    except Exception as exc:  # noqa: BLE001
                        self._fail(jobs[job], exc)
        for ds, r in self.results.items():
            r.gaps = missing(r.span, archive.payloads(ds))
        return self.results

    def _fill(self, ds: Dataset, span: Span) -> None:
        todo = rest_spans(span, self.f.archive.payloads(ds))
        limit = REST_LIMITS[ds.kind]
        pages = sum(-(-(b - a) // (ds.step_ms * limit)) if ds.step_ms else 1 for a, b in todo)
        self.progress.update(self.tasks[ds], total=(self.progress.tasks[self.tasks[ds]].total or 0) + pages)
        for part in todo:
            for page in self.f.rest_pages(ds, part):
                self._note(page)

    def derive(self) -> None:
        changed = [ds for ds, r in self.results.items() if r.files or stale(self.f.archive, ds)]
        for ds in changed:
            self.results[ds].derived = derive(self.f.archive, ds, self.merges)


def series_for(spec: StoreSpec, symbols: tuple[str, ...]) -> list[Dataset]:
    out = [Dataset(KLINES, s, iv) for s in symbols for iv in spec.intervals]
    out += [Dataset(MARK, s, iv) for s in symbols for iv in spec.mark_intervals]
    if spec.funding:
        out += [Dataset(FUNDING, s) for s in symbols]
    return out


@dataclass
class Outcome:
    results: dict[Dataset, SeriesResult]
    seconds: float
    requests: int
    retried: int
    server_now: int
    derived: list[Derived]


def fetch_store(
    spec: StoreSpec, console: Console, http: HttpClient | None = None, merges: Merges | None = None
) -> Outcome:
    """``download`` (the series of ``spec``) or ``update`` (every stored series, to the last closed bar);
    ``merges``: a long-running caller's memory of its series' last merges (``runner.data.derive``)."""
    t0 = time.perf_counter()
    with writer_lock(spec.root, lambda: console.print("waiting for another runner.data process on this store")):
        archive = Archive(spec.root)
        client = http or HttpClient(spec.client, credentials=spec.credentials)
        try:
            fetcher = Fetcher(spec, archive, client, console)
            if spec.command == "update":
                stored = [ds for ds in archive.datasets() if spec.symbols is None or ds.symbol in spec.symbols]
                if not stored:
                    raise ConfigError(
                        f"data.root={spec.root}: no series stored yet; run python -m runner.data download"
                    )
                starts = {ds: min(p.period_start for p in archive.payloads(ds)) for ds in stored}
            else:
                stored = series_for(spec, spec.symbols or ())
                starts = dict.fromkeys(stored, spec.start_ms)
            clash = foreign(archive, stored)
            if clash:
                raise ConfigError(
                    f"data.root={spec.root}: {clash[0]} exists and was not derived from this root's archive "
                    f"({len(clash)} such file(s)); download into another data.root, or move them away"
                )
            now = fetcher.server_time()
            rules = fetcher.rules(tuple(sorted({ds.symbol for ds in stored})), now, strict=spec.command == "download")
            spans = {
                ds: window(ds, starts[ds], spec.end_ms, rules[ds.symbol].onboard_ms, now)
                for ds in stored
                if ds.symbol in rules
            }
            run = Run(fetcher, console, merges)
            results = run.fetch(spans, now)
            run.derive()
            derived = [r.derived for r in results.values() if r.derived]
            if derived or fetcher.new_info:
                inst = derive_instruments(archive)
                if inst:
                    derived.append(inst)
            return Outcome(results, time.perf_counter() - t0, client.requests, client.retried, now, derived)
        finally:
            if http is None:
                client.close()
            archive.close()
