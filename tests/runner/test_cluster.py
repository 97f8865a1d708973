"""A Ray job limits numba's threads to the CPUs Ray gave it without breaking a later compilation."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import os, sys
import numba
numba.get_num_threads()  # the thread pool starts at the machine's size, as in a Ray worker
{limit}
@numba.njit
def fresh(x):  # a kernel not in the cache: numba re-reads its settings before compiling it
    return x + 1
print(fresh(1), numba.get_num_threads())
"""


@pytest.mark.parametrize(
    ("limit", "ok"),
    [
        ("from runner.cluster import limit_threads; limit_threads(1)", True),
        # what the Ray job did before: NUMBA_NUM_THREADS written after the pool started
        ("os.environ['NUMBA_NUM_THREADS'] = '1'; numba.set_num_threads(1)", False),
    ],
    ids=["limit_threads", "environment write"],
)
def test_threads_limited_after_the_pool_started_still_compile(limit: str, ok: bool) -> None:
    code = CHILD.format(limit=limit)
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "NUMBA_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    if ok:
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["2", "1"]
    else:
        assert "Cannot set NUMBA_NUM_THREADS" in out.stderr
