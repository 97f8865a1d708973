"""The command-line processes' collector settings (``runner/short_lived.py``), checked in a fresh
child process: it starts with CPython's defaults, and the heap it freezes at exit is its own."""

import subprocess
import sys

import pytest

CHILD = """
import atexit, gc, sys
from runner import short_lived

atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0))

def main():
    print("threshold", gc.get_threshold()[0])
    {body}

short_lived.run(main)
"""


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("return None", 0),
        ("sys.exit(2)", 2),  # a command's exit code passes through
        ("raise RuntimeError('boom')", 1),
    ],
)
def test_a_command_runs_with_a_large_young_generation_and_exits_frozen(body: str, code: int) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD.format(body=body)], capture_output=True, text=True, timeout=60)
    assert done.returncode == code
    assert done.stdout.split("\n")[:2] == ["threshold 10000", "frozen True"]
    assert ("RuntimeError: boom" in done.stderr) == (code == 1)


BEFORE_COMPILING = """
import gc
from runner import short_lived

old = [[1]]
visible = any(o is old for o in gc.get_objects())
short_lived.before_compiling()
new = [[2]]
print(visible, any(o is old for o in gc.get_objects()), any(o is new for o in gc.get_objects()))
"""


def test_before_compiling_the_heap_so_far_leaves_the_collectors_walks() -> None:
    """What lived before a cold compile is frozen (no collection walks it again); what the compile
    makes is collected as usual."""
    done = subprocess.run([sys.executable, "-c", BEFORE_COMPILING], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "False", "True"]
