"""Secondary data-subspace components (one per ACIS chip), as real CIAO files write them.

Oracles: the raw header cards of tests/data/events/chandra_time.fits (written by
CIAO: ``2DSREF1=':GTI6'``, ``2DSVAL2='6:6'`` with ``kDSTYPn`` left out), the event
columns read with astropy and counted with numpy, and GTI rows clipped with numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.api import copy, read, select
from xdm.io.subspace import Subspace, parse_ranges

TIME_FILE = Path(__file__).parent / "data" / "events" / "chandra_time.fits"


@pytest.fixture(scope="module")
def time_header() -> fits.Header:
    with fits.open(TIME_FILE) as hdul:
        return hdul[1].header.copy()


def _component_cards(header: fits.Header) -> list[tuple[str, str]]:
    """The DSS cards in file order (``kDS...`` and ``DS...n``, not DS_IDENT)."""
    return [
        (c.keyword, str(c.value))
        for c in header.cards
        if c.keyword.lstrip("0123456789").startswith("DS")
        and c.keyword[-1].isdigit()
        and c.keyword != "DS_IDENT"
    ]


def _chips_in_header(header: fits.Header) -> list[int]:
    """ccd_id of each component, straight from the cards: DSVAL2, 2DSVAL2, ..."""
    n = next(i for i in range(1, 20) if header[f"DSTYP{i}"].lower() == "ccd_id")
    chips = [header[f"DSVAL{n}"]]
    k = 2
    while f"{k}DSVAL{n}" in header:
        chips.append(header[f"{k}DSVAL{n}"])
        k += 1
    return [int(parse_ranges(v)[0][0]) for v in chips]


def test_real_components_inherit_the_column(time_header: fits.Header) -> None:
    ss = Subspace.from_header(time_header)
    chips = _chips_in_header(time_header)
    assert len(ss.components) == len(chips) == 4
    for k, chip in enumerate(chips, start=1):
        prefix = "" if k == 1 else str(k)
        time = ss.entry("time", k)
        assert time is not None
        assert (time.value, time.ref) == ("TABLE", time_header[f"{prefix}DSREF1"])
        assert (time.form, time.unit) == (
            time_header["DSFORM1"],
            time_header["DSUNIT1"],
        )
        ccd = ss.entry("ccd_id", k)
        assert ccd is not None and ccd.ranges == ((chip, chip),)
        assert ccd.form == time_header["DSFORM2"]
        grade = ss.entry("grade", k)
        assert grade is not None and grade.value == time_header[f"{prefix}DSVAL3"]
    assert ss.range_of("ccd_id") == (min(chips), max(chips)) == (3.0, 8.0)
    assert ss.chip_refs() == {
        time_header[f"{'' if k == 1 else k}DSREF1"].lstrip(":"): chip
        for k, chip in enumerate(chips, start=1)
    }


def test_write_reproduces_ciaos_layout_card_for_card(time_header: fits.Header) -> None:
    fresh = fits.Header()
    Subspace.from_header(time_header).write(fresh)
    assert _component_cards(fresh) == _component_cards(time_header)
    assert Subspace.from_header(fresh) == Subspace.from_header(time_header)


def test_narrowing_applies_to_every_component(time_header: fits.Header) -> None:
    ss = Subspace.from_header(time_header)
    only7 = ss.narrowed("ccd_id", "7:7")
    assert len(only7.components) == 1 and only7.entry("time").ref == ":GTI7"
    three = ss.narrowed("ccd_id", "6:8")
    assert [three.entry("ccd_id", k).value for k in (1, 2, 3)] == ["7:7", "6:6", "8:8"]
    none = ss.narrowed("ccd_id", "0:1")  # nothing left: the first stays, empty
    assert len(none.components) == 1 and none.entry("ccd_id").is_empty
    graded = ss.narrowed("grade", "0:2").narrowed("energy", "500:7000", unit="eV")
    for k in range(1, 5):
        assert graded.entry("grade", k).value == "0:0,2:2"
        assert graded.entry("energy", k).value == "500:7000"
    out = fits.Header()
    graded.write(out)
    n = next(i for i in range(1, 9) if out.get(f"DSTYP{i}") == "energy")
    assert out[f"DSUNIT{n}"] == "eV" and f"2DSUNIT{n}" not in out
    assert [out[f"{k}DSVAL{n}"] for k in (2, 3, 4)] == ["500:7000"] * 3
    assert Subspace.from_header(out) == graded


def test_ccd_filter_keeps_one_component_in_the_product(tmp_path: Path) -> None:
    out = tmp_path / "s3.fits"
    copy(f"{TIME_FILE}[ccd_id=7]", out)
    header = fits.getheader(out, 1)
    ss = Subspace.from_header(header)
    assert len(ss.components) == 1
    assert "2DSREF1" not in header and header["DSREF1"] == ":GTI7"
    out2 = tmp_path / "s36.fits"
    copy(f"{TIME_FILE}[ccd_id=6:7]", out2)
    ss2 = Subspace.from_header(fits.getheader(out2, 1))
    assert sorted(int(ss2.entry("ccd_id", k).ranges[0][0]) for k in (1, 2)) == [6, 7]


def test_bin_ccd_id_default_range_is_the_union_of_components() -> None:
    header = fits.getheader(TIME_FILE, 1)
    chips = _chips_in_header(header)
    image = read(f"{TIME_FILE}[bin ccd_id]")
    lo, hi = min(chips), max(chips)
    assert image.data.shape == (hi - lo + 1,)  # 3..8, not TLMIN/TLMAX 0..9
    assert image.header["CRVAL1P"] == lo - 0.5
    ccd = fits.getdata(TIME_FILE, 1)["ccd_id"]
    assert np.array_equal(image.data, np.bincount(ccd - lo, minlength=hi - lo + 1))
    one = read(f"{TIME_FILE}[ccd_id=7][bin ccd_id]")
    assert one.data.shape == (1,) and one.header["CRVAL1P"] == 6.5


def test_synthetic_file_components_and_bins(synthetic_events: Path) -> None:
    header = fits.getheader(synthetic_events, 1)
    chips = _chips_in_header(header)
    ss = Subspace.from_header(header)
    assert len(ss.components) == len(chips)
    assert [
        ss.entry("ccd_id", k).ranges[0][0] for k in range(1, len(chips) + 1)
    ] == chips
    ccd = fits.getdata(synthetic_events, 1)["ccd_id"]
    image = read(f"{synthetic_events}[bin ccd_id]")
    n = max(chips) - min(chips) + 1
    assert image.data.shape == (n,) and image.header["CRVAL1P"] == min(chips) - 0.5
    assert np.array_equal(image.data, np.bincount(ccd - min(chips), minlength=n))
    part = read(f"{synthetic_events}[ccd_id=1:3][bin ccd_id]")
    assert part.data.shape == (3,)
    assert np.array_equal(part.data, np.bincount(ccd, minlength=10)[1:4])


# ---------------------------------------------------------------- chips of GTI blocks


def _renamed_gti_file(src: Path, dst: Path) -> dict[int, np.ndarray]:
    """A copy of ``src`` whose GTI blocks have no CCD_ID and names that are not
    ``GTIn``: only the DSREF of each component says which chip a block is for.
    Each chip gets its own 20 ks window so per-chip results differ."""
    wanted: dict[int, np.ndarray] = {}
    with fits.open(src) as hdul:
        hdus = [hdul[0].copy(), hdul[1].copy()]
        events = hdus[1].header
        tstart = float(events["TSTART"])
        names: dict[int, str] = {}
        for i, hdu in enumerate(hdul[2:]):
            chip = int(hdu.header["CCD_ID"])
            name = f"STDGTI_{'ABCDE'[i]}"
            names[chip] = name
            rows = np.array([[tstart + 5000.0 * i, tstart + 5000.0 * i + 20000.0]])
            wanted[chip] = rows
            table = fits.BinTableHDU.from_columns(
                [
                    fits.Column(name="START", format="1D", unit="s", array=rows[:, 0]),
                    fits.Column(name="STOP", format="1D", unit="s", array=rows[:, 1]),
                ]
            )
            table.header["EXTNAME"] = name
            table.header["HDUNAME"] = name
            table.header["HDUCLAS1"] = "GTI"
            hdus.append(table)
        for k, chip in enumerate(_chips_in_header(events), start=1):
            events[f"{'' if k == 1 else k}DSREF1"] = f":{names[chip]}"
    fits.HDUList(hdus).writeto(dst)
    return wanted


def test_dsref_maps_chips_to_gti_blocks_for_exposure(
    tmp_path: Path, synthetic_events: Path
) -> None:
    mod = tmp_path / "renamed.fits"
    windows = _renamed_gti_file(synthetic_events, mod)
    header = fits.getheader(mod, 1)
    t0 = float(header["TSTART"]) + 7000.0
    t1 = t0 + 15000.0
    out = tmp_path / "cut.fits"
    copy(f"{mod}[time={t0!r}:{t1!r}]", out)
    got = fits.getheader(out, 1)
    dtcor = float(header["DTCOR"])
    for chip, rows in windows.items():
        clipped = np.clip(rows, t0, t1)
        ontime = float(np.sum(clipped[:, 1] - clipped[:, 0]))
        assert got[f"ONTIME{chip}"] == pytest.approx(ontime, abs=1e-6)
        assert got[f"LIVTIME{chip}"] == pytest.approx(ontime * dtcor, abs=1e-6)


def test_dsref_maps_chips_for_a_gti_file_reference(
    tmp_path: Path, synthetic_events: Path
) -> None:
    mod = tmp_path / "renamed.fits"
    windows = _renamed_gti_file(synthetic_events, mod)
    d = fits.getdata(synthetic_events, 1)
    keep = np.zeros(len(d), dtype=bool)
    for chip, rows in windows.items():
        on = d["ccd_id"] == chip
        for a, b in rows:
            keep |= on & (d["time"] >= a) & (d["time"] < b)
    mine = select(f"{synthetic_events}[@{mod}]")
    assert 0 < keep.sum() < len(d)
    assert np.array_equal(mine, keep)
