"""What a download must fetch: archive files for whole months and days, REST for the rest.

A series' window runs from its start (never before the symbol's listing) to its last closed bar
by the exchange's clock. Complete months come from the monthly archive, complete days of the
current month from the daily archive (klines only: funding has no daily files); every bar the
archive did not deliver (a month missing from it, a quarantined file, a gap inside a file, the
current day) is asked of the REST API, once: a REST range that came back empty stays known as
empty, and what remains missing is reported as a gap.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from runner.data.archive import Payload
from runner.data.source.binance import FUNDING, Dataset
from runner.data.spans import Span, merge, subtract

DAY_MS = 86_400_000


@dataclass(frozen=True)
class ArchiveFile:
    """One monthly or daily archive file of a series."""

    dataset: Dataset
    period: str  # YYYY-MM or YYYY-MM-DD
    start: int
    end: int

    @property
    def source(self) -> str:
        return "daily" if len(self.period) == 10 else "monthly"


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def month_start(ms: int) -> int:
    d = _dt(ms)
    return _ms(datetime(d.year, d.month, 1, tzinfo=UTC))


def next_month(ms: int) -> int:
    d = _dt(ms)
    return _ms(datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC))


def window(dataset: Dataset, start: int, end: int | None, listing: int, server_now: int) -> Span:
    """``[first, last closed)`` of a series: bars (or settlements) that exist and are final."""
    step = dataset.step_ms
    lo = max(start, listing)
    if step:
        lo = -(-lo // step) * step  # the first whole bar at or after the listing
        hi = server_now // step * step  # the bar in progress is not final
    else:
        hi = server_now + 1  # a settlement at or before now is final
    if end is not None:  # bars opening before the end are in; the bound stays on the bar grid
        hi = min(hi, -(-end // step) * step if step else end)
    return lo, max(lo, hi)


def archive_files(dataset: Dataset, span: Span, server_now: int, done: list[Span]) -> list[ArchiveFile]:
    """Archive files that cover parts of ``span`` not yet in ``done``: monthly files for months that
    have ended, daily files for the current month's ended days (not for funding)."""
    lo, hi = span
    if hi <= lo:
        return []
    today = server_now // DAY_MS * DAY_MS
    this_month = month_start(server_now)
    out: list[ArchiveFile] = []
    m = month_start(lo)
    while m < hi:
        m_end = next_month(m)
        if m_end <= this_month:
            out.append(ArchiveFile(dataset, _dt(m).strftime("%Y-%m"), m, m_end))
        elif dataset.kind != FUNDING:
            d = max(m, lo // DAY_MS * DAY_MS)
            while d + DAY_MS <= min(today, m_end) and d < hi:
                out.append(ArchiveFile(dataset, _dt(d).strftime("%Y-%m-%d"), d, d + DAY_MS))
                d += DAY_MS
        m = m_end
    return [f for f in out if subtract([(max(f.start, lo), min(f.end, hi))], done)]


def archive_done(payloads: list[Payload]) -> list[Span]:
    """What no archive file needs to be fetched for again: periods of every archive payload (a
    quarantined one too: it is what the archive holds) and of every good REST payload."""
    return merge((p.period_start, p.period_end) for p in payloads if p.source != "rest" or p.status == "ok")


def present(payloads: list[Payload]) -> list[Span]:
    """Spans with rows from good payloads."""
    return merge(s for p in payloads if p.status == "ok" for s in p.present())


def rest_spans(span: Span, payloads: list[Payload]) -> list[Span]:
    """Parts of ``span`` without rows that the REST API has not been asked for yet."""
    asked = [(p.period_start, p.period_end) for p in payloads if p.source == "rest" and p.status == "ok"]
    return subtract(subtract([span], present(payloads)), asked)


def missing(span: Span, payloads: list[Payload]) -> list[Span]:
    """Parts of ``span`` that no good payload has rows for (gaps to report)."""
    return subtract([span], present(payloads))
