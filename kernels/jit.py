"""``inner``: numba's ``njit`` for kernel functions that only other kernels call.

A plain ``@njit`` function costs its callers twice at compile time:

- numba compiles a CPython wrapper (unboxing each argument from a Python object) and a C wrapper for
  it, and links both into every caller above it. The bar loop's helpers take named tuples of up to
  18 arrays (``Market``), so their wrappers are large: without them the grid entry compiled in
  26-28 s against 31-33 s (numba's own timers, fresh caches, measured alternately).
- numba optimises each function's LLVM module (with everything it calls linked in) at full
  strength and emits its machine code, then links that module into every caller, which optimises
  and emits it again: a helper was optimised once for itself and again at every level of callers
  above it, and machine code was emitted for functions that never run on their own.

An ``inner`` function has no wrappers, and its code library (``InnerLibrary``) keeps its LLVM IR after
numba's per-function passes: no module optimisation, no machine code. The entries Python calls
(plain ``@njit``) link it in and optimise and emit everything below them once; LLVM's passes do not
reassociate floating point, so the numbers are the same to the bit (the pinned grid digest). The
grid entry's cold compile: 18.6-21.1 s against 24.1-27.7 s (``kernels.warmup``, fresh caches,
alternately, 2026-12-02).

Nothing of an inner function is cached on its own (it has no machine code to keep): the cached
entries hold its code, and a process that compiles an entry compiles the inner functions it calls
again. Calling an inner function from Python crashes the interpreter, so
``tests/test_architecture.py`` checks that nothing outside ``kernels/`` imports one. The library
overrides two steps of numba's ``JITCodeLibrary`` (numba 0.68);
``tests/kernels/test_specialisations.py`` checks on the installed numba that an inner library emits
no machine code and that its callers run it.
"""

from numba import njit
from numba.core import cgutils
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import FunctionPass, register_pass
from numba.core.typed_passes import NopythonTypeInference

import kernels.cache  # noqa: F401  (keys numba's cache to every kernel source; before any @njit)

ENV_PREFIX = "_ZN08NumbaEnv"  # numba's per-function environment globals (numba.core.funcdesc)


class InnerLibrary(JITCodeLibrary):
    """A code library that is only linked into callers: no module optimisation, no machine code."""

    def _optimize_final_module(self) -> None:
        """Nothing: each caller optimises the linked code, once, with everything it calls."""

    def _finalize_final_module(self) -> None:
        """Checks as numba's, without handing the module to the execution engine (which would emit
        its machine code); only its environment globals get an address (``environments``)."""
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self.environments = environments(self)
        self._finalized = True


def environments(library: InnerLibrary) -> JITCodeLibrary | None:
    """A one-global-each library for the environment globals ``library`` defines. numba stores each
    compiled function's environment through the engine's address of that global (``set_env``). The
    kernels never read an inner function's environment (it holds Python objects for object mode and
    dynamic globals, neither of which a cached kernel may use): a cached entry runs with none set."""
    names = [
        gv.name
        for gv in library._final_module.global_variables
        if gv.name.startswith(ENV_PREFIX) and not gv.is_declaration
    ]
    if not names:
        return None
    codegen = library.codegen
    module = codegen._create_empty_module(f"{library.name}.environments")
    for name in names:
        gv = cgutils.add_global_variable(module, cgutils.voidptr_t, name)
        gv.linkage = "common"
        gv.initializer = cgutils.get_null_value(cgutils.voidptr_t)
    envs = codegen.create_library(module.name)
    envs.add_ir_module(module)
    envs.finalize()
    return envs


@register_pass(mutates_CFG=False, analysis_only=True)
class UseInnerLibrary(FunctionPass):
    """Before lowering: the function's code goes into an ``InnerLibrary``."""

    _name = "use_inner_library"

    def __init__(self) -> None:
        FunctionPass.__init__(self)

    def run_pass(self, state) -> bool:
        if state.library is None:
            state.library = InnerLibrary(state.targetctx.codegen(), state.func_id.func_qualname)
        return False


class InnerCompiler(CompilerBase):
    """numba's nopython pipeline, lowering into an ``InnerLibrary``."""

    def define_pipelines(self):
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
        pm.add_pass_after(UseInnerLibrary, NopythonTypeInference)
        pm.finalize()
        return [pm]


def inner(fn=None, **options):
    """``@inner`` or ``@inner(**njit_options)``: compiled code for other kernels only (no Python
    wrapper, no machine code of its own, not cached on its own; ``cache`` is ignored)."""
    options = {**options, "cache": False, "no_cpython_wrapper": True, "no_cfunc_wrapper": True}
    jit = njit(pipeline_class=InnerCompiler, **options)
    return jit if fn is None else jit(fn)
