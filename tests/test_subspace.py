"""Data subspace keywords: real CIAO keys read, round-tripped and narrowed.

Oracles: the DSS keys of tests/data/events/chandra_test.fits (written by CIAO),
and brute-force membership on a fine grid for range-list intersection.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.io.subspace import Subspace, SubspaceEntry, format_ranges, parse_ranges
from xdm.lang import nodes

CHANDRA = Path(__file__).parent / "data" / "events" / "chandra_test.fits"


@pytest.fixture(scope="module")
def events_header() -> fits.Header:
    with fits.open(CHANDRA) as hdul:
        return hdul[1].header.copy()


def _ds_cards(header: fits.Header) -> dict[str, str]:
    return {k: header[k] for k in header if "DS" in k[:3] and k != "DS_IDENT"}


def test_reads_the_real_ciao_keys(events_header: fits.Header) -> None:
    ss = Subspace.from_header(events_header)
    assert len(ss.components) == 1
    assert ss.columns == ("time", "ccd_id", "grade", "phas")
    assert ss.entry("TIME") == SubspaceEntry(
        column="time", value="TABLE", ref=":GTI7", unit="s", form="D"
    )
    assert ss.entry("grade").ranges == ((0, 0), (2, 2), (3, 3), (4, 4), (6, 6))
    assert ss.range_of("ccd_id") == (7.0, 7.0)
    assert ss.range_of("phas") == (-4096.0, 4095.0)
    assert ss.range_of("time") is None  # held in the GTI block
    assert ss.range_of("energy") is None


def test_round_trip_writes_the_same_keys(events_header: fits.Header) -> None:
    original = _ds_cards(events_header)
    header = events_header.copy()
    Subspace.from_header(header).write(header)
    assert _ds_cards(header) == original
    fresh = fits.Header()
    Subspace.from_header(events_header).write(fresh)
    assert _ds_cards(fresh) == original
    assert Subspace.from_header(fresh) == Subspace.from_header(events_header)
    assert header["DS_IDENT"] == events_header["DS_IDENT"]  # not a DSS key


def test_narrow_an_existing_integer_list(events_header: fits.Header) -> None:
    ss = Subspace.from_header(events_header).narrowed("GRADE", "2:4")
    assert ss.entry("grade").value == "2:2,3:3,4:4"
    assert ss.entry("grade").form == "I"


def test_narrow_energy_twice_and_write(events_header: fits.Header) -> None:
    ss = Subspace.from_header(events_header)
    ss = ss.narrowed("energy", "500:7000", unit="eV", form="E")
    ss = ss.narrowed("energy", [(300.0, 2000.0)])
    entry = ss.entry("energy")
    assert (entry.value, entry.unit, entry.form) == ("500:2000", "eV", "E")
    assert ss.range_of("energy") == (500.0, 2000.0)
    header = events_header.copy()
    ss.write(header)
    assert (header["DSTYP5"], header["DSVAL5"], header["DSUNIT5"]) == (
        "energy",
        "500:2000",
        "eV",
    )
    assert header["DSREF1"] == ":GTI7"


def test_narrow_with_ast_ranges_open_and_single() -> None:
    ranges = (
        nodes.Range(lo=nodes.Number(text="100"), hi=None),
        nodes.Range(
            lo=nodes.Number(text="7"), hi=nodes.Number(text="7"), is_single=True
        ),
    )
    ss = Subspace().narrowed("pi", ranges, form="J")
    assert ss.entry("pi").value == "7:7,100:"
    assert ss.range_of("pi") == (7.0, None)
    assert ss.narrowed("pi", ":50").entry("pi").value == "7:7"


def _grid_members(ranges: tuple, integer: bool, grid: np.ndarray) -> np.ndarray:
    inside = np.zeros(grid.shape, dtype=bool)
    for lo, hi in ranges:
        lo = -np.inf if lo is None else lo
        hi = np.inf if hi is None else hi
        if integer or lo == hi:
            inside |= (grid >= lo) & (grid <= hi)
        else:
            inside |= (grid >= lo) & (grid < hi)
    return inside


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("integer", [True, False])
def test_intersection_matches_membership(seed: int, integer: bool) -> None:
    rng = np.random.default_rng(seed)

    def random_list() -> str:
        items = []
        for _ in range(rng.integers(1, 5)):
            lo, hi = sorted(rng.integers(0, 30, size=2))
            if rng.random() < 0.2:
                items.append(str(lo))
            elif rng.random() < 0.1:
                items.append(f"{lo}:")
            else:
                items.append(f"{lo}:{hi}")
        return ",".join(items)

    a, b = random_list(), random_list()
    form = "I" if integer else "D"
    got = Subspace().narrowed("c", a, form=form).narrowed("c", b).entry("c").ranges
    grid = np.arange(-2, 40, 0.25)
    expected = _grid_members(parse_ranges(a), integer, grid) & _grid_members(
        parse_ranges(b), integer, grid
    )
    assert np.array_equal(_grid_members(got or (), integer, grid), expected), (
        a,
        b,
        got,
    )


def test_region_ref_remove_and_components() -> None:
    header = fits.Header()
    header["DSTYP1"] = "time"
    header["DSVAL1"] = "TABLE"
    header["DSREF1"] = ":GTI7"
    header["DSTYP2"] = "ccd_id"
    header["DSVAL2"] = "7:7"
    header["2DSTYP1"] = "time"
    header["2DSVAL1"] = "TABLE"
    header["2DSREF1"] = ":GTI6"
    header["2DSTYP2"] = "ccd_id"
    header["2DSVAL2"] = "6:6"
    ss = Subspace.from_header(header)
    assert [e.ref for e in (ss.entry("time", 1), ss.entry("time", 2))] == [
        ":GTI7",
        ":GTI6",
    ]
    assert ss.range_of("ccd_id") == (6.0, 7.0)

    ss = ss.with_region("sky", "circle(4096,4096,20)+box(10,10,4,4)")
    ss = ss.with_region("sky", "circle(4100,4100,5)")
    assert ss.entry("sky", 2).value == (
        "circle(4096,4096,20)*circle(4100,4100,5)+box(10,10,4,4)*circle(4100,4100,5)"
    )
    assert ss.range_of("sky") is None
    ss = ss.with_ref("time", ":GTI3", component=2)
    assert ss.entry("time", 1).ref == ":GTI7" and ss.entry("time", 2).ref == ":GTI3"

    out = fits.Header()
    ss.removed(["TIME"]).write(out)
    assert "DSTYP3" not in out and out["DSTYP1"] == "ccd_id"
    assert out["2DSVAL2"].startswith("circle(4096")
    assert not any(out[k] == "time" for k in out)
    assert Subspace.from_header(out) == ss.removed(["time"])


def test_time_table_entry_is_not_narrowed_by_ranges(events_header: fits.Header) -> None:
    ss = Subspace.from_header(events_header).narrowed("time", "0:1")
    assert ss.entry("time").value == "TABLE" and ss.entry("time").ref == ":GTI7"


def test_format_and_parse_ranges() -> None:
    assert format_ranges(((0.5, 8192.5), (None, 3.0), (1e20, None))) == (
        "0.5:8192.5,:3,1e+20:"
    )
    assert parse_ranges("-4096:4095") == ((-4096.0, 4095.0),)
    with pytest.raises(ValueError):
        parse_ranges("circle(1,2,3)")
