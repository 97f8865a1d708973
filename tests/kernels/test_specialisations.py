"""What a cold start compiles, once: kernels call each other with exit reasons typed int64
(``kernels/enums.py``'s ``REASON_*``; numba types a bare int constant as a Literal and compiles the
callee once per value, which had close_position compiled six times and market_exit four), every
backtest entry reaches one compiled ``simulate_rows``, and ``kernels.jit.inner`` functions carry no
Python wrapper and no machine code of their own."""

import ast
from pathlib import Path

import pytest
from numba import njit

from kernels import enums as E
from kernels.jit import InnerLibrary, inner

KERNELS = Path(E.__file__).resolve().parent
REASONS = [name for name in vars(E) if name.startswith("EXIT_") and name != "EXIT_REASONS"]


def bare_reasons(source: str) -> list[str]:
    """``EXIT_*`` constants passed as arguments of a call (an array store is fine: not a call)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            args = [*node.args, *(k.value for k in node.keywords)]
            found += [f"line {a.lineno}: {a.id}" for a in args if isinstance(a, ast.Name) and a.id in REASONS]
    return found


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("close_position(c, a, EXIT_LIQUIDATION, pos)", ["line 1: EXIT_LIQUIDATION"]),
        ("fill(c, a, reason=EXIT_SIGNAL)", ["line 1: EXIT_SIGNAL"]),
        ("close_position(c, a, REASON_LIQUIDATION, pos)", []),
        ("pending.reason[a] = EXIT_RISK_HALT", []),
    ],
)
def test_the_check_finds_a_bare_reason_in_a_call(source: str, found: list[str]) -> None:
    assert bare_reasons(source) == found


@pytest.mark.parametrize("path", sorted(set(KERNELS.glob("*.py")) - {KERNELS / "enums.py"}), ids=lambda p: p.name)
def test_no_kernel_passes_a_bare_exit_reason(path: Path) -> None:
    assert bare_reasons(path.read_text()) == []


@pytest.mark.parametrize(
    ("first", "second", "compiled"),
    [
        (E.EXIT_SIGNAL, E.EXIT_LIQUIDATION, 2),  # two Literal[int] specialisations
        (E.REASON_SIGNAL, E.REASON_LIQUIDATION, 1),  # one int64
    ],
)
def test_reasons_typed_int64_compile_a_callee_once(first, second, compiled: int) -> None:
    @njit
    def callee(reason):
        return reason + 1

    @njit
    def caller():
        return callee(first) + callee(second)

    assert caller() == first + second + 2
    assert len(callee.signatures) == compiled


ONE_CHAIN = """
import numpy as np
from kernels.warmup import warmup
from kernels.simulate import simulate_rows
warmup()  # the grid, one combination's records, its flags and its targets
print(len(simulate_rows.signatures))
"""


def test_every_backtest_entry_shares_one_compiled_chain() -> None:
    """The grid, records, flags and targets reach ``simulate_rows`` with the same argument types: one
    specialisation, so a run compiles the bar loop once (a fresh interpreter: nothing else called it)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", ONE_CHAIN], capture_output=True, text=True, check=True, cwd=KERNELS.parent
    )
    assert out.stdout.split()[-1] == "1"


@pytest.mark.parametrize(("decorator", "own_code"), [(njit, True), (inner, False)], ids=["njit", "inner"])
def test_inner_functions_are_compiled_for_their_callers_only(decorator, own_code: bool) -> None:
    """``kernels.jit.inner`` compiles code for other kernels only: no CPython wrapper in its LLVM
    module and no machine code of its own in numba's engine (its callers link and emit it); its
    jitted callers call it as usual."""

    @decorator(cache=False)
    def twice(x):
        return 2.0 * x

    @njit
    def caller(x):
        return twice(x) + 1.0

    twice.compile("float64(float64)")
    (compiled,) = twice.overloads.values()
    engine = compiled.library.codegen._engine
    assert (compiled.fndesc.llvm_cpython_wrapper_name in compiled.library.get_llvm_str()) == own_code
    assert engine.is_symbol_defined(compiled.fndesc.mangled_name) == own_code
    assert isinstance(compiled.library, InnerLibrary) != own_code
    assert caller(3.0) == 7.0
