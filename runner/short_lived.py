"""Garbage-collector settings for perplab's command-line processes.

A ``python -m runner`` process imports MLflow, SQLAlchemy, pandas, numba and plotly: about a
million long-lived objects that CPython's cyclic collector walks again at every full collection
(eight in a default run, about 1 s) and once more while the interpreter shuts down (about 1.4 s).
Reference counting frees almost everything a job makes; the collector only finds cycles. So the
processes collect the young generation every 10,000 allocations instead of 700 (few full
collections, the heap's cycles are still found) and freeze the heap when ``main`` returns, which
spares the shut-down walk (``gc.freeze``: the permanent generation is never traversed).
"""

import gc
from collections.abc import Callable

YOUNG_THRESHOLD = 10_000  # allocations between young collections (CPython's default is 700)


def tune() -> None:
    """Collect the young generation every ``YOUNG_THRESHOLD`` allocations."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def before_compiling() -> None:
    """Freeze the heap so far (``gc.freeze``) before numba compiles the kernels: a cold compile makes
    millions of objects, and the full collections they trigger then walk only those, not the
    modules already loaded (a default run's compile, heap unfrozen: one full collection of about
    0.3 s with ``tune``'s threshold, 13 taking 3.1 s with CPython's)."""
    gc.freeze()


def run(main: Callable[[], object]) -> None:
    """Call a command's ``main`` with the collector tuned for a short-lived process."""
    tune()
    try:
        main()
    finally:
        gc.freeze()
