"""Rich tables of the best combinations and the best runs of a sweep."""

import sys

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

SHOWN = ("total_return", "apr", "sharpe", "max_drawdown", "win_rate", "n_trades", "n_liquidations", "score")
LABELS = {
    "total_return": "return",
    "max_drawdown": "max dd",
    "win_rate": "win",
    "n_trades": "trades",
    "n_liquidations": "liq",
}
PERCENT = {"total_return", "apr", "max_drawdown", "win_rate"}


def make_console(stderr: bool = False) -> Console:
    """A console that does not squeeze tables to 80 columns when output is piped."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)


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
) -> None:
    """Top rows of a job's grid, best first by the objective (survivors of the filters first)."""
    console = console or make_console()
    varying = [a.key for a in compiled.axes if len(a.values) > 1]
    title = (
        f"{spec.strategy.name} on {', '.join(spec.data.symbols)} {spec.data.timeframe}: "
        f"best {min(spec.top, len(order))} of {len(order):,} by {spec.objective.metric}"
    )
    out = Table(title=title, caption=f"MLflow run {run_id}", show_lines=False)
    out.add_column("#", justify="right")
    for key in varying or ["leverage.value"]:
        parts = key.split(".")
        out.add_column(parts[-2] if parts[-1] == "value" else parts[-1], justify="right")
    for name in SHOWN:
        out.add_column(LABELS.get(name, name), justify="right")
    out.add_column(
        spec.objective.metric if spec.objective.metric not in SHOWN else "objective", justify="right", style="bold"
    )
    if survivors is not None:
        out.add_column("survives", justify="center")
    rows = table.to_dicts()
    for i, c in enumerate(order[: spec.top]):
        row = rows[int(c)]
        cells = [fmt_param(row[k]) for k in (varying or ["leverage.value"])]
        cells += [fmt(n, row[n]) for n in SHOWN]
        cells.append(fmt("objective", row["objective"]))
        if survivors is not None:
            cells.append("yes" if survivors[int(c)] else "[red]no[/red]")
        out.add_row(str(i + 1), *cells)
    console.print(out)


def print_sweep(runs: list[dict], metric: str, console: Console | None = None) -> None:
    """Best runs of a multirun, then the failed ones."""
    console = console or make_console()
    out = Table(title=f"sweep: {len(runs)} runs, best by {metric}")
    extra = [k for k in ("dsr", "dsr_sweep") if any(k in r["metrics"] for r in runs)]
    for col in ("job", "overrides", "status", *SHOWN, *extra, "objective"):
        out.add_column(LABELS.get(col, col), justify="left" if col in ("overrides", "status") else "right")

    def key(r: dict) -> float:
        v = r["metrics"].get("objective")
        return -np.inf if v is None or np.isnan(v) else v

    for r in sorted(runs, key=key, reverse=True):
        m = r["metrics"]
        out.add_row(
            r["job"],
            r["overrides"],
            r["status"],
            *[fmt(n, m.get(n)) for n in (*SHOWN, *extra)],
            fmt("objective", m.get("objective")),
        )
    console.print(out)


def search_figure(ev, metric: str) -> str:
    """A self-contained HTML page (plotly.js embedded) of a search's fitness per generation: best,
    median and best so far, over every candidate evaluated."""
    import plotly.graph_objects as go

    gens = np.arange(len(ev.history))
    fig = go.Figure()
    fitness = ev.extra["fitness"]
    ok = np.isfinite(fitness)
    fig.add_trace(
        go.Scatter(
            x=ev.extra["generation"][ok],
            y=fitness[ok],
            mode="markers",
            name="candidates",
            marker={"size": 4, "opacity": 0.35, "color": "grey"},
        )
    )
    for key, label in (("search_best", "best"), ("search_median", "median"), ("search_best_so_far", "best so far")):
        fig.add_trace(go.Scatter(x=gens, y=[h[key] for h in ev.history], mode="lines+markers", name=label))
    fig.update_layout(
        title=f"search fitness per generation ({metric}, higher is better)",
        xaxis_title="generation",
        yaxis_title=metric,
        template="plotly_white",
    )
    return fig.to_html(include_plotlyjs=True, full_html=True)


def print_discovered(top: pl.DataFrame, console: Console | None = None) -> None:
    """The strategies a discovery exported, with their holdout (out-of-sample) results."""
    console = console or make_console()
    out = Table(title=f"discovered: top {top.height} exported (re-run with strategy=<name> and the run's leverage)")
    cols = ("rank", "strategy", "fitness", "holdout_sharpe", "holdout_total_return", "holdout_n_trades")
    for c in cols:
        out.add_column(c.replace("holdout_", "holdout ").replace("total_", ""), justify="right")
    out.add_column("rule", overflow="fold")
    for row in top.to_dicts():
        cells = [str(row[c]) if c in ("rank", "strategy") else (fmt(c, row[c]) if c in row else "-") for c in cols]
        out.add_row(*cells, row["rule"])
    console.print(out)
