"""Chunking of the combination axis under a memory budget; local or Ray tasks.

A grid runs as chunks of combinations, each one kernel call (``simulate_grid`` over rows ``lo..hi``)
whose metrics and block statistics go to a sink as soon as it ends (the filters reduce the blocks
at once, ``runner.filters.stream``), so only one chunk's arrays and the per-combination results exist
in this process at any time. Every combination is simulated alone, so any chunking gives the same
numbers.

The budget (``compute.max_memory_gb``) holds for this process and for each Ray task: the process's
memory in use (measured), the arrays every combination keeps (metrics, the filters' partials, their
columns, the grid table) and one chunk's (its block statistics and their reduction). A job whose
smallest chunk cannot fit is refused before it simulates.
"""

import ctypes
import math
import os
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import psutil
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from kernels import enums as E
from kernels.simulate import simulate_grid
from runner.errors import ConfigError
from runner.filters.spec import FiltersSpec
from runner.spec import RAY_INSTALL, ComputeSpec

if TYPE_CHECKING:
    from runner.data.panel import MarketPanel
    from runner.strategy.assemble import Compiled

GB = 2**30
CHUNK_MIN = 256  # grids up to this size run as one kernel call
SPREAD = 20  # chunks of a larger grid (a progress bar that moves), unless the budget asks for more
TASKS_PER_CPU = 4  # Ray: chunks per CPU of the cluster at least, so every CPU stays busy
# Bytes per combination beyond the arrays counted by name: the filters' columns and verdicts, the
# objective and ranking, the grid table (a copy of every column) and its parquet encoding: 590
# measured on a 1,000,000-combination RSI grid with filters=all (benchmarks/bench_chunked.py), with a margin.
FINISH_BYTES = 800
CHUNK_WORK_BYTES = 400  # per combination of a chunk: the window figures the filters compute from it

Sink = Callable[[int, np.ndarray, np.ndarray], None]  # (lo, metrics, blocks) of one chunk


@dataclass(frozen=True)
class Budget:
    """What a job needs: bytes in use now, per combination of the grid and per combination of a
    chunk; and the largest chunk that fits ``limit``."""

    limit: int
    in_use: int
    per_combo: int
    per_chunk_combo: int
    n: int
    fit: int  # the most combinations one chunk may hold (0: not even one)

    def need(self, chunk: int) -> int:
        return self.in_use + self.n * self.per_combo + chunk * self.per_chunk_combo


def partial_bytes(spec: FiltersSpec) -> int:
    """Bytes the filters' partials hold per combination of the grid (``runner.filters.stream``)."""
    out = 16 if spec.walk_forward is not None else 0  # APR sums in and out of sample
    out += 8 * spec.purged_kfold.folds if spec.purged_kfold is not None else 0  # test-fold Sharpe
    out += 16 * spec.pbo.blocks + 8 if spec.pbo is not None else 0  # CSCV sums, first liquidation
    return out


def job_bytes(n_blocks: int, filters_bytes: int, n_axes: int) -> tuple[int, int]:
    """Bytes per combination of the grid (metrics, the filters' partials, the finish: columns, table)
    and per combination of a chunk (its metrics and block statistics, their liquidation counts and
    the window figures computed from them)."""
    whole = 8 * E.N_METRICS + filters_bytes + 8 * n_axes + FINISH_BYTES
    chunk = 8 * (E.N_METRICS + n_blocks * (E.N_BLOCK + 1)) + CHUNK_WORK_BYTES
    return whole, chunk


def memory_in_use() -> int:
    """This process's resident memory, after handing the heap's free pages back to the system (glibc
    keeps what a large grid's compilation freed, to be reused: it is not in use)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
    return psutil.Process().memory_info().rss


def budget(spec: ComputeSpec, n: int, per_combo: int, per_chunk_combo: int) -> Budget:
    """The job's budget against ``compute.max_memory_gb``; a ConfigError naming it when not even a
    chunk of one combination fits, or naming ``compute.chunk_combos`` when the chunks asked for do not."""
    in_use = memory_in_use()
    limit = int(spec.max_memory_gb * GB) if spec.max_memory_gb else in_use + psutil.virtual_memory().available
    fit = max(0, min(n, (limit - in_use - n * per_combo) // per_chunk_combo))
    out = Budget(limit, in_use, per_combo, per_chunk_combo, n, int(fit))
    shown = f"{spec.max_memory_gb:g}" if spec.max_memory_gb else "null"
    if fit < 1:
        need = f"{math.ceil(out.need(1) / GB * 100) / 100:.2f}"
        short = "" if spec.max_memory_gb else f", more than the {limit / GB:.2f} GB available"
        raise ConfigError(
            f"compute.max_memory_gb={shown}: this job needs at least {need} GB{short} ({in_use / GB:.2f} in use, "
            f"{n * per_combo / GB:.2f} for the results of {n:,} combinations, {per_chunk_combo / 1024:.0f} KB per "
            f"combination simulated at once); valid: a number >= {need}, or a smaller grid"
        )
    if spec.chunk_combos is not None and min(spec.chunk_combos, n) > fit:
        size = min(spec.chunk_combos, n)
        raise ConfigError(
            f"compute.chunk_combos={spec.chunk_combos}: chunks of {size:,} combinations need "
            f"{out.need(size) / GB:.2f} GB, over compute.max_memory_gb={shown}; valid: 1 to {fit:,}, or null"
        )
    return out


def bounds(n: int, spec: ComputeSpec, fit: int, cpus: int = 1) -> np.ndarray:
    """Chunk edges: ``compute.chunk_combos`` each, or as few even chunks as fit (at least ``SPREAD``
    for a grid over ``CHUNK_MIN``, and ``TASKS_PER_CPU`` per CPU on Ray)."""
    if spec.chunk_combos is not None:
        return np.append(np.arange(0, n, spec.chunk_combos, dtype=np.int64), np.int64(n))
    spread = 1 if n <= CHUNK_MIN else min(SPREAD, max(2, n // CHUNK_MIN))
    if spec.backend == "ray":
        spread = max(spread, min(n, TASKS_PER_CPU * cpus))
    chunks = max(spread, math.ceil(n / max(fit, 1)))
    return np.linspace(0, n, chunks + 1).astype(np.int64)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]simulating[/]"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} combinations"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )


@dataclass
class Chunking:
    """How a grid ran: its chunk edges and the backend."""

    edges: np.ndarray
    backend: str

    def tags(self) -> dict[str, str]:
        sizes = np.diff(self.edges)
        return {
            "compute.backend": self.backend,
            "compute.chunks": str(len(sizes)),
            "compute.chunk_combos": str(int(sizes.max(initial=0))),
        }


def simulate(
    panel: "MarketPanel",
    compiled: "Compiled",
    initial: float,
    spec: ComputeSpec,
    fit: int,
    sink: Sink,
    blk: np.ndarray | None = None,
    n_blocks: int = 0,
    progress: bool = True,
) -> Chunking:
    """Run every combination of ``compiled`` in chunks of at most ``fit`` (``compute.chunk_combos``
    when set), here or as Ray tasks; ``sink(lo, metrics, blocks)`` receives each chunk as it ends
    (in any order on Ray). Without ``blk`` (a block id per bar) blocks are empty."""
    blk = np.zeros(0, np.int64) if blk is None else np.ascontiguousarray(blk, dtype=np.int64)
    if spec.backend == "ray":
        return _on_ray(panel, compiled, blk, (initial, panel.bars_per_year, n_blocks), spec, fit, sink, progress)
    edges = bounds(compiled.n_combos, spec, fit)
    market, prog = compiled.market(panel), compiled.program()
    with _progress(progress) as bar:
        shown = bar.add_task("grid", total=compiled.n_combos)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            metrics, blocks = simulate_grid(
                market, prog, compiled.params, lo, hi, initial, panel.bars_per_year, blk, n_blocks
            )
            sink(int(lo), metrics, blocks)
            del metrics, blocks
            bar.update(shown, advance=int(hi - lo))
    return Chunking(edges, "local")


def _task(shared: tuple, lo: int, hi: int, initial: float, bars_per_year: float, n_blocks: int):
    """One chunk in a Ray task: the kernel over combinations ``lo..hi-1`` on one CPU. The object
    store's arrays are read-only; the kernels are compiled for writable ones, so the task copies the
    market, the block ids and the chunk's rows of the program."""
    import numba

    numba.set_num_threads(1)
    market, compiled, blk = shared
    rows = compiled.rows(lo, hi)
    market = market._make(np.array(a) for a in market)  # the same named Market, writable
    return simulate_grid(
        market, rows.program(), rows.params, 0, hi - lo, initial, bars_per_year, np.array(blk), n_blocks
    )


def connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address`` (None: $RAY_ADDRESS, else start a local Ray) unless this
    process already has; Ray's own log lines stay out of the terminal. True when it connected."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"compute.backend=ray: Ray is not installed; {RAY_INSTALL} (valid: local, ray)") from None
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    local = {"include_dashboard": False} if address is None else {}
    ray.init(address=address, logging_level="ERROR", log_to_driver=False, **local)
    return True


def _on_ray(panel, compiled: "Compiled", blk, args: tuple, spec: ComputeSpec, fit: int, sink: Sink, progress: bool):
    """The chunks as Ray tasks (``args``: initial capital, bars per year, blocks), at most two per CPU
    of the cluster in flight (finished results wait in the object store); each result goes to the
    sink as it arrives."""
    import ray

    connected = connect(spec.ray_address)
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        edges = bounds(compiled.n_combos, spec, fit, cpus)
        remote = ray.remote(num_cpus=1)(_task)
        program = replace(compiled, grid_idx=compiled.grid_idx[:0])  # the tasks need no grid indices
        shared = ray.put((compiled.market(panel), program, blk))  # once, read by every task
        todo = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))[::-1]
        running: dict = {}
        with _progress(progress) as bar:
            shown = bar.add_task("grid", total=compiled.n_combos)
            while todo or running:
                while todo and len(running) < 2 * cpus:
                    lo, hi = todo.pop()
                    running[remote.remote(shared, lo, hi, *args)] = (lo, hi)
                (ref,), _ = ray.wait(list(running), num_returns=1)
                lo, hi = running.pop(ref)
                metrics, blocks = ray.get(ref)
                sink(lo, metrics, blocks)
                del metrics, blocks, ref
                bar.update(shown, advance=hi - lo)
        return Chunking(edges, "ray")
    finally:
        if connected:
            ray.shutdown()
