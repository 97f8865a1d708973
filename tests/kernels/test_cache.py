"""The numba cache is keyed to every kernel source: editing a helper module recompiles the kernels
that call it (numba alone keys a function to its own file and would run the stale helper)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import kernels
from kernels.cache import KernelSourcesLocator, sources_digest

KERNELS = Path(kernels.__file__).parent
ENTRY = (
    "{}from numba import njit\n\nfrom kernels.helper import value\n\n\n"
    "@njit(cache=True)\ndef entry():\n    return value()\n"
)
HELPER = "from numba import njit\n\n\n@njit(cache=True)\ndef value():\n    return {}\n"


def call(root: Path) -> int:
    """``kernels.entry.entry()`` in a fresh interpreter (cache on disk only) under ``root``."""
    code = "from kernels.entry import entry; print(entry())"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.parametrize(
    ("keyed", "after_edit"),
    [(True, 2), (False, 1)],  # without the locator numba's cache runs the stale helper: the control
    ids=["keyed to kernel sources", "numba alone (stale)"],
)
def test_editing_a_helper_module_recompiles_its_callers(tmp_path, keyed, after_edit):
    pkg = tmp_path / "kernels"
    pkg.mkdir()
    shutil.copy(KERNELS / "cache.py", pkg / "cache.py")
    (pkg / "__init__.py").write_text("")
    (pkg / "entry.py").write_text(ENTRY.format("import kernels.cache\n" if keyed else ""))
    (pkg / "helper.py").write_text(HELPER.format(1))
    assert call(tmp_path) == 1
    assert call(tmp_path) == 1  # from the cache
    (pkg / "helper.py").write_text(HELPER.format(2))
    assert call(tmp_path) == after_edit


def test_the_digest_covers_every_kernel_source(tmp_path):
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("x = 1\n")
    before = sources_digest(tmp_path)
    (tmp_path / "b.py").write_text("x = 2\n")
    assert sources_digest(tmp_path) != before
    assert KernelSourcesLocator.digest == sources_digest()


def test_the_kernels_use_the_keyed_locator():
    from kernels.simulate import simulate_rows

    assert isinstance(simulate_rows._cache._impl.locator, KernelSourcesLocator)
