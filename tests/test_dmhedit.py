"""xdm dmhedit: header edits read back by astropy; data bytes untouched; atomic."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from astropy.io import fits

import xdm.tools
from xdm.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
CHANDRA = ROOT / "tests" / "data" / "events" / "chandra_test.fits"


@pytest.fixture
def evt(tmp_path: Path) -> Path:
    path = tmp_path / "evt.fits"
    shutil.copy(CHANDRA, path)
    os.chmod(path, 0o640)
    return path


def _data_bytes(path: Path) -> list[bytes]:
    with fits.open(path) as hdul:
        infos = [h.fileinfo() for h in hdul]
    raw = path.read_bytes()
    return [raw[i["datLoc"] : i["datLoc"] + i["datSpan"]] for i in infos]


def test_add_change_delete_move(evt: Path) -> None:
    before = _data_bytes(evt)
    xdm.tools.dmhedit(
        infile=f"{evt}[EVENTS]",
        operation="add",
        key="OBJECT",
        value="M 82",
        comment="target",
    )
    xdm.tools.dmhedit(
        infile=f"{evt}[EVENTS]",
        operation="add",
        key="RA_NOM",
        value="148.97",
        unit="deg",
    )
    xdm.tools.dmhedit(
        infile=f"{evt}[EVENTS]",
        operation="add",
        key="NPIX",
        value="12",
        datatype="double",
    )
    h = fits.getheader(evt, "EVENTS")
    assert h["OBJECT"] == "M 82" and h.comments["OBJECT"] == "target"
    assert h["RA_NOM"] == 148.97 and h.comments["RA_NOM"].startswith("[deg]")
    assert isinstance(h["NPIX"], float)
    xdm.tools.dmhedit(
        infile=f"{evt}[EVENTS]", operation="move", key="OBJECT", value="EXTNAME"
    )
    h = fits.getheader(evt, "EVENTS")
    keys = list(h.keys())
    assert keys[keys.index("EXTNAME") + 1] == "OBJECT"
    xdm.tools.dmhedit(infile=f"{evt}[EVENTS]", operation="delete", key="OBJECT")
    assert "OBJECT" not in fits.getheader(evt, "EVENTS")
    assert _data_bytes(evt) == before
    assert os.stat(evt).st_mode & 0o777 == 0o640
    with fits.open(evt) as hdul:
        assert len(hdul) == 3 and len(hdul["EVENTS"].data) == 4612


def test_filelist(evt: Path, tmp_path: Path) -> None:
    edits = tmp_path / "edits.txt"
    edits.write_text(
        "# edits\nadd OBSERVER = 'Ann' / who\nadd SEQNUM = 42\ndelete DATE\n"
    )
    assert main(["dmhedit", f"{evt}[EVENTS]", str(edits)]) == 0
    h = fits.getheader(evt, "EVENTS")
    assert h["OBSERVER"] == "Ann" and h["SEQNUM"] == 42 and "DATE" not in h


@pytest.mark.parametrize(
    "args",
    [
        ["none", "add", "NAXIS2", "5"],
        ["none", "delete", "NOSUCHKEY"],
        ["none", "add", "BAD KEY!", "1"],
        ["none", "add", "NPIX", "abc", "datatype=long"],
    ],
)
def test_refusals_leave_the_file_untouched(evt: Path, args: list[str]) -> None:
    before = evt.read_bytes()
    assert main(["dmhedit", f"{evt}[EVENTS]", *args]) == 2
    assert evt.read_bytes() == before
    assert sorted(p.name for p in evt.parent.iterdir()) == ["evt.fits"]


def test_compressed_and_filtered_inputs_refused(tmp_path: Path) -> None:
    gz = tmp_path / "xte.evt.gz"
    shutil.copy(ROOT / "tests" / "data" / "events" / "xte_test.evt.gz", gz)
    assert main(["dmhedit", str(gz), "none", "add", "OBJECT", "x"]) == 2
    assert main(["dmhedit", f"{CHANDRA}[energy=1:2]", "none", "add", "A", "1"]) == 2
