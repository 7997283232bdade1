"""The package's import graph has no cycle (read with ``ast``, nothing imported).

Every import that can run counts: module level and inside functions (a lazy
import is still a dependency, it only runs later). Imports under
``if TYPE_CHECKING:`` never run and are left out (annotations only).
``from xdm import nodes`` is an edge to ``xdm.lang.nodes``; ``from xdm.regions.coords
import Frame`` to ``xdm.regions.coords``. A cycle is reported with its path, e.g.
``xdm.a -> xdm.b -> xdm.a``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "xdm"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:``."""
    found: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports (itself left out)."""

    def owner(name: str) -> str | None:
        """The package module that ``name`` (a module or a name in one) is."""
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _runtime_nodes(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                # ``from pkg import mod`` names a module; ``from mod import x`` not
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
                targets = [t for t in targets[:-1] if t in modules] or [base]
            for target in targets:
                found = owner(target)
                if found is not None and found != name:
                    deps.add(found)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle is not None:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle is not None:
                return cycle
    return None


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    """The reader itself: a function-level import and a package import are edges."""
    graph = import_graph(_modules())
    assert "xdm.lang.parser" in graph["xdm.plan.planner"]  # imported inside plan()
    assert "xdm.lang.nodes" in graph["xdm.plan.planner"]  # from xdm import nodes as n
    assert "xdm.regions.regfile" in graph["xdm.regions.api"]
    # imported inside functions only (read, select, copy)
    assert "xdm.engine.executor" in graph["xdm.api"]
    assert "xdm.lang.nodes" not in graph["xdm.regions.coords"]


def test_find_cycle_reports_the_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph(_modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
