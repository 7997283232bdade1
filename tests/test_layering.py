"""Layering rules read from the source with ``ast`` (no xdm module is imported).

lark stays behind the parser; the library never reaches up into the CLI; the
facade and the CLI dispatcher import no heavy package at module top (the runtime
check is tests/test_packaging.py::test_import_and_version_stay_light).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xdm"
LARK_USERS = {"parser.py", "fastparse.py", "transform.py", "friendly.py"}
HEAVY = {"astropy", "numexpr", "lark", "rich"}
LIGHT_MODULES = ("__init__.py", "cli/main.py")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Every imported module name (absolute) with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno


def _top_level_imports(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Imports run when the module is imported (not inside functions or TYPE_CHECKING)."""
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.If, ast.Try)):
            yield from _imports(node)


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_the_package_has_modules() -> None:
    names = {_rel(p) for p in _modules()}
    assert {"parser.py", "transform.py", "__init__.py", "cli/main.py"} <= names


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_lark_only_behind_the_parser(path: Path) -> None:
    if _rel(path) in LARK_USERS:
        return
    tree = ast.parse(path.read_text(), filename=str(path))
    used = [
        (name, line) for name, line in _imports(tree) if name.split(".")[0] == "lark"
    ]
    assert used == []


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_library_does_not_import_the_cli(path: Path) -> None:
    rel = _rel(path)
    if rel.startswith("cli/") or rel == "__main__.py":
        return
    tree = ast.parse(path.read_text(), filename=str(path))
    used = [
        (name, line)
        for name, line in _imports(tree)
        if name == "xdm.cli" or name.startswith("xdm.cli.")
    ]
    assert used == []


@pytest.mark.parametrize("rel", LIGHT_MODULES)
def test_light_modules_import_nothing_heavy_at_top(rel: str) -> None:
    path = PACKAGE / rel
    tree = ast.parse(path.read_text(), filename=str(path))
    heavy = [
        (name, line)
        for name, line in _top_level_imports(tree)
        if name.split(".")[0] in HEAVY
    ]
    assert heavy == []
