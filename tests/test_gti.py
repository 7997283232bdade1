"""GTI algebra against brute-force membership, and GTI files against real data.

Oracle for the algebra: interval end points on an integer grid, so membership of
every cell centre ``k + 0.5`` decides sets and lengths exactly. Oracle for the
files: the START/STOP rows read directly with astropy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm import switches
from xdm.errors import XdmIOError, XdmSemanticError
from xdm.io import gti, intervals, timefilter
from xdm.lang import nodes

DATA = Path(__file__).parent / "data" / "events"
CHANDRA = DATA / "chandra_test.fits"
XTE = DATA / "xte_test.evt.gz"
GRID = np.arange(0, 100) + 0.5  # cell centres of [0, 100)


def _random_intervals(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unsorted, overlapping, possibly empty integer intervals in [0, 100]."""
    a = rng.integers(0, 101, size=(n, 2))
    return np.sort(a, axis=1).astype(float)


def _members(rows: np.ndarray) -> np.ndarray:
    """Which grid cells lie in the union of the (raw) intervals."""
    g = np.asarray(rows).reshape(-1, 2)
    return ((GRID[:, None] >= g[:, 0]) & (GRID[:, None] < g[:, 1])).any(axis=1)


def _check_normal(g: np.ndarray) -> None:
    assert g.ndim == 2 and g.shape[1] == 2
    assert np.all(g[:, 1] > g[:, 0])
    assert np.all(g[1:, 0] > g[:-1, 1])  # sorted, disjoint, not touching


@pytest.mark.parametrize("seed", range(40))
def test_algebra_matches_brute_force_membership(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = _random_intervals(rng, rng.integers(0, 8))
    b = _random_intervals(rng, rng.integers(0, 8))
    ma, mb = _members(a), _members(b)
    cases = {
        "normalise": (intervals.normalise(a), ma),
        "intersect": (intervals.intersect(a, b), ma & mb),
        "union": (intervals.union(a, b), ma | mb),
        "subtract": (intervals.subtract(a, b), ma & ~mb),
    }
    for name, (result, expected) in cases.items():
        _check_normal(result)
        assert np.array_equal(_members(result), expected), name
        assert intervals.total(result) == expected.sum(), name
    assert intervals.total(a) == ma.sum()


@pytest.mark.parametrize("seed", range(20))
def test_overlap_per_bin_matches_cell_count(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    g = _random_intervals(rng, 6)
    edges = np.sort(rng.integers(0, 101, size=12))
    lo, hi = edges[:-1].astype(float), edges[1:].astype(float)
    inside = _members(g)
    expected = [inside[(a <= GRID) & (b > GRID)].sum() for a, b in zip(lo, hi)]
    assert intervals.overlap(g, lo, hi).tolist() == expected


def test_overlap_with_open_ended_interval_stays_finite() -> None:
    got = intervals.overlap([[-np.inf, 5.0]], [0.0, 4.0, 6.0], [2.0, 8.0, 9.0])
    assert got.tolist() == [2.0, 1.0, 0.0]


def test_half_open_intervals_touching_merge() -> None:
    assert intervals.normalise([[0, 1], [1, 2]]).tolist() == [[0.0, 2.0]]
    assert intervals.intersect([[0, 1]], [[1, 2]]).shape == (0, 2)


def test_intervals_for_chip_rule() -> None:
    keep = {7: np.array([[0.0, 1.0]]), 3: np.array([[5.0, 6.0]])}
    assert intervals.intervals_for(keep, 7).tolist() == [[0.0, 1.0]]
    assert intervals.intervals_for(keep, 2).shape == (0, 2)  # no block for chip 2
    assert intervals.intervals_for(keep, None).tolist() == [[0.0, 1.0], [5.0, 6.0]]
    everyone = {None: np.array([[2.0, 3.0]])}
    assert intervals.intervals_for(everyone, 5).tolist() == [[2.0, 3.0]]


# ---------------------------------------------------------------- real files


def _raw(path: Path, index: int) -> np.ndarray:
    with fits.open(path) as hdul:
        data = hdul[index].data
        return np.column_stack(
            (data.field(0).astype(float), data.field(1).astype(float))
        )


def test_read_chandra_gti_keyed_by_ccd() -> None:
    keep = timefilter.read_time_filter(nodes.VirtualFile(path=CHANDRA.name), str(DATA))
    assert list(keep) == [7]
    assert np.array_equal(keep[7], _raw(CHANDRA, 2))


@pytest.mark.parametrize(
    "qualifier",
    [
        nodes.BlockRef(name="GTI7"),
        nodes.BlockRef(name="gti7"),
        nodes.BlockRef(number=3),
        nodes.FilterQualifier(
            expr=nodes.RangeFilter(
                column=nodes.ColumnName(name="ccd_id"),
                ranges=(
                    nodes.Range(
                        lo=nodes.Number(text="7"),
                        hi=nodes.Number(text="7"),
                        is_single=True,
                    ),
                ),
            )
        ),
    ],
)
def test_nested_selection_of_one_block_applies_to_all(
    qualifier: nodes.Qualifier,
) -> None:
    vf = nodes.VirtualFile(path=str(CHANDRA), qualifiers=(qualifier,))
    keep = timefilter.read_time_filter(vf, None)
    assert list(keep) == [None]
    assert np.array_equal(keep[None], _raw(CHANDRA, 2))


def test_nested_time_and_row_filters() -> None:
    start, stop = _raw(CHANDRA, 2)[0]
    mid = float((start + stop) / 2)
    time = nodes.FilterQualifier(
        expr=nodes.RangeFilter(
            column=nodes.ColumnName(name="time"),
            ranges=(nodes.Range(lo=nodes.Number(text=repr(mid)), hi=None),),
        )
    )
    vf = nodes.VirtualFile(path=str(CHANDRA), qualifiers=(time,))
    assert timefilter.read_time_filter(vf)[7].tolist() == [[mid, stop]]

    none = nodes.FilterQualifier(
        expr=nodes.RowFilter(
            ranges=(
                nodes.Range(
                    lo=nodes.Number(text="2"), hi=nodes.Number(text="2"), is_single=True
                ),
            )
        )
    )
    vf = nodes.VirtualFile(path=str(CHANDRA), qualifiers=(none,))
    assert timefilter.read_time_filter(vf)[7].shape == (0, 2)


def test_xte_two_plain_blocks_intersect_mixed_case_columns() -> None:
    keep = timefilter.read_time_filter(nodes.VirtualFile(path=str(XTE)))
    first, second = _raw(XTE, 2), _raw(XTE, 3)
    assert list(keep) == [None]
    assert np.array_equal(keep[None], intervals.intersect(first, second))
    assert keep[None].tolist() == [[442845936.0, 442847162.0]]
    only_second = timefilter.read_time_filter(
        nodes.VirtualFile(path=str(XTE), qualifiers=(nodes.BlockRef(number=4),))
    )
    assert np.array_equal(only_second[None], second)


def test_bad_references_raise_xdm_errors(tmp_path: Path) -> None:
    with pytest.raises(XdmIOError):
        timefilter.read_time_filter(
            nodes.VirtualFile(path="missing.gti"), str(tmp_path)
        )
    text = tmp_path / "filter.lis"
    text.write_text("energy=300:2000\n")
    with pytest.raises(XdmIOError):
        timefilter.read_time_filter(nodes.VirtualFile(path="filter.lis"), str(tmp_path))
    with pytest.raises(XdmIOError):
        timefilter.read_time_filter(
            nodes.VirtualFile(
                path=str(CHANDRA), qualifiers=(nodes.BlockRef(name="GTI3"),)
            )
        )
    energy = nodes.FilterQualifier(
        expr=nodes.RangeFilter(
            column=nodes.ColumnName(name="energy"),
            ranges=(nodes.Range(lo=nodes.Number(text="300"), hi=None),),
        )
    )
    with pytest.raises(XdmSemanticError):
        timefilter.read_time_filter(
            nodes.VirtualFile(path=str(CHANDRA), qualifiers=(energy,))
        )
    events_only = tmp_path / "noGTI.fits"
    with fits.open(CHANDRA) as hdul:
        fits.HDUList([hdul[0].copy(), hdul[1].copy()]).writeto(events_only)
    with pytest.raises(XdmSemanticError):
        timefilter.read_time_filter(nodes.VirtualFile(path=str(events_only)))


def test_dollar_variables_expand(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shutil.copy(CHANDRA, tmp_path / "evt.fits")
    monkeypatch.setenv("XDM_TEST_DIR", str(tmp_path))
    keep = timefilter.read_time_filter(nodes.VirtualFile(path="$XDM_TEST_DIR/evt.fits"))
    assert list(keep) == [7]


# ---------------------------------------------------------------- product updates


def test_update_gti_blocks_and_exposure_keys_on_chandra(tmp_path: Path) -> None:
    with fits.open(CHANDRA) as hdul:
        events = hdul[1].copy()
        blocks = [hdul[1].copy(), hdul[2].copy()]
    (start, stop) = _raw(CHANDRA, 2)[0]
    cut = np.array([[start - 100.0, start + 300.0], [stop - 50.0, stop + 1e4]])
    new = gti.update_gti_blocks(blocks, {None: cut})
    assert new[0] is blocks[0]  # the events block passes through
    out = new[1]
    expected = [[start, start + 300.0], [stop - 50.0, stop]]
    assert np.array_equal(_rows(out), expected)
    assert out.header["CCD_ID"] == 7 and out.header["HDUNAME"] == "GTI7"
    assert out.columns.names == ["START", "STOP"] and out.columns["START"].unit == "s"
    assert out.header["ONTIME"] == pytest.approx(350.0)

    header = events.header
    dtcor = header["DTCOR"]
    gti.update_exposure_keys(header, new)
    assert header["ONTIME7"] == pytest.approx(350.0)
    assert header["ONTIME"] == pytest.approx(350.0)  # chip 7 was the aim chip
    assert header["LIVTIME7"] == pytest.approx(350.0 * dtcor)
    assert header["LIVETIME"] == pytest.approx(350.0 * dtcor)
    assert header["EXPOSURE"] == header["LIVETIME"] == header["EXPOSUR7"]
    assert header["DTCOR"] == dtcor
    assert header["TSTART"] == pytest.approx(339468247.43077)  # unchanged by default

    # the rewritten blocks survive a write/read round trip
    path = tmp_path / "out.fits"
    fits.HDUList(
        [fits.PrimaryHDU(), fits.BinTableHDU(events.data, header), out]
    ).writeto(path)
    assert (
        timefilter.read_time_filter(nodes.VirtualFile(path=str(path)))[7].tolist()
        == expected
    )


def _rows(hdu: fits.BinTableHDU) -> list[list[float]]:
    return np.column_stack((hdu.data.field(0), hdu.data.field(1))).tolist()


def test_time_open_range_refreshes_livetime_after_dtcor_edit() -> None:
    """``[time=:]``: the GTI is the truth; LIVETIME follows an edited DTCOR."""
    with fits.open(CHANDRA) as hdul:
        header = hdul[1].header.copy()
        block = hdul[2].copy()
    header["DTCOR"] = 0.5
    gti.refresh_exposure(header, [block])
    ontime = float(np.diff(_raw(CHANDRA, 2)[0])[0])  # this GTI was hand-edited to 946 s
    assert header["ONTIME"] == pytest.approx(ontime)
    assert header["LIVETIME"] == pytest.approx(ontime * 0.5)
    assert header["EXPOSURE"] == pytest.approx(ontime * 0.5)


def test_per_chip_keys_and_aim_chip() -> None:
    header = fits.Header({"DTCOR": 0.9, "ONTIME": 10.0, "ONTIME3": 10.0})
    blocks = [
        _gti_block([[0, 10], [20, 25]], ccd=3),
        _gti_block([[0, 40]], ccd=6),
    ]
    kept = gti.update_gti_blocks(blocks, {3: np.array([[0.0, 100.0]]), None: [[0, 5]]})
    assert _rows(kept[0]) == [[0, 10], [20, 25]] and _rows(kept[1]) == [[0, 5]]
    gti.update_exposure_keys(header, kept)
    assert (header["ONTIME3"], header["ONTIME6"]) == (15.0, 5.0)
    assert header["ONTIME"] == 15.0  # ONTIME matched ONTIME3 before
    assert header["EXPOSUR6"] == pytest.approx(4.5)
    with switches.using(update_tstart_tstop=True):
        gti.update_exposure_keys(header, kept, aim_ccd=6)
    assert header["ONTIME"] == 5.0
    assert (header["TSTART"], header["TSTOP"]) == (0.0, 25.0)


def _gti_block(rows: list[list[float]], ccd: int | None) -> fits.BinTableHDU:
    a = np.asarray(rows, dtype=float)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="START", format="D", unit="s", array=a[:, 0]),
            fits.Column(name="STOP", format="D", unit="s", array=a[:, 1]),
        ]
    )
    hdu.header["EXTNAME"] = "GTI"
    hdu.header["HDUCLAS1"] = "GTI"
    if ccd is not None:
        hdu.header["CCD_ID"] = ccd
    return hdu


def test_xte_blocks_keep_their_column_names() -> None:
    with fits.open(XTE) as hdul:
        blocks = [hdul[2].copy(), hdul[3].copy()]
        header = hdul[1].header.copy()
    new = gti.update_gti_blocks(blocks, {None: [[442846000.0, 442847000.0]]})
    assert [b.columns.names for b in new] == [["Start", "Stop"]] * 2
    assert all(_rows(b) == [[442846000.0, 442847000.0]] for b in new)
    gti.update_exposure_keys(header, new)
    assert header["ONTIME"] == 1000.0 and header["EXPOSURE"] == 1000.0  # no DTCOR


def test_looks_like_fits_tells_gti_files_from_text(tmp_path: Path) -> None:
    (tmp_path / "f.lis").write_text("energy=300:2000\n")
    assert timefilter.looks_like_fits(str(CHANDRA))
    assert timefilter.looks_like_fits(XTE.name, str(DATA))  # gzipped
    assert not timefilter.looks_like_fits("f.lis", str(tmp_path))
    assert not timefilter.looks_like_fits("absent.fits", str(tmp_path))


def test_intervals_from_filter_open_ends() -> None:
    expr = nodes.RangeFilter(
        column=nodes.ColumnName(name="time"),
        ranges=(
            nodes.Range(lo=None, hi=nodes.Number(text="10")),
            nodes.Range(lo=nodes.Number(text="20"), hi=nodes.Number(text="30")),
        ),
    )
    assert timefilter.intervals_from_filter(expr).tolist() == [
        [-np.inf, 10.0],
        [20.0, 30.0],
    ]


def test_aim_chip_is_read_before_the_keys_change() -> None:
    """Pipeline ONTIME = ONTIME6 (not an AIM_CCDS chip); chip 6 stays the aim chip
    even when chip 2's new ONTIME happens to equal the old ONTIME."""
    header = fits.Header(
        {"DTCOR": 1.0, "ONTIME": 40.0, "ONTIME2": 50.0, "ONTIME6": 40.0}
    )
    blocks = [_gti_block([[0, 50]], ccd=2), _gti_block([[0, 40]], ccd=6)]
    kept = gti.update_gti_blocks(blocks, {2: [[0, 40]], 6: [[0, 25]]})
    gti.update_exposure_keys(header, kept)
    assert (header["ONTIME2"], header["ONTIME6"]) == (40.0, 25.0)
    assert header["ONTIME"] == 25.0

    # all chips equal (one GTI for all): the tie goes to ACIS-S3 (chip 7)
    header = fits.Header({"ONTIME": 50.0, "ONTIME5": 50.0, "ONTIME7": 50.0})
    blocks = [_gti_block([[0, 50]], ccd=5), _gti_block([[0, 50]], ccd=7)]
    gti.update_exposure_keys(
        header, gti.update_gti_blocks(blocks, {7: [[0, 20]], 5: [[0, 50]]})
    )
    assert header["ONTIME"] == 20.0 and header["ONTIME5"] == 50.0
