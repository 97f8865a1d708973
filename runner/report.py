"""Rich tables of the best combinations and the best runs of a sweep."""

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

SHOWN = ("total_return", "apr", "sharpe", "max_drawdown", "win_rate", "n_trades", "n_liquidations", "score")
COMPACT = ("total_return", "sharpe", "max_drawdown", "n_trades", "n_liquidations")  # at 80 columns
SWEEP_COMPACT = ("total_return", "sharpe", "max_drawdown")  # the status column says "liquidated"
WIDE = 120  # from this console width on, every metric column is shown
LABELS = {
    "total_return": "return",
    "max_drawdown": "max dd",
    "win_rate": "win",
    "n_trades": "trades",
    "n_liquidations": "liq",
}
PERCENT = {"total_return", "apr", "max_drawdown", "win_rate"}


def make_console(stderr: bool = False) -> Console:
    """A console as wide as the terminal (80 columns when piped, or ``COLUMNS``)."""
    return Console(stderr=stderr)


def shown_metrics(console: Console) -> tuple[str, ...]:
    """The metric columns that fit the console: all from ``WIDE`` columns on, the compact set below."""
    return SHOWN if console.width >= WIDE else COMPACT


def ranked_value(value, allowed: bool = True) -> float:
    """The value a ranked row shows under its ranking column: NaN (printed "-") when undefined or
    when the row is not allowed to be chosen (a filter's non-survivor, a liquidated job)."""
    if value is None or not allowed:
        return float("nan")
    v = float(value)
    return v if np.isfinite(v) or np.isinf(v) else float("nan")


def param_name(key: str) -> str:
    """A grid axis's short name: ``strategy.params.period`` -> period, ``leverage.value`` -> leverage."""
    parts = key.split(".")
    return parts[-2] if parts[-1] in ("value", "default") else parts[-1]


def fmt_param(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def fmt(name: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    v = float(value)
    if np.isnan(v):
        return "-"
    if name in PERCENT:
        return f"{v:.1%}"
    if name.startswith("n_"):
        return f"{v:.0f}"
    if abs(v) >= 1e6:
        return f"{v:.2e}"
    return f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"


def print_filters(report, console: Console | None = None) -> None:
    """One row per overfitting defense: how many combinations it passed, and its headline figures."""
    if not report.outcomes:
        return
    console = console or make_console()
    n = len(report.survivors)
    out = Table(title=f"overfitting defenses: {int(report.survivors.sum()):,} of {n:,} combinations survive")
    out.add_column("defense")
    out.add_column("pass", justify="right")
    out.add_column("result")
    for o in report.outcomes:
        out.add_row(o.name, f"{int(o.passed.sum()):,}" if o.applicable else "n/a", o.summary)
    console.print(out)
    if report.not_applicable:
        console.print(
            f"not applicable: {', '.join(report.not_applicable)} (selection statistics need a grid of "
            "combinations; they neither pass nor remove anything here)",
            highlight=False,
        )


def print_best(
    table: pl.DataFrame,
    compiled,
    order: np.ndarray,
    spec,
    run_id: str,
    console: Console | None = None,
    survivors: np.ndarray | None = None,
    by: str = "objective",
) -> None:
    """Top rows of a job's grid in ``order`` (best first by the column ``by``: the objective, or a
    discovery's fitness). A combination the filters removed shows "-" there: it cannot be chosen, so
    the column reads in order with the unusable last, and the best row's value is the one logged."""
    console = console or make_console()
    # a discovery's rules are too long for a column: the table of exported strategies shows them
    varying = [a.key for a in compiled.axes if len(a.values) > 1 and a.key != "strategy.rule"] or ["leverage.value"]
    metric = spec.objective.metric if by == "objective" else by
    direction = "" if by != "objective" or spec.objective.maximize else ", lower is better"
    title = (
        f"{spec.strategy.name} on {', '.join(spec.data.symbols)} {spec.data.timeframe}: "
        f"best {min(spec.top, len(order))} of {len(order):,} by {metric}{direction}"
    )
    shown = shown_metrics(console)
    notes = [f"MLflow run {run_id}"]
    if survivors is not None and not survivors.all():
        notes.append('"-": removed by a filter or undefined')
    out = Table(title=title, caption="; ".join(notes), show_lines=False)
    out.add_column("#", justify="right", no_wrap=True)
    names = [param_name(k) for k in varying]
    joined = len(varying) > 2 and console.width < WIDE  # one folded column of name=value pairs
    if joined:
        out.add_column("parameters", overflow="fold", ratio=1)
    for name in [] if joined else names:
        out.add_column(name, justify="right", no_wrap=True)
    for name in shown:
        out.add_column(LABELS.get(name, name), justify="right", no_wrap=True)
    label = metric if by != "objective" or metric not in shown else "objective"
    out.add_column(label, justify="right", style="bold", no_wrap=True)
    top = [int(c) for c in order[: spec.top]]
    for i, (c, row) in enumerate(zip(top, table[top].to_dicts(), strict=True)):  # those rows only: a grid may be huge
        allowed = survivors is None or bool(survivors[c])
        values = [fmt_param(row[k]) for k in varying]
        cells = [" ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))] if joined else values
        cells += [fmt(n, row[n]) for n in shown]
        cells.append(fmt(by, ranked_value(row[by], allowed)))
        out.add_row(str(i + 1), *cells)
    console.print(out)


def sweep_order(runs: list[dict]) -> list[dict]:
    """A multirun's jobs best first: finished, usable jobs by their objective, then the finished ones
    that were liquidated or had no survivor (discarded whatever their return), then failed ones."""

    def key(r: dict) -> tuple:
        m = r["metrics"]
        v = m.get("objective")
        finite = v is not None and np.isfinite(v)
        liquidated = (m.get("n_liquidations") or 0) > 0
        if r["status"] != "FINISHED":
            tier = 2
        elif not finite or liquidated or r.get("no_survivor"):
            tier = 1
        else:
            tier = 0
        return (tier, -(v if finite else -np.inf), r["job"])

    return sorted(runs, key=key)


def job_state(r: dict) -> str:
    """A job's status in a sweep table: ok, liquidated, no survivor or its MLflow status."""
    if r["status"] != "FINISHED":
        return r["status"]
    if (r["metrics"].get("n_liquidations") or 0) > 0:
        return "liquidated"
    v = r["metrics"].get("objective")
    if r.get("no_survivor") or v is None or not np.isfinite(v):
        return "no survivor"
    return "ok"


def print_sweep(runs: list[dict], metric: str, console: Console | None = None) -> None:
    """A multirun's jobs ranked by the objective; liquidated, no-survivor and failed jobs last."""
    console = console or make_console()
    ranked = sweep_order(runs)
    out = Table(
        title=f"sweep: {len(runs)} runs by {metric}",
        caption="liquidated, no-survivor and failed jobs rank last, whatever their return",
    )
    extra = [k for k in ("dsr", "dsr_sweep") if any(k in r["metrics"] for r in runs)]
    wide = console.width >= WIDE
    shown = [n for n in (SHOWN if wide else SWEEP_COMPACT) if n != metric]
    out.add_column("job", justify="right", no_wrap=True)
    out.add_column("overrides", overflow="fold", ratio=1)
    out.add_column("status", no_wrap=True)
    for col in (*shown, *extra):
        out.add_column(LABELS.get(col, col), justify="right", no_wrap=True)
    out.add_column(metric if metric in SHOWN else "objective", justify="right", style="bold", no_wrap=True)
    for r in ranked:
        m = r["metrics"]
        cells = [fmt(n, m.get(n)) for n in (*shown, *extra)]
        out.add_row(r["job"], r["overrides"], job_state(r), *cells, fmt("objective", m.get("objective")))
    console.print(out)


def print_discovered(top: pl.DataFrame, console: Console | None = None) -> None:
    """The strategies a discovery exported, best fitness first: whole-window figures (what each
    re-run line reproduces) and holdout figures (bars the search never saw), then each rule and the
    command that re-runs it."""
    console = console or make_console()
    out = Table(
        title=f"discovered: top {top.height} by fitness",
        caption="sharpe, return: the whole window; ho: the holdout (never seen by the search)",
    )
    cols = {
        "rank": "#",
        "strategy": "strategy",
        "fitness": "fitness",
        "full_sharpe": "sharpe",
        "full_total_return": "return",
        "holdout_sharpe": "ho sharpe",
        "holdout_total_return": "ho return",
    }
    for c, label in cols.items():
        out.add_column(label, justify="left" if c == "strategy" else "right", overflow="fold")
    rows = top.sort("fitness", descending=True, nulls_last=True).to_dicts()
    for row in rows:
        cells = [str(row[c]) if c in ("rank", "strategy") else fmt(c.split("_", 1)[-1], row.get(c)) for c in cols]
        out.add_row(*cells)
    console.print(out)
    for row in rows:
        console.print(f"#{row['rank']} {row['rule']}", highlight=False, markup=False)
        if row.get("rerun"):  # one line however long, so that it pastes into a shell as printed
            console.print(f"  {row['rerun']}", highlight=False, markup=False, soft_wrap=True)
