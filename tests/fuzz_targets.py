"""Fuzzing targets and strategies shared by tests/test_fuzz*.py and bench/fuzz.py.

Each target feeds one text to a public entry point (``xdm.parse``, ``xdm.read``,
``xdm.region``, the script runner, a tool's ``TOOL.parse``) and returns
``"ok"`` or ``"error"``; an ``xdm.XdmError`` is a clean refusal, anything else
(a traceback, RecursionError, a numpy or astropy exception) propagates and
fails the caller. Seeds are the texts of the case tables, the region files of
tests/data and the example scripts; mutations insert the characters users and
attackers type (unicode minus, non-breaking space, NUL, quotes, ``$``, ``@``,
brackets, huge and non-finite numbers).
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from hypothesis import strategies as st

import xdm
import xdm.tools
from xdm.errors import XdmError

TESTS = Path(__file__).parent
ROOT = TESTS.parent
CASES = TESTS / "cases"
REGIONS = TESTS / "data" / "regions"

COUNTS: collections.Counter[str] = collections.Counter()
"""``target:ok`` / ``target:error`` counts of every text tried in this process."""

SPECIAL = [
    "\u2212",  # unicode minus
    "\u00a0",  # non-breaking space
    "\u2013",
    "\u200b",
    "\ufeff",
    "\x00",
    "\x7f",
    "\u00e9",
    "\u221e",
    "\U0001f600",
    "\t",
    "\n",
    "\r",
    "\\",
    "'",
    '"',
    "`",
    "$",
    "${",
    "$(",
    "@",
    "#",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    "=",
    ":",
    "::",
    ",",
    ";",
    "!",
    "&&",
    "||",
    "*",
    "-",
    "+",
    ".",
    "e",
    "1e999",
    "-1e999",
    "1e-320",
    "nan",
    "inf",
    "-0",
    "9" * 40,
    "0x1F",
    "region(",
    "circle(",
    "box(",
    "polygon(",
    "bin ",
    "cols ",
    "opt ",
    "#row=",
    "sky=",
    "energy",
    "time",
    "__import__('os')",
    "$(rm -rf /)",
    "; rm -rf /",
    "%s%n",
]


def _lines(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def vf_seeds() -> list[str]:
    """Virtual files of the parser and error case tables (inputs only)."""
    seeds = [line.split("  =>  ")[0] for line in _lines(CASES / "parse.txt")]
    for line in _lines(CASES / "errors.txt"):
        text = line.split("  =>  ")[0].split("  ->  ")[0]
        if text:
            seeds.append(text)
    return seeds


def engine_suffixes() -> list[str]:
    """The ``[...]`` suffixes of the engine agreement cases on the synthetic file."""
    return [
        line[4:].strip()
        for line in _lines(CASES / "engine_agreement.txt")
        if line.startswith("syn ") and "{aux}" not in line
    ]


REGION_SEEDS = [
    "circle(4096.5,4096.5,20)",
    "box(4100,4100,40,20,30)",
    "rotbox(4100,4100,40,20,30)",
    "ellipse(4100,4100,30,10,45)",
    "annulus(4096,4096,10,20)",
    "pie(4096,4096,5,30,0,90)",
    "sector(4096,4096,0,90)",
    "polygon(4000,4000,4200,4000,4200,4200,4000,4200)",
    "point(4096,4096)",
    "rectangle(4000,4000,4100,4100)",
    "field()",
    "circle(4096,4096,100)-box(4100,4100,4,4)",
    "circle(4096,4096,100)*!circle(4096,4096,10)+box(4000,4000,10,10)",
    "circle(10:00:00,+20:00:00,5')",
    'circle(150.0d,20.0d,3")',
]


def region_file_seeds() -> list[str]:
    """The texts of the ds9 and CIAO region files in tests/data/regions."""
    return [
        path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(REGIONS.rglob("*.reg"))
    ]


def script_seeds() -> list[str]:
    """The example scripts, and a few statements of the script language."""
    out = [
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").glob("*.xdm"))
    ]
    out += [
        "set band = 300:2000\necho $band\n",
        'set f = "EVT[energy=$band]"\necho $f ${band}\n',
        "echo a \\\n  b\n",
        "parse 'evt2.fits[energy=300:2000]'\n",
        'explain "$EVT[bin sky=8]"\n',
        "dmkeypar $EVT TSTART echo=yes\n",
    ]
    return out


@st.composite
def mutated(draw: Any, seeds: list[str], max_ops: int = 6) -> str:
    """A seed changed by 1..max_ops inserts, deletions, replacements, copies."""
    text: str = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(("insert", "delete", "replace", "copy", "special")))
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        if op == "insert":
            text = text[:i] + draw(st.text(max_size=4)) + text[i:]
        elif op == "delete":
            text = text[:i] + text[j:]
        elif op == "replace":
            text = text[:i] + draw(st.sampled_from(SPECIAL)) + text[j:]
        elif op == "copy":
            text = text[:i] + text[i:j] * draw(st.integers(2, 5)) + text[i:]
        else:
            text = text[:i] + draw(st.sampled_from(SPECIAL)) + text[i:]
    return text


_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
random_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=_SURROGATES),
        st.sampled_from(list("[](){}=:,;!&|*-+.#@$'\"\\ 0123456789xyeEsk")),
    ),
    max_size=80,
)


def _clean(name: str, fn: Callable[[], Any]) -> str:
    """Run ``fn``: "ok", or "error" for an XdmError whose rendering is sound."""
    try:
        fn()
    except XdmError as exc:
        text = exc.render()
        assert "error: " in text.splitlines()[0], text
        assert exc.exit_status in (1, 2)
        COUNTS[f"{name}:error"] += 1
        return "error"
    COUNTS[f"{name}:ok"] += 1
    return "ok"


def parse_target(text: str) -> str:
    """``xdm.parse``; a text that parses must unparse and parse back equal."""

    def run() -> None:
        from xdm.lang.unparse import unparse

        vf = xdm.parse(text, cached=False)
        canonical = unparse(vf)
        assert xdm.parse(canonical) == vf, (text, canonical)

    return _clean("parse", run)


def filter_target(text: str) -> str:
    """``xdm.parse_filter`` (the text of a ``@filter.lis`` file)."""
    return _clean("filter", lambda: xdm.parse_filter(text))


def pipeline_target(text: str, base_dir: Path) -> str:
    """Parse, plan and evaluate in memory (files relative to ``base_dir``)."""
    return _clean("pipeline", lambda: xdm.read(text, base_dir=base_dir))


def region_target(text: str) -> str:
    """``xdm.region``, then ``contains`` on a few points and the exact area."""
    import numpy as np

    def run() -> None:
        reg = xdm.region(text)
        x = np.array([4096.5, 0.0, -1e300, np.nan, 4100.0, np.inf])
        y = np.array([4096.5, 0.0, 1e300, 4096.0, np.nan, 4100.0])
        inside = np.asarray(reg.contains(x, y))
        assert inside.shape == x.shape and inside.dtype == bool
        reg.area()

    return _clean("region", run)


def region_file_target(text: str, folder: Path) -> str:
    """A region file with ``text`` read through ``region(file)``."""
    path = folder / "fuzz.reg"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    return region_target_file(path)


def region_target_file(path: Path) -> str:
    import numpy as np

    def run() -> None:
        reg = xdm.region(f"region({path.name})", base_dir=path.parent)
        inside = np.asarray(
            reg.contains(np.array([4096.5, 1.0]), np.array([4096.5, 1.0]))
        )
        assert inside.shape == (2,)

    return _clean("region_file", run)


SAFE_COMMANDS = frozenset({"parse", "explain", "dmkeypar", "plist"})
"""Commands a fuzzed script runs for real; the others are only recorded (a
mutated script must not write files or make demo data)."""


def script_target(text: str, folder: Path, events: Path) -> str:
    """Run ``text`` as a ``.xdm`` script in ``folder`` with ``$EVT`` the events."""
    from xdm.cli.script import Session, read_statements

    def run_command(name: str, argv: list[str]) -> int:
        if name in SAFE_COMMANDS:
            from xdm.cli.main import run_command as real

            return real(name, argv)
        return 0

    def run() -> None:
        session = Session(run_command=run_command)
        session.variables["EVT"] = str(events)
        with _quiet(), _cwd(folder):
            for statement in read_statements(text, file="fuzz.xdm"):
                session.execute(statement)

    return _clean("script", run)


def tool_target(name: str, words: list[str]) -> str:
    """The tool's parameter table parses command-line ``words``."""
    tool = xdm.tools.load(name).TOOL
    return _clean(f"tool:{name}", lambda: tool.parse(words))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        yield


@contextlib.contextmanager
def _cwd(folder: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


@contextlib.contextmanager
def memory_budget(text: str) -> Iterator[None]:
    """Set ``XDM_MAX_MEMORY`` for the block (a fuzzed [bin] must stay small)."""
    old = os.environ.get("XDM_MAX_MEMORY")
    os.environ["XDM_MAX_MEMORY"] = text
    try:
        yield
    finally:
        if old is None:
            del os.environ["XDM_MAX_MEMORY"]
        else:
            os.environ["XDM_MAX_MEMORY"] = old


def hostile_texts(list_chars: int = 100_000) -> list[tuple[str, str]]:
    """Deep nesting (10^4), 1 MB strings, unicode minus and non-breaking spaces.

    ``list_chars``: the size of the long range list and polygon (a megabyte
    of them takes seconds to parse; bench/fuzz.py uses 1 MB)."""
    n = 10_000
    mb = 1_000_000
    return [
        ("parens", "evt2.fits[" + "(" * n + "energy>1" + ")" * n + "]"),
        ("not", "evt2.fits[sky=" + "!" * n + "circle(1,1,1)]"),
        ("not-parens", "evt2.fits[" + "!(" * n + "energy>1" + ")" * n + "]"),
        ("or-nest", "evt2.fits[" + "(energy>1||" * n + "pi>2" + ")" * n + "]"),
        ("region-parens", "evt2.fits[sky=" + "(" * n + "circle(1,1,1)" + ")" * n + "]"),
        ("brackets", "evt2.fits" + "[" * n + "]" * n),
        ("unclosed", "evt2.fits[" + "(" * n),
        ("digits", "evt2.fits[energy=" + "1" * mb + "]"),
        ("name", "evt2.fits[" + "a" * mb + "=1]"),
        ("path", "x" * mb + ".fits"),
        ("ranges", "evt2.fits[pi=" + ",".join(["1:2"] * (list_chars // 4)) + "]"),
        (
            "polygon",
            "evt2.fits[sky=polygon(" + ",".join(["1"] * (list_chars // 2)) + ")]",
        ),
        ("quotes", "evt2.fits[object='" + "q" * mb + "']"),
        ("minus", "evt2.fits[energy=\u2212300:2000]"),
        ("minus-bin", "evt2.fits[bin x=\u22121:10]"),
        ("nbsp", "evt2.fits[energy=300:2000,\u00a0pi=1:10]"),
        ("nbsp-bin", "evt2.fits[bin\u00a0sky=8]"),
        ("nul", "evt2.fits[energy=300\x002000]"),
        ("bom", "\ufeffevt2.fits[energy=300:2000]"),
        ("huge-exp", "evt2.fits[energy=1e999:1e9999]"),
        ("nan", "evt2.fits[energy=nan:nan]"),
        ("tiny-bin", "evt2.fits[bin sky=1e-320]"),
        ("huge-bin", "evt2.fits[bin x=1:1e300:1,y=1:1e300:1]"),
    ]
