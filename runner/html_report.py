"""``report.html``: one page of Plotly figures for one combination, and the sweep summary page;
plotly.js is loaded from the store's one shared copy (``runner.plotly_assets``), so a page is its
data alone and still opens offline."""

import html
import json
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from kernels import enums as E
from runner import artifacts
from runner.montecarlo import Risk
from runner.report import fmt

KEY_METRICS = tuple(n for n in E.METRIC_NAMES if n not in ("score", "skew", "kurtosis"))  # in the table
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MAX_POINTS = 1500  # a series drawn with more bars is thinned (last equity, deepest drawdown per bucket)
STYLE = "body{font-family:sans-serif;margin:24px;color:#222}h1{font-size:20px}p.meta{color:#555;font-size:13px}"


def _times(frame: pl.DataFrame) -> dict:
    """A trace's x: ``x0``/``dx`` (ms) when the times are evenly spaced (bars, or buckets of them, on
    a regular grid), else every time as ISO-8601 text."""
    ms = frame["time"].dt.epoch("ms").to_numpy()
    if len(ms) > 2 and np.all(np.diff(ms) == ms[1] - ms[0]):
        return {"x0": frame["time"][0].strftime("%Y-%m-%dT%H:%M:%SZ"), "dx": int(ms[1] - ms[0])}
    return {"x": frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_list()}


def _values(series: pl.Series) -> np.ndarray:
    """Numbers as float32 (a chart's precision; plotly writes them as compact typed arrays)."""
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float32)


def thin(series: pl.DataFrame, max_points: int = MAX_POINTS) -> pl.DataFrame:
    """At most ``max_points`` rows: per bucket of consecutive bars its first time, last equity and
    exposures, and deepest drawdown (so the drawn maximum drawdown is the true one)."""
    if series.height <= max_points:
        return series
    k = -(-series.height // max_points)
    rest = [c for c in series.columns if c not in ("time", "drawdown")]
    return (
        series.with_row_index("_i")
        .group_by(pl.col("_i") // k, maintain_order=True)
        .agg(pl.col("time").first(), pl.col("drawdown").max(), *[pl.col(c).last() for c in rest])
        .drop("_i")
    )


def equity_figure(series: pl.DataFrame) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    x = _times(series)
    fig.add_trace(go.Scatter(**x, y=_values(series["equity"]), name="equity", line={"width": 1.2}), row=1, col=1)
    dd = _values(-series["drawdown"])
    fig.add_trace(
        go.Scatter(**x, y=dd, name="drawdown", fill="tozeroy", line={"width": 0.8, "color": "firebrick"}), row=2, col=1
    )
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="equity (USDT)", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    fig.update_layout(title="equity and drawdown", template="plotly_white", height=560, hovermode="x unified")
    return fig


def monthly_figure(monthly: pl.DataFrame) -> go.Figure:
    years = sorted(set(monthly["year"].to_list()))
    z = np.full((len(years), 12), np.nan)
    for y, m, r in zip(monthly["year"], monthly["month_of_year"], monthly["return"], strict=True):
        z[years.index(y), m - 1] = r
    text = [[("" if np.isnan(v) else f"{v:.1%}") for v in row] for row in z]
    bound = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z.tolist(),
            x=list(MONTHS),
            y=[str(y) for y in years],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0.0,
            zmin=-bound,
            zmax=bound,
            colorbar={"tickformat": ".0%"},
        )
    )
    fig.update_layout(title="monthly returns", template="plotly_white", height=120 + 40 * len(years))
    fig.update_yaxes(autorange="reversed")
    return fig


def pnl_figure(trades: pl.DataFrame) -> go.Figure:
    fig = go.Figure()
    for side, color in (("long", "seagreen"), ("short", "indianred")):
        pnl = _values(trades.filter(pl.col("side") == side)["net_pnl"]) if trades.height else []
        if len(pnl):
            fig.add_trace(go.Histogram(x=pnl, name=f"{side} ({len(pnl)})", marker_color=color, opacity=0.7))
    fig.update_layout(
        title=f"trade net PnL ({trades.height} trades)",
        barmode="overlay",
        xaxis_title="net PnL (USDT)",
        yaxis_title="trades",
        template="plotly_white",
    )
    return fig


def exposure_figure(series: pl.DataFrame) -> go.Figure:
    fig = go.Figure()
    x = _times(series)
    for col in series.columns:
        if col.startswith("exposure."):
            fig.add_trace(go.Scatter(**x, y=_values(series[col]), name=col[9:], line={"width": 1}))
    fig.update_xaxes(type="date")
    fig.update_layout(
        title="exposure per asset (signed notional / equity)",
        yaxis_title="notional / equity",
        template="plotly_white",
        hovermode="x unified",
    )
    return fig


def metrics_figure(metrics: Mapping[str, float], params: Mapping[str, object]) -> go.Figure:
    names = [*params, *[k for k in KEY_METRICS if k in metrics]]
    values = [str(v) for v in params.values()] + [fmt(k, metrics[k]) for k in KEY_METRICS if k in metrics]
    fig = go.Figure(
        go.Table(
            header={"values": ["", "value"], "align": "left"},
            cells={"values": [names, values], "align": "left"},
        )
    )
    fig.update_layout(title="key metrics", height=120 + 22 * len(names), margin={"t": 40})
    return fig


def risk_figure(mc_risk: Risk) -> go.Figure:
    """Monte Carlo panel: the maximum drawdown's distributions and a table of VaR, CVaR and the
    bootstrap intervals."""
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.6, 0.4], specs=[[{"type": "xy"}, {"type": "table"}]], horizontal_spacing=0.05
    )
    for values, name in (
        (mc_risk.mdd_bootstrap, "bootstrapped bar returns"),
        (mc_risk.mdd_reshuffled, "reshuffled trades"),
    ):
        if values.size:
            fig.add_trace(go.Histogram(x=values, name=name, opacity=0.6, histnorm="probability"), row=1, col=1)
    names = list(mc_risk.metrics)
    shown = [
        fmt("max_drawdown" if k.startswith(("var", "cvar", "mdd", "apr")) else k, v) for k, v in mc_risk.metrics.items()
    ]
    fig.add_trace(
        go.Table(header={"values": ["", "value"]}, cells={"values": [names, shown], "align": "left"}), row=1, col=2
    )
    fig.update_layout(
        title="Monte Carlo risk: maximum drawdown distributions; VaR and CVaR (losses, 1 and 10 days)",
        barmode="overlay",
        xaxis_title="maximum drawdown",
        template="plotly_white",
        height=620,
    )
    return fig


def costs_figure(costs: pl.DataFrame) -> go.Figure:
    fig = go.Figure()
    symbols = costs["symbol"].to_list()
    for name in artifacts.COSTS:
        fig.add_trace(go.Bar(x=symbols, y=costs[name].to_list(), name=name))
    fig.update_layout(
        title="costs: fees, funding (net paid; negative: received) and slippage (inside fill prices)",
        barmode="group",
        yaxis_title="USDT",
        template="plotly_white",
    )
    return fig


def page(title: str, meta: str, figures: Mapping[str, go.Figure], plotly: Sequence[str] | None = None) -> str:
    """One HTML page of figures. ``plotly``: the URLs to load plotly.js from, tried in order (the
    store's shared copy, ``runner.plotly_assets``); None embeds it (a standalone page)."""
    divs = [f'<section id="{key}"><div id="fig-{key}" class="fig"></div></section>' for key in figures]
    calls = []
    for key, fig in figures.items():
        spec = json.loads(pio.to_json(fig, validate=False))
        data, layout = json.dumps(spec.get("data", [])), json.dumps(spec.get("layout", {}))
        calls.append(f'Plotly.newPlot("fig-{key}", {data}, {layout}, {{"displaylogo": false, "responsive": true}});')
    draw = "function perplabDraw() {\n" + "\n".join(calls) + "\n}\n"
    if plotly is None:
        head = f'<script type="text/javascript">{get_plotlyjs()}</script>'
        start = "perplabDraw();"
    else:
        head = ""
        start = LOADER % json.dumps(list(plotly))
    missing = (
        '<p id="no-plotly" class="meta" hidden>The charts need plotly.js, kept once per MLflow store '
        "(experiment perplab-assets): open this page in the MLflow UI or from the store's artifact "
        "folder. The numbers are in equity.parquet and trades.parquet.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>{head}</head><body>"
        f'<h1>{html.escape(title)}</h1><p class="meta">{html.escape(meta)}</p>{missing}'
        + "\n".join(divs)
        + f"<script>\n{draw}{start}\n</script></body></html>\n"
    )


# loads plotly.js from the first URL that answers, then draws every figure
LOADER = """(function load(urls) {
  if (window.Plotly) { perplabDraw(); return; }
  if (!urls.length) { document.getElementById("no-plotly").hidden = false; return; }
  var s = document.createElement("script");
  s.src = urls[0];
  s.onload = function () { if (window.Plotly) { perplabDraw(); } else { load(urls.slice(1)); } };
  s.onerror = function () { s.remove(); load(urls.slice(1)); };
  document.head.appendChild(s);
})(%s);"""


def combination_report(
    title: str,
    meta: str,
    series: pl.DataFrame,
    trades: pl.DataFrame,
    metrics_row: np.ndarray,
    metrics: Mapping[str, float],
    params: Mapping[str, object],
    initial: float,
    plotly: Sequence[str] | None = None,
    mc_risk: Risk | None = None,
) -> str:
    """The report of one combination (``plotly``: see ``page``), with a Monte Carlo panel when
    ``mc_risk`` is given."""
    drawn = thin(series)
    figures = {
        "equity": equity_figure(drawn),
        "monthly": monthly_figure(artifacts.monthly_returns(series, initial)),
        "pnl": pnl_figure(trades),
        "exposure": exposure_figure(drawn),
        "metrics": metrics_figure(metrics, params),
        "costs": costs_figure(artifacts.costs(trades, metrics_row)),
    }
    if mc_risk is not None:
        figures["risk"] = risk_figure(mc_risk)
    return page(title, meta, figures, plotly)


def sweep_page(title: str, summary: pl.DataFrame, columns: list[str], plotly: Sequence[str] | None = None) -> str:
    """A sweep's runs: Sharpe against max drawdown (Pareto front highlighted, marker size by profit
    factor) and the table of every run, front first."""
    front = summary.filter(pl.col("pareto"))
    rest = summary.filter(~pl.col("pareto"))
    fig = go.Figure()
    for part, name, color in ((rest, "not on the front", "lightgrey"), (front, "Pareto front", "crimson")):
        fig.add_trace(
            go.Scatter(
                x=part["max_drawdown"].to_list(),
                y=part["sharpe"].to_list(),
                mode="markers",
                name=f"{name} ({part.height})",
                text=part["label"].to_list(),
                marker={"color": color, "size": 10, "line": {"width": 1, "color": "#333"}},
                hovertemplate="%{text}<br>sharpe %{y:.2f}<br>max dd %{x:.1%}<extra></extra>",
            )
        )
    fig.update_layout(
        title="runs: Sharpe vs max drawdown (front of sharpe, 1 - max_drawdown, profit_factor)",
        xaxis_title="max drawdown",
        yaxis_title="sharpe",
        xaxis_tickformat=".0%",
        template="plotly_white",
        showlegend=True,
    )
    ordered = summary.sort(["pareto", "objective"], descending=[True, True], nulls_last=True)
    cells = [[fmt(c, v) if not isinstance(v, bool) else ("yes" if v else "") for v in ordered[c]] for c in columns]
    widths = [3 if c == "overrides" else 1 for c in columns]
    table = go.Figure(
        go.Table(
            columnwidth=widths,
            header={"values": columns, "align": "left"},
            cells={"values": cells, "align": "left", "height": 30},
        )
    )
    table.update_layout(title="every run", height=240 + 34 * (summary.height + 1), margin={"l": 10, "r": 10})
    meta = f"{summary.height} runs, {front.height} on the Pareto front"
    return page(title, meta, {"front": fig, "runs": table}, plotly)


def search_page(ev, metric: str, plotly: Sequence[str] | None = None) -> str:
    """An HTML page of a search's fitness per generation: best, median and best so far, over every
    candidate evaluated (``plotly``: see ``page``)."""
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
    return page("search history", f"{len(ev.history)} generations", {"fitness": fig}, plotly)
