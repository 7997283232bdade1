"""The grammar ships as package data and is found without repository paths."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import xdm

ROOT = Path(__file__).resolve().parent.parent


def test_grammar_is_package_data() -> None:
    grammar = resources.files("xdm.grammar").joinpath("xdm.lark")
    assert grammar.is_file()
    assert "virtual_file" in grammar.read_text()


def test_pyproject_ships_the_grammar() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    assert "xdm.grammar" in setuptools["packages"]
    assert setuptools["package-dir"]["xdm.grammar"] == "grammar"
    assert "*.lark" in setuptools["package-data"]["xdm.grammar"]


def test_parser_never_uses_file_paths() -> None:
    """The grammar is opened with Lark.open_from_package, never via __file__."""
    for path in sorted((ROOT / "xdm" / "lang").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert "__file__" not in names, path.name
    assert "open_from_package" in (ROOT / "xdm" / "lang" / "parser.py").read_text()


def test_parses_from_another_directory(tmp_path: Path) -> None:
    code = "import xdm; print(xdm.unparse(xdm.parse('e.fits[bin sky=8]')))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "e.fits[bin sky=::8]"


def test_import_and_version_stay_light() -> None:
    """`import xdm` and `xdm --version` load no lark, rich, astropy or numpy."""
    code = (
        "import sys, io, contextlib\n"
        "from xdm.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--version'])\n"
        "heavy = {'lark', 'rich', 'astropy', 'numpy', 'numexpr'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_facade_exposes_the_parser() -> None:
    vf = xdm.parse("evt2.fits[energy=300:2000]")
    assert xdm.unparse(vf) == "evt2.fits[energy=300:2000]"
    assert xdm.parse_region("circle(1,2,3)") is not None
    assert xdm.parse_filter("ccd_id=7\nenergy=1:2") is not None


def test_grammar_cache_lives_in_the_userscache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lark's saved tables go to $XDG_CACHE_HOME/xdm (not the shared temp folder);
    with no usable folder the parser still works, uncached."""
    from xdm.lang.parser import grammar_cache_file

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = grammar_cache_file()
    assert isinstance(path, str) and Path(path).parent == tmp_path / "xdm"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert grammar_cache_file() is False
