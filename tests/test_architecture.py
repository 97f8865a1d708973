"""The rules of the layout: no circle among ``runner``'s modules, ``kernels`` imports only numpy,
numba and the standard library, no private name crosses a package, and no function of the packages
runs over ``MAX_FUNCTION_LINES`` (the kernel's bar loop over ``MAX_LOOP_LINES``). Imports inside
functions count (they are still a dependency); those under ``if TYPE_CHECKING:`` do not (they
never run)."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("runner", "kernels", "experiments", "hydra_plugins")
KERNEL_IMPORTS = {"numpy", "numba", "kernels", "__future__"}
MAX_FUNCTION_LINES = 120
MAX_LOOP_LINES = 80  # kernels/simulate.py run_bars: one call per event of a bar


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str, path: Path) -> list[tuple[str, tuple[str, ...], int]]:
    """(module, names imported from it, line) of every import that runs, relative ones resolved."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: list[tuple[str, tuple[str, ...], int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for n in child.orelse:
                    visit(n)
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, (), child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join([*package[: len(package) - child.level + 1], *([base] if base else [])])
                out.append((base, tuple(a.name for a in child.names), child.lineno))
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return out


def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    mods = modules()
    out: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps = set()
        for base, names, _ in imports(name, path):
            targets = [f"{base}.{n}" for n in names if f"{base}.{n}" in mods] or [base]
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    deps.add(target)
        out[name] = deps
    return out


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_circle_and_ignores_type_checking(tmp_path):
    pkg = tmp_path / "runner"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from runner.b import x\n")
    (pkg / "b.py").write_text("def f():\n    from runner import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from runner.a import y\n")
    mods = {"runner.a": pkg / "a.py", "runner.b": pkg / "b.py", "runner.c": pkg / "c.py"}
    g = {m: {b for b, _, _ in imports(m, p) if b in mods or f"{b}.a" in mods} for m, p in mods.items()}
    g = {m: {"runner.a" if d == "runner" else d for d in deps} for m, deps in g.items()}
    assert circles(g) == [["runner.a", "runner.b"]]
    assert g["runner.c"] == set()


def test_no_import_circle_in_the_project():
    assert circles(graph()) == []


@pytest.mark.parametrize("path", sorted((ROOT / "kernels").glob("*.py")), ids=lambda p: p.name)
def test_kernels_import_only_numpy_and_numba(path):
    name = f"kernels.{path.stem}"
    allowed = KERNEL_IMPORTS | set(sys.stdlib_module_names)
    bad = [(m, line) for m, _, line in imports(name, path) if m.split(".")[0] not in allowed]
    assert bad == [], f"{path.name} imports {bad} (kernels/ may import only numpy, numba and the standard library)"


def test_no_private_name_crosses_a_package():
    crossing = []
    mods = modules()
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for base, names, line in imports(name, path):
            if base.split(".")[0] not in PACKAGES:
                continue
            source = base if base in mods and mods[base].name == "__init__.py" else base.rpartition(".")[0]
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and source != package:
                crossing.append(f"{path.relative_to(ROOT)}:{line} imports {private} from {base}")
    assert crossing == []


def long_functions(path: Path, limit: int) -> list[str]:
    """``name (lines)`` of every function in ``path`` longer than ``limit`` lines (decorators excluded)."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1})"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > limit
    ]


def test_the_length_check_finds_a_long_function(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def short():\n    pass\n\n\ndef long():\n" + "    x = 1\n" * 5)
    assert long_functions(src, 5) == ["long (6)"]


def test_no_function_is_longer_than_the_limit():
    found = [f"{p.relative_to(ROOT)}: {f}" for p in modules().values() for f in long_functions(p, MAX_FUNCTION_LINES)]
    assert found == []


def test_the_bar_loop_stays_short():
    tree = ast.parse((ROOT / "kernels" / "simulate.py").read_text())
    loop = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "run_bars")
    assert loop.end_lineno - loop.lineno + 1 <= MAX_LOOP_LINES


def inner_functions(folder: Path) -> dict[str, set[str]]:
    """``{module: names}`` of the functions decorated ``@inner`` (``kernels.jit``: no Python wrapper)."""
    out: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, ast.FunctionDef) and any(
                (d.func if isinstance(d, ast.Call) else d).id == "inner"
                for d in node.decorator_list
                if isinstance(d.func if isinstance(d, ast.Call) else d, ast.Name)
            ):
                out.setdefault(f"{folder.name}.{path.stem}", set()).add(node.name)
    return out


def python_callers(inner: dict[str, set[str]], paths: list[Path]) -> list[str]:
    """``file:line name`` of every import of an ``inner`` function in ``paths`` (Python would call it)."""
    found = []
    for path in paths:
        for base, names, line in imports(path.stem, path):
            found += [f"{path.name}:{line} {n}" for n in names if n in inner.get(base, ())]
    return found


def test_the_wrapper_check_finds_python_importing_an_inner_function(tmp_path):
    kernels = tmp_path / "kernels"
    kernels.mkdir()
    (kernels / "m.py").write_text(
        "@inner\ndef a():\n    pass\n\n\n@inner(_nrt=False)\ndef b():\n    pass\n\n\ndef c():\n    pass\n"
    )
    inner = inner_functions(kernels)
    assert inner == {"kernels.m": {"a", "b"}}
    caller = tmp_path / "caller.py"
    caller.write_text("from kernels.m import c\nfrom kernels.m import b\n")
    assert python_callers(inner, [caller]) == ["caller.py:2 b"]


def test_no_python_code_imports_an_inner_kernel_function():
    paths = [p for p in modules().values() if "kernels" not in p.relative_to(ROOT).parts[:1]]
    paths += sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
    inner = inner_functions(ROOT / "kernels")
    assert inner, "kernels/ should declare inner functions"
    assert python_callers(inner, paths) == []
