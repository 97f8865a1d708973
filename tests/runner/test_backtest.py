"""The first-run notice's test of numba's on-disk cache, on a kernel compiled here."""

import importlib.util
import os
import sys
from pathlib import Path

from runner.backtest import kernels_compiled

SOURCE = """
from numba import njit


@njit(cache=True)
def twice(x):
    return {factor} * x
"""


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_compiled_only_once_cached_for_the_current_source(tmp_path: Path) -> None:
    path = tmp_path / "tiny_kernel.py"
    path.write_text(SOURCE.format(factor=2))
    first = _load(path, "tiny_kernel_a")
    assert not kernels_compiled(first.twice)  # a fresh install: the notice is printed
    assert first.twice(3) == 6
    assert kernels_compiled(first.twice)  # cached on disk: no notice next time
    path.write_text(SOURCE.format(factor=3))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))  # numba's stamp: mtime and size
    edited = _load(path, "tiny_kernel_b")
    assert not kernels_compiled(edited.twice)  # an edited kernel compiles again
    assert edited.twice(3) == 9 and kernels_compiled(edited.twice)
