"""dmgti: GTIs from a row filter, against numpy masks and a hand merge of the bins.

Oracle: the kept rows are computed here with numpy comparisons on the columns
read by astropy; their ``[TIME_MIN, TIME_MAX)`` (or ``TIME -+ TIMEDEL/2``) are
merged by a plain loop. CIAO's userlimit spellings go through xdm's grammar.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm.tools
from xdm import XdmSemanticError
from xdm.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
CHANDRA = ROOT / "tests" / "data" / "events" / "chandra_test.fits"


def merge(bins: list[tuple[float, float]]) -> list[list[float]]:
    out: list[list[float]] = []
    for lo, hi in sorted(bins):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def curve(
    tmp_path: Path, seed: int = 0, n: int = 400
) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    tmin = 3.0e8 + 50.0 * np.arange(n)
    rate = rng.normal(1.0, 0.12, n)
    rate[rng.integers(0, n, 20)] = 0.0
    cols = {
        "TIME_MIN": tmin,
        "TIME": tmin + 25.0,
        "TIME_MAX": tmin + 50.0,
        "COUNT_RATE": rate,
        "EXPOSURE": np.full(n, 49.0),
    }
    hdu = fits.BinTableHDU.from_columns(
        [fits.Column(name=k, format="D", array=v) for k, v in cols.items()],
        name="LIGHTCURVE",
    )
    hdu.header.update(
        {"TIMESYS": "TT", "TIMEREF": "LOCAL", "MJDREF": 50814.0, "TSTART": 3.0e8}
    )
    path = tmp_path / "lc.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path, cols


def gti_rows(path: Path) -> list[list[float]]:
    with fits.open(path) as hdul:
        g = hdul["GTI"].data
        return np.column_stack((g["START"], g["STOP"])).tolist()


@pytest.mark.parametrize(
    "userlimit",
    [
        "(count_rate>0.9)&&(count_rate<1.1)",
        "count_rate>0.9&&count_rate<1.1",
        "((count_rate>0.9)&&(count_rate<1.1))",
        "(count_rate>0.9 && count_rate<1.1)",
        "count_rate>0.9,count_rate<1.1",
    ],
)
def test_ciao_userlimit_spellings(tmp_path: Path, userlimit: str) -> None:
    path, c = curve(tmp_path)
    out = tmp_path / "out.gti"
    result = xdm.tools.dmgti(infile=str(path), outfile=str(out), userlimit=userlimit)
    keep = (c["COUNT_RATE"] > 0.9) & (c["COUNT_RATE"] < 1.1)
    want = merge(list(zip(c["TIME_MIN"][keep], c["TIME_MAX"][keep])))
    assert gti_rows(out) == want
    assert result.kept == int(keep.sum()) and result.rows == len(keep)
    with fits.open(out) as hdul:
        h = hdul["GTI"].header
        assert (h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS2"]) == (
            "OGIP",
            "GTI",
            "STANDARD",
        )
        assert h["ONTIME"] == pytest.approx(sum(b - a for a, b in want))
        assert (h["TIMESYS"], h["TIMEREF"], h["MJDREF"]) == ("TT", "LOCAL", 50814.0)
        assert h["TSTART"] == 3.0e8  # the table's own
        assert "userlimit=" in str(h["HISTORY"]).replace("\n", "")


def test_time_filters_as_lc_sigma_clip_writes_them(tmp_path: Path) -> None:
    path, c = curve(tmp_path)
    a, b, d, e = 3.0e8 + 1000, 3.0e8 + 2500, 3.0e8 + 6000, 3.0e8 + 9000
    limit = f"(((time>={a:f})&&(time<{b:f}))||((time>={d:f})&&(time<{e:f})))"
    out = tmp_path / "t.gti"
    xdm.tools.dmgti(infile=str(path), outfile=str(out), userlimit=limit)
    t = c["TIME"]
    keep = ((t >= a) & (t < b)) | ((t >= d) & (t < e))
    assert gti_rows(out) == merge(list(zip(c["TIME_MIN"][keep], c["TIME_MAX"][keep])))


def test_timedel_timepixr_and_timezero(tmp_path: Path) -> None:
    """No bin edges: TIME - TIMEPIXR x TIMEDEL .. + TIMEDEL, plus TIMEZERO."""
    time = 8.0 * np.arange(100)
    rate = np.where((np.arange(100) // 10) % 2 == 0, 3.0, 1.0)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="TIME", format="D", array=time),
            fits.Column(name="RATE", format="E", array=rate),
        ],
        name="RATE",
    )
    hdu.header.update({"TIMEDEL": 8.0, "TIMEPIXR": 0.0, "TIMEZERO": 1.0e7})
    path = tmp_path / "x.lc"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    out = tmp_path / "x.gti"
    xdm.tools.dmgti(infile=str(path), outfile=str(out), userlimit="rate>2")
    keep = rate > 2
    lo = time[keep] + 1.0e7
    assert gti_rows(out) == merge(list(zip(lo, lo + 8.0)))
    assert len(gti_rows(out)) == 5  # five runs of ten touching bins, merged


def test_event_file_rows_with_frame_time(tmp_path: Path) -> None:
    """An event file (CIAO dmgti's other input): each event spans its frame."""
    out = tmp_path / "e.gti"
    result = xdm.tools.dmgti(
        infile=str(CHANDRA), outfile=str(out), userlimit="energy>8000"
    )
    with fits.open(CHANDRA) as hdul:
        ev = hdul["EVENTS"]
        t, energy, frame = ev.data["time"], ev.data["energy"], ev.header["TIMEDEL"]
    keep = energy > 8000
    lo = t[keep] - 0.5 * frame
    assert gti_rows(out) == merge(list(zip(lo, lo + frame)))
    assert result.kept == int(keep.sum())


def test_primary_names_the_observation_as_before(tmp_path: Path) -> None:
    """The GTI file's primary carries the keys the loop before ``keywords.carry``
    copied (TELESCOP, INSTRUME, OBS_ID, OBJECT: the ones the input has, not
    undefined), with the input's values, read here with astropy."""
    out = tmp_path / "e.gti"
    xdm.tools.dmgti(infile=str(CHANDRA), outfile=str(out), userlimit="energy>8000")
    source = fits.getheader(CHANDRA, "EVENTS")
    before = {
        key: source[key]
        for key in ("TELESCOP", "INSTRUME", "OBS_ID", "OBJECT")
        if key in source and source[key] is not None
    }
    assert len(before) == 4
    primary = fits.getheader(out, 0)
    structural = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "CREATOR"}
    assert {k: primary[k] for k in primary if k not in structural} == before
    assert primary["CREATOR"] == "xdm dmgti"


def test_lkupfile_limits_are_anded_and_mtlfile_keeps_the_rows(tmp_path: Path) -> None:
    path, c = curve(tmp_path)
    limits = fits.BinTableHDU.from_columns(
        [
            fits.Column(
                name="gti_limits", format="40A", array=["count_rate>0.8", "exposure>0"]
            )
        ],
        name="LIMITS",
    )
    lookup = tmp_path / "limits.fits"
    fits.HDUList([fits.PrimaryHDU(), limits]).writeto(lookup)
    out, rows = tmp_path / "l.gti", tmp_path / "rows.fits"
    xdm.tools.dmgti(
        infile=str(path),
        outfile=str(out),
        userlimit="count_rate<1.2",
        lkupfile=str(lookup),
        mtlfile=str(rows),
    )
    keep = (c["COUNT_RATE"] > 0.8) & (c["COUNT_RATE"] < 1.2) & (c["EXPOSURE"] > 0)
    assert gti_rows(out) == merge(list(zip(c["TIME_MIN"][keep], c["TIME_MAX"][keep])))
    with fits.open(rows) as hdul:
        assert hdul[1].data["TIME"].tolist() == c["TIME"][keep].tolist()


def test_cli_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = curve(tmp_path)
    out = tmp_path / "c.gti"
    assert (
        main(
            [
                "dmgti",
                str(path),
                str(out),
                "userlimit=(count_rate>0.9)&&(count_rate<1.1)",
            ]
        )
        == 0
    )
    assert "rows pass" in capsys.readouterr().out
    # no clobber: refused, the file is kept
    before = out.read_bytes()
    assert main(["dmgti", str(path), str(out), "userlimit=count_rate>0"]) == 2
    assert "clobber" in capsys.readouterr().err and out.read_bytes() == before
    new = tmp_path / "n.gti"
    for limit, words in [
        ("count_rate>5", "no rows"),
        ("cont_rate>1", "cont_rate"),
        ("count_rate>>1", "error"),
    ]:
        assert main(["dmgti", str(path), str(new), f"userlimit={limit}"]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
        assert not new.exists()
    with pytest.raises(XdmSemanticError, match="userlimit"):
        xdm.tools.dmgti(infile=str(path), outfile=str(new))
    bare = tmp_path / "bare.fits"
    fits.BinTableHDU.from_columns(
        [fits.Column(name="TIME", format="D", array=[1.0, 2.0])]
    ).writeto(bare)
    with pytest.raises(XdmSemanticError, match="TIMEDEL"):
        xdm.tools.dmgti(infile=str(bare), outfile=str(new), userlimit="time>0")


def test_deflare_rate_filter_equals_dmgti_of_its_userlimit(tmp_path: Path) -> None:
    """deflare's GTI is the rate filter CIAO hands to dmgti: the same intervals."""
    path, _ = curve(tmp_path, seed=3)
    flares = xdm.tools.deflare(infile=str(path), outfile=str(tmp_path / "d.gti"))
    assert flares.flares.by_rate
    out = tmp_path / "g.gti"
    xdm.tools.dmgti(
        infile=str(path), outfile=str(out), userlimit=flares.flares.userlimit()
    )
    assert gti_rows(out) == gti_rows(tmp_path / "d.gti")


def test_rows_out_of_time_order_and_overlapping(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 300
    tmin = np.sort(rng.uniform(0, 5000, n))
    width = rng.uniform(0, 40, n)  # overlapping, touching and empty bins
    order = rng.permutation(n)
    rate = rng.uniform(0, 2, n)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="TIME", format="D", array=(tmin + width / 2)[order]),
            fits.Column(name="TIME_MIN", format="D", array=tmin[order]),
            fits.Column(name="TIME_MAX", format="D", array=(tmin + width)[order]),
            fits.Column(name="RATE", format="D", array=rate[order]),
        ]
    )
    shuffled = tmp_path / "shuffled.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(shuffled)
    hdu.data[:] = hdu.data[np.argsort(order)]
    ordered = tmp_path / "sorted.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(ordered)
    keep = rate > 0.5
    want = merge([(a, a + w) for a, w, k in zip(tmin, width, keep) if k and w > 0])
    for path in (shuffled, ordered):  # the sorting merge and the one-pass merge
        out = path.with_suffix(".gti")
        xdm.tools.dmgti(infile=str(path), outfile=str(out), userlimit="rate>0.5")
        assert gti_rows(out) == want, path.name


def two_rates(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A light curve with COUNT_RATE and BG_RATE, some rates NaN (no exposure)."""
    rng = np.random.default_rng(11)
    n = 500
    tmin = 4.0e8 + 20.0 * np.arange(n)
    rate = np.round(rng.normal(1.0, 0.15, n), 1)  # ties for == and !=
    rate[rng.integers(0, n, 15)] = np.nan
    cols = {
        "TIME_MIN": tmin,
        "TIME": tmin + 10.0,
        "TIME_MAX": tmin + 20.0,
        "COUNT_RATE": rate,
        "BG_RATE": rng.uniform(0.0, 2.0, n),
    }
    hdu = fits.BinTableHDU.from_columns(
        [fits.Column(name=k, format="D", array=v) for k, v in cols.items()],
        name="LIGHTCURVE",
    )
    path = tmp_path / "two.lc"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path, cols


# CIAO's spellings of a userlimit, each with the same condition in numpy
SPELLINGS = [
    ("(count_rate<10)", lambda c, b: c < 10),
    ("0.9<count_rate", lambda c, b: c > 0.9),
    ("1.1 >= count_rate", lambda c, b: c <= 1.1),
    ("(0.9<count_rate)&&(1.1>count_rate)", lambda c, b: (c > 0.9) & (c < 1.1)),
    ("count_rate.gt.0.9", lambda c, b: c > 0.9),
    ("count_rate.GE.0.9.AND.count_rate.lt.1.1", lambda c, b: (c >= 0.9) & (c < 1.1)),
    ("(count_rate.le.0.8).or.(bg_rate.ge.1.5)", lambda c, b: (c <= 0.8) | (b >= 1.5)),
    ("count_rate.ne.1", lambda c, b: c != 1),
    ("count_rate.eq.1.1", lambda c, b: c == 1.1),
    ("!(count_rate>1)", lambda c, b: ~(c > 1)),  # NaN rates pass, as in numpy
    ("(bg_rate>0.1)&&!(count_rate>1.2)", lambda c, b: (b > 0.1) & ~(c > 1.2)),
    (".not.(bg_rate.lt.0.5)", lambda c, b: ~(b < 0.5)),
    ("!((bg_rate>0.1)&&(bg_rate<1.5))", lambda c, b: ~((b > 0.1) & (b < 1.5))),
    ("(bg_rate>0.1)&&(bg_rate<1.5)", lambda c, b: (b > 0.1) & (b < 1.5)),
    ("count_rate>bg_rate", lambda c, b: c > b),
    ("(count_rate<=bg_rate)&&(bg_rate<1.8)", lambda c, b: (c <= b) & (b < 1.8)),
    ("!(count_rate>bg_rate)&&count_rate>0.5", lambda c, b: ~(c > b) & (c > 0.5)),
    (
        "bg_rate<0.5||count_rate>1.2&&bg_rate>1",
        lambda c, b: (b < 0.5) | (c > 1.2) & (b > 1),
    ),
    (
        "(bg_rate<0.5||count_rate>1.2)&&!(bg_rate>1)",
        lambda c, b: ((b < 0.5) | (c > 1.2)) & ~(b > 1),
    ),
]


@pytest.mark.parametrize(("userlimit", "condition"), SPELLINGS)
def test_userlimit_forms_equal_numpy(
    tmp_path: Path, userlimit: str, condition: object
) -> None:
    path, c = two_rates(tmp_path)
    out = tmp_path / "f.gti"
    with np.errstate(invalid="ignore"):
        keep = condition(c["COUNT_RATE"], c["BG_RATE"])  # type: ignore[operator]
    assert 0 < keep.sum() < len(keep)
    result = xdm.tools.dmgti(infile=str(path), outfile=str(out), userlimit=userlimit)
    assert result.kept == int(keep.sum())
    assert gti_rows(out) == merge(list(zip(c["TIME_MIN"][keep], c["TIME_MAX"][keep])))


@pytest.mark.parametrize(
    ("userlimit", "words", "caret"),
    [
        ("count_rate*2>2", "arithmetic", "count_rate*2>2\n            ^"),
        ("(count_rate+bg_rate)>2", "arithmetic", "+"),
        ("bg_rate<1||!(count_rate>1)", "negates a whole condition", "^"),
        ("count_rate>bg_rate||bg_rate>1", "two columns", "^~~~"),
        ("bg_rate<0.5||bg_rate>1&&!(count_rate>1)", "negates a whole", "^"),
        ("bg_rate<0.5||bg_rate>1&&count_rate>bg_rate", "two columns", "^~~~"),
        ("cont_rate.gt.1", "did you mean 'count_rate'", "cont_rate.gt.1\n  ^~~~~~~~~"),
        ("count_rate>>1", "expected a value", "^"),
        ("0.9<count_rate<1.1", "error", "^"),
    ],
)
def test_unsupported_userlimits_are_clean_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    userlimit: str,
    words: str,
    caret: str,
) -> None:
    path, _ = two_rates(tmp_path)
    out = tmp_path / "e.gti"
    assert main(["dmgti", str(path), str(out), f"userlimit={userlimit}"]) == 2
    err = capsys.readouterr().err
    assert words in err and caret in err, err
    assert "Traceback" not in err and not out.exists()
    assert f"  {userlimit}\n" in err  # the caret is under the user's own text


def test_column_comparisons_refuse_an_mtlfile(tmp_path: Path) -> None:
    path, _ = two_rates(tmp_path)
    with pytest.raises(XdmSemanticError, match="mtlfile"):
        xdm.tools.dmgti(
            infile=str(path),
            outfile=str(tmp_path / "m.gti"),
            userlimit="count_rate>bg_rate",
            mtlfile=str(tmp_path / "rows.fits"),
        )


def test_userlimit_forms_on_a_dmextract_light_curve(tmp_path: Path) -> None:
    """A light curve ``xdm dmextract`` makes of the Chandra test events: each
    form's rows are numpy's, with the curve's own columns read by astropy."""
    lc = tmp_path / "chandra.lc"
    xdm.tools.dmextract(
        infile=f"{CHANDRA}[bin time=::200]", outfile=str(lc), opt="ltc1"
    )
    data = fits.getdata(lc, "LIGHTCURVE")
    rate, err = np.asarray(data["COUNT_RATE"]), np.asarray(data["COUNT_RATE_ERR"])
    mid = float(np.median(rate[rate > 0]))
    forms = [
        (f"{mid}<count_rate", rate > mid),
        (
            f"count_rate.ge.{mid}.and.count_rate_err.lt.{mid}",
            (rate >= mid) & (err < mid),
        ),
        (f"!(count_rate>{mid})", ~(rate > mid)),
        ("count_rate>count_rate_err", rate > err),
    ]
    for userlimit, keep in forms:
        assert 0 < keep.sum() < len(keep), userlimit
        out = tmp_path / "lc.gti"
        result = xdm.tools.dmgti(
            infile=str(lc), outfile=str(out), userlimit=userlimit, clobber=True
        )
        assert result.kept == int(keep.sum()), userlimit
        want = merge(list(zip(data["TIME_MIN"][keep], data["TIME_MAX"][keep])))
        assert gti_rows(out) == want, userlimit
