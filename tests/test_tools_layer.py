"""The tool layer: one parameter table per tool drives the CLI, Python, help and docs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

import xdm.tools
from xdm import XdmSemanticError
from xdm.cli.main import main
from xdm.tools import available, load
from xdm.tools.docs import pages
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, to_bool

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "data" / "events" / "chandra_test.fits"

DEMO = Tool(
    "demo",
    "an example tool",
    (
        Param("infile", "f", "", "input", required=True),
        Param("outfile", "f", "", "output"),
        Param("nsigma", "r", 3.0, "clip", minimum=0),
        Param("minlength", "i", 3, "bins"),
        Param("method", "s", "clean", "how", choices=("clean", "sigma")),
        Param("bands", "s", "broad", "bands", choices=("broad", "soft", "...")),
        Param("A_s", "r", None, "area"),
        CLOBBER,
        VERBOSE,
    ),
    positional=("infile", "outfile"),
)


def test_positionals_keys_and_ciao_switches() -> None:
    p = DEMO.parse(["in.fits", "out.fits", "nsigma=2.5", "clobber+", "METHOD=Sigma"])
    assert (p["infile"], p["outfile"], p["nsigma"], p["clobber"]) == (
        "in.fits",
        "out.fits",
        2.5,
        True,
    )
    assert p["method"] == "sigma"  # the declared spelling
    assert p["minlength"] == 3 and p["verbose"] == 1  # CIAO defaults on the CLI


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("yes", True),
        ("no", False),
        ("+", True),
        ("-", False),
        ("Y", True),
        ("0", False),
    ],
)
def test_boolean_spellings(word: str, value: bool) -> None:
    assert DEMO.parse(["a", f"clobber={word}"])["clobber"] is value
    assert to_bool(word, "x") is value


def test_indef_and_case_of_names() -> None:
    p = DEMO.parse(["a", "a_s=INDEF", "minlength=indef"])
    assert p["A_s"] is None and p["minlength"] is None
    assert DEMO.parse(["a", "A_S=4"])["A_s"] == 4.0


def test_virtual_file_with_equals_stays_positional() -> None:
    p = DEMO.parse(["evt.fits[energy=300:2000]", "out.fits"])
    assert p["infile"] == "evt.fits[energy=300:2000]"
    p = DEMO.parse(["infile=evt.fits[sky=circle(1,2,3)]"])
    assert p["infile"] == "evt.fits[sky=circle(1,2,3)]"


def test_mode_is_accepted_and_ignored() -> None:
    assert "mode" not in DEMO.parse(["a", "mode=h"])
    assert "mode" not in DEMO.bind({"infile": "a", "mode": "hl"})


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["a", "nsigm=3"], ["unknown parameter 'nsigm'", "nsigma"]),
        (["a", "nsigma=abc"], ["nsigma takes a number"]),
        (["a", "nsigma=-1"], ["below its minimum"]),
        (["a", "minlength=2.5"], ["minlength takes an integer"]),
        (["a", "method=clen"], ["not one of clean, sigma", "clean"]),
        (["a", "clobber=maybe"], ["takes yes or no"]),
        (["a", "verbose=9"], ["above its maximum"]),
        (["a", "b", "c"], ["unexpected argument 'c'"]),
        ([], ["infile= is required"]),
        (["a", "nsigma+"], ["needs a boolean parameter"]),
    ],
)
def test_bad_parameters_are_clean_errors(argv: list[str], words: list[str]) -> None:
    with pytest.raises(XdmSemanticError) as info:
        DEMO.parse(argv)
    text = info.value.render()
    for word in words:
        assert word in text


def test_open_choice_lists_take_other_text() -> None:
    assert DEMO.parse(["a", "bands=0.5:7:2.3"])["bands"] == "0.5:7:2.3"


def test_python_binding_uses_python_values_and_quiet_default() -> None:
    p = DEMO.bind({"infile": "a", "clobber": True, "nsigma": 2})
    assert p["clobber"] is True and p["nsigma"] == 2.0 and p["verbose"] == 0
    with pytest.raises(XdmSemanticError):
        DEMO.bind({"infile": "a", "minlength": 2.5})


def test_plist_lines_have_seven_fields() -> None:
    for line in DEMO.plist().splitlines():
        assert len(line.split(",")) >= 7, line
    assert DEMO.plist().splitlines()[2].startswith("nsigma,r,h,3,0,,")


def test_values_text_is_a_ciao_command_line() -> None:
    p = DEMO.parse(["in.fits", "clobber=yes"])
    assert p.text().startswith(
        "demo infile=in.fits nsigma=3.0 minlength=3 method=clean"
    )
    assert "clobber=yes" in p.text()


# ---------------------------------------------------------------- every tool


@pytest.mark.parametrize("name", available())
def test_each_tool_module_declares_its_table_once(name: str) -> None:
    module = load(name)
    assert module.TOOL.name == name
    assert callable(module.run) and callable(getattr(xdm.tools, name))
    assert module.TOOL.summary == xdm.tools.TOOLS[name]
    names = [p.name for p in module.TOOL.params]
    assert "verbose" in names


@pytest.mark.parametrize("name", available())
def test_help_and_plist_come_from_the_table(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    for p in load(name).TOOL.params:
        assert p.name in out
    assert main(["plist", name]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines[:-1]] == [
        p.name for p in load(name).TOOL.params
    ]


def test_docs_pages_are_generated_from_the_tables() -> None:
    folder = ROOT / "docs" / "tools"
    for file_name, text in pages().items():
        page = folder / file_name
        assert page.exists(), f"run python -m xdm.tools.docs ({file_name} missing)"
        assert page.read_text() == text, f"run python -m xdm.tools.docs ({file_name})"
    assert sorted(p.name for p in folder.glob("*.md")) == sorted(pages())


def test_unknown_tool_names_the_nearest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dmkeypr", "a"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'dmkeypar'" in err and "CIAO tools:" in err


def test_unknown_key_exits_2_without_traceback() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "xdm", "dmkeypar", str(EVENTS), "EXPOSURE", "ecco=yes"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert "did you mean echo=?" in run.stderr and "Traceback" not in run.stderr


# ---------------------------------------------------------------- dmkeypar


@pytest.mark.parametrize("key", ["EXPOSURE", "OBS_ID", "TSTART", "TELESCOP", "NAXIS2"])
def test_dmkeypar_reads_what_astropy_reads(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    header = fits.getheader(EVENTS, "EVENTS")
    result = xdm.tools.dmkeypar(infile=f"{EVENTS}[EVENTS]", keyword=key.lower())
    assert result.exist and result.value == header[key]
    assert main(["dmkeypar", f"{EVENTS}[EVENTS]", key, "echo=yes"]) == 0
    assert capsys.readouterr().out.strip() == str(header[key])
    assert main(["dmkeypar", f"{EVENTS}[EVENTS]", key, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["value"] == header[key] and data["exist"] is True


def test_dmkeypar_missing_keyword(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dmkeypar", str(EVENTS), "NO_SUCH_KEY"]) == 2
    assert "NO_SUCH_KEY not found" in capsys.readouterr().err
    assert main(["dmkeypar", str(EVENTS), "NO_SUCH_KEY", "echo+"]) == 0
    assert capsys.readouterr().out == ""


def test_tools_run_from_scripts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "k.xdm"
    script.write_text(f"set f = {EVENTS}[EVENTS]\ndmkeypar $f EXPOSURE echo=yes\n")
    assert main(["run", str(script)]) == 0
    header = fits.getheader(EVENTS, "EVENTS")
    assert capsys.readouterr().out.strip() == str(header["EXPOSURE"])
