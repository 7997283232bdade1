"""docs/flares.md runs as written: its Python examples, its commands and the output it shows.

The page's first command makes the demo; its doctests build the light curve;
the other ``$`` lines run in order in one shell. Every line of the page's
``text`` blocks must appear in what the commands printed, and the results are
checked against numpy: the counts of the chip-6 events, the flare's plateau
outside the good time, dmgti's file equal to deflare's, and the cleaned file's
EXPOSURE equal to the aim chip's GTI intersected with the clean intervals x DTCOR.
"""

from __future__ import annotations

import doctest
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from docpages import shell

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "flares.md"
PROMPT = re.compile(r"^\$ (.+)$", re.MULTILINE)
SHOWN = re.compile(r"```text\n(.*?)```", re.DOTALL)


def _rows(path: Path) -> np.ndarray:
    with fits.open(path) as hdul:
        return np.column_stack((hdul["GTI"].data["START"], hdul["GTI"].data["STOP"]))


def test_flares_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = PAGE.read_text()
    lines = PROMPT.findall(text)
    assert lines[0] == "xdm demo xdm-demo rows=1000000 && cd xdm-demo"
    made = shell(lines[0], tmp_path)
    assert made.returncode == 0, made.stderr
    here = tmp_path / "xdm-demo"

    monkeypatch.chdir(here)
    result = doctest.testfile(
        str(PAGE), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert result.attempted >= 20 and result.failed == 0

    rest = lines[1:]
    if importlib.util.find_spec("matplotlib") is None:
        rest = [line for line in rest if "save=" not in line]
    done = shell("\n".join(rest), here)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    for block in SHOWN.findall(text):
        for line in block.splitlines():
            assert line in done.stdout, line

    # the oracle: numpy on the event file
    with fits.open(here / "evt2.fits") as hdul:
        ev = hdul["EVENTS"]
        ccd, h = np.asarray(ev.data["ccd_id"]), ev.header
        gti3 = next(b for b in hdul if b.header.get("HDUNAME") == "GTI3")
        g3 = np.column_stack((gti3.data["START"], gti3.data["STOP"]))
    nbins = int(np.ceil((h["TSTOP"] - h["TSTART"]) / 259.28))
    assert f"({nbins}, {int((ccd == 6).sum())})" in text

    from xdm import demo

    clean = _rows(here / "bg_clean.gti")
    plateau = (h["TSTART"] + demo.FLARE[0] + 600, h["TSTART"] + demo.FLARE[1] - 600)
    assert all(b <= plateau[0] or a >= plateau[1] for a, b in clean)
    assert np.array_equal(_rows(here / "bg_rate.gti"), clean)
    assert np.array_equal(_rows(here / "bg_rate2.gti"), clean)  # CIAO's spellings
    ontime = sum(max(0.0, min(b, d) - max(a, c)) for a, b in g3 for c, d in clean)
    with fits.open(here / "evt2_clean.fits") as hdul:
        assert hdul["EVENTS"].header["EXPOSURE"] == pytest.approx(ontime * h["DTCOR"])
    assert f"{ontime * h['DTCOR']:.1f}" in text  # "44419.1 s of good time"
    assert f"{ontime * h['DTCOR']}" in done.stdout  # dmkeypar's value
