"""The REPL as a user meets it: completion, colouring, multi-line input, errors.

Completion is checked against the real Chandra file's header read with astropy
directly (the oracle); the pseudo-terminal tests drive ``python -m xdm`` with
pexpect, keys and all.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.cli.repl import KEYWORDS, SHAPES, Repl, complete, file_schema, highlight
from xdm.cli.script import Session, is_complete

DATA = Path(__file__).parent / "data" / "events"
EVENTS = DATA / "chandra_test.fits"


def header_columns(path: Path, extname: str) -> list[str]:
    header = fits.getheader(path, extname)
    return [header[f"TTYPE{i}"] for i in range(1, header["TFIELDS"] + 1)]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(EVENTS, tmp_path / "evt2.fits")
    shutil.copy(DATA / "xte_test.evt.gz", tmp_path / "xte.evt.gz")
    (tmp_path / "src.reg").write_text("circle(4096,4096,20)\n")
    (tmp_path / "output").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_schema_lists_blocks_and_the_columns_in_the_header() -> None:
    schema = file_schema(str(EVENTS))
    assert schema is not None
    with fits.open(EVENTS) as hdul:
        names = [h.header.get("HDUNAME") or h.name for h in hdul[1:]]
    assert [b.upper() for b in schema.blocks[1:]] == names
    assert schema.default_block == "EVENTS"
    assert list(schema.columns["EVENTS"]) == header_columns(EVENTS, "EVENTS")
    assert "sky" in schema.vectors["EVENTS"]
    assert file_schema(str(EVENTS)) is schema  # cached
    assert file_schema("no/such/file.fits") is None


@pytest.mark.parametrize(
    ("typed", "replace", "expected"),
    [
        ("cop", 3, ["copy"]),
        ("dmc", 3, ["dmcopy"]),
        ("copy ev", 2, ["evt2.fits"]),
        ("copy out", 3, ["output/"]),
        ("dmcopy infile=ev", 2, ["evt2.fits"]),
        ('copy "evt2.fits[ene', 3, ["energy"]),
        ("evt2.fits[EVENTS][ccd", 3, ["ccd_id"]),
        ("evt2.fits[sky=ci", 2, ["circle"]),
        ("evt2.fits[sky=circle(1,2,3)-an", 2, ["annulus"]),
        ("evt2.fits[(x,y)=po", 2, ["polygon", "point"]),
        ("evt2.fits[sky=region(sr", 2, ["src.reg"]),
        ("evt2.fits[cols -ph", 2, ["pha"]),
        ("evt2.fits[bin sk", 2, ["sky"]),
        ("evt2.fits[energy=30", 0, []),
        ("evt2.fits[GTI7][st", 2, ["START", "STOP"]),
        ("evt2.fits[opt ty", 2, ["type="]),
        ("evt2.fits[e", 1, ["EVENTS", "exclude", "energy"]),
        ("xte.evt.gz[G", 1, ["GTI"]),  # two blocks of that name, offered once
    ],
)
def test_completion(here: Path, typed: str, replace: int, expected: list[str]) -> None:
    assert complete(typed, Session()) == (replace, expected)


def test_first_bracket_offers_blocks_keywords_and_every_column(here: Path) -> None:
    _, names = complete("evt2.fits[", Session())
    assert names[:3] == ["PRIMARY", "EVENTS", "GTI7"]
    assert set(KEYWORDS) <= set(names)
    assert set(header_columns(EVENTS, "EVENTS")) <= set(names)


def test_completion_uses_the_current_file_and_variables(here: Path) -> None:
    session = Session(
        variables={"band": "300:2000", "bin": "8"}, current_file="evt2.fits"
    )
    assert complete("explain $b", session) == (1, ["band", "bin"])
    assert complete('copy "evt2.fits[energy=${ba', session) == (2, ["band"])
    # a bracket group with no file in front takes its columns from the current file
    assert complete("[gr", session) == (2, ["grade"])


def test_shapes_are_offered_after_a_vector_column() -> None:
    _, names = complete("x.fits[sky=", Session())
    assert names == list(SHAPES)


def test_colouring_marks_commands_keywords_shapes_numbers_and_variables() -> None:
    fragments = highlight('copy "a.fits[x]" $out # note')
    styles = {text: style for style, text in fragments}
    assert styles["copy"] == "bold"
    assert "italic" in styles["# note"]
    assert "bold" in styles["$out"]
    fragments = highlight("a.fits[energy=300:2000][bin sky=circle(1,2,3)]")
    styles = {text: style for style, text in fragments}
    assert "bold" in styles["bin"] and styles["circle"] and styles["300"]
    assert (
        "".join(text for _, text in fragments)
        == "a.fits[energy=300:2000][bin sky=circle(1,2,3)]"
    )


@pytest.mark.parametrize(
    ("text", "complete_"),
    [
        ("copy a b", True),
        ('copy "a[', False),
        ("copy a[energy=1", False),
        ("copy a \\", False),
        ('copy "a[b]"', True),
        ("echo # [", True),
        ('a[object="3C 273"]', True),
        ("copy a[\n energy=1]", True),
    ],
)
def test_open_quotes_brackets_and_backslash_continue_the_input(
    text: str, complete_: bool
) -> None:
    assert is_complete(text) is complete_


def test_errors_show_a_caret_and_the_session_goes_on(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repl = Repl()
    repl.execute("set band = 300:2000")
    repl.execute('echo "$band"')
    repl.execute("evt2.fits[energy=300 2000]")
    repl.execute("echo still here\nset")
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "300:2000"
    assert "still here" in out and "band = 300:2000" in out
    assert repl.errors == 1 and not repl.done
    lines = err.splitlines()
    assert lines[0].startswith("error: ")
    assert lines[1] == "  evt2.fits[energy=300 2000]"
    assert lines[2].index("^") == lines[1].index("2000")
    repl.execute("quit")
    assert repl.done


# ---------------------------------------------------------------- pseudo-terminal

pexpect = pytest.importorskip("pexpect")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def spawn(cwd: Path, history: Path) -> pexpect.spawn:
    env = dict(
        os.environ,
        XDM_HISTORY=str(history),
        PROMPT_TOOLKIT_NO_CPR="1",
        TERM="xterm-256color",
        COLUMNS="120",
        LINES="50",
    )
    child = pexpect.spawn(
        sys.executable,
        ["-m", "xdm"],
        cwd=str(cwd),
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 120),
    )
    child.expect("xdm>")
    return child


def screen(child: pexpect.spawn) -> str:
    return ANSI.sub("", child.before or "")


def test_pty_completion_error_and_history(here: Path, tmp_path: Path) -> None:
    history = tmp_path / "history"
    child = spawn(here, history)
    # Tab completes a file name, then a column read from that file's header
    child.send("echo ev\t")
    child.expect("t2.fits")  # the completed rest is drawn after the typed "ev"
    child.send("[ene\t")
    child.expect("rgy")
    child.send("]\r")
    child.expect("\n(\x1b\\[[0-9;?]*[A-Za-z])*evt2.fits\\[energy\\]\r\n")
    child.expect("xdm>")
    # a syntax error: message and caret, and the prompt comes back
    child.send("evt2.fits[energy=300 2000]\r")
    child.expect("error:")
    child.expect("xdm>")
    lines = screen(child).splitlines()
    source = next(i for i, line in enumerate(lines) if line.startswith("  evt2.fits["))
    assert lines[source + 1].index("^") == lines[source].index("2000")
    # an open bracket continues the input on the next line
    child.send("echo evt2.fits[ccd_id=7,\r")
    child.send("energy=1]\r")
    child.expect("evt2.fits\\[ccd_id=7,\\s*energy=1\\]\r\n")
    child.expect("xdm>")
    child.send("quit\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "evt2.fits[energy=300 2000]" in history.read_text()


def test_pty_summary_of_a_table_and_an_image(here: Path, tmp_path: Path) -> None:
    with fits.open(EVENTS) as hdul:
        energy = hdul["EVENTS"].data["energy"]
        kept = int(np.count_nonzero((energy >= 300) & (energy < 2000)))
        total = len(energy)
    child = spawn(here, tmp_path / "history")
    child.send("set band = 300:2000\r")
    child.expect("xdm>")
    child.send("evt2.fits[energy=$band]\r")
    child.expect(f"{kept:,} of {total:,} rows")
    child.expect("energy")
    child.expect("eV")
    child.expect("xdm>")
    child.send("evt2.fits[energy=$band][bin x=::8,y=::8]\r")
    child.expect("image 1024 x 1024")
    child.expect(f"sum {kept:,} count")
    child.expect("▀")  # the coloured preview
    child.expect("xdm>")
    child.send("\x04")  # Ctrl-D leaves
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_copy_at_the_prompt_writes_and_says_so(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repl = Repl()
    repl.execute("set band = 300:2000")
    repl.execute("dmcopy infile=evt2.fits[energy=$band] outfile=soft.fits")
    repl.execute("copy evt2.fits[energy=$band] quiet.fits --quiet")  # said, not shown
    repl.execute("explain evt2.fits[energy=$band][bin sky=8]")
    out, err = capsys.readouterr()
    assert err == "" and repl.errors == 0
    assert "wrote soft.fits" in out and "wrote quiet.fits" in out
    assert "plan for evt2.fits[energy=300:2000][bin sky=8]" in out
    energy = fits.getdata(EVENTS, "EVENTS")["energy"]
    expected = int(((energy >= 300) & (energy < 2000)).sum())
    assert fits.getheader(here / "soft.fits", "EVENTS")["NAXIS2"] == expected
    assert repl.session.current_file == "evt2.fits"


def test_repl_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from xdm.cli.main import main

    assert main(["repl", "--help"]) == 0
    assert "XDM_HISTORY" in capsys.readouterr().out
    assert main(["repl", "stray"]) == 2
    assert "unexpected argument 'stray'" in capsys.readouterr().err
    assert main(["repl", "verbose=7"]) == 2
    assert "verbose must be an integer from 0 to 5" in capsys.readouterr().err
