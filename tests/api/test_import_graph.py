"""The package structure: every module imports, the packages import each other without a
cycle, and no package reaches into another's private modules or names.

The graph is read from the source with :mod:`ast` (imports inside functions included: a lazy
import is still a dependency). A node is a subpackage of ``losskit`` (``losskit.losses``) or a
top-level module (``losskit._array``, ``losskit.advise``); ``losskit`` itself is the package's
``__init__``, which imports the public API, so nothing it imports may import it back.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "src" / "losskit"

#: modules in import cycles that other parts of issue 14 remove (compare/_core.py and report.py
#: import each other): a cycle may only join these, and each entry must leave the list
#: when its module is out of every cycle (the test says so)
KNOWN_CYCLE_MODULES: frozenset[str] = frozenset()
#: private imports across packages that other parts of issue 14 remove (each must leave the
#: list when fixed)
KNOWN_PRIVATE: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ("losskit", *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str) -> list[tuple[str, str | None]]:
    """``(imported module, imported name or None)`` for every losskit import in ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names
                         if alias.name.split(".")[0] == "losskit")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])
            if base.split(".")[0] == "losskit":
                for alias in node.names:
                    name = f"{base}.{alias.name}"
                    found.append((name, None) if name in MODULES else (base, alias.name))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _node(module: str) -> str:
    """The graph node of a module: its subpackage of ``losskit``, or the module itself."""
    parts = module.split(".")
    if len(parts) == 1:
        return "losskit"
    top = ".".join(parts[:2])
    return top


def _graph(node=None) -> dict[str, set[str]]:
    """The import graph between packages (``node=_node``) or between modules (``node=str``)."""
    node = node or _node
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        source = node(module)
        for target, _ in _imports(module):
            graph.setdefault(source, set()).add(node(target) if target in MODULES
                                                else node(target.rpartition(".")[0]))
        graph.setdefault(source, set())
    for node in graph:
        graph[node].discard(node)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


def _in_cycles(graph: dict[str, set[str]]) -> set[str]:
    return set().union(*_cycles(graph))


def test_the_package_graph_has_no_cycle():
    known = {_node(m) for m in KNOWN_CYCLE_MODULES}
    assert _in_cycles(_graph()) <= known, "import cycle between packages"


def test_the_module_graph_has_no_cycle():
    found = _in_cycles(_graph(str))
    new = sorted(found - KNOWN_CYCLE_MODULES)
    assert not new, f"import cycle through {new}"
    # an exception that is fixed leaves the list, so it cannot outlive the fix
    assert KNOWN_CYCLE_MODULES <= found, \
        f"no longer in a cycle: remove {sorted(KNOWN_CYCLE_MODULES - found)} from the list"


def test_the_graph_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        frozenset({"a", "b", "c"})]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _private_imports() -> set[tuple[str, str]]:
    """``(importer, imported)`` where a module uses another package's private module or name.

    Private: a module or name starting with ``_`` inside a subpackage other than the
    importer's, or a private name of another package's public module. The base layer's
    modules (``losskit._array``, ``losskit._validation`` ...) are shared by every package and
    may be imported (not their private names)."""
    bad = set()
    for module in MODULES:
        home = _node(module)
        for target, name in _imports(module):
            parts = target.split(".")
            inside = parts[2:] if len(parts) > 2 else []
            private_module = any(p.startswith("_") for p in inside)
            private_name = name is not None and name.startswith("_")
            if _node(target) == home or home == "losskit":
                continue
            if private_module or private_name:
                bad.add((module, target if name is None or not private_name
                         else f"{target}.{name}"))
    return bad


def test_no_private_names_across_packages():
    found = _private_imports()
    assert found - KNOWN_PRIVATE == set()
    assert KNOWN_PRIVATE <= found, "a known private import is fixed: remove it from the list"


def test_import_losskit_does_not_import_torch():
    import subprocess
    import sys

    code = "import losskit, sys; print('torch' in sys.modules)"
    env_path = str(ROOT.parent)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": env_path}, check=True)
    assert out.stdout.strip() == "False"
