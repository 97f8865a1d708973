"""A multi-asset market panel aligned on one UTC time grid, ready for the kernels."""

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from runner.data.archive import inputs_digest
from runner.data.funding import interval_hours, schedule
from runner.data.paths import available_symbols, funding_path, kline_path, mark_path
from runner.data.readers import MARK_STEP_MS, read_funding, read_klines, read_mark
from runner.data.resample import resample_ohlcv
from runner.data.timeframes import TIMEFRAME_MS, YEAR_MS, timeframe_ms
from runner.errors import ConfigError, DataError


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


TRIGGERS = ("mark", "last")  # the prices that may trigger liquidation and stops


@dataclass(frozen=True)
class DataSpec:
    """Validated data settings (see ``conf/data``)."""

    root: Path
    market: str
    symbols: tuple[str, ...]
    source_interval: str
    timeframe: str
    start_ms: int
    end_ms: int  # exclusive
    gap_policy: str = "warn"
    funding: bool = True
    funding_missing: str = "warn"
    cache_dir: Path | None = None
    mark_price: bool = False  # funding settles on the mark price (1h mark-price file), else the bar open
    liquidation_trigger: str = "last"  # mark: liquidation reads the mark price's bars (last where none)
    stop_trigger: str = "last"  # mark: stops read the mark price's bars (last where none)


@dataclass
class GapReport:
    missing_bars: int
    first: list[str]


@dataclass
class MarketPanel:
    """Arrays of shape ``(n_bars, n_assets)``, C-contiguous float64 (``tradable``: bool)."""

    symbols: tuple[str, ...]
    timeframe: str
    times: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    tradable: np.ndarray
    funding: np.ndarray
    settle: np.ndarray
    fingerprint: str
    sources: dict[str, str]
    gaps: dict[str, GapReport] = field(default_factory=dict)
    funding_coverage: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    archive_inputs: str = ""  # digest of the raw-archive payloads behind the files read (runner.data)
    # the prices that trigger liquidation and stops (kernels.program.Market); None: open, high, low
    liq_open: np.ndarray | None = None
    liq_high: np.ndarray | None = None
    liq_low: np.ndarray | None = None
    stop_open: np.ndarray | None = None
    stop_high: np.ndarray | None = None
    stop_low: np.ndarray | None = None
    mark_coverage: dict[str, float] = field(default_factory=dict)  # bars triggered by the mark, per symbol
    settlements: tuple[np.ndarray, ...] = ()  # each symbol's funding settlement instants (ms), by its history
    funding_events: tuple[np.ndarray, ...] = ()  # each symbol's charged events ``(m, 2)``: time (ms), rate

    def __post_init__(self) -> None:
        for prefix in ("liq", "stop"):
            for name in ("open", "high", "low"):
                if getattr(self, f"{prefix}_{name}") is None:
                    setattr(self, f"{prefix}_{name}", getattr(self, name))

    @property
    def n_bars(self) -> int:
        return self.times.shape[0]

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    @property
    def bars_per_year(self) -> float:
        return YEAR_MS / timeframe_ms(self.timeframe)

    @property
    def days(self) -> np.ndarray:
        """UTC day number of each bar (what the daily loss limit counts in)."""
        return np.ascontiguousarray(self.times // 86_400_000, dtype=np.int64)

    def head(self, n: int) -> "MarketPanel":
        """The first ``n`` bars (indicators and the simulation are causal: a prefix run sees exactly
        what the full run saw up to there)."""
        cut = {k: np.ascontiguousarray(getattr(self, k)[:n]) for k in BAR_ARRAYS}
        return replace(self, **cut)

    def frame(self, symbol: str) -> pl.DataFrame:
        """One asset's aligned bars as a polars frame (for users and tests)."""
        a = self.symbols.index(symbol)
        return pl.DataFrame(
            {
                "time": pl.Series(self.times).cast(pl.Datetime("ms", "UTC")),
                "open": self.open[:, a],
                "high": self.high[:, a],
                "low": self.low[:, a],
                "close": self.close[:, a],
                "volume": self.volume[:, a],
                "tradable": self.tradable[:, a],
                "funding": self.funding[:, a],
            }
        )


def _ffill_rows(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Carry the last present row forward; rows before the first present stay NaN."""
    idx = np.where(present, np.arange(present.shape[0]), 0)
    np.maximum.accumulate(idx, out=idx)
    out = values[idx]
    if present.any():
        out[: int(np.argmax(present))] = np.nan
    else:
        out[:] = np.nan
    return out


def _gap_report(times: np.ndarray, step: int, first: int | None = None, last: int | None = None) -> GapReport:
    """Bars missing between ``first`` and ``last`` (bar opens, inclusive; default: the rows' own
    first and last): between rows, and before the first / after the last row inside the window."""
    lo = int(times[0]) if first is None else min(first, int(times[0]))
    hi = int(times[-1]) if last is None else max(last, int(times[-1]))
    bounds = np.concatenate(([lo - step], times, [hi + step]))
    diffs = np.diff(bounds)
    where = np.nonzero(diffs > step)[0]
    missing = int(((diffs[where] // step) - 1).sum())
    return GapReport(missing, [iso(int(bounds[i]) + step) for i in where[:3]])


def _load_symbol(
    spec: DataSpec, symbol: str, step: int, src_step: int
) -> tuple[pl.DataFrame, Path, str, tuple[int, int]]:
    """The symbol's bars in the window (resampled) and the first and last bar the window should have:
    from its start, or the listing (the file's first row) when later, to its end."""
    path = kline_path(spec.root, spec.market, spec.source_interval, symbol)
    frame, sha = read_klines(path, src_step, spec.cache_dir)
    full_first, full_last = int(frame["time"][0]), int(frame["time"][-1])
    listing = full_first // step * step
    lo = spec.start_ms - spec.start_ms % step
    frame = frame.filter((pl.col("time") >= lo) & (pl.col("time") < spec.end_ms))
    if step != src_step:
        frame = resample_ohlcv(frame, step)
    if frame.height == 0:
        raise ConfigError(
            f"data.start={iso(spec.start_ms)} .. data.end={iso(spec.end_ms)}: {path} has no bars in that window "
            f"(it covers {iso(int(full_first))} .. {iso(int(full_last))})"
        )
    return frame, path, sha, (max(lo, listing), (spec.end_ms - 1) // step * step)


def align(frames: list[pl.DataFrame], step: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Put per-symbol bars (``time`` in ms, OHLCV) on one grid: times, ``(n, k)`` OHLCV arrays and
    ``tradable``. A missing bar repeats the last close (volume 0) and is not tradable; bars before a
    symbol's first stay NaN."""
    first = min(int(f["time"][0]) for f in frames)
    last = max(int(f["time"][-1]) for f in frames)
    times = np.arange(first, last + step, step, dtype=np.int64)
    n, k = times.shape[0], len(frames)
    cols = {c: np.full((n, k), np.nan) for c in ("open", "high", "low", "close", "volume")}
    tradable = np.zeros((n, k), dtype=np.bool_)
    for a, frame in enumerate(frames):
        rows = (frame["time"].to_numpy() - first) // step
        present = np.zeros(n, dtype=np.bool_)
        present[rows] = True
        tradable[:, a] = present
        for c in cols:
            cols[c][rows, a] = frame[c].to_numpy()
        carried = _ffill_rows(cols["close"][:, a], present)
        for c in ("open", "high", "low", "close"):
            cols[c][~present, a] = carried[~present]
        life = ~np.isnan(carried)
        cols["volume"][~present & life, a] = 0.0
    return times, cols, tradable


def check_symbols(spec: DataSpec) -> None:
    known = available_symbols(spec.root, spec.market, spec.source_interval)
    for s in spec.symbols:
        if s not in known:
            folder = spec.root / "binance" / spec.market / f"klines_{spec.source_interval}"
            raise ConfigError(
                f"data.symbols: unknown symbol {s!r}; available in {folder}: {', '.join(known) or 'none'}"
            )


BAR_ARRAYS = (
    *("times", "open", "high", "low", "close", "volume", "tradable", "funding", "settle"),
    *("liq_open", "liq_high", "liq_low", "stop_open", "stop_high", "stop_low"),
)
_RECENT: dict[tuple, MarketPanel] = {}  # the two panels this process built last (pre-flight -> first job)


def _files_key(spec: DataSpec) -> tuple:
    """The data files a panel reads, by size and modification time (a changed file: a new panel)."""
    out = []
    for s in spec.symbols:
        paths = [kline_path(spec.root, spec.market, spec.source_interval, s), funding_path(spec.root, s)]
        for path in (*paths, mark_file(spec, s)[0] or mark_path(spec.root, s)) if _reads_mark(spec) else paths:
            st = path.stat() if path.is_file() else None
            out.append((str(path), st.st_size if st else -1, st.st_mtime_ns if st else -1))
    return tuple(out)


def panel_for(spec: DataSpec) -> MarketPanel:
    """``build_panel``, reusing the panel this process built for the same settings and files (the
    pre-flight checks of a run build the panel its first job then uses)."""
    key = (spec, _files_key(spec))
    if key not in _RECENT:
        panel = build_panel(spec)
        while len(_RECENT) >= 2:  # a job's panel and its detail panel; a sweep must not hold every one
            del _RECENT[next(iter(_RECENT))]
        _RECENT[key] = panel
    return _RECENT[key]


def build_panel(spec: DataSpec, report=None) -> MarketPanel:
    """Load, validate, resample and align every symbol; attach funding to settlement bars."""
    step = timeframe_ms(spec.timeframe)
    src_step = timeframe_ms(spec.source_interval, "data.source_interval")
    if step < src_step or step % src_step:
        raise ConfigError(
            f"data.timeframe={spec.timeframe}: must be a whole multiple of data.source_interval={spec.source_interval}"
        )
    check_symbols(spec)
    warnings: list[str] = []
    sources: dict[str, str] = {}
    frames: list[pl.DataFrame] = []
    gaps: dict[str, GapReport] = {}
    for symbol in spec.symbols:
        frame, path, sha, (first, last) = _load_symbol(spec, symbol, step, src_step)
        sources[str(path.relative_to(spec.root))] = sha
        gap = _gap_report(frame["time"].to_numpy(), step, first, last)
        gaps[symbol] = gap
        if gap.missing_bars:
            msg = f"{path}: {gap.missing_bars} missing bars in the window (first at {', '.join(gap.first)})"
            if spec.gap_policy == "error":
                raise DataError(msg + "; set data.gap_policy=warn to mark them not tradable")
            if spec.gap_policy == "warn":
                warnings.append(msg + "; marked not tradable")
        frames.append(frame)
        if report is not None:
            report(symbol)

    times, cols, tradable = align(frames, step)
    n, k = tradable.shape
    funding = np.zeros((n, k))
    coverage: dict[str, float] = {}
    settlements: list[np.ndarray] = []
    events: list[np.ndarray] = []
    if spec.funding:
        for a, symbol in enumerate(spec.symbols):
            rates, frac, first_missing, path, sha, instants, charged = _funding_for(
                spec, symbol, times, tradable[:, a], step
            )
            funding[:, a] = rates
            settlements.append(instants)
            events.append(charged)
            coverage[symbol] = frac
            if path is not None:
                sources[str(path.relative_to(spec.root))] = sha
            if frac < 1.0:
                msg = (
                    f"{symbol}: funding history covers {frac:.1%} of settlements in the window "
                    f"(first missing {first_missing}); uncovered settlements charge nothing"
                )
                if spec.funding_missing == "error":
                    raise DataError(msg + "; set data.funding_missing=warn to run anyway")
                warnings.append(msg)

    settle = cols["open"].copy()
    if spec.funding and spec.mark_price:
        for a, symbol in enumerate(spec.symbols):
            msg, path, sha = _mark_settle(spec, symbol, times, funding[:, a], settle[:, a])
            if path is not None:
                sources[str(path.relative_to(spec.root))] = sha
            if msg:
                warnings.append(msg)

    triggers, mark_coverage = _triggers(spec, times, cols, tradable, step, sources, warnings)
    archive_inputs = inputs_digest(spec.root, sources)
    fingerprint = hashlib.sha256(
        json.dumps(
            {
                **({"archive_inputs": archive_inputs} if archive_inputs else {}),
                "sources": sorted(sources.items()),
                "symbols": spec.symbols,
                "timeframe": spec.timeframe,
                "start": spec.start_ms,
                "end": spec.end_ms,
                "gap_policy": spec.gap_policy,
                "funding": spec.funding,
                "mark_price": spec.mark_price,
                **({"triggers": [spec.liquidation_trigger, spec.stop_trigger]} if _reads_mark(spec) else {}),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    c = {k_: np.ascontiguousarray(v) for k_, v in cols.items()}
    return MarketPanel(
        symbols=tuple(spec.symbols),
        timeframe=spec.timeframe,
        times=times,
        open=c["open"],
        high=c["high"],
        low=c["low"],
        close=c["close"],
        volume=c["volume"],
        tradable=np.ascontiguousarray(tradable),
        funding=np.ascontiguousarray(funding),
        settle=np.ascontiguousarray(settle),
        fingerprint=fingerprint,
        sources=sources,
        gaps=gaps,
        funding_coverage=coverage,
        warnings=warnings,
        archive_inputs=archive_inputs,
        **triggers,
        mark_coverage=mark_coverage,
        settlements=tuple(settlements),
        funding_events=tuple(events),
    )


def _reads_mark(spec: DataSpec) -> bool:
    """Whether liquidations or stops trigger on the mark price."""
    return spec.market == "futures_um" and "mark" in (spec.liquidation_trigger, spec.stop_trigger)


def _triggers(spec, times, cols, tradable, step, sources, warnings) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The arrays that trigger liquidation and stops (``MarketPanel.liq_*``/``stop_*``): the mark
    price's bars where the mark covers a bar, else the last price's; and the covered fraction of each
    symbol's tradable bars (a warning names a symbol below 100 %)."""
    last = {name: cols[name] for name in ("open", "high", "low")}
    if not _reads_mark(spec):
        return {}, {}
    mark = {name: np.array(v) for name, v in last.items()}
    coverage: dict[str, float] = {}
    for a, symbol in enumerate(spec.symbols):
        covered, path, sha, why = _mark_bars(
            spec, symbol, times, step, [mark[n][:, a] for n in ("open", "high", "low")]
        )
        if path is not None:
            sources[str(path.relative_to(spec.root))] = sha
        live = tradable[:, a]
        coverage[symbol] = float(covered[live].mean()) if live.any() else 1.0
        if coverage[symbol] < 1.0:
            used = " and ".join(
                k for k, v in (("liquidation", spec.liquidation_trigger), ("stops", spec.stop_trigger)) if v == "mark"
            )
            first = iso(int(times[np.nonzero(live & ~covered)[0][0]]))
            verb = "uses" if used == "liquidation" else "use"
            warnings.append(
                f"{symbol}: the mark price covers {coverage[symbol]:.1%} of its bars (first uncovered {first}"
                f"{'; ' + why if why else ''}); {used} {verb} the last price there"
            )
    out = {}
    for prefix, trigger in (("liq", spec.liquidation_trigger), ("stop", spec.stop_trigger)):
        for name in ("open", "high", "low"):
            out[f"{prefix}_{name}"] = np.ascontiguousarray(mark[name] if trigger == "mark" else last[name])
    return out, coverage


def mark_file(spec: DataSpec, symbol: str) -> tuple[Path | None, int]:
    """The coarsest mark-price klines of ``symbol`` whose interval divides a bar (what the data
    pipeline stored: ``mark_price_<interval>/``), and that interval in ms; None when there are none."""
    step = timeframe_ms(spec.timeframe)
    for interval, ms in sorted(TIMEFRAME_MS.items(), key=lambda kv: -kv[1]):
        path = mark_path(spec.root, symbol, interval)
        if ms <= step and step % ms == 0 and path.is_file():
            return path, ms
    return None, 0


def _mark_bars(spec: DataSpec, symbol: str, times: np.ndarray, step: int, out: list[np.ndarray]):
    """Write the mark price's open, high and low of every bar whose mark klines (``mark_file``) are all
    present into ``out`` (views of the trigger columns); return the covered bars, the file, its
    sha256 and why nothing is covered ("" when something is)."""
    covered = np.zeros(times.shape[0], dtype=np.bool_)
    path, mark_ms = mark_file(spec, symbol)
    if path is None:
        hourly = mark_path(spec.root, symbol)
        if step % MARK_STEP_MS and hourly.is_file():
            return covered, None, "", f"no mark-price klines as fine as a {spec.timeframe} bar, only 1h"
        return covered, None, "", f"no {hourly.name}"
    marks, sha = read_mark(path, spec.cache_dir, mark_ms)
    mt = marks["time"].to_numpy()
    bar = (mt - times[0]) // step
    keep = (mt >= times[0]) & (bar < times.shape[0])
    bar, first = bar[keep], (mt[keep] - times[0]) % step == 0
    n = times.shape[0]
    count = np.bincount(bar, minlength=n)
    high = np.full(n, -np.inf)
    low = np.full(n, np.inf)
    np.maximum.at(high, bar, marks["high"].to_numpy()[keep])
    np.minimum.at(low, bar, marks["low"].to_numpy()[keep])
    opened = np.zeros(n, dtype=np.bool_)
    opened[bar[first]] = True
    covered = (count == step // mark_ms) & opened
    out[0][covered] = marks["open"].to_numpy()[keep][first][covered[bar[first]]]
    out[1][covered] = high[covered]
    out[2][covered] = low[covered]
    return covered, path, sha, ""


def _mark_settle(spec: DataSpec, symbol: str, times: np.ndarray, rates: np.ndarray, settle: np.ndarray):
    """Write the mark price (the open of the 1h mark kline opening at the bar's open) into ``settle``
    on every bar that settles funding; a settlement without a mark price keeps the bar's open.
    Returns a warning (or ""), the file and its sha256."""
    path = mark_path(spec.root, symbol)
    if not path.is_file():
        return f"{symbol}: no mark-price file ({path.name}); funding settles at the bar open", None, ""
    charged = np.nonzero(rates != 0.0)[0]
    marks, sha = read_mark(path, spec.cache_dir)
    mt = marks["time"].to_numpy()
    at = np.searchsorted(mt, times[charged])
    found = (at < mt.shape[0]) & (mt[np.minimum(at, mt.shape[0] - 1)] == times[charged])
    settle[charged[found]] = marks["open"].to_numpy()[at[found]]
    missing = int((~found).sum())
    msg = ""
    if missing:
        first = iso(int(times[charged[~found][0]]))
        msg = f"{symbol}: {missing} funding settlements have no mark price (first {first}); they settle at the bar open"
    return msg, path, sha


def _funding_for(spec: DataSpec, symbol: str, times: np.ndarray, tradable: np.ndarray, step: int):
    """Per-bar funding rates for one symbol, the covered fraction, the first uncovered settlement, the
    file and its sha256, every settlement instant of its listed bars, and the charged events (time,
    rate).

    An event at time ``e`` is charged on the first bar whose open is at or after ``e``, before
    that bar's fills: exactly the positions held through the settlement instant pay. Settlements
    come from the history's own times, whatever their interval (8h, 4h, 1h, changing over time);
    the expected ones (for coverage) follow the same schedule, so a hole in the history counts as
    uncovered.
    """
    n = times.shape[0]
    rates = np.zeros(n)
    listed = np.nonzero(tradable)[0]
    if listed.size == 0:
        return rates, 1.0, "", None, "", np.zeros(0, dtype=np.int64), np.zeros((0, 2))
    life_lo = int(times[listed[0]])
    life_hi = int(times[listed[-1]]) + step
    path = funding_path(spec.root, symbol)
    if not path.is_file():
        expected = schedule(np.zeros(0, dtype=np.int64), np.zeros(0), life_lo, life_hi)
        first_missing = iso(int(expected[0])) if expected.size else ""
        return rates, 0.0 if expected.size else 1.0, first_missing, None, "", expected, np.zeros((0, 2))
    events, sha = read_funding(path, spec.cache_dir)
    all_t = events["time"].to_numpy()
    hours = interval_hours(all_t, events["interval_hours"].fill_null(0).to_numpy())
    expected = schedule(all_t, hours, life_lo, life_hi)
    ev_r = events["rate"].to_numpy()
    inside = (all_t > life_lo) & (all_t < life_hi)  # no position can be held into the first bar's open
    ev_t, ev_r = all_t[inside], ev_r[inside]
    bar = (ev_t - times[0] + step - 1) // step
    ok = bar < n
    np.add.at(rates, bar[ok], ev_r[ok])
    covered = np.isin(expected, ev_t)
    frac = float(covered.mean()) if expected.size else 1.0
    first_missing = iso(int(expected[~covered][0])) if (~covered).any() else ""
    charged = np.column_stack([ev_t[ok], ev_r[ok]]).astype(np.float64)
    return rates, frac, first_missing, path, sha, expected, charged
