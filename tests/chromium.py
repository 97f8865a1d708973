"""Headless Chromium (Debian's ``chromium`` package) for tests that check pages in a real browser;
such a test is skipped only where it is not installed."""

import shutil
import subprocess
from collections.abc import Callable

import pytest


def browser() -> str:
    """The Chromium binary, or skip the test."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def dump_dom(url: str, budget_ms: int = 20_000, ready: Callable[[str], bool] | None = None) -> str:
    """The page's DOM after its scripts ran for ``budget_ms`` of virtual time; when ``ready`` says
    the page is not done yet (a loaded machine), tried again with twice the budget, then the DOM as
    it is, with the browser's console messages appended for the failure message."""
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
    for attempt in range(3):
        out = subprocess.run(
            [browser(), *args, "--enable-logging=stderr", f"--virtual-time-budget={budget_ms << attempt}"]
            + ["--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.stdout, f"chromium printed no page for {url}: {out.stderr[-2000:]}"
        if ready is None or ready(out.stdout):
            return out.stdout
    console = "\n".join(line for line in out.stderr.splitlines() if "CONSOLE" in line or "ERROR" in line)
    return out.stdout + f"\n<!-- chromium console:\n{console[-3000:]}\n-->"
