"""A corpus of bad inputs (config, data files, strategy DSL, signals files, tracking stores,
promotion, the data pipeline): each is refused with one line naming the file, line, key or override
and what would be valid, exit code 2, never a traceback, and no run left behind for config errors.

Entry points run in-process (their pre-flight is what refuses) with a tracking store, a data root
and signals files of their own, built from slices of the real data with one defect each."""

import contextlib
import gzip
import io
import os
import socket
import sqlite3
import sys
from pathlib import Path

import polars as pl
import pytest

import runner.__main__ as runner_main
import runner.data.__main__ as data_main
import runner.promote.__main__ as promote_main
from tests.conftest import DATA_ROOT

WINDOW = ["data.start=2024-01-01", "data.end=2024-03-31", "data.symbols=[BTCUSDT]"]
FUTURES = "binance/futures_um"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


CLOSED = _closed_port()


class Started(Exception):
    """The command passed every check and was about to start its work."""


def invoke(main, argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command's entry point in-process: (exit code, what it printed to stderr); -1 when it
    passed its checks (its work is replaced by raising ``Started``)."""
    old_argv, old_env = sys.argv, dict(os.environ)
    err = io.StringIO()
    code = 0
    sys.argv = ["prog", *argv]
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except Started:
                code = -1
    finally:
        sys.argv = old_argv
        os.environ.clear()
        os.environ.update(old_env)
    return code, err.getvalue()


# ---- fixtures: a data root from slices of the real files, each file with one defect ------------------------


def _slice(kind: str) -> tuple[str, list[str]]:
    rel = {
        "klines": "klines_1h/BTCUSDT-1h.csv.gz",
        "funding": "funding/BTCUSDT-funding.csv.gz",
        "mark": "mark_price_1h/BTCUSDT-mark-1h.csv.gz",
    }[kind]
    lines = gzip.decompress((DATA_ROOT / FUTURES / rel).read_bytes()).decode().splitlines()
    keep = [ln for ln in lines[1:] if "2023-12-31" <= ln[:10] <= "2024-04-01"]
    return lines[0], keep


def _cell(rows: list[str], i: int, col: int, value: str) -> list[str]:
    parts = rows[i].split(",")
    parts[col] = value
    return [*rows[:i], ",".join(parts), *rows[i + 1 :]]


KLINE_DEFECTS = {
    # name: (edit of the rows, the line it must name, what it must say)
    "unparsable number": (lambda r: _cell(r, 5, 5, "oops"), "line 7", "column 'close' has unparsable value 'oops'"),
    "negative price": (lambda r: _cell(r, 5, 2, "-3"), "line 7", "'open' must be a positive number"),
    "zero price": (lambda r: _cell(r, 5, 4, "0"), "line 7", "'low' must be a positive number"),
    "NaN price": (lambda r: _cell(r, 5, 3, "nan"), "line 7", "'high' must be a positive number"),
    "infinite price": (lambda r: _cell(r, 5, 3, "inf"), "line 7", "'high' must be a positive number below 1e+12"),
    "absurd price 1e308": (lambda r: _cell(r, 5, 3, "1e308"), "line 7", "below 1e+12, got 1e+308"),
    "negative volume": (lambda r: _cell(r, 5, 6, "-1"), "line 7", "'volume' must be >= 0"),
    "infinite volume": (lambda r: _cell(r, 5, 6, "inf"), "line 7", "'volume' must be >= 0 and below 1e+18"),
    "high below close": (lambda r: _cell(r, 5, 3, "1"), "line 7", "OHLC violation"),
    "duplicate row": (lambda r: [*r[:6], r[5], *r[6:]], "line 8", "duplicate timestamp"),
    "swapped rows": (lambda r: [*r[:5], r[6], r[5], *r[7:]], "line 8", "timestamps not increasing"),
    "non-UTC time": (
        lambda r: _cell(r, 5, 0, r[5].split(",")[0].replace("Z", "+02:00")),
        "line 7",
        "is not a UTC timestamp",
    ),
    "ISO and ms disagree": (lambda r: _cell(r, 5, 1, str(int(r[5].split(",")[1]) + 3_600_000)), "line 7", "disagree"),
    "off the bar grid": (
        lambda r: _cell(
            _cell(r, 5, 1, str(int(r[5].split(",")[1]) + 60_000)), 5, 0, r[5].split(",")[0][:14] + "01:00Z"
        ),
        "line 7",
        "off the bar grid",
    ),
}
FUNDING_DEFECTS = {
    "infinite rate": (lambda r: _cell(r, 3, 2, "inf"), "line 5", "'funding_rate' must be finite"),
    "absurd rate": (lambda r: _cell(r, 3, 2, "5"), "line 5", "within +-1"),
    "unparsable rate": (lambda r: _cell(r, 3, 2, "x1"), "line 5", "unparsable value 'x1'"),
    "duplicate settlement": (lambda r: [*r[:4], r[3], *r[4:]], "line 6", "duplicate timestamp"),
}
MARK_DEFECTS = {
    "negative mark price": (lambda r: _cell(r, 3, 2, "-5"), "line 5", "'open' must be a positive number"),
    "missing mark column": (lambda r: [",".join(x.split(",")[:-1]) for x in r], "", "missing column(s) close"),
}


def _write(root: Path, kind: str, header: str, rows: list[str]) -> Path:
    rel = {"klines": "klines_1h/BTCUSDT-1h.csv.gz", "funding": "funding/BTCUSDT-funding.csv.gz"}
    rel["mark"] = "mark_price_1h/BTCUSDT-mark-1h.csv.gz"
    path = root / FUTURES / rel[kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "mark" and header.count(",") > rows[0].count(","):
        header = ",".join(header.split(",")[:-1])
    path.write_bytes(gzip.compress(("\n".join([header, *rows]) + "\n").encode()))
    return path


def data_root(base: Path, kind: str | None = None, edit=None, raw: bytes | None = None) -> Path:
    """A data root with BTCUSDT's real klines, funding and mark price around 2024Q1; ``kind`` edited."""
    root = base / "data"
    for k in ("klines", "funding", "mark"):
        header, rows = _slice(k)
        path = _write(root, k, header, edit(rows) if (k == kind and edit) else rows)
        if k == kind and raw is not None:
            path.write_bytes(raw)
    return root


# ---- signals files ---------------------------------------------------------------------------------------------


def signals(base: Path, name: str, frame: pl.DataFrame | None = None, text: str | None = None) -> Path:
    path = base / name
    if text is not None:
        path.write_text(text)
    elif name.endswith(".parquet"):
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
    return path


def _signal_frame(n: int = 10, **change) -> pl.DataFrame:
    t0 = 1_704_067_200_000  # 2024-01-01
    frame = pl.DataFrame(
        {
            "time": [t0 + 3_600_000 * i for i in range(n)],
            "symbol": ["BTCUSDT"] * n,
            "long_entry": [i == 2 for i in range(n)],
            "long_exit": [i == 6 for i in range(n)],
            "short_entry": [False] * n,
            "short_exit": [False] * n,
        }
    )
    return frame.with_columns(**change) if change else frame


BAD_TIME_CSV = "time,symbol,long_entry,long_exit,short_entry,short_exit\nyesterday,BTCUSDT,1,0,0,0\n"


def _cases(tmp: Path) -> list[tuple[str, object, list[str], dict, str]]:
    """(id, entry point, arguments, environment, fragment of the one line) for every bad input."""
    store = f"sqlite:///{tmp / 'store' / 'mlflow.db'}"
    r, p, d = runner_main.main, promote_main.main, data_main.main
    env = {"MLFLOW_TRACKING_URI": store}
    c: list[tuple[str, object, list[str], dict, str]] = []

    def run(name, args, fragment, e=None):
        c.append((name, r, [*WINDOW, *args], {**env, **(e or {})}, fragment))

    # -- config overrides
    run("leverage 0", ["leverage=0"], "leverage.value=0: must be an integer from 1 to 20")
    run("leverage 21", ["leverage=21"], "leverage.value=21: must be an integer from 1 to 20")
    run("leverage 2.5", ["leverage=2.5"], "leverage.value=2.5: must be an integer")
    run("leverage text", ["leverage=abc"], "leverage=abc: no such option in conf/leverage; valid: fixed, ladder")
    run("leverage sweep with text", ["leverage=5,abc", "-m"], "leverage.value='abc': must be an integer")
    run("leverage grid out of range", ["leverage=[1,50]"], "leverage.value=50")
    run(
        "range sweep beyond a bound, Hydra settings given",
        ["strategy.params.period=range(99,102)", "hydra.sweep.dir=elsewhere", "hydra/launcher=basic", "-m"],
        "strategy.params.period=101: must be an integer from 2 to 100",
    )
    run("leverage empty grid", ["leverage=[]"], "leverage.value=[]: needs at least one value")
    run(
        "unknown leverage preset",
        ["leverage=lots"],
        "leverage=lots: no such option in conf/leverage; valid: fixed, ladder",
    )
    run("margin mode", ["margin.mode=hedge"], "margin.mode='hedge': valid: isolated, cross")
    run("negative taker fee", ["fees.taker_bps=-1"], "fees.taker_bps=-1")
    run("huge fee", ["fees.taker_bps=1e9"], "fees.taker_bps=1000000000.0")
    run("fee as text", ["fees.taker_bps=cheap"], "fees.taker_bps='cheap'")
    run("sizing fraction 0", ["sizing.fraction=0"], "sizing.fraction=0")
    run("sizing fraction 1.5", ["sizing.fraction=1.5"], "sizing.fraction=1.5")
    run(
        "risk sizing without a stop",
        ["sizing=risk_per_trade"],
        "sizing.method=risk_per_trade: the strategy has no stop-loss",
    )
    run("drawdown breaker 2", ["risk=breakers", "risk.max_drawdown=2"], "risk.max_drawdown=2")
    run("fill at mid", ["execution.fill_at=mid"], "execution.fill_at='mid': valid: next_open, close")
    run(
        "liquidation on the index price",
        ["execution.liquidation_trigger=index"],
        "execution.liquidation_trigger='index': valid: mark, last",
    )
    run("stops on the bid", ["execution.stop_trigger=bid"], "execution.stop_trigger='bid': valid: mark, last")
    run("Monte Carlo for all", ["montecarlo.combos=all"], "montecarlo.combos='all': valid: best, pareto, none")
    run("detail as coarse as the bars", ["execution.detail=1h"], "execution.detail=1h: must be finer than")
    run("latency without detail", ["latency=retail"], "latency.ms=200: delays market orders between sub-bars")
    run("latency of an hour", ["latency.ms=3600000", "execution.detail=1m"], "latency.ms=3600000")
    run("detail without 1m klines", ["execution.detail=1m", "data.symbols=[ETHUSDT]"], "no 1m klines for ETHUSDT")
    run(
        "detail outside the 1m slice",
        ["execution.detail=1m", "data.symbols=[BTCUSDT]", "data.start=2025-05-01", "data.end=2025-06-10"],
        "execution.detail=1m: the 1m klines cover 2025-05-25T10:33Z to",
    )
    run("ten Monte Carlo paths", ["montecarlo.paths=10"], "montecarlo.paths=10")
    run("a zero block", ["montecarlo.block_bars=0"], "montecarlo.block_bars=0")
    run("direction", ["strategy.direction=sideways"], "strategy.direction='sideways': valid: long, short, both")
    run("no such strategy", ["strategy=nope"], "strategy=nope: no such option in conf/strategy; valid: bbands")
    run(
        "path-like strategy",
        ["strategy=../../etc/passwd"],
        "strategy=../../etc/passwd: no such option in conf/strategy",
    )
    run("no such group option", ["fees=vip99"], "fees=vip99: no such option in conf/fees; valid: vip0, zero")
    run("unknown symbol", ["data.symbols=[DOGEUSDT]"], "data.symbols: unknown symbol 'DOGEUSDT'; available in")
    run("no symbols", ["data.symbols=[]"], "data.symbols=[]: must be a non-empty list")
    run("repeated symbol", ["data.symbols=[BTCUSDT,BTCUSDT]"], "symbols repeat")
    run("unknown timeframe", ["data.timeframe=7m"], "data.timeframe='7m': valid: 1m")
    run(
        "timeframe finer than the source",
        ["data.timeframe=30m"],
        "data.timeframe=30m: must be a whole multiple of data.source_interval=1h",
    )
    run("bad date", ["data.start=2024-13-01"], "data.start='2024-13-01': not a date")
    run("end before start", ["data.start=2024-03-01", "data.end=2024-01-01"], "is not before data.end")
    run("window without data", ["data.start=2030-01-01", "data.end=2030-06-30"], "has no bars in that window")
    run(
        "one job's window without data",
        ["data.start=2024-01-01,2031-01-01", "data.end=2031-12-31", "-m"],
        "has no bars in that window",
    )
    run("gap policy", ["data.gap_policy=maybe"], "data.gap_policy='maybe': valid: warn, error, ignore")
    run("market", ["data.market=options"], "data.market='options': valid: futures_um, spot")
    run("objective", ["objective.metric=vibes"], "objective.metric='vibes': valid: total_return")
    run("filters option", ["filters=oracle"], "filters=oracle: no such option in conf/filters")
    run(
        "dsr threshold",
        ["filters=dsr", "filters.dsr.threshold=2"],
        "filters.dsr.threshold=2: must be a number from 0 to 1",
    )
    run(
        "walk-forward span",
        ["filters=walk_forward", "filters.walk_forward.train=9 months"],
        "must be a number of bars or a duration",
    )
    run(
        "walk-forward longer than the data",
        ["filters=walk_forward"],
        "filters.walk_forward: train + test do not fit in the data",
    )
    run("report top 0", ["report.top=0"], "report.top=0")
    run("negative capital", ["account.initial_capital=-5"], "account.initial_capital=-5")
    run("child runs", ["tracking.child_runs=some"], "tracking.child_runs='some': valid: none, best, pareto, all")
    run("report policy", ["tracking.report=true"], "tracking.report=True: valid: best, all, none")
    run("trades JSON flag", ["tracking.trades_json=maybe"], "tracking.trades_json")
    run("combos beyond the grid", ["tracking.combos=[99]"], "tracking.combos=[99]: the grid has 1 combinations")
    run("unknown top-level key", ["+foo=1"], "override '+foo': no such key; valid top-level keys: account")
    run(
        "typo added with +",
        ["+data.symbolz=[BTCUSDT]"],
        "override '+data.symbolz': no such key; valid keys under data: root",
    )
    run("typo without +", ["data.symbolz=[BTCUSDT]"], "override 'data.symbolz': no such key")
    run(
        "range the wrong way",
        ["strategy.params.lower={start:40,stop:30,step:1}"],
        "a range needs step > 0 and stop >= start",
    )
    run("parameter out of bounds", ["strategy.params.lower=200"], "strategy.params.lower=200")
    run(
        "grid over the limit",
        [
            "strategy.params.period={start:2,stop:100,step:1}",
            "strategy.params.lower={start:5,stop:45,step:0.1}",
            "strategy.params.upper={start:55,stop:95,step:0.1}",
        ],
        "at most 1,000,000",
    )
    run("search budget 0", ["search=nevergrad", "search.budget=0"], "search.budget=0")
    run("search optimizer", ["search=nevergrad", "search.optimizer=Nope"], "search.optimizer='Nope'")
    run("optuna sampler", ["search=optuna", "search.sampler=bayes"], "search.sampler='bayes': valid: tpe, cmaes")
    run("optuna storage", ["search=optuna", "search.storage=redis://u:hunter2@x"], "search.storage='redis://u:***@x'")
    run("optuna space key", ["search=optuna", "+search.space.fees.nope={low:1,high:2}"], "search.space.fees.nope")
    run("optuna pruner without windows", ["search=optuna", "search.pruner=median"], "search.pruner=median: prunes")
    run("exchange group", ["exchange=kraken"], "exchange=kraken: no such option in conf/exchange")
    run("lot source", ["exchange.lot_source=guess"], "exchange.lot_source='guess': valid: data, config")
    run("unparsable override", ["leverage=[1,2"], "cannot parse overrides")
    run("comma sweep without -m", ["leverage=1,2"], "a comma-separated sweep needs -m")
    # -- the strategy DSL
    run(
        "unknown operator",
        ['strategy.entry.long=["rsi <> lower"]'],
        "strategy.entry.long[0]='rsi <> lower': expected a number, a name or '('",
    )
    run("infinite constant", ['strategy.entry.long=["rsi < 1e999"]'], "the number 1e999 at position 6 is not finite")
    run("division by zero", ['strategy.entry.long=["rsi / 0 > 1"]'], "'rsi / 0 > 1': divides by 0.0 = 0")
    run(
        "division by a zero parameter",
        ['strategy.entry.long=["rsi / (lower - 30) > 1"]'],
        "divides by (lower - 30.0) = 0 for strategy.params.lower=30",
    )
    run(
        "deep nesting",
        ['strategy.entry.long=["' + "(" * 100 + "rsi" + ")" * 100 + ' < 3"]'],
        "nested deeper than 64 levels",
    )
    run(
        "huge sum",
        ['strategy.entry.long=["' + " + ".join(["rsi"] * 3000) + ' < 3"]'],
        "a condition has at most 400 tokens",
    )
    run("unknown name", ['strategy.entry.long=["foo < 3"]'], "unknown name 'foo'; valid: open")
    run("unknown indicator output", ['strategy.entry.long=["rsi.nope < 3"]'], "'rsi.nope' is not an output of rsi")
    run("indicator type", ["strategy.indicators.rsi.type=RSX"], "strategy.indicators.rsi.type='RSX'")
    run("indicator period 0", ["strategy.indicators.rsi.period=0"], "strategy.indicators.rsi.period=0")
    run("negative stop", ["+strategy.stop_loss.percent=-3"], "strategy.stop_loss.percent=-3")
    run(
        "stop over 100 %",
        ["+strategy.stop_loss.percent=200"],
        "strategy.stop_loss.percent=200: must be a number from 0.001 to 99.99",
    )
    run(
        "zero stop",
        ["+strategy.trailing_stop.percent=0"],
        "strategy.trailing_stop.percent=0: must be a number from 0.001",
    )
    run("bad session", ["+strategy.time_filters.sessions=[25:00-26:00]"], "strategy.time_filters.sessions")
    run("unknown strategy key", ["+strategy.bogus=1"], "strategy.bogus: unknown key; valid: name")
    run("no entry", ["strategy.entry.long=[]", "strategy.entry.short=[]"], "strategy.entry: no entry conditions")
    # -- data that cannot serve the window (policies)
    root = data_root(tmp / "k-gap", "klines", lambda r: [*r[:100], *r[150:]])
    run("gap under gap_policy=error", [f"data.root={root}", "data.gap_policy=error"], "50 missing bars in the window")
    root = data_root(tmp / "k-short", "klines", lambda r: r[:-300])
    run("file ending before the window", [f"data.root={root}", "data.gap_policy=error"], "missing bars in the window")
    root = data_root(tmp / "f-hole", "funding", lambda r: [*r[:40], *r[60:]])
    run(
        "funding hole under funding_missing=error",
        [f"data.root={root}", "data.funding_missing=error"],
        "funding history covers",
    )
    # -- signals files
    sig = ["strategy=signals_file"]
    run("signals: missing file", [*sig, f"strategy.signals.path={tmp / 'nope.parquet'}"], "nope.parquet")
    run(
        "signals: unknown format",
        [*sig, f"strategy.signals.path={signals(tmp, 's.txt', text='x')}"],
        "unknown format; use .parquet or .csv",
    )
    run(
        "signals: missing column",
        [*sig, f"strategy.signals.path={signals(tmp, 's1.parquet', _signal_frame().drop('short_exit'))}"],
        "short_exit",
    )
    run(
        "signals: bad time",
        [
            *sig,
            f"strategy.signals.path={signals(tmp, 's2.csv', text=BAD_TIME_CSV)}",
        ],
        "s2.csv: line 2: time='yesterday' is not a time",
    )
    run(
        "signals: off the grid",
        [*sig, f"strategy.signals.path={signals(tmp, 's3.parquet', _signal_frame(time=pl.col('time') + 60_000))}"],
        "row 0: 2024-01-01T00:01Z is not a bar open of the 1h grid",
    )
    run(
        "signals: repeated row",
        [*sig, f"strategy.signals.path={signals(tmp, 's4.parquet', pl.concat([_signal_frame(), _signal_frame(1)]))}"],
        "row 10: a second row for BTCUSDT at 2024-01-01T00:00Z",
    )
    run(
        "signals: symbol without rows",
        [
            *sig,
            "data.symbols=[BTCUSDT,ETHUSDT]",
            f"strategy.signals.path={signals(tmp, 's5.parquet', _signal_frame())}",
        ],
        "ETHUSDT",
    )
    run(
        "signals: not a flag",
        [*sig, f"strategy.signals.path={signals(tmp, 's6.parquet', _signal_frame(long_entry=pl.lit(float('inf'))))}"],
        "long_entry",
    )
    # -- tracking stores
    run(
        "tracking: unknown scheme",
        ["tracking.uri=foo://x/y"],
        "tracking.uri=foo://x/y: unsupported scheme 'foo'; valid: sqlite",
    )
    run(
        "tracking: sqlite in /proc",
        ["tracking.uri=sqlite:////proc/perplab/m.db"],
        "tracking.uri=sqlite:////proc/perplab/m.db: cannot write in /proc/perplab",
    )
    run(
        "tracking: PostgreSQL refusing",
        [f"tracking.uri=postgresql://u:hunter2@127.0.0.1:{CLOSED}/db"],
        f"tracking.uri=postgresql://u:***@127.0.0.1:{CLOSED}/db: cannot connect",
    )
    run("tracking: no server", [f"tracking.uri=http://127.0.0.1:{CLOSED}"], "no MLflow tracking server answers")
    run(
        "tracking: environment URL refusing",
        ["tracking=postgres"],
        "cannot connect",
        {"PERPLAB_TRACKING_URL": f"postgresql://u:pw@127.0.0.1:{CLOSED}/x"},
    )
    run("tracking: empty experiment", ["tracking.experiment=' '"], "tracking.experiment=' ': must be a non-empty name")
    # -- promotion (checked before anything is read or written)
    pro = [f"tracking.uri={store}"]
    for name, args, fragment in [
        ("promote: stage", ["promote.stage=prod"], "promote.stage='prod': valid: challenger, champion, archived, none"),
        ("promote: version 0", ["promote.version=0"], "promote.version=0: must be a registered version number"),
        ("promote: version text", ["promote.version=abc"], "promote.version='abc'"),
        (
            "promote: archive without version",
            ["promote.stage=archived"],
            "promote.stage=archived: needs promote.version=N",
        ),
        ("promote: empty strategy", ["promote.strategy=''"], "promote.strategy='': must name a strategy"),
        ("promote: unknown gate", ["+promote.gates.bogus=1"], "override '+promote.gates.bogus': no such key"),
        (
            "promote: negative gate",
            ["promote.gates.min_trades=-1"],
            "promote.gates.min_trades=-1: must be a number >= 0, or null",
        ),
        (
            "promote: gate flag",
            ["promote.gates.no_liquidation=maybe"],
            "promote.gates.no_liquidation='maybe': must be true or false",
        ),
        (
            "promote: PostgreSQL refusing",
            [f"promote.postgres_url=postgresql://u:pw@127.0.0.1:{CLOSED}/x"],
            "promote.postgres_url=postgresql://u:***@",
        ),
        ("promote: tracking scheme", ["tracking.uri=foo://x"], "unsupported scheme 'foo'"),
        (
            "promote: unknown key",
            ["promote.strategi=rsi"],
            "override 'promote.strategi': no such key; valid keys under promote: strategy",
        ),
    ]:
        c.append((name, p, [*pro, *args] if "tracking.uri" not in args[0] else args, env, fragment))
    # -- the data pipeline
    for name, args, fragment in [
        ("data: unknown command", ["fetch"], "unknown command 'fetch'"),
        ("data: no symbols", ["download"], "symbols: download needs the symbols to fetch"),
        ("data: bad symbol", ["download", "symbols=[btc]"], "'btc' is not a symbol like BTCUSDT"),
        ("data: bad interval", ["download", "symbols=[BTCUSDT]", "intervals=[7m]"], "intervals: unknown value '7m'"),
        (
            "data: bad url",
            ["download", "symbols=[BTCUSDT]", "source.archive_url=ftp://a:pw@x"],
            "source.archive_url='ftp://a:***@x'",
        ),
        (
            "data: workers",
            ["download", "symbols=[BTCUSDT]", "source.workers=100"],
            "source.workers=100: must be an integer from 1 to 32",
        ),
        (
            "data: end before start",
            ["download", "symbols=[BTCUSDT]", "start=2024-02-01", "end=2024-01-01"],
            "must be after start",
        ),
        ("data: update an empty store", ["update", f"data.root={tmp / 'empty-store'}"], "no series stored yet"),
        ("data: rebuild without an archive", ["rebuild", f"data.root={tmp / 'empty-store'}"], "no series stored yet"),
    ]:
        c.append(
            (
                name,
                d,
                [*args, f"data.root={tmp / 'dstore'}"] if "data.root" not in " ".join(args) else args,
                env,
                fragment,
            )
        )
    return c


def _file_cases(tmp: Path) -> list[tuple[str, list[str], str]]:
    """Data files with one defect each: (id, arguments, fragment naming the file and line)."""
    out = []
    for prefix, kind, defects, file in (
        ("klines", "klines", KLINE_DEFECTS, "BTCUSDT-1h.csv.gz"),
        ("funding", "funding", FUNDING_DEFECTS, "BTCUSDT-funding.csv.gz"),
        ("mark", "mark", MARK_DEFECTS, "BTCUSDT-mark-1h.csv.gz"),
    ):
        for name, (edit, line, what) in defects.items():
            root = data_root(tmp / f"{prefix}-{name.replace(' ', '_')}", kind, edit)
            out.append((f"{prefix}: {name}", [f"data.root={root}"], (f"{file}: {line}: " if line else file, what)))
    root = data_root(tmp / "k-garbage", "klines", raw=b"\x00\x01not a gzip at all")
    out.append(("klines: not gzip", [f"data.root={root}"], ("BTCUSDT-1h.csv.gz: ", "missing column(s) open_time_utc")))
    root = data_root(tmp / "k-empty", "klines", lambda r: [])
    out.append(("klines: empty", [f"data.root={root}"], ("BTCUSDT-1h.csv.gz: ", "no rows")))
    study = tmp / "optuna-garbage" / "optuna.db"
    study.parent.mkdir()
    study.write_bytes(b"not a SQLite database")
    args = ["search=optuna", "search.budget=4", f"search.storage=sqlite:///{study}"]
    out.append(
        ("optuna study: not a database", args, (f"search.storage=sqlite:///{study}: ", "file is not a database"))
    )
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list, list]:
    tmp = tmp_path_factory.mktemp("bad")
    return tmp, _cases(tmp), _file_cases(tmp)


def test_the_corpus_is_large(corpus) -> None:
    _, cases, files = corpus
    names = [name for name, *_ in cases] + [name for name, *_ in files]
    assert len(names) >= 100 and len(set(names)) == len(names)


def test_every_bad_input_is_refused_before_any_work(corpus, monkeypatch) -> None:
    tmp, cases, _ = corpus

    def started() -> None:
        raise Started

    for module in (runner_main, promote_main, data_main):  # a case that passes its checks must not start work
        monkeypatch.setattr(module, "app", started, raising=False)
    monkeypatch.setattr("runner.app.main", started)
    failures = []
    for name, main, args, env, fragment in cases:
        code, err = invoke(main, args, env)
        lines = err.strip().splitlines()
        ok = code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
        ok = ok and "Traceback" not in err and "hunter2" not in err
        if not ok:
            failures.append(f"{name}: exit {code}: {err.strip()[:300]!r} (wanted {fragment!r})")
    assert not failures, "\n".join(failures)
    assert not (tmp / "store" / "mlflow.db").exists()  # refused before any work: no store, no run


def test_a_corrupt_file_fails_its_job_with_the_file_and_line(corpus) -> None:
    tmp, _, files = corpus
    store = tmp / "file-store" / "mlflow.db"
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{store}", "PERPLAB_CACHE": str(tmp / "cache")}
    failures = []
    for name, args, fragment in files:
        code, err = invoke(runner_main.main, [*WINDOW, *args], env)
        last = err.strip().splitlines()[-1] if err.strip() else ""
        if code != 2 or not last.startswith("error: ") or not all(f in last for f in fragment) or "Traceback" in err:
            failures.append(f"{name}: exit {code}: {err.strip()[-300:]!r} (wanted {fragment!r})")
    assert not failures, "\n".join(failures)
    with sqlite3.connect(store) as db:  # each attempt is remembered, FAILED with its error
        rows = db.execute(
            "SELECT r.status, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'error'"
        ).fetchall()
    assert len(rows) == len(files) and {s for s, _ in rows} == {"FAILED"}
