"""The orchestration package's import graph has no cycle, counting the imports inside functions
too (a lazy import only hides a circle until the function runs); `if TYPE_CHECKING:` imports are
annotations, never executed, and are left out."""

from __future__ import annotations

import ast
from pathlib import Path

from orchestration.settings import PROJECT_ROOT


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the modules of ``package`` it imports (and their parent packages, which Python
    imports first), resolved from ``import x``, ``from x import y`` (y may be a module) and
    relative imports."""
    paths = {_module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(), str(path))
        annotation_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block)
                           for statement in block.body for n in ast.walk(statement)}
        own_package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in annotation_only:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = own_package.split(".")[: len(own_package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                parts = name.split(".")
                targets |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        graph[module] = {t for t in targets if t in paths and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_orchestration_has_no_import_cycle():
    graph = import_graph(PROJECT_ROOT, "orchestration")
    assert len(graph) > 40  # the walk found the package (not an empty directory)
    assert cycles(graph) == []


def test_settings_is_the_bottom_layer():
    """Every module may read settings, so settings imports no other orchestration module (it did
    import scale/spark, which closed settings → scale/spark → dbt_project → settings)."""
    graph = import_graph(PROJECT_ROOT, "orchestration")
    assert graph["orchestration.settings"] == set()
    assert "orchestration.settings" in graph["orchestration.dbt_project"]


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "pkg" / name).write_text(text)
    return root


def test_a_lazy_import_cycle_is_found_and_type_checking_imports_are_not_counted(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg import b\n",
        "b.py": "def f():\n    from pkg.sub import c\n",  # inside a function: still an edge
        "sub/__init__.py": "",
        "sub/c.py": "from .. import a\n",  # relative, two levels: pkg.a
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\nimport pkg.b\n",
        "e.py": "from pkg.sub import c\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg.sub.c"] == {"pkg", "pkg.a"}
    assert graph["pkg.d"] == {"pkg", "pkg.b"}  # the TYPE_CHECKING import of a is not an edge
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    # d and e depend on the cycle without being in it; a cycle through a package's __init__ counts.
    (root / "pkg" / "sub" / "__init__.py").write_text("from pkg.e import *\n")
    assert cycles(import_graph(root, "pkg")) == [["pkg.a", "pkg.b", "pkg.e", "pkg.sub", "pkg.sub.c"]]
