"""``inner``: numba's ``njit`` for kernel functions that only other kernels call.

For every ``@njit`` function numba also compiles a CPython wrapper (unboxing each argument from a
Python object, boxing the result) and a C wrapper, and links both into every caller above it, where
LLVM optimises them again. The bar loop's helpers take named tuples of up to 18 arrays (``Market``),
so their wrappers are large: without them the grid entry compiled in 26-28 s against 31-33 s
(numba's own timers, fresh caches, measured alternately). An ``inner`` function is cached like the
others but has no entry for Python: calling one from Python crashes the interpreter, so
``tests/test_architecture.py`` checks that nothing outside ``kernels/`` imports one.
"""

from numba import njit

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)


def inner(fn=None, **options):
    """``@inner`` or ``@inner(**njit_options)``: cached, compiled code only (no Python wrapper)."""
    jit = njit(**{"cache": True, "no_cpython_wrapper": True, "no_cfunc_wrapper": True, **options})
    return jit if fn is None else jit(fn)
