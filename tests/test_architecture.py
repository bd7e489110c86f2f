"""Architecture rules of the package: no import cycles, packages import only downwards, no
attr-defined ignores. Imports are read with `ast`, including lazy imports inside functions (they
still form a cycle at run time); imports under `if TYPE_CHECKING:` are skipped (never executed)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = "vectorvision_widget"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def _modules() -> dict[str, Path]:
    """Dotted name (relative to the package, "" for __init__) -> file."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, level: int, current: str, is_package: bool) -> str | None:
    """Absolute name relative to the package of `from <level dots><module> import`."""
    if level == 0:
        if module == PACKAGE:
            return ""
        if module.startswith(PACKAGE + "."):
            return module[len(PACKAGE) + 1 :]
        return None  # outside the package
    base = current.split(".") if current else []
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _imports(name: str, path: Path) -> set[str]:
    """Package modules that `name` imports anywhere in its code (lazy ones included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, 0, name, is_package)
                if target is not None:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node.module or "", node.level, name, is_package)
            if target is not None:
                for alias in node.names:  # `from . import images` imports the module images
                    sub = f"{target}.{alias.name}" if target else alias.name
                    found.add(sub if sub in MODULES else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(name)
    return {m for m in found if m in MODULES}


def import_graph() -> dict[str, set[str]]:
    MODULES.clear()
    MODULES.update(_modules())  # the tree as it is now (not as it was at collection)
    return {name: _imports(name, path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(out)


def test_the_cycle_finder_finds_cycles() -> None:
    """The checker must be able to fail: a known cycle, a lazy import, a TYPE_CHECKING one."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import X\n"
    src += "def f():\n    from .c import Y\n    from . import d\n"
    tree_file = Path(__file__).with_name("_arch_probe.py")
    try:
        tree_file.write_text(src)
        MODULES.update({"probe": tree_file, "b": tree_file, "c": tree_file, "d": tree_file})
        assert _imports("probe", tree_file) == {"c", "d"}
    finally:
        for key in ("probe", "b", "c", "d"):
            MODULES.pop(key, None)
        tree_file.unlink(missing_ok=True)
    MODULES.update(_modules())


@pytest.mark.parametrize("name", sorted(MODULES), ids=lambda n: n or "__init__")
def test_every_module_imports(name: str) -> None:
    if name == "__main__":  # the entry point runs the CLI when imported: compile it only
        compile(MODULES[name].read_text(encoding="utf-8"), str(MODULES[name]), "exec")
        return
    importlib.import_module(f"{PACKAGE}.{name}" if name else PACKAGE)


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles among package modules (lazy imports count): " + "; ".join(
        " <-> ".join(c) for c in found
    )


# What each package may import (its `__init__` docstring says the same): data flows down.
LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "vectors": set(),
    "filehash": set(),
    "atomicfile": set(),
    "modes": set(),
    "images": set(),
    "som": {"errors"},
    "neighbours": {"vectors", "modes"},
    "thumbs": {"images", "atomicfile"},
    "models": {"images", "errors", "vectors", "atomicfile", "filehash"},
    "library": {"neighbours", "images", "errors", "vectors", "atomicfile", "filehash"},
    "scanning": {"library", "models", "images", "thumbs", "errors", "vectors", "atomicfile"},
    "widget": {
        "library",
        "scanning",
        "som",
        "neighbours",
        "thumbs",
        "images",
        "models",
        "modes",
        "errors",
        "vectors",
        "atomicfile",
    },
    "sample": {"errors"},
    "cli": {"library", "models", "scanning", "errors", "atomicfile"},
    "__main__": {"cli"},
    "": {"errors"},
}


def _package(module: str) -> str:
    return module.split(".")[0]


def package_imports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Top-level package (or module) -> the other top-level packages it imports."""
    out: dict[str, set[str]] = {}
    for name, targets in graph.items():
        deps = {_package(t) for t in targets} - {_package(name)}
        out.setdefault(_package(name), set()).update(deps)
    return out


def test_packages_import_only_downwards() -> None:
    found = package_imports(import_graph())
    assert set(found) <= set(LAYERS), f"packages missing from LAYERS: {set(found) - set(LAYERS)}"
    upward = {pkg: deps - LAYERS[pkg] for pkg, deps in found.items() if deps - LAYERS[pkg]}
    assert upward == {}, f"imports a package may not make: {upward}"


def test_layering_checker_can_fail() -> None:
    graph = {"library.store": {"widget.widget"}, "widget.widget": set()}
    assert package_imports(graph) == {"library": {"widget"}, "widget": set()}


def test_every_subpackage_says_what_it_owns_and_may_import() -> None:
    for init in sorted(ROOT.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc, f"{init.parent.name}/__init__.py: say what it may import"


def test_no_attr_defined_ignores() -> None:
    marker = "type: ignore[attr-defined]"
    hits = [
        f"{path.name}:{i}"
        for path in _modules().values()
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if marker in line
    ]
    assert hits == [], f"`# {marker}` in: {hits}"
