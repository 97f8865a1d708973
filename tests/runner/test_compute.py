"""Chunking of the combination axis (runner/compute.py): any chunking, in any order, here or as Ray
tasks, gives the unchunked job's numbers bit for bit (every metric, every filter's column, table and
figure); a job that cannot fit its memory budget, and bad compute settings, are refused in one line."""

import importlib.util
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from kernels import enums as E
from runner import compute
from runner.backtest import grid_evaluation, grid_table, run_grid
from runner.config import validate
from runner.data.panel import build_panel
from runner.data.timeframes import timeframe_ms
from runner.errors import ConfigError
from runner.filters.outcome import Context
from runner.filters.pipeline import evaluate, lookback, plan
from runner.filters.stream import Reduction
from runner.filters.windows import Choice
from runner.spec import ComputeSpec
from runner.strategy.compile import compile_strategy
from tests.runner.strategy.test_compile import cfg_for
from tests.runner.test_cli import FAST, cli, runs

# 36 combinations, 1x and 20x (liquidations: the discard rule in every selection), every defense;
# walk-forward windows that fit the half year
GRID = [
    "strategy.params.period=[7,14,21]",
    "strategy.params.lower=[20,25,30]",
    "strategy.params.upper=[70,75]",
    "leverage=[1,20]",
    "filters=all",
    "filters.walk_forward.train=60d",
    "filters.walk_forward.test=30d",
]
N = 36


@pytest.fixture(scope="module")
def job():
    spec = validate(cfg_for(*FAST, *GRID))
    panel = build_panel(spec.data)
    compiled = compile_strategy(spec, panel)
    schedule = plan(spec.filters, panel.times, timeframe_ms(panel.timeframe), lookback(compiled.warm, panel.tradable))
    assert compiled.n_combos == N
    return spec, panel, compiled, schedule


def context(job, metrics: np.ndarray, blocks: np.ndarray) -> Context:
    spec, panel, c, schedule = job
    part, lev = schedule.partition, c.params[:, E.P_LEVERAGE]
    return Context(metrics, blocks, part, panel.times, panel.bars_per_year, lev, spec.objective, c.axes, c.grid_idx)


@pytest.fixture(scope="module")
def unchunked(job):
    """The whole grid in one kernel call, every combination's blocks kept, the defenses run on them."""
    spec, panel, compiled, schedule = job
    part = schedule.partition
    metrics, blocks = run_grid(panel, compiled, spec.initial_capital, False, part.blk, part.n_blocks)
    report = evaluate(schedule, context(job, metrics, blocks))
    return metrics, blocks, report, grid_table(compiled, metrics, spec.objective, report.columns)


def same(a, b) -> bool:
    """Equal bit for bit (NaN equal to NaN), arrays, frames, numbers and containers of them."""
    if isinstance(a, pl.DataFrame):
        return a.equals(b, null_equal=True)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def assert_same_report(got, want) -> None:
    assert [o.name for o in got.outcomes] == [o.name for o in want.outcomes]
    for g, w in zip(got.outcomes, want.outcomes, strict=True):
        for part in ("passed", "columns", "metrics", "steps", "tables", "summary", "params", "applicable"):
            assert same(getattr(g, part), getattr(w, part)), (g.name, part)
    assert same(got.survivors, want.survivors)


def test_the_grid_exercises_every_selection(unchunked) -> None:
    """The reference is not trivial: windows and folds choose combinations, some are liquidated."""
    metrics, _, report, _ = unchunked
    assert (metrics[:, E.M_N_LIQUIDATIONS] > 0).any() and (metrics[:, E.M_N_LIQUIDATIONS] == 0).any()
    tables = report.tables()
    assert (tables["walk_forward.parquet"]["combo"] >= 0).sum() >= 2
    assert (tables["purged_kfold.parquet"]["combo"] >= 0).sum() >= 2
    assert len(tables["pbo_logits.parquet"]) > 0


@pytest.mark.parametrize(
    "chunk_combos, chunks",
    [(1, 36), (2, 18), (5, 8), (7, 6), (13, 3), (35, 2), (36, 1), (1000, 1), (None, 1)],
)
def test_any_chunk_size_gives_the_unchunked_results_bit_for_bit(job, unchunked, chunk_combos, chunks) -> None:
    spec, panel, compiled, schedule = job
    metrics, _, want_report, want_table = unchunked
    ev = grid_evaluation(replace(spec, compute=ComputeSpec(chunk_combos=chunk_combos)), panel, compiled, schedule)
    assert ev.tags["compute.chunks"] == str(chunks) and ev.blocks.size == 0  # no combination's blocks kept
    report = evaluate(schedule, context(job, ev.metrics, ev.blocks), ev.reduced)
    assert same(ev.metrics, metrics)
    assert_same_report(report, want_report)
    table = grid_table(compiled, ev.metrics, spec.objective, report.columns)
    assert table.equals(want_table, null_equal=True)  # every metric and every filter column


@pytest.mark.parametrize("size, seed", [(1, 0), (4, 1), (11, 2), (20, 3)])
def test_chunks_reduced_in_any_order_give_the_same_report(job, unchunked, size, seed) -> None:
    """Ray hands chunks back as they finish: the reduction does not depend on their order (a tie in
    a window's objective goes to the lower combination number, as in the whole grid)."""
    spec, panel, compiled, schedule = job
    metrics, blocks, want, _ = unchunked
    reduced = Reduction(schedule, N, spec.objective, panel.bars_per_year)
    edges = [*range(0, N, size), N]
    leverage = compiled.params[:, E.P_LEVERAGE]
    for k in np.random.default_rng(seed).permutation(len(edges) - 1):
        lo, hi = edges[k], edges[k + 1]
        reduced.add(lo, metrics[lo:hi], blocks[lo:hi], leverage[lo:hi])
    assert_same_report(evaluate(schedule, context(job, metrics, blocks[:0]), reduced), want)


@pytest.mark.parametrize(
    "chunks, index",
    [
        ([(0, [1.0, 3.0]), (2, [3.0, np.nan])], 1),  # a tie: the first
        ([(2, [3.0, np.nan]), (0, [1.0, 3.0])], 1),  # the same chunks in the other order
        ([(0, [np.nan]), (1, [np.nan, np.nan])], -1),  # nothing eligible: no choice
        ([(3, [-np.inf, 2.0]), (0, [2.0])], 0),
    ],
)
def test_a_choice_over_chunks_is_the_first_largest_value(chunks, index) -> None:
    choice = Choice()
    for lo, values in chunks:
        choice.offer(np.array(values), lo, lambda i, lo=lo: lo + i)
    assert choice.index == index and (index < 0 or choice.kept == index)


@pytest.mark.parametrize(
    "n, chunk_combos, fit, backend, cpus, sizes",
    [
        (36, None, 36, "local", 1, [36]),  # a small grid: one kernel call
        (1000, None, 1000, "local", 1, [333, 333, 334]),  # a few, so the progress bar moves
        (100_000, None, 100_000, "local", 1, [5000] * 20),
        (100_000, None, 1_000, "local", 1, [1000] * 100),  # as many as the budget needs
        (36, 7, 36, "local", 1, [7, 7, 7, 7, 7, 1]),
        (36, None, 36, "ray", 2, [4, 5, 4, 5, 4, 5, 4, 5]),  # four tasks per CPU of the cluster
    ],
)
def test_chunk_edges(n, chunk_combos, fit, backend, cpus, sizes) -> None:
    edges = compute.bounds(n, ComputeSpec(backend, chunk_combos), fit, cpus)
    assert edges[0] == 0 and edges[-1] == n and np.diff(edges).tolist() == sizes


def test_the_budget_counts_every_combinations_arrays_and_one_chunk(monkeypatch) -> None:
    """The chunk size follows from the budget: what is in use, the arrays of every combination, then
    as many combinations at once as fit; chunks asked for that do not fit are refused."""
    monkeypatch.setattr(compute, "memory_in_use", lambda: 200 * 2**20)
    per_combo, per_chunk, n = 1000, 2**20, 1000
    gb = (200 * 2**20 + n * per_combo + 10.5 * per_chunk) / compute.GB  # room for ten at once
    assert compute.budget(ComputeSpec(max_memory_gb=gb), n, per_combo, per_chunk).fit == 10
    assert compute.budget(ComputeSpec(max_memory_gb=gb, chunk_combos=10), n, per_combo, per_chunk).fit == 10
    with pytest.raises(ConfigError, match=r"^compute.chunk_combos=11: chunks of 11 combinations need [\d.]+ GB, over "):
        compute.budget(ComputeSpec(max_memory_gb=gb, chunk_combos=11), n, per_combo, per_chunk)
    with pytest.raises(ConfigError, match=r"^compute.max_memory_gb=[\d.]+: this job needs at least [\d.]+ GB \("):
        compute.budget(ComputeSpec(max_memory_gb=gb), n, per_combo + 11 * per_chunk // n, per_chunk)


def test_the_guard_sees_the_blocks_once_the_data_is_known(job, monkeypatch) -> None:
    """A budget the grid's own arrays fit (validation passes) but not one combination's block
    statistics with them: refused within the job, once the data says how many blocks, before simulating."""
    spec, panel, compiled, schedule = job
    monkeypatch.setattr(compute, "memory_in_use", lambda: 200 * 2**20)
    per_combo, per_chunk = compute.job_bytes(
        schedule.partition.n_blocks, compute.partial_bytes(spec.filters), len(compiled.axes)
    )
    gb = (200 * 2**20 + N * per_combo + per_chunk // 2) / compute.GB
    assert validate(cfg_for(*FAST, *GRID, f"compute.max_memory_gb={gb}")).compute.max_memory_gb == gb

    def simulate(*args, **kwargs):
        raise AssertionError("simulated")

    monkeypatch.setattr(compute, "simulate", simulate)
    with pytest.raises(ConfigError, match=r"^compute.max_memory_gb=[\d.]+: this job needs at least"):
        grid_evaluation(replace(spec, compute=ComputeSpec(max_memory_gb=gb)), panel, compiled, schedule)


@pytest.mark.parametrize(
    "override, message",
    [
        ("compute.backend=gpu", "compute.backend='gpu': valid: local, ray"),
        ("compute.chunk_combos=0", "compute.chunk_combos=0: must be a positive integer (combinations per kernel"),
        ("compute.chunk_combos=2.5", "compute.chunk_combos=2.5: must be a positive integer"),
        ("compute.chunk_combos=true", "compute.chunk_combos=True: must be a positive integer"),
        ("compute.max_memory_gb=-1", "compute.max_memory_gb=-1: must be a positive number of GB or null"),
        ("compute.max_memory_gb=0", "compute.max_memory_gb=0: must be a positive number of GB or null"),
        ("compute.max_memory_gb=lots", "compute.max_memory_gb='lots': must be a positive number of GB or null"),
        ("compute.ray_address=''", "compute.ray_address='': must be a Ray address like 10.0.0.5:6379"),
        ("compute.max_memory_gb=0.01", "compute.max_memory_gb=0.01: this job needs at least "),
    ],
)
def test_bad_compute_settings_are_one_line(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        validate(cfg_for(*FAST, override))
    text = str(exc.value)
    assert text.startswith(message) and "\n" not in text, text


def test_ray_backend_without_ray_names_the_install_command(monkeypatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    with pytest.raises(ConfigError, match=r"^compute.backend=ray: Ray is not installed; pip install -e '.\[ray\]'"):
        validate(cfg_for(*FAST, "compute=ray"))


# --- the app end to end: chunked, unchunked and on a two-node Ray cluster -----------------------------

ARGS = [*FAST, *GRID, "tracking.report=none"]
ARTIFACTS = ("grid.parquet", "walk_forward.parquet", "purged_kfold.parquet", "pbo_logits.parquet", "trades.parquet")


def job_run(folder: Path, *args: str):
    """``python -m runner`` with ``args`` in ``folder``: the output, the job's run and its artifacts."""
    out = cli(folder, *ARGS, *args)
    assert out.returncode == 0, out.stderr[-3000:]
    client, (run,) = runs(folder / "mlruns" / "mlflow.db")
    frames = {
        name: pl.read_parquet(client.download_artifacts(run.info.run_id, name, str(folder))) for name in ARTIFACTS
    }
    return out, run, frames


@pytest.fixture(scope="module")
def one_call(tmp_path_factory):
    """The app with the whole grid in one kernel call."""
    return job_run(tmp_path_factory.mktemp("one-call"), f"compute.chunk_combos={N}")


def assert_same_job(got, want) -> None:
    (_, run, frames), (_, ref, ref_frames) = got, want
    for name in ARTIFACTS:
        assert frames[name].equals(ref_frames[name], null_equal=True), name
    metrics = {k: v for k, v in run.data.metrics.items() if k != "peak_rss_mb"}
    assert same(metrics, {k: v for k, v in ref.data.metrics.items() if k != "peak_rss_mb"})
    assert run.data.tags["best_combo"] == ref.data.tags["best_combo"]


def test_the_app_in_chunks_of_five_equals_one_kernel_call(tmp_path: Path, one_call) -> None:
    got = job_run(tmp_path, "compute.chunk_combos=5", "compute.max_memory_gb=4")
    assert_same_job(got, one_call)
    (_, run, _), (_, ref, _) = got, one_call
    assert (run.data.tags["compute.chunks"], run.data.tags["compute.chunk_combos"]) == ("8", "5")
    assert (ref.data.tags["compute.chunks"], ref.data.tags["compute.backend"]) == ("1", "local")
    assert 100 < run.data.metrics["peak_rss_mb"] < 4 * 1024


def test_a_job_over_its_memory_budget_is_refused_before_any_work(tmp_path: Path) -> None:
    out = cli(tmp_path, *ARGS, "compute.max_memory_gb=0.05")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("error: compute.max_memory_gb=0.05: this job needs at least "), lines[0]
    assert not (tmp_path / "mlruns").exists()


def test_ray_tasks_on_a_two_node_cluster_give_the_local_results(tmp_path: Path, one_call, ray_cluster) -> None:
    got = job_run(tmp_path, "compute=ray", f"compute.ray_address={ray_cluster['address']}")
    assert_same_job(got, one_call)
    out, run, _ = got
    assert run.data.tags["compute.backend"] == "ray" and int(run.data.tags["compute.chunks"]) == 8  # 4 per CPU
    noise = [line for line in (out.stdout + out.stderr).splitlines() if "INFO" in line or "(raylet" in line]
    assert not noise, noise[:5]
