"""No user text reaches eval, exec, compile, numexpr, a shell or a pickle.

Two oracles, independent of the code under test:

* the source itself: an ``ast`` scan of every module of ``xdm`` lists each
  call that runs text or loads code (``eval``, ``exec``, ``compile``,
  ``numexpr.evaluate``, ``os.system``, ``subprocess`` with
  ``shell=True``, ``pickle``/``marshal`` loads); the list must equal the
  allow-list below, each entry with the reason its text is generated;
* Python's audit hooks (PEP 578): while hostile text goes through column
  names, region files, scripts, tool parameters, ``dmimgcalc`` expressions and
  ``dmgti`` userlimits, no ``compile`` (which numexpr and eval use) sees the
  injected marker, no process is started, nothing is unpickled, and the
  canary file the payloads try to create never appears.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xdm
import xdm.tools

PACKAGE = Path(xdm.__file__).parent
MARKER = "xdmINJECT"
LEAK = re.compile(MARKER + r"[^A-Za-z0-9_]")  # the marker followed by punctuation

# ------------------------------------------------------------------ source scan

ALLOWED: dict[tuple[str, str, str], str] = {
    ("engine/kernels.py", "evaluate", "numexpr.evaluate"): (
        "the text is rendered from the planner's expression tree (xdm/expr.py): "
        "exprgen builds the tree from node values (numbers through expr.number, "
        "variables from column names only when they are plain identifiers, else "
        "colN), never from user text; npexpr evaluates the same tree, no text"
    ),
    ("lang/fastnodes.py", "fast_constructor", "exec"): (
        "a constructor's source made from the field names of xdm's own node "
        "dataclasses at import time (what dataclasses itself does), no user text"
    ),
    ("lang/fastparse.py", "load_tables", "marshal.loads"): (
        "the parser's LALR tables (plain data) from the user's own cache folder "
        "(made 0700 by xdm), checked against the grammar and module they came from"
    ),
}
"""(module, enclosing function, sink) -> why the text or data is ours."""

_CALL_SINKS = {"eval", "exec", "compile", "__import__", "breakpoint"}
_MODULE_SINKS = {
    "os": {
        "system",
        "popen",
        "execv",
        "execve",
        "execl",
        "execlp",
        "execvp",
        "spawnl",
        "spawnv",
        "spawnve",
        "posix_spawn",
        "posix_spawnp",
    },
    "subprocess": {"getoutput", "getstatusoutput"},
    "pickle": {"load", "loads", "Unpickler"},
    "marshal": {"load", "loads"},
    "shelve": {"open"},
    "dill": {"load", "loads"},
    "cloudpickle": {"load", "loads"},
    "numexpr": {"evaluate", "re_evaluate", "NumExpr"},
}
_SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output", "Popen"}


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> module or module.attribute it stands for."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = (
                    a.name if a.asname else a.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else f"xdm.{node.module}"
            for a in node.names:
                names[a.asname or a.name] = f"{base}.{a.name}"
    return names


def _sink(call: ast.Call, names: dict[str, str]) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        if func.id in _CALL_SINKS and func.id not in names:
            return func.id
        full = names.get(func.id, "")
        module, _, attr = full.rpartition(".")
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        module, attr = names.get(func.value.id, func.value.id), func.attr
    else:
        return None
    if module == "subprocess" and attr in _SUBPROCESS_CALLS:
        shell = [k for k in call.keywords if k.arg == "shell"]
        if shell and not (
            isinstance(shell[0].value, ast.Constant) and shell[0].value.value is False
        ):
            return "subprocess.shell"
        return None
    if attr in _MODULE_SINKS.get(module, ()):
        return f"{module.removeprefix('xdm.')}.{attr}"
    return None


def _scan() -> dict[tuple[str, str, str], int]:
    found: dict[tuple[str, str, str], int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = _aliases(tree)
        rel = path.relative_to(PACKAGE).as_posix()
        stack: list[tuple[ast.AST, str]] = [(tree, "<module>")]
        while stack:
            node, where = stack.pop()
            for child in ast.iter_child_nodes(node):
                inner = where
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    inner = child.name
                if isinstance(child, ast.Call):
                    sink = _sink(child, names)
                    if sink:
                        key = (rel, inner, sink)
                        found[key] = found.get(key, 0) + 1
                stack.append((child, inner))
    return found


def test_scan_finds_what_it_looks_for() -> None:
    """The scanner itself: each kind of sink in a sample is found."""
    sample = ast.parse(
        "import os, subprocess, pickle\nimport numexpr as ne\n"
        "def f(t):\n  eval(t); exec(t); compile(t, 'x', 'eval'); os.system(t)\n"
        "  subprocess.run(t, shell=True); subprocess.run([t]); pickle.loads(t)\n"
        "  ne.evaluate(t); re.compile(t)\n"
    )
    names = _aliases(sample)
    sinks = sorted(
        s
        for n in ast.walk(sample)
        if isinstance(n, ast.Call) and (s := _sink(n, names))
    )
    assert sinks == sorted(
        [
            "eval",
            "exec",
            "compile",
            "os.system",
            "subprocess.shell",
            "pickle.loads",
            "numexpr.evaluate",
        ]
    )


def test_only_allowed_sites_run_text() -> None:
    found = _scan()
    unexpected = sorted(set(found) - set(ALLOWED))
    assert not unexpected, f"new eval/exec/shell/pickle/numexpr sites: {unexpected}"
    gone = sorted(set(ALLOWED) - set(found))
    assert not gone, f"allow-list entries no longer in the source: {gone}"


# ------------------------------------------------------------------ audit hook

_WATCH: list[list[tuple[str, str]]] = []
"""While a list is pushed here, the hook records suspicious events into it."""

_SHELL = re.compile(r"""\bsh['"]?, \[?['"]?(?:sh['"], )?['"]-c""")
_PROCESS_EVENTS = (
    "os.system",
    "subprocess.Popen",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "pickle.find_class",
    "os.startfile",
)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _WATCH:
        return
    if event == "compile":
        source = args[0]
        text = (
            source.decode("utf-8", "replace") if isinstance(source, bytes) else source
        )
        if isinstance(text, str) and LEAK.search(text):
            _WATCH[-1].append((event, text[:200]))
    elif event.startswith(_PROCESS_EVENTS):
        # libraries may run fixed commands (platform runs `uname -p`); a
        # process that carries the payload, or any shell, is a leak
        text = repr(args)
        if (
            MARKER in text
            or "PWNED" in text
            or _SHELL.search(text)
            or event == "os.system"
        ):
            _WATCH[-1].append((event, text[:200]))


sys.addaudithook(_hook)


@contextlib.contextmanager
def watched(folder: Path) -> Iterator[list[tuple[str, str]]]:
    """Record leaks while the block runs; the canary must stay absent."""
    events: list[tuple[str, str]] = []
    _WATCH.append(events)
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            yield events
    finally:
        _WATCH.pop()
    assert not (folder / "PWNED").exists()
    assert not Path("PWNED").exists()


PAYLOADS = [
    f"__import__('os').system('touch PWNED') # {MARKER}.",
    f"{MARKER}) | (1",
    f"1+{MARKER}.__class__",
    f"$(touch PWNED){MARKER};",
    f"`touch PWNED`{MARKER};",
    f"{MARKER}; touch PWNED",
    f'exec(\'open("PWNED","w")\') and {MARKER}!',
]


def test_hook_sees_a_leak(tmp_path: Path) -> None:
    """The oracle works: text that does reach compile is caught."""
    with pytest.raises(AssertionError), watched(tmp_path) as events:
        compile(f"{MARKER}+1", "<x>", "eval")
        assert not events


# ------------------------------------------------------------------ injections


@pytest.fixture(scope="module")
def hostile_columns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An event table whose column names are payloads, plus names that clash
    with numexpr's functions and Python keywords."""
    from astropy.io import fits

    rng = np.random.default_rng(5)
    n = 5000
    names = [
        "energy",
        f"{MARKER}) | (1",
        f"__import__('os').system('touch PWNED') {MARKER}.",
        f"{MARKER}+1",
        f"a b {MARKER}.",
        "where",
        "sin",
        "if",
        "True",
        "__class__",
        "_row",
        "_t0",
        "_keep",
    ]
    cols = [
        fits.Column(name=name, format="E", array=rng.uniform(0, 10, n))
        for name in names
    ]
    path = tmp_path_factory.mktemp("inject") / "cols.fits"
    fits.BinTableHDU.from_columns(cols, name="EVENTS").writeto(path)
    return path


@pytest.mark.parametrize(
    "column",
    ["energy", "where", "sin", "if", "True", "__class__", "_row", "_t0", "_keep"],
)
def test_filters_on_awkward_column_names(hostile_columns: Path, column: str) -> None:
    """Names that are numexpr functions, keywords or dunders filter correctly
    (numpy oracle) while hostile names sit in the same file."""
    from astropy.io import fits

    with watched(hostile_columns.parent) as events:
        table = xdm.read(f"{hostile_columns}[{column}=2:5]")
        assert not events
    with fits.open(hostile_columns) as hdul:
        values = hdul[1].data[column]
        expected = np.sort(values[(values >= 2) & (values < 5)])
    assert np.array_equal(np.sort(np.asarray(table[column])), expected)


def test_columns_named_like_generated_variables(hostile_columns: Path) -> None:
    """Columns called _row, _t0, _keep next to a row filter, a region test and
    an image (which use those names inside the engine) keep their own values."""
    from astropy.io import fits

    with fits.open(hostile_columns) as hdul:
        d = hdul[1].data
        rows = np.arange(1, len(d) + 1)
        inside = (d["energy"] - 5) ** 2 + (d["where"] - 5) ** 2 <= 9
        keep = (d["_row"] >= 2) & (d["_row"] < 5) & (rows <= 2000) & inside
        keep &= (d["_t0"] >= 1) & (d["_keep"] < 8)
        expected = np.sort(d["energy"][keep])
    text = (
        f"{hostile_columns}[_row=2:5,#row=1:2000,(energy,where)=circle(5,5,3),"
        "_t0>=1,_keep<8]"
    )
    table = xdm.read(text)
    assert len(table) > 0
    assert np.array_equal(np.sort(np.asarray(table["energy"])), expected)
    image = xdm.read(f"{hostile_columns}[_keep<8][bin _row=0:10:1]")
    counts, _ = np.histogram(d["_row"][d["_keep"] < 8], bins=10, range=(0, 10))
    assert np.array_equal(np.asarray(image.data), counts)


def test_hostile_column_names_are_data(hostile_columns: Path, tmp_path: Path) -> None:
    """Copying, binning and listing a file with payload column names runs none
    of them."""
    texts = [
        f"{hostile_columns}[energy=1:9]",
        f"{hostile_columns}[cols energy,where]",
        f"{hostile_columns}[bin energy=0:10:0.5]",
        f"{hostile_columns}[energy>1,where<9][cols *]",
    ]
    with watched(tmp_path) as events:
        for i, text in enumerate(texts):
            xdm.copy(text, tmp_path / f"out{i}.fits")
        xdm.tools.dmlist(infile=str(hostile_columns), opt="cols")
        xdm.tools.dmstat(infile=f"{hostile_columns}[cols energy]")
        assert not events


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_filters_and_regions(
    synthetic_events: Path, tmp_path: Path, payload: str
) -> None:
    texts = [
        f"{synthetic_events}[{payload}]",
        f"{synthetic_events}[energy={payload}]",
        f"{synthetic_events}[energy>300,{payload}>1]",
        f"{synthetic_events}[sky=circle(4096,4096,{payload})]",
        f"{synthetic_events}[bin sky={payload}]",
        f"{synthetic_events}[cols {payload}]",
    ]
    reg = tmp_path / "src.reg"
    reg.write_text(
        "# Region file format: DS9 version 4.1\nphysical\n"
        f"circle(4096,4096,20) # text={{{payload}}}\n"
        f"circle(4096,4096,{payload})\n"
    )
    ciao = tmp_path / "ciao.reg"
    ciao.write_text(f"circle(4096,4096,20)\n{payload}\n")
    with watched(tmp_path) as events:
        for text in texts:
            with contextlib.suppress(xdm.XdmError):
                xdm.read(text)
        for region in (f"region({reg.name})", f"region({ciao.name})", payload):
            with contextlib.suppress(xdm.XdmError):
                xdm.region(region, base_dir=tmp_path)
        assert not events


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_scripts(
    synthetic_events: Path, tmp_path: Path, payload: str
) -> None:
    from xdm.cli.script import Session, read_statements

    script = (
        f"set x = {payload}\n"
        "echo $x\n"
        f"echo {payload}\n"
        f'parse "{synthetic_events}[energy=$x]"\n'
        f"dmkeypar {synthetic_events} '{payload}'\n"
        f"{payload}\n"
    )
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        with watched(tmp_path) as events:
            session = Session()
            for statement in read_statements(script, file="inject.xdm"):
                with contextlib.suppress(xdm.XdmError):
                    session.execute(statement)
            assert not events
    finally:
        os.chdir(old)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_tool_parameters(
    synthetic_events: Path, tmp_path: Path, payload: str
) -> None:
    """Every tool's every string parameter given the payload; dmimgcalc's
    expression and dmgti's userlimit in particular."""
    image = tmp_path / "img.fits"
    xdm.copy(f"{synthetic_events}[bin sky=64]", image)
    lc = tmp_path / "lc.fits"
    xdm.tools.dmextract(
        infile=f"{synthetic_events}[bin time=::200]", outfile=str(lc), opt="ltc1"
    )
    calls: list[tuple[str, dict[str, str]]] = [
        (
            "dmimgcalc",
            {
                "infile": str(image),
                "outfile": str(tmp_path / "o1.fits"),
                "operation": f"imgout={payload}",
            },
        ),
        (
            "dmimgcalc",
            {
                "infile": str(image),
                "outfile": str(tmp_path / "o2.fits"),
                "operation": f"imgout=img1+({payload})",
            },
        ),
        (
            "dmimgcalc",
            {
                "infile": str(image),
                "outfile": str(tmp_path / "o3.fits"),
                "operation": payload,
            },
        ),
        (
            "dmgti",
            {
                "infile": str(lc),
                "outfile": str(tmp_path / "g1.fits"),
                "userlimit": payload,
            },
        ),
        (
            "dmgti",
            {
                "infile": str(lc),
                "outfile": str(tmp_path / "g2.fits"),
                "userlimit": f"count_rate>0||{payload}",
            },
        ),
    ]
    for name in xdm.tools.available():
        tool = xdm.tools.load(name).TOOL
        calls.extend(
            (name, {p.name: payload})
            for p in tool.params
            if p.type in "fs" and p.name != "outfile"
        )
    old = os.getcwd()
    os.chdir(tmp_path)  # a tool that runs with its defaults writes here
    try:
        with watched(tmp_path) as events:
            for name, params in calls:
                with contextlib.suppress(xdm.XdmError):
                    getattr(xdm.tools, name)(**params)
            assert not events
    finally:
        os.chdir(old)
