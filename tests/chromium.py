"""Headless Chromium (Debian's ``chromium`` package) for tests that check pages in a real browser;
such a test is skipped only where it is not installed."""

import shutil
import subprocess

import pytest


def browser() -> str:
    """The Chromium binary, or skip the test."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def dump_dom(url: str, budget_ms: int = 20_000) -> str:
    """The page's DOM after its scripts ran for ``budget_ms`` of virtual time."""
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
    out = subprocess.run(
        [browser(), *args, f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.stdout, f"chromium printed no page for {url}: {out.stderr[-2000:]}"
    return out.stdout
