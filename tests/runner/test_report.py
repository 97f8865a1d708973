"""Every ranked table reads in the order it claims (NaN and unusable rows last), fits 80 columns, and
shows every metric column at wider widths."""

import io
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from rich.console import Console

from runner.backtest import rank
from runner.report import COMPACT, SHOWN, print_best, print_discovered, print_sweep
from runner.spec import ObjectiveSpec
from runner.sweep_summary import summary_table

NAN = float("nan")


def render(draw, width: int) -> list[str]:
    """The lines a table prints on a console ``width`` columns wide."""
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    draw(console)
    return console.export_text().splitlines()


def column(lines: list[str], header: str) -> list[str]:
    """The cells of one column of a rich table (rows that fit on one line)."""
    head = next(line for line in lines if "┃" in line)
    names = [c.strip() for c in head.split("┃")[1:-1]]
    k = names.index(header)
    rows = [line.split("│")[1:-1] for line in lines if line.startswith("│")]
    return [r[k].strip() for r in rows if r[0].strip()]  # a wrapped row's next lines start blank


def as_number(cell: str) -> float:
    if cell == "-":
        return NAN
    return float(cell.rstrip("%")) / (100.0 if cell.endswith("%") else 1.0)


def in_order(values: list[float], descending: bool = True) -> bool:
    """Non-increasing (or non-decreasing) over the defined values, with every NaN after them."""
    defined = [v for v in values if not np.isnan(v)]
    n = len(defined)
    if any(not np.isnan(v) for v in values[n:]):
        return False
    pairs = zip(defined, defined[1:], strict=False)
    return all(a >= b if descending else a <= b for a, b in pairs)


# (objective values, liquidated, survivors): the grid a job ranks
GRIDS = [
    ([0.5, 2.0, NAN, 1.0, -3.0], [0, 0, 0, 0, 0], None),
    ([0.5, 2.0, NAN, 1.0, -3.0], [0, 1, 0, 0, 0], None),  # the liquidated 2.0 is discarded
    ([0.5, 2.0, 0.7, 1.0, -3.0], [0, 0, 0, 0, 0], [True, False, True, False, True]),
    ([NAN, NAN, NAN], [1, 1, 1], None),
    ([1.0, 2.0, 3.0], [0, 0, 0], [False, False, False]),
]


def _job(values, liquidated, maximize=True):
    from kernels import enums as E

    metrics = np.full((len(values), E.N_METRICS), 0.1)
    metrics[:, E.M_SHARPE] = values
    metrics[:, E.M_N_LIQUIDATIONS] = liquidated
    objective = ObjectiveSpec("sharpe", maximize, True)
    cols = {"combo": np.arange(len(values)), "leverage.value": np.arange(1.0, len(values) + 1)}
    cols.update({n: metrics[:, k] for k, n in enumerate(E.METRIC_NAMES)})
    from runner.backtest import objective_values

    cols["objective"] = objective_values(metrics, objective) * (1 if maximize else -1)
    table = pl.DataFrame(cols)
    axis = SimpleNamespace(key="leverage.value", values=list(range(len(values))))
    spec = SimpleNamespace(
        strategy=SimpleNamespace(name="rsi"),
        data=SimpleNamespace(symbols=["BTCUSDT"], timeframe="1h"),
        top=10,
        objective=objective,
    )
    return metrics, objective, table, SimpleNamespace(axes=[axis]), spec


@pytest.mark.parametrize("values, liquidated, survivors", GRIDS)
@pytest.mark.parametrize("width", [80, 160])
def test_best_combinations_table_is_in_objective_order(values, liquidated, survivors, width) -> None:
    metrics, objective, table, compiled, spec = _job(values, liquidated)
    allowed = None if survivors is None else np.array(survivors)
    order = rank(metrics, objective, allowed)
    lines = render(lambda c: print_best(table, compiled, order, spec, "abc", console=c, survivors=allowed), width)
    shown = [as_number(v) for v in column(lines, "objective")]
    assert in_order(shown), shown
    # the first row's value is what the job logs as its objective: NaN unless a usable best exists
    usable = [
        v
        for v, liq, ok in zip(values, liquidated, survivors or [True] * len(values), strict=True)
        if ok and not liq and not np.isnan(v)
    ]
    expected = max(usable) if usable else NAN
    np.testing.assert_equal(shown[0], expected)
    assert max(len(line) for line in lines) <= width


@pytest.mark.parametrize("width", [80, 160])
def test_best_table_shows_every_metric_when_wide_and_the_compact_set_at_80(width) -> None:
    metrics, objective, table, compiled, spec = _job([1.0, 2.0], [0, 0])
    lines = render(lambda c: print_best(table, compiled, rank(metrics, objective), spec, "x", console=c), width)
    head = next(line for line in lines if "┃" in line)
    labels = {"total_return": "return", "max_drawdown": "max dd", "win_rate": "win", "n_trades": "trades"}
    for name in SHOWN if width >= 120 else COMPACT:
        assert labels.get(name, name.replace("n_liquidations", "liq")) in head


def test_a_minimised_objective_reads_ascending() -> None:
    metrics, objective, table, compiled, spec = _job([0.3, 0.1, NAN, 0.2], [0, 0, 0, 0], maximize=False)
    lines = render(lambda c: print_best(table, compiled, rank(metrics, objective), spec, "x", console=c), 160)
    assert "lower is better" in "\n".join(lines)
    shown = [as_number(v) for v in column(lines, "objective")]
    assert shown[:3] == [0.1, 0.2, 0.3] and np.isnan(shown[3])


def _sweep_run(job, status, objective, liquidations=0.0, no_survivor=False, **metrics):
    m = {"objective": objective, "n_liquidations": liquidations, "sharpe": 1.0, **metrics}
    return {"job": job, "overrides": f"leverage={job}", "status": status, "metrics": m, "no_survivor": no_survivor}


# (job, status, objective, liquidations, no survivor) -> the printed order and states
SWEEPS = [
    (
        [("0", "FINISHED", 1.0, 0, False), ("1", "FINISHED", 3.0, 1, False), ("2", "FINISHED", 2.0, 0, False)],
        ["2", "0", "1"],
    ),
    (
        [("0", "FAILED", NAN, 0, False), ("1", "FINISHED", NAN, 0, True), ("2", "FINISHED", -1.0, 0, False)],
        ["2", "1", "0"],
    ),
    (
        [("0", "FINISHED", 5.0, 0, True), ("1", "FINISHED", 0.1, 0, False), ("2", "FINISHED", 9.0, 2, False)],
        ["1", "2", "0"],
    ),
]


@pytest.mark.parametrize("jobs, expected", SWEEPS)
@pytest.mark.parametrize("width", [80, 160])
def test_sweep_table_ranks_liquidated_no_survivor_and_failed_jobs_last(jobs, expected, width) -> None:
    runs = [_sweep_run(j, s, o, liq, ns) for j, s, o, liq, ns in jobs]
    lines = render(lambda c: print_sweep(runs, "sharpe", console=c), width)
    assert column(lines, "job") == expected
    states = column(lines, "status")
    usable = [r for r in runs if r["status"] == "FINISHED" and not r["no_survivor"]]
    usable = [r for r in usable if not r["metrics"]["n_liquidations"] and np.isfinite(r["metrics"]["objective"])]
    assert states[: len(usable)] == ["ok"] * len(usable)
    assert "ok" not in states[len(usable) :]
    assert max(len(line) for line in lines) <= width


def _mlflow_run(job, status, objective, liquidations=0.0, no_survivor=False):
    return SimpleNamespace(
        info=SimpleNamespace(run_id=f"r{job}", status=status),
        data=SimpleNamespace(
            metrics={"objective": objective, "n_liquidations": liquidations, "sharpe": 1.0},
            tags={"job_num": job, "hydra_overrides": f"leverage={job}", "no_survivor": str(no_survivor).lower()},
        ),
    )


@pytest.mark.parametrize("jobs, expected", SWEEPS)
def test_sweep_summary_rows_are_best_first_and_never_a_discarded_best(jobs, expected) -> None:
    table = summary_table([_mlflow_run(*j) for j in jobs])
    assert table["job"].to_list() == expected
    best = table.filter(pl.col("usable"))["objective"]
    assert table["objective"][0] == best.max()


def test_discovered_table_is_in_fitness_order() -> None:
    top = pl.DataFrame(
        {
            "rank": [1, 2, 3],
            "strategy": ["discovered/a", "discovered/b", "discovered/c"],
            "fitness": [2.0, 1.5, -0.5],
            "holdout_sharpe": [0.1, 0.4, NAN],
            "holdout_total_return": [0.01, 0.02, 0.0],
            "holdout_n_trades": [3.0, 4.0, 0.0],
            "rule": ["rsi_14 < 30", "close > sma_50 and adx_14 > 25", "cci_20 < -100"],
        }
    )
    lines = render(lambda c: print_discovered(top, console=c), 80)
    assert in_order([as_number(v) for v in column(lines, "fitness")])
    assert max(len(line) for line in lines) <= 80


@pytest.mark.parametrize("width", [80, 160])
def test_many_grid_axes_share_one_column_below_120(width) -> None:
    """Four grid axes: one folded ``parameters`` column of name=value at 80 columns, a column each
    when wide; every value is there either way."""
    metrics, objective, table, compiled, spec = _job([0.5, 0.2, 0.9], [0, 0, 0])
    keys = ("strategy.params.period", "strategy.params.lower", "strategy.params.upper", "leverage.value")
    table = table.with_columns(
        pl.Series(k, [10.0 + i + 7 * j for j in range(3)]) for i, k in enumerate(keys) if k != "leverage.value"
    )
    compiled = SimpleNamespace(axes=[SimpleNamespace(key=k, values=[0, 1, 2]) for k in keys])
    order = rank(metrics, objective)
    lines = render(lambda c: print_best(table, compiled, order, spec, "abc", console=c), width)
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= width
    assert ("parameters" in text) == (width < 120)
    best = "".join(text.split())  # a folded cell may break anywhere
    for name, value in (("period", 24), ("lower", 25), ("upper", 26), ("leverage", 3)):
        assert (f"{name}={value}" in best) if width < 120 else (name in text and str(value) in text)
