"""xdm dmlist: every option checked against astropy/numpy reading the same files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
import xdm.tools
from xdm.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
CHANDRA = ROOT / "tests" / "data" / "events" / "chandra_test.fits"


def listing(infile: str, opt: str, **kw: object) -> str:
    text = xdm.tools.dmlist(infile=infile, opt=opt, **kw).text
    assert text is not None
    return text


def test_blocks_match_astropy(synthetic_events: Path) -> None:
    text = listing(str(synthetic_events), "blocks")
    lines = [ln for ln in text.splitlines() if ln.startswith("Block ")]
    with fits.open(synthetic_events) as hdul:
        assert len(lines) == len(hdul)
        for i, (line, hdu) in enumerate(zip(lines, hdul)):
            m = re.match(r"Block\s+(\d+): (\S+)\s+(\w+)\s*(.*)", line)
            assert m is not None
            assert int(m.group(1)) == i + 1
            assert m.group(2) == (hdu.name if i else "PRIMARY")
            if isinstance(hdu, fits.BinTableHDU):
                dims = re.match(r"(\d+) cols x (\d+)\s+rows", m.group(4))
                assert dims is not None
                assert (int(dims.group(1)), int(dims.group(2))) == (
                    len(hdu.columns),
                    len(hdu.data),
                )
            else:
                assert m.group(3) == "Null"


def test_header_lists_every_keyword_with_its_value() -> None:
    values = xdm.tools.dmlist(infile=f"{CHANDRA}[EVENTS]", opt="header").values
    listed = {
        c["key"]: c["value"]
        for c in values["header"]
        if c["key"] not in ("HISTORY", "COMMENT")
    }
    header = fits.getheader(CHANDRA, "EVENTS")
    structural = re.compile(
        r"^(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|"
        r"(T[A-Z]{3,4}|LATP|LONP)\d+)$"
    )
    expected = {
        k: header[k]
        for k in header
        if k not in ("HISTORY", "COMMENT", "") and not structural.match(k)
    }
    assert listed == expected
    raw = listing(f"{CHANDRA}[EVENTS]", "header,raw").splitlines()
    assert raw == [c.image.rstrip() for c in header.cards]


def test_cols_names_units_types_and_ranges(synthetic_events: Path) -> None:
    cols = xdm.tools.dmlist(infile=str(synthetic_events), opt="cols").values["columns"]
    with fits.open(synthetic_events) as hdul:
        h = hdul["EVENTS"].header
        fcols = hdul["EVENTS"].columns
    assert [c["name"] for c in cols] == list(fcols.names)
    assert [c["unit"] for c in cols] == [c.unit or "" for c in fcols]
    types = {"D": "Real8", "E": "Real4", "I": "Int2", "J": "Int4"}
    for c, f in zip(cols, fcols):
        code = f.format[-1]
        if code in types:
            assert c["type"] == types[code]
        n = c["number"]
        lo, hi = c["range"].split(":") if c["range"] else ("", "")
        if f"TLMIN{n}" in h:
            assert float(lo) == h[f"TLMIN{n}"]
        if f"TLMAX{n}" in h:
            assert float(hi) == h[f"TLMAX{n}"]
        elif code == "J":
            assert int(hi) == 2**31 - 1  # CIAO shows the type's limit
    text = listing(str(synthetic_events), "cols")
    assert "World Coord Transforms" in text and "RA---TAN(x)" in text


def _rows(text: str) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0].isdigit():
            out.append(words)
    return out


def test_data_filters_rows_and_columns_like_numpy(synthetic_events: Path) -> None:
    vf = f"{synthetic_events}[energy=300:2000][#row=101:400][cols time,energy,pi]"
    rows = _rows(listing(vf, "data"))
    with fits.open(synthetic_events) as hdul:
        d = hdul["EVENTS"].data[100:400]
    keep = (d["energy"] >= 300) & (d["energy"] < 2000)
    assert len(rows) == int(keep.sum())
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    np.testing.assert_array_equal([float(r[1]) for r in rows], d["time"][keep])
    np.testing.assert_array_equal(
        np.array([float(r[2]) for r in rows], dtype=np.float32), d["energy"][keep]
    )
    np.testing.assert_array_equal([int(r[3]) for r in rows], d["pi"][keep])
    # rows= picks from the selected rows, numbered as in the full listing
    part = _rows(listing(vf, "data", rows="3:5"))
    assert part == rows[2:5]


def test_data_bit_column_as_bits() -> None:
    path = ROOT / "tests" / "data" / "events" / "chandra_time.fits"
    rows = _rows(listing(f"{path}[cols status]", "data"))
    raw = fits.getdata(path, 1)["status"]
    assert [r[1] for r in rows] == [
        "".join("1" if b else "0" for b in bits) for bits in raw
    ]


def test_counts_equals_numpy(synthetic_events: Path) -> None:
    text = listing(f"{synthetic_events}[ccd_id=7,energy=500:7000]", "counts")
    d = fits.getdata(synthetic_events, "EVENTS")
    want = int(((d["ccd_id"] == 7) & (d["energy"] >= 500) & (d["energy"] < 7000)).sum())
    assert text.strip() == str(want)


def test_image_data_cells(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 50, size=(12, 9)).astype(np.int32)
    path = tmp_path / "img.fits"
    fits.PrimaryHDU(img).writeto(path)
    text = listing(str(path), "data", cells="2:5,3:7")
    rows = _rows(text)
    assert [int(r[0]) for r in rows] == [3, 4, 5, 6, 7]
    np.testing.assert_array_equal(
        np.array([[int(v) for v in r[1:]] for r in rows]), img[2:7, 1:5]
    )
    assert "Int4(9x12)" in listing(str(path), "blocks")


def test_subspace_matches_header_and_gti() -> None:
    values = xdm.tools.dmlist(infile=str(CHANDRA), opt="subspace").values
    header = fits.getheader(CHANDRA, "EVENTS")
    first = values["components"][0]
    n_ds = sum(1 for k in header if re.fullmatch(r"DSTYP\d+", k))
    assert [e["column"] for e in first] == [
        header[f"DSTYP{i}"] for i in range(1, n_ds + 1)
    ]
    text = listing(str(CHANDRA), "subspace")
    gti = fits.getdata(CHANDRA, 2)
    for start, stop in zip(gti["START"], gti["STOP"]):
        assert f"{start:.11g}:{stop:.11g}" in text


def test_outfile_and_clobber(tmp_path: Path, synthetic_events: Path) -> None:
    out = tmp_path / "list.txt"
    xdm.tools.dmlist(infile=str(synthetic_events), opt="blocks", outfile=str(out))
    assert "Block    2: EVENTS" in out.read_text()
    assert main(["dmlist", str(synthetic_events), "cols", f"outfile={out}"]) == 2
    assert (
        main(["dmlist", str(synthetic_events), "cols", f"outfile={out}", "clobber+"])
        == 0
    )
    assert "Columns for Table Block EVENTS" in out.read_text()


def test_cli_plain_when_piped_and_errors(synthetic_events: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "xdm", "dmlist", str(synthetic_events), "blocks"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0 and "Block    2: EVENTS" in run.stdout
    assert "\x1b[" not in run.stdout  # no colour codes in a pipe
    bad = subprocess.run(
        [sys.executable, "-m", "xdm", "dmlist", str(synthetic_events), "colz"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "did you mean 'cols'" in bad.stderr
    assert "Traceback" not in bad.stderr


def _on_a_terminal(*args: str) -> str:
    import os
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # child: stdout is the terminal
        os.execv(sys.executable, [sys.executable, "-m", "xdm", *args])
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    return re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode("utf-8", "replace"))


def test_rich_tables_on_a_terminal(synthetic_events: Path) -> None:
    text = _on_a_terminal("dmlist", str(synthetic_events), "blocks")
    assert "EVENTS" in text
    assert "┃" in text or "│" in text  # rich's box drawing
    assert "Block    2:" not in text
    vf = f"{synthetic_events}[#row=1:3][cols time,pi]"
    data = _on_a_terminal("dmlist", vf, "data")
    cells = [
        [c.strip() for c in line.strip("│").split("│")]
        for line in data.splitlines()
        if line.startswith("│")
    ]
    d = fits.getdata(synthetic_events, "EVENTS")[:3]
    assert [int(c[0]) for c in cells] == [1, 2, 3]
    np.testing.assert_array_equal([float(c[1]) for c in cells], d["time"])
    np.testing.assert_array_equal([int(c[2]) for c in cells], d["pi"])


@pytest.mark.parametrize("word", ["rows=5:2", "rows=a:b"])
def test_bad_rows(word: str, synthetic_events: Path) -> None:
    assert main(["dmlist", str(synthetic_events), "data", word]) == 2


def test_binned_events_list_the_image_dmcopy_writes(tmp_path: Path) -> None:
    """``counts``, ``data`` and ``header`` of ``[bin sky=8]`` of the Chandra test
    events (planned once): the pixels and keywords of the image ``xdm dmcopy``
    writes of it, read with astropy."""
    vf = f"{CHANDRA}[bin sky=8]"
    image = tmp_path / "img.fits"
    xdm.copy(vf, image)
    img = fits.getdata(image)
    assert listing(vf, "counts").strip() == str(img.size)
    iy, ix = np.unravel_index(int(np.argmax(img)), img.shape)
    cells = f"{ix - 1}:{ix + 2},{iy - 1}:{iy + 2}"
    rows = _rows(listing(vf, "data", cells=cells))
    assert [int(r[0]) for r in rows] == list(range(iy - 1, iy + 3))
    np.testing.assert_array_equal(
        np.array([[int(v) for v in r[1:]] for r in rows]),
        img[iy - 2 : iy + 2, ix - 2 : ix + 2],
    )
    keys = xdm.tools.dmlist(infile=vf, opt="header").values["header"]
    header = fits.getheader(image)
    for key in ("CTYPE1", "CRVAL2", "CDELT1", "LTM1_1", "LTV2", "OBS_ID"):
        assert [c["value"] for c in keys if c["key"] == key] == [header[key]], key
