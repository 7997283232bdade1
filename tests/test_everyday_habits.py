"""CIAO habits across dmcopy and the tools: clobber spellings, verbose=5, mode=."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

from xdm.cli.main import main


def xdm_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xdm", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


YES = [
    "clobber=yes",
    "clobber=+",
    "clobber+",
    "clobber=y",
    "clobber=1",
    "clobber=true",
    "--clobber",
]
NO = ["clobber=no", "clobber=-", "clobber-", "clobber=n", "clobber=0"]


@pytest.mark.parametrize("word", YES)
def test_clobber_yes_spellings(
    word: str, synthetic_events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.fits"
    out.write_bytes(b"old")
    assert main(["dmcopy", f"{synthetic_events}[energy=300:2000]", str(out), word]) == 0
    assert len(fits.getdata(out, "EVENTS")) > 0
    listing = tmp_path / "l.txt"
    listing.write_text("old")
    if word != "--clobber":
        assert (
            main(
                ["dmlist", str(synthetic_events), "blocks", f"outfile={listing}", word]
            )
            == 0
        )
        assert "EVENTS" in listing.read_text()


@pytest.mark.parametrize("word", NO)
def test_clobber_no_spellings_refuse(
    word: str, synthetic_events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.fits"
    out.write_bytes(b"old")
    assert main(["dmcopy", f"{synthetic_events}[energy=300:2000]", str(out), word]) == 2
    assert out.read_bytes() == b"old"
    assert (
        main(["dmlist", str(synthetic_events), "blocks", f"outfile={out}", word]) == 2
    )
    assert out.read_bytes() == b"old"


def test_bad_clobber_value(synthetic_events: Path, tmp_path: Path) -> None:
    assert (
        main(
            ["dmcopy", str(synthetic_events), str(tmp_path / "o.fits"), "clobber=maybe"]
        )
        == 2
    )


def test_verbose_5_narrates_dmcopy(synthetic_events: Path, tmp_path: Path) -> None:
    vf = f"{synthetic_events}[energy=300:2000,ccd_id=0:3]"
    run = xdm_cli("dmcopy", vf, "o.fits", "verbose=5", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    kept = len(fits.getdata(tmp_path / "o.fits", "EVENTS"))
    d = fits.getdata(synthetic_events, "EVENTS")
    want = int(((d["energy"] >= 300) & (d["energy"] < 2000) & (d["ccd_id"] <= 3)).sum())
    assert kept == want
    err = run.stderr
    steps = [
        "opened ",
        "filters fused into one predicate",
        "read rows 1-",
        f"wrote {want:,} rows",
        "wrote o.fits",
    ]
    positions = [err.index(s) for s in steps]
    assert positions == sorted(positions)  # in the order they happen
    assert f"{len(d):,} rows" in err
    image = xdm_cli("dmcopy", f"{vf}[bin sky=64]", "i.fits", "verbose=5", cwd=tmp_path)
    assert f"{want:,} binned into 128 x 128 pixels" in image.stderr
    quiet = xdm_cli("dmcopy", vf, "q.fits", cwd=tmp_path)
    assert quiet.stderr == ""  # verbose=1 (default) says none of it


@pytest.mark.parametrize(
    "command",
    [
        ["dmcopy", "{evt}[energy=300:2000]", "{tmp}/o.fits", "clobber=yes"],
        ["dmlist", "{evt}", "counts"],
        ["dmstat", "{evt}[cols pi]"],
        ["dmkeypar", "{evt}", "TSTART"],
    ],
)
def test_mode_is_accepted(
    command: list[str], synthetic_events: Path, tmp_path: Path
) -> None:
    words = [w.format(evt=synthetic_events, tmp=tmp_path) for w in command]
    for mode in ("mode=h", "mode=hl", "mode=ql"):
        assert main([*words, mode]) == 0


def test_unknown_tool_names_the_nearest(tmp_path: Path) -> None:
    run = xdm_cli("dmlsit", "evt.fits", "blocks", cwd=tmp_path)
    assert run.returncode == 2
    assert "did you mean 'dmlist'?" in run.stderr and "dmstat" in run.stderr


def test_piped_prompt_input_runs_every_statement(
    synthetic_events: Path, tmp_path: Path
) -> None:
    text = (
        f"{synthetic_events}[energy=300 2000]\n"
        f"dmcopy {synthetic_events}[energy=300:2000] {tmp_path}/p.fits\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "xdm"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2  # one statement failed
    assert "expected ':', ',' or ']' after '300'" in run.stderr
    d = fits.getdata(synthetic_events, "EVENTS")
    kept = int(((d["energy"] >= 300) & (d["energy"] < 2000)).sum())
    assert len(fits.getdata(tmp_path / "p.fits", "EVENTS")) == kept  # ran after it


def test_prompt_says_what_an_open_bracket_waits_for(tmp_path: Path) -> None:
    import os
    import re

    pexpect = pytest.importorskip("pexpect")
    env = dict(
        os.environ,
        XDM_HISTORY=str(tmp_path / "history"),
        PROMPT_TOOLKIT_NO_CPR="1",
        TERM="xterm-256color",
    )
    child = pexpect.spawn(
        sys.executable,
        ["-m", "xdm"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(30, 140),
    )
    child.expect("xdm>")
    child.send("evt.fits[sky=circle(1,2\r")
    child.expect("Esc Enter runs it")
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before or "")
    assert "waiting for ')' and ']'" in shown
    child.sendcontrol("c")
    child.sendline("quit")
    child.expect(pexpect.EOF)
