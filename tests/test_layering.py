"""Layering rules read from the source with ``ast`` (no xdm module is imported).

The stages are packages and data flows one way: a module imports only modules
of its own stage or of lower stages (``STAGES``, lowest first), at any depth
(function-level imports count). lark stays behind the parser; the FITS library
is imported only in ``xdm/io``; the facade and the CLI dispatcher import no
heavy package at module top (the runtime check is
tests/test_packaging.py::test_import_and_version_stay_light).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xdm"
LARK_USERS = {
    "lang/parser.py",
    "lang/fastparse.py",
    "lang/transform.py",
    "lang/friendly.py",
}
# lowest first; a top-level module's stage is its own name
STAGES: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "budget", "progress", "switches", "expr"),
    ("lang",),
    ("io",),
    ("regions",),
    ("engine",),
    ("plan",),
    ("api", "advice", "summary", "demo", "quicklook", "plots", "stacks"),
    ("tools",),
    ("cli", "__main__"),
)
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}
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
    assert {
        "lang/parser.py",
        "lang/transform.py",
        "__init__.py",
        "cli/main.py",
    } <= names


def _stage(parts: list[str]) -> str:
    """``xdm/lang/nodes.py`` -> ``lang``; ``xdm/api.py`` -> ``api``."""
    return parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_every_module_has_a_stage(path: Path) -> None:
    assert _stage(_rel(path).split("/")) in RANK


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_stages_import_only_their_own_or_lower_stages(path: Path) -> None:
    """Data flows one way: lang -> io -> regions -> engine -> plan -> api -> tools -> cli."""
    rank = RANK[_stage(_rel(path).split("/"))]
    tree = ast.parse(path.read_text(), filename=str(path))
    upward = []
    for name, line in _imports(tree):
        parts = name.split(".")
        if parts[0] != "xdm" or len(parts) < 2 or parts[1] not in RANK:
            continue
        if RANK[parts[1]] > rank:
            upward.append((name, line))
    assert upward == []


def test_the_language_imports_no_astropy() -> None:
    """``import xdm.lang`` (and parsing a query) loads no astropy."""
    code = (
        "import sys, xdm.lang, xdm.lang.parser as p\n"
        "p.parse('evt2.fits[energy=300:2000][sky=circle(1,2,3)][bin sky=8]')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'astropy'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


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


def _uses_fits_library(name: str) -> bool:
    return name in ("astropy.io.fits", "fitsio") or name.startswith(
        ("astropy.io.fits.", "fitsio.")
    )


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_fits_library_only_in_io(path: Path) -> None:
    """astropy.io.fits and fitsio are imported in ``xdm/io`` only (above it,
    FITS objects are built and read through ``xdm.io.hdus``)."""
    if _rel(path).startswith("io/"):
        return
    tree = ast.parse(path.read_text(), filename=str(path))
    used = [(name, line) for name, line in _imports(tree) if _uses_fits_library(name)]
    assert used == []
