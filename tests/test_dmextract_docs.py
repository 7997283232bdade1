"""docs/spectra.md: every command of the page runs, in order, on fresh demo data,
and its products say what the page says (checked against numpy on the events)."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
from astropy.io import fits
from docpages import commands, shell

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "spectra.md"
PYTHON = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_spectra_page_commands_run_and_products_are_right(tmp_path: Path) -> None:
    lines = commands(PAGE)
    assert len(lines) >= 8
    script = "\n".join(lines) + "\n"
    done = shell(script, tmp_path)
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    here = tmp_path / "xdm-demo"
    # the Python block of the page, in the same folder
    code = PYTHON.findall(PAGE.read_text())
    assert code
    cwd = os.getcwd()
    try:
        os.chdir(here)
        exec(compile(code[0], str(PAGE), "exec"), {})  # the page's own code
    finally:
        os.chdir(cwd)
    with fits.open(here / "evt2.fits") as h:
        d = h["EVENTS"].data
        r2 = (d["x"] - 4110.3) ** 2 + (d["y"] - 4085.7) ** 2
        src = np.bincount(d["pi"][r2 <= 400], minlength=1025)[1:]
    assert np.array_equal(fits.getdata(here / "src.pi", "SPECTRUM")["COUNTS"], src)
    assert np.array_equal(fits.getdata(here / "m.pi", "SPECTRUM")["COUNTS"], src)
    assert f"{math.pi * 400 / 8192**2:.6g}"[:5] in done.stdout
    assert "m_bkg.pi" in done.stdout  # BACKFILE of the grouped spectrum
    lc = fits.getdata(here / "bg.lc", "LIGHTCURVE")
    gap = (lc["TIME_MIN"] >= lc["TIME_MIN"][0] + 20_100) & (
        lc["TIME_MAX"] <= lc["TIME_MIN"][0] + 20_500
    )
    assert gap.any() and (lc["EXPOSURE"][gap] == 0).all()
    assert (here / "clean.gti").exists() and (here / "evt2_clean.fits").exists()
    assert "NET_COUNTS" in fits.getdata(here / "src.lc", 1).columns.names
    prof = fits.getdata(here / "profile.fits", 1)
    assert len(prof) == 20 and "SUR_BRI" in prof.columns.names
