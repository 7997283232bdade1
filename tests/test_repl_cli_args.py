"""Every subcommand: ``--help`` exits 0, CIAO ``key=value`` parameters work, and an
unknown argument is one clear error with exit status 2 (``xdm.cli.args``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.cli.args import split_args
from xdm.cli.main import COMMANDS, main
from xdm.errors import XdmSemanticError

EVENTS = Path(__file__).parent / "data" / "events" / "chandra_test.fits"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_exits_0(
    command: str, flag: str, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, flag]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: xdm ") and err == ""
    assert list(here.iterdir()) == []  # nothing made (demo would write a folder)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_option_is_exit_2_with_the_usage(
    command: str, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--bogus"]) == 2
    err = capsys.readouterr().err
    assert f"xdm {command.replace('dmcopy', 'copy')}: unknown option '--bogus'" in err
    assert "hint: usage: xdm " in err and "Traceback" not in err
    assert list(here.iterdir()) == []


@pytest.mark.parametrize("command", ["copy", "dmcopy", "explain", "demo", "repl"])
def test_an_unknown_parameter_is_exit_2(
    command: str, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "nosuch=1"]) == 2
    assert "unknown parameter 'nosuch'" in capsys.readouterr().err
    assert list(here.iterdir()) == []


def test_a_misspelt_parameter_gets_a_suggestion(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["copy", str(EVENTS), "out.fits", "clober=yes"]) == 2
    assert "did you mean 'clobber'?" in capsys.readouterr().err
    assert main(["copy", str(EVENTS), "out.fits", "clobber=maybe"]) == 2
    assert "clobber= takes yes or no" in capsys.readouterr().err
    assert main(["demo", "rows=12.5"]) == 2
    assert "rows='12.5' is not a whole number" in capsys.readouterr().err
    assert list(here.iterdir()) == []


def test_extra_positionals_are_exit_2(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(EVENTS), "stray"]) == 2
    assert "xdm explain: unexpected argument 'stray'" in capsys.readouterr().err
    assert main(["parse", "a.fits", "b.fits"]) == 2
    assert "unexpected argument 'b.fits'" in capsys.readouterr().err
    assert main(["run", "a.xdm", "b.xdm"]) == 2
    assert "unexpected argument 'b.xdm'" in capsys.readouterr().err
    assert main(["copy", str(EVENTS), "a.fits", "b.fits"]) == 2
    assert not (here / "a.fits").exists()


def test_exit_status_of_the_real_process() -> None:
    for args, status in ((["explain", "--help"], 0), (["explain", "x=1"], 2)):
        result = subprocess.run(
            [sys.executable, "-m", "xdm", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == status, result.stderr
        assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- key=value


def test_explain_takes_infile_like_copy(capsys: pytest.CaptureFixture[str]) -> None:
    vf = f"{EVENTS}[energy=300:2000][bin sky=8]"
    assert main(["explain", vf]) == 0
    positional = capsys.readouterr().out
    assert main(["explain", f"infile={vf}", "verbose=0"]) == 0
    assert capsys.readouterr().out == positional
    assert positional.startswith(f"plan for {vf}\n")
    assert main(["explain", "INFILE=" + vf]) == 0  # CIAO names are case-blind
    assert capsys.readouterr().out == positional


def test_parse_takes_infile_and_yes_no_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    vf = "evt2.fits[ccd_id=7][bin sky=8]"
    assert main(["parse", f"infile={vf}", "json=yes", "verbose=0"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input"] == vf and doc["ast"]["path"] == "evt2.fits"
    assert main(["parse", vf, "json=no"]) == 0
    assert capsys.readouterr().out.startswith("VirtualFile")
    # filter text looks like key=value and is still the text to parse
    assert main(["parse", "--filter", "energy=300:2000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["canonical"] == "energy=300:2000"
    assert main(["parse", "--json", "--", "-odd.fits"]) == 0  # -- ends the flags
    assert json.loads(capsys.readouterr().out)["ast"]["path"] == "-odd.fits"


def test_copy_with_ciao_parameters_only(here: Path) -> None:
    shutil.copy(EVENTS, here / "evt2.fits")
    argv = [
        "copy",
        "infile=evt2.fits[energy=300:2000]",
        "outfile=soft.fits",
        "clobber=yes",
        "verbose=0",
        "mode=h",
    ]
    assert main(argv) == 0
    assert main(argv) == 0  # clobber=yes replaces it
    energy = np.asarray(fits.getdata(EVENTS, "EVENTS")["energy"], dtype=np.float64)
    kept = int(((energy >= 300) & (energy < 2000)).sum())
    assert fits.getheader(here / "soft.fits", "EVENTS")["NAXIS2"] == kept


def test_run_variables_and_verbose(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = here / "s.xdm"
    script.write_text("echo ${Who} ${n}\n")
    assert main(["run", str(script), "Who=world", "n=3", "verbose=0"]) == 0
    assert capsys.readouterr().out == "world 3\n"  # names kept as typed
    assert main(["run", "Who=world"]) == 2
    assert "no script given" in capsys.readouterr().err


def test_demo_with_ciao_parameters(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "dir=out", "rows=2e3", "seed=2", "verbose=0"]) == 0
    assert len(fits.getdata(here / "out" / "evt2.fits", "EVENTS")) == 2000
    assert main(["demo", "outdir=out", "rows=2000"]) == 2  # exists, no clobber
    capsys.readouterr()


# ---------------------------------------------------------------- the helper


def test_split_args_rules() -> None:
    usage = "usage: xdm t IN OUT"
    args = split_args(
        ["a[energy=1:2]", "OUT=b", "--c", "x"],
        command="t",
        usage=usage,
        params=("in", "out", "c"),
        flags={"--c": ("c", "yes")},
        positional=("in",),
        extra_positional=True,
    )
    assert args.params == {"in": "a[energy=1:2]", "out": "b", "c": "yes"}
    assert args.positional == ("x",) and not args.help
    free = split_args(
        ["f.xdm", "A=1", "-1:5"],
        command="t",
        usage=usage,
        params=None,
        extra_positional=True,
    )
    assert free.params == {"A": "1"} and free.positional == ("f.xdm", "-1:5")
    with pytest.raises(XdmSemanticError, match="unknown parameter 'z'"):
        split_args(["z=1"], command="t", usage=usage, params=("in",))
    assert split_args(["--help", "stray"], command="t", usage=usage).help
    quiet = split_args(["a", "--quiet"], command="t", usage=usage, positional=("in",))
    assert (quiet.params, quiet.verbose) == ({"in": "a"}, 0)
    assert split_args(["verbose=3"], command="t", usage=usage).verbose == 3


def test_main_usage_lists_every_command() -> None:
    from xdm.cli.main import USAGE

    listed = {
        line.split()[0]
        for line in USAGE.splitlines()[3:]
        if line[:2] == "  " and line[2] != " "
    }
    assert set(COMMANDS) - {"dmcopy"} <= listed
