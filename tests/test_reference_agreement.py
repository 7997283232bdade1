"""The engine agrees with the plain-numpy reference evaluator (tests/reference.py).

Cases: tests/cases/engine_agreement.txt (read by tests/casefiles.py), over the seeded synthetic evt2 file and
the real event files. For every case the engine's row mask (``xdm.api.select``)
must equal the reference mask, and ``xdm.read`` must give the same image (bins
from ``np.histogramdd`` over the spec's edges) or the same rows and columns.
Hypothesis adds properties: bracket order and splitting do not change the rows,
and an image's sum is the number of filtered events inside its grid.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import casefiles
import numpy as np
import pytest
import reference as ref
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xdm
from xdm import demo

HERE = Path(__file__).parent
REAL = {
    "chandra_test": HERE / "data" / "events" / "chandra_test.fits",
    "chandra_time": HERE / "data" / "events" / "chandra_time.fits",
    "xte": HERE / "data" / "events" / "xte_test.evt.gz",
}

# Cases (their text, e.g. "syn [energy=300:2000]") where the engine is known to
# disagree with the reference; the reason names who is right per the spec.
# Empty when everything agrees.
KNOWN: dict[str, str] = {}


def _fields(text: str) -> tuple[str, str, bool]:
    """``FILE SUFFIX`` (``!`` in front: both must fail) -> (file, suffix, fails)."""
    key, suffix = text.lstrip("!").split(None, 1)
    return key, suffix, text.startswith("!")


ENGINE_CASES = casefiles.ENGINE.cases()
ALL_CASES = [_fields(case.text) for case in ENGINE_CASES]


def _params():
    for case in ENGINE_CASES:
        reason = KNOWN.get(case.text)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield case.param(_fields(case.text), marks=marks)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def aux_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GTI files, a text filter and a region file the cases refer to as {aux}."""
    d = tmp_path_factory.mktemp("aux")
    t0 = demo.TSTART

    def gti_hdu(rows, ccd=None):
        rows = np.asarray(rows, dtype=float)
        hdu = fits.BinTableHDU.from_columns(
            [
                fits.Column(name="START", format="1D", unit="s", array=rows[:, 0]),
                fits.Column(name="STOP", format="1D", unit="s", array=rows[:, 1]),
            ],
            name="GTI",
        )
        if ccd is not None:
            hdu.header["CCD_ID"] = ccd
            hdu.header["HDUNAME"] = f"GTI{ccd}"
        return hdu

    flare = [[t0, t0 + demo.FLARE[0]], [t0 + demo.FLARE[1], t0 + demo.DURATION]]
    fits.HDUList([fits.PrimaryHDU(), gti_hdu(flare)]).writeto(d / "flare.gti")
    chips = [
        gti_hdu([[t0 + 1000 * (k + 1), t0 + 30_000 + 1000 * k]], ccd)
        for k, ccd in enumerate(demo.CHIPS)
    ]
    fits.HDUList([fits.PrimaryHDU(), *chips]).writeto(d / "chips.gti")
    ct = [[339469200.0, 339469600.0], [339469800.0, 339470000.0]]
    fits.HDUList([fits.PrimaryHDU(), gti_hdu(ct)]).writeto(d / "ct.gti")
    (d / "filter.lis").write_text("energy=500:7000\ngrade=0,2,3,4,6\n")
    (d / "src.reg").write_text(
        "# Region file format: CIAO version 1.0\n"
        "circle(4110.3,4085.7,60)\n"
        "-circle(4110.3,4085.7,10)\n"
    )
    return d


@pytest.fixture(scope="session")
def engine():
    """The engine's API; these comparisons run as soon as xdm.api exists."""
    if importlib.util.find_spec("xdm.api") is None:
        pytest.skip("engine (xdm.api) not landed yet")
    import xdm.api

    return xdm.api


def _text(case: tuple[str, str, bool], synthetic: Path, aux: Path) -> str:
    key, suffix, _ = case
    path = synthetic if key == "syn" else REAL[key]
    return f"{path}{suffix.replace('{aux}', str(aux))}"


# ---------------------------------------------------------------- comparisons


def _compare_table(got, want: ref.Reference, vf) -> None:
    cols = ref.Columns(ref.open_block(vf))
    names = [str(c).lower() for c in got.colnames]
    assert names == [out.lower() for out, _ in want.columns]
    assert len(got) == int(want.mask.sum())
    for (out, src), name in zip(want.columns, got.colnames):
        expected = np.asarray(cols.data[cols.name(src)])[want.mask]
        actual = np.asarray(got[name])
        if cols.is_bits(src) and actual.shape != expected.shape:
            # packed bytes (rows, ceil(nbits/8)), first bit in the file first
            actual = np.unpackbits(actual.astype(np.uint8), axis=1)[
                :, : cols.width(src)
            ]
            actual = actual.astype(bool)
        np.testing.assert_array_equal(actual, expected, err_msg=out)


def _compare_image(got, want: ref.Reference, weighted: bool) -> None:
    data = np.asarray(got.data)
    assert data.shape == want.image.shape, (data.shape, want.image.shape)
    if weighted:
        np.testing.assert_allclose(data, want.image, rtol=1e-5, atol=1e-3)
    else:
        np.testing.assert_array_equal(
            data.astype(np.int64), want.image.astype(np.int64)
        )
    header = getattr(got, "header", None)
    if header is not None:
        for i, edges in enumerate(want.edges, start=1):
            if f"CRVAL{i}P" in header:
                assert header[f"CRVAL{i}P"] == pytest.approx(edges[0], abs=1e-6)
                step = edges[1] - edges[0]
                assert header[f"CDELT{i}P"] == pytest.approx(step, rel=1e-9)


@pytest.mark.parametrize("case", list(_params()))
def test_engine_agrees_with_reference(
    case, engine, synthetic_events: Path, aux_dir: Path
) -> None:
    text = _text(case, synthetic_events, aux_dir)
    vf = xdm.parse(text)
    if case[2]:
        with pytest.raises((KeyError, StopIteration, ValueError)):
            ref.evaluate(vf)
        with pytest.raises(xdm.XdmError):
            xdm.read(text)
        return
    want = ref.evaluate(vf)
    mask = np.asarray(engine.select(text))
    assert mask.dtype == bool and mask.shape == want.mask.shape
    diff = np.flatnonzero(mask != want.mask)
    assert diff.size == 0, f"{diff.size} rows differ, first rows {diff[:5] + 1}"
    got = xdm.read(text)
    if want.image is not None:
        _compare_image(got, want, weighted=vf.bin.weight is not None)
    else:
        _compare_table(got, want, vf)


def test_case_table_is_broad() -> None:
    suffixes = [s for _, s, _ in ALL_CASES]
    assert len(ALL_CASES) >= 100
    for needle in (
        "[bin",
        "#row",
        "@",
        "status=",
        "exclude",
        "cols",
        "#",
        ";",
        "::0.25",
    ):
        assert any(needle in s for s in suffixes), needle
    for shape in ("circle", "annulus", "box", "polygon", "pie", ")-"):
        assert any(shape in s for s in suffixes), shape
    assert {k for k, _, _ in ALL_CASES} == {"syn", *REAL}


# ---------------------------------------------------------------- the reference by hand


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Six events whose answers are worked out by hand below."""
    cols = [
        fits.Column(name="x", format="1E", array=[1.0, 1.5, 2.0, 2.5, 3.0, 3.5]),
        fits.Column(name="y", format="1E", array=[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]),
        fits.Column(name="pi", format="1J", array=[1, 2, 3, 4, 5, 6]),
        fits.Column(
            name="status",
            format="8X",
            array=np.array(
                [
                    [0] * 8,
                    [0] * 7 + [1],
                    [1] + [0] * 7,
                    [0] * 8,
                    [0] * 6 + [1, 0],
                    [0] * 8,
                ],
                dtype=bool,
            ),
        ),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    hdu.header.update(
        TLMIN1=0.5, TLMAX1=4.5, TLMIN2=0.5, TLMAX2=4.5, TLMIN3=1, TLMAX3=8
    )
    hdu.header.update(MTYPE1="sky", MFORM1="x,y")
    path = tmp_path_factory.mktemp("tiny") / "tiny.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return str(path)


@pytest.mark.parametrize(
    ("suffix", "rows"),
    [
        ("[x=1.5:2.5]", [2, 3]),  # real: upper bound excluded
        ("[x=1.5]", [2]),
        ("[pi=2:4]", [2, 3, 4]),  # integer: both ends included
        ("[pi=2:4,6]", [2, 3, 4, 6]),
        ("[exclude pi=2:4]", [1, 5, 6]),
        ("[status=0]", [1, 4, 6]),
        ("[status=xxxxxxx1]", [2]),  # rightmost character is bit 0
        ("[status=1xxxxxxx]", [3]),
        ("[status=1x]", [5]),  # right-aligned short pattern: bit 1
        ("[#row=2:3,6]", [2, 3, 6]),
        ("[sky=circle(2,2,0.75)]", [3, 4]),
        ("[sky=box(2,2,2,2)-circle(2,2,0.1)]", [1, 2, 4, 5]),
        ("[pi>4][x<3.2]", [5]),
        ("[(pi=1)||(pi=6)]", [1, 6]),
        ("[(x,y)=polygon(0,0,3,0,3,3,0,3)]", [1, 2, 3, 4, 5]),  # (3,3): a corner
        ("[sky=polygon(0,0,4,0,4,4)]", [1, 2, 3, 4, 5, 6]),  # three on the edge y = x
        ("[sky=polygon(0,0,4,0,4,4)-circle(2,2,0.1)]", [1, 2, 4, 5, 6]),
    ],
)
def test_reference_masks_by_hand(tiny: str, suffix: str, rows: list[int]) -> None:
    mask = ref.evaluate(xdm.parse(tiny + suffix)).mask
    assert (np.flatnonzero(mask) + 1).tolist() == rows


@pytest.mark.parametrize(
    ("suffix", "edges", "image"),
    [
        ("[bin x=1:4:1]", [[1, 2, 3, 4]], [2, 2, 2]),
        ("[bin pi]", [np.arange(0.5, 9)], [1, 1, 1, 1, 1, 1, 0, 0]),
        ("[bin pi=1:6:2]", [[0.5, 2.5, 4.5, 6.5]], [2, 2, 2]),
        ("[x=1.2:2.2][bin x=::0.5]", [[0.5, 1.0, 1.5, 2.0, 2.5]], [0, 0, 1, 1]),
        ("[bin x=0.5:4.5:#2;pi]", [[0.5, 2.5, 4.5]], [1 + 2 + 3, 4 + 5 + 6]),
        (
            "[bin sky=1]",
            [np.arange(0.5, 5), np.arange(0.5, 5)],
            [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 0]],
        ),
        ("[bin x=1:3.5:1]", [[1, 2, 3, 4]], [2, 2, 2]),  # ceil(2.5) bins; 3.5 is inside
        (
            "[bin x=1:3.5:0.5]",
            [np.arange(1, 3.6, 0.5)],
            [1, 1, 1, 1, 1],
        ),  # 3.5 = top edge
    ],
)
def test_reference_bins_by_hand(tiny: str, suffix: str, edges, image) -> None:
    got = ref.evaluate(xdm.parse(tiny + suffix))
    for e, w in zip(got.edges, edges):
        np.testing.assert_allclose(e, w)
    np.testing.assert_array_equal(got.image, image)


def test_reference_columns_by_hand(tiny: str) -> None:
    def cols(s: str) -> list[tuple[str, str]]:
        return ref.evaluate(xdm.parse(tiny + s)).columns

    assert cols("[cols pi,sky]") == [("pi", "pi"), ("x", "x"), ("y", "y")]
    assert cols("[cols -sky]") == [("pi", "pi"), ("status", "status")]
    assert cols("[cols p=pi,*]")[:2] == [("p", "pi"), ("x", "x")]


# ---------------------------------------------------------------- properties


_CLAUSES = st.one_of(
    st.tuples(st.integers(100, 14_000), st.integers(50, 4000)).map(
        lambda t: f"energy={t[0]}:{t[0] + t[1]}"
    ),
    st.tuples(st.integers(1, 900), st.integers(0, 200)).map(
        lambda t: f"pi={t[0]}:{t[0] + t[1]}"
    ),
    st.lists(st.sampled_from([0, 1, 2, 3, 6]), min_size=1, max_size=3, unique=True).map(
        lambda v: "ccd_id=" + ",".join(map(str, sorted(v)))
    ),
    st.lists(st.integers(0, 7), min_size=1, max_size=4, unique=True).map(
        lambda v: "grade=" + ",".join(map(str, sorted(v)))
    ),
    st.tuples(
        st.floats(3900, 4300, allow_nan=False),
        st.floats(3900, 4300, allow_nan=False),
        st.floats(5, 300, allow_nan=False),
    ).map(lambda t: f"sky=circle({t[0]:.2f},{t[1]:.2f},{t[2]:.2f})"),
    st.just("status=0"),
    st.integers(0, 45_000).map(
        lambda t: f"time={demo.TSTART + t:.1f}:{demo.TSTART + t + 5000:.1f}"
    ),
)

_PROPERTY = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_PROPERTY
@given(a=_CLAUSES, b=_CLAUSES)
def test_bracket_order_and_splitting_keep_the_rows(
    engine, synthetic_events, a, b
) -> None:
    path = str(synthetic_events)
    want = ref.select(xdm.parse(f"{path}[{a}][{b}]"))
    for form in (f"[{a}][{b}]", f"[{b}][{a}]", f"[{a},{b}]"):
        np.testing.assert_array_equal(np.asarray(engine.select(path + form)), want)


@_PROPERTY
@given(
    a=_CLAUSES,
    lo=st.integers(3700, 4200),
    width=st.integers(20, 400),
    step=st.sampled_from(["0.25", "0.5", "1", "2", "8", "#37"]),
)
def test_image_sum_is_filtered_count_inside(
    engine, synthetic_events, a, lo, width, step
) -> None:
    grid = f"{lo}:{lo + width}:{step}"
    text = f"{synthetic_events}[{a}][bin x={grid},y={grid}]"
    mask = ref.select(xdm.parse(text))
    d = fits.getdata(synthetic_events, "EVENTS")
    x, y = d["x"].astype(float)[mask], d["y"].astype(float)[mask]
    hi = (
        lo + width
        if step.startswith("#")
        else lo + np.ceil(width / float(step)) * float(step)
    )
    inside = (x >= lo) & (x < hi) & (y >= lo) & (y < hi)
    image = np.asarray(xdm.read(text).data)
    assert int(image.sum(dtype=np.int64)) == int(inside.sum())


def test_reference_regions_match_the_regions_module(synthetic_events: Path) -> None:
    """The reference's own geometry equals xdm.region (itself proven against CIAO)."""
    d = fits.getdata(synthetic_events, "EVENTS")
    x, y = d["x"].astype(float), d["y"].astype(float)
    checked = 0
    for key, suffix, fails in ALL_CASES:
        if key != "syn" or fails or "sky=" not in suffix or "region(" in suffix:
            continue
        for q in xdm.parse(f"e.fits{suffix}").filters:
            expr = q.expr
            if isinstance(expr, xdm.lang.nodes.RegionFilter) and not ref.has_world(
                expr.region
            ):
                want = ref.region_mask(expr.region, x, y)
                got = np.asarray(xdm.region(expr.region).contains(x, y), dtype=bool)
                assert np.array_equal(got, want), suffix
                checked += 1
    assert checked >= 15


def _intersect(rows: np.ndarray, lo: float, hi: float) -> np.ndarray:
    out = [(max(a, lo), min(b, hi)) for a, b in rows if min(b, hi) > max(a, lo)]
    return np.array(out, dtype=float).reshape(-1, 2)


@pytest.mark.parametrize(
    "window",
    [(1_000.0, 30_000.0), (19_000.0, 21_000.0), (0.0, 60_000.0), (36_000.0, 36_500.0)],
)
def test_time_filter_rewrites_every_chip_gti(
    engine, synthetic_events, tmp_path, window
):
    """Section 4: each GTIn becomes GTIn AND [t1, t2); ONTIMEn, LIVTIMEn, EXPOSURn follow."""
    t1, t2 = demo.TSTART + window[0], demo.TSTART + window[1]
    out = tmp_path / "cut.fits"
    xdm.copy(f"{synthetic_events}[time={t1!r}:{t2!r}]", out, clobber=True)
    with fits.open(synthetic_events) as before, fits.open(out) as after:
        dtcor = before["EVENTS"].header["DTCOR"]
        header = after["EVENTS"].header
        gtis = {h.header["CCD_ID"]: h for h in after if h.name == "GTI"}
        assert sorted(gtis) == sorted(demo.CHIPS)
        for hdu in (h for h in before if h.name == "GTI"):
            chip = hdu.header["CCD_ID"]
            old = np.column_stack([hdu.data["START"], hdu.data["STOP"]])
            want = _intersect(old, t1, t2)
            got = np.column_stack([gtis[chip].data["START"], gtis[chip].data["STOP"]])
            np.testing.assert_allclose(got.reshape(-1, 2), want, rtol=0, atol=1e-6)
            ontime = float((want[:, 1] - want[:, 0]).sum())
            assert header[f"ONTIME{chip}"] == pytest.approx(ontime, abs=1e-6)
            assert header[f"LIVTIME{chip}"] == pytest.approx(ontime * dtcor, abs=1e-6)
            assert header[f"EXPOSUR{chip}"] == pytest.approx(ontime * dtcor, abs=1e-6)
        assert header["LIVETIME"] == pytest.approx(header["ONTIME"] * dtcor, abs=1e-6)
        t = after["EVENTS"].data["time"]
        assert len(t) == int(
            (
                (fits.getdata(synthetic_events)["time"] >= t1)
                & (fits.getdata(synthetic_events)["time"] < t2)
            ).sum()
        )


def test_per_chip_gti_file_rewrites_each_chip(
    engine, synthetic_events, aux_dir, tmp_path
):
    """A GTI file with one block per CCD_ID cuts each chip by its own block (3.10)."""
    out = tmp_path / "chips.fits"
    xdm.copy(f"{synthetic_events}[@{aux_dir / 'chips.gti'}]", out, clobber=True)
    with (
        fits.open(synthetic_events) as before,
        fits.open(aux_dir / "chips.gti") as cut,
        fits.open(out) as after,
    ):
        cuts = {h.header["CCD_ID"]: h.data for h in cut if h.name == "GTI"}
        got = {h.header["CCD_ID"]: h.data for h in after if h.name == "GTI"}
        for hdu in (h for h in before if h.name == "GTI"):
            chip = hdu.header["CCD_ID"]
            ((lo, hi),) = zip(cuts[chip]["START"], cuts[chip]["STOP"])
            old = np.column_stack([hdu.data["START"], hdu.data["STOP"]])
            want = _intersect(old, lo, hi)
            have = np.column_stack([got[chip]["START"], got[chip]["STOP"]]).reshape(
                -1, 2
            )
            np.testing.assert_allclose(have, want, rtol=0, atol=1e-6)
            ontime = float((want[:, 1] - want[:, 0]).sum())
            assert after["EVENTS"].header[f"ONTIME{chip}"] == pytest.approx(
                ontime, abs=1e-6
            )
