"""The preloaded server's commands behave as ``subprocess.run([python, -m, ...])`` does."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prewarmed import run_module

PROBE = "tests.probe_command"
ROOT = str(Path(__file__).parent.parent)


def fresh(*args: str, env: dict) -> subprocess.CompletedProcess:
    """The probe in a new interpreter, from the repository's root (where ``tests`` is found)."""
    argv = [sys.executable, "-m", PROBE, *args]
    return subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)


def comparable(out: subprocess.CompletedProcess) -> tuple[int, str, str]:
    """Exit code and streams without the parent's pid and a traceback's frames (above the command
    they differ: the server's)."""
    stdout = re.sub(r"parent \d+\n", "", out.stdout)
    stderr = re.sub(r"Traceback \(most recent call last\):\n(  .*\n)+", "Traceback:\n", out.stderr)
    return out.returncode, stdout, stderr


@pytest.mark.parametrize("args", [("exit", "0"), ("exit", "3"), ("raise", "boom"), ("sleep", "0.1")])
def test_a_forked_command_is_a_fresh_one(tmp_path: Path, args: tuple[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROBE_UNSET"} | {
        "PROBE_VALUE": "seen",
        "PROBE_DIR": str(tmp_path),
    }
    os.environ["PROBE_UNSET"] = "the test process's own variable, not the command's"
    try:
        forked = run_module(PROBE, *args, cwd=ROOT, env=env)
    finally:
        del os.environ["PROBE_UNSET"]
    expected = fresh(*args, env=env)
    assert f"parent {os.getpid()}\n" in expected.stdout and f"parent {os.getpid()}\n" not in forked.stdout
    assert comparable(forked) == comparable(expected)
    assert f"cwd {ROOT} True" in forked.stdout and "env seen False" in forked.stdout
    assert "thread done" in forked.stdout and forked.stderr.endswith("atexit\n")


def test_a_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    env = {**os.environ, "PROBE_DIR": str(tmp_path)}
    with pytest.raises(subprocess.TimeoutExpired) as timed_out:
        run_module(PROBE, "sleep", "5", cwd=ROOT, env=env, timeout=0.5)
    assert "argv ['sleep', '5']" in timed_out.value.stdout  # what it printed before
    assert run_module(PROBE, "exit", "0", cwd=ROOT, env=env).returncode == 0  # the server serves on
    assert not (tmp_path / "slept").exists()  # killed, not waited for
