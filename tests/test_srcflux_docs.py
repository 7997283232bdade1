"""docs/fluxes.md: every command runs, in order, and the page shows their output.

The page's ``$`` lines run as one bash script (``set -e``) in a folder with
the 3C 273 ARF and RMF; then the printed blocks of the page are checked
against what the commands wrote (summary file, parameter file) and the
tables against each other (aprates by hand equals srcflux's rate).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from astropy.table import Table
from docpages import commands, shell

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "fluxes.md"
BLOCK = re.compile(r"```text\n(.*?)```", re.DOTALL)


def _clean(text: str) -> list[str]:
    return [ln.rstrip() for ln in text.splitlines() if ln.strip()]


def test_the_page_runs_and_shows_what_it_prints(tmp_path: Path) -> None:
    for name in ("3c273.arf", "3c273.rmf"):
        (tmp_path / name).symlink_to(ROOT / "tests" / "data" / "spectra" / name)
    lines = commands(PAGE)
    assert len(lines) >= 9
    done = shell("\n".join(lines) + "\n", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    blocks = BLOCK.findall(PAGE.read_text())
    # the talk's summary, as printed and as written to the summary file
    summary = _clean((tmp_path / "single" / "run1_summary.txt").read_text())
    assert _clean(blocks[0]) == summary
    # aprates by hand: the page's lines are the parameter file's
    par = _clean((tmp_path / "rates.par").read_text())
    assert _clean(blocks[1]) == [ln for ln in par if ln.startswith("src_rate")]
    rates = {ln.split(",")[0]: ln.split(",")[3] for ln in par}
    t = Table.read(tmp_path / "single" / "run1_broad.flux", hdu="HISTOGRAM")
    assert float(rates["src_rate_mode"]) == pytest.approx(
        t["NET_RATE_APER"][0], rel=1e-6
    )
    assert float(rates["src_rate_err_up"]) == pytest.approx(
        t["NET_RATE_APER_HI"][0], rel=1e-4
    )
    assert rates["photflux_aper_mode"] == "INDEF"
    # the catalogue: the empty third position's lines appear in the printed summary
    cat = _clean((tmp_path / "cat" / "run_summary.txt").read_text())
    for line in _clean(blocks[2]):
        assert line in cat
    for band in ("soft", "medium", "hard"):
        table = Table.read(tmp_path / "cat" / f"run_{band}.flux", hdu="HISTOGRAM")
        assert len(table) == 3 and bool(table["UPPER_LIMIT"][2])
    assert (tmp_path / "user" / "run_broad.flux").exists()
    assert "Unabs" not in (tmp_path / "user" / "run_summary.txt").read_text()
    assert "NET_RATE_APER" in done.stdout  # the dmlist listing
