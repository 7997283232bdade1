"""Scripts run end to end through the real subcommands, in-process and as a user's shell would."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.cli.main import main

ROOT = Path(__file__).parent.parent
EVENTS = ROOT / "tests" / "data" / "events" / "chandra_test.fits"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(EVENTS, tmp_path / "evt2.fits")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def energies() -> np.ndarray:
    return np.asarray(fits.getdata(EVENTS, "EVENTS")["energy"], dtype=np.float64)


def run(
    script: str, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    Path("job.xdm").write_text(script)
    status = main(["run", "job.xdm", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_copy_then_summarise_the_written_image(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    e = energies()
    kept = int(((e >= 500) & (e < 7000)).sum())
    status, out, err = run(
        "set band = 500:7000\n"
        'dmcopy "evt2.fits[energy=$band][bin x=::4,y=::4]" img.fits clobber=yes\n'
        "xdm copy infile=evt2.fits[energy=$band] outfile=events.fits\n"
        "img.fits\n"
        "events.fits\n",
        capsys,
    )
    assert status == 0, err
    assert int(fits.getdata(here / "img.fits").sum()) == kept
    assert fits.getheader(here / "events.fits", "EVENTS")["NAXIS2"] == kept
    assert "image 2048 x 2048" in out
    assert f"sum {kept:,}" in out
    assert f"{kept:,} of {kept:,} rows" in out  # the written file holds only those


def test_the_error_shown_in_the_cli_docs(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(
        "# imaging.xdm\n"
        "set evt = evt2.fits\n"
        "set band = 300:2000\n"
        "set bin = bin x=::8,y=::8\n"
        "\n"
        'dmcopy "$evt[$bin][enrgy=$band]" optimal_b8.fits clobber=yes\n',
        capsys,
    )
    assert status == 2
    page = (ROOT / "docs" / "cli.md").read_text()
    shown = re.search(r"```\n(imaging\.xdm:.*?)```", page, re.DOTALL)
    assert shown is not None
    assert err.replace("job.xdm", "imaging.xdm") == shown.group(1)


def test_an_existing_output_is_underlined(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = 'copy "evt2.fits[energy=300:2000]" out.fits'
    status, _, err = run(f"{line}\n{line}\n", capsys)
    assert status == 2
    lines = err.splitlines()
    col = line.index("out.fits") + 1
    assert lines[0] == f"job.xdm:2:{col}: error: output file out.fits exists"
    assert lines[2] == "  " + " " * (col - 1) + "^" + "~" * (len("out.fits") - 1)


def test_an_error_inside_a_region_file_cites_the_script_and_the_file(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "bad.reg").write_text("circle(4000,4000\n")
    line = 'copy "evt2.fits[sky=region(bad.reg)]" o.fits'
    status, _, err = run(f"echo go\n{line}\n", capsys)
    assert status == 2
    first, source, caret = err.splitlines()[:3]
    assert first.startswith(f"job.xdm:2:{line.index('bad.reg') + 1}: error: bad.reg:1:")
    assert source == "  circle(4000,4000"
    assert caret.index("^") == len("  circle(4000,4000")


def test_xdm_run_as_a_process_and_statements_from_a_pipe(here: Path) -> None:
    Path("bad.xdm").write_text("echo one\nparse evt2.fits[energy=300 2000]\necho two\n")
    done = subprocess.run(
        [sys.executable, "-m", "xdm", "run", "bad.xdm"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stdout == "one\n"
    assert done.stderr.startswith("bad.xdm:2:")
    assert "Traceback" not in done.stderr

    piped = subprocess.run(
        [sys.executable, "-m", "xdm"],
        input="set band = 300:2000\nevt2.fits[energy=$band][cols energy]\n",
        capture_output=True,
        text=True,
    )
    e = energies()
    assert piped.returncode == 0, piped.stderr
    assert (
        f"{int(((e >= 300) & (e < 2000)).sum()):,} of {len(e):,} rows" in piped.stdout
    )
