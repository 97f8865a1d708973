"""numba's on-disk cache keyed to every kernel source, not only the entry function's file.

numba stamps a cached function with its own file's contents, so an edit to a helper in another
module (``kernels/perp.py``, ``kernels/enums.py``) would leave a stale compiled kernel in use. The
locator below stamps every function of ``kernels/`` with one digest of all ``kernels/*.py``: any
edit there recompiles everything on the next call. The cache stays in ``kernels/__pycache__`` (or
under ``$NUMBA_CACHE_DIR`` when set). Registered through numba's ``CACHE_LOCATOR_CLASSES`` setting
when this module is imported, which every module with a kernel does before its first ``@njit``;
functions outside ``kernels/`` keep numba's own locators.
"""

import hashlib
import os
from pathlib import Path

from numba.core import config
from numba.core.caching import InTreeCacheLocator

KERNELS = Path(__file__).resolve().parent
NUMBA_LOCATORS = (
    "UserProvidedCacheLocator",
    "InTreeCacheLocator",
    "UserWideCacheLocator",
    "IPythonCacheLocator",
    "ZipCacheLocator",
)


def sources_digest(folder: Path = KERNELS) -> str:
    """sha256 over the name and bytes of every ``*.py`` in ``folder`` (sorted by name)."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


class KernelSourcesLocator(InTreeCacheLocator):
    """numba's in-tree locator (or ``$NUMBA_CACHE_DIR``'s), stamped with ``sources_digest``."""

    digest = sources_digest()

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        if config.CACHE_DIR:
            self._cache_path = os.path.join(config.CACHE_DIR, self.get_suitable_cache_subpath(py_file))

    def get_source_stamp(self):
        return self.digest

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != KERNELS:
            return None
        return super().from_function(py_func, py_file)


def register() -> None:
    """Put ``KernelSourcesLocator`` first in numba's locators (before kernels are decorated)."""
    name = f"{__name__}.{KernelSourcesLocator.__name__}"
    current = [c.strip() for c in (config.CACHE_LOCATOR_CLASSES or "").split(",") if c.strip()]
    if name not in current:
        config.CACHE_LOCATOR_CLASSES = ",".join([name, *(current or NUMBA_LOCATORS)])


register()
