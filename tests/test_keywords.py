"""The header keywords each tool carries from an event file into its products.

Oracle: a golden record (``tests/golden/keywords.txt``, written from the tools
before their keyword lists became ``xdm.io.keywords``) of every header key of
every block of each product, and the values of the planted keywords, made from
a demo event file that holds every observation, timing and pointing keyword
the tools know (each with its own value). ``pytest --regen`` rewrites it. Since
then, on purpose, towards what CIAO writes: srcflux's table carries all of
``PRODUCT`` and the chip times (CIAO makes it with dmextract), merge_obs's
images DATE-END and the rest of ``TIME_SYSTEM``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from casefiles import check_golden

import xdm.tools
from xdm.io import keywords
from xdm.regions.coords import wcs_from_columns

GOLDEN = Path(__file__).parent / "golden" / "keywords.txt"
XC, YC = 4110.3, 4085.7  # the demo target

# every keyword some tool carried before xdm.io.keywords (the union of the lists)
PLANTED = (
    *("TELESCOP", "INSTRUME", "DETNAM", "GRATING", "FILTER", "OBJECT", "OBSERVER"),
    *("OBS_ID", "SEQ_NUM", "DATAMODE", "READMODE", "DATE-OBS", "DATE-END"),
    *("TIMESYS", "TIMEREF", "TIMEUNIT", "TASSIGN", "CLOCKAPP", "TIMEZERO", "MJDREF"),
    *("MJDREFI", "MJDREFF", "MJD_OBS", "TIERRELA", "TIERABSO", "EQUINOX"),
    *("RADECSYS", "RADESYS", "RA_NOM", "DEC_NOM", "ROLL_NOM", "RA_PNT", "DEC_PNT"),
    *("ROLL_PNT", "RA_TARG", "DEC_TARG", "SIM_X", "SIM_Y", "SIM_Z", "TSTART"),
    *("TSTOP", "ONTIME", "LIVETIME", "EXPOSURE", "DTCOR", "EXPTIME", "TIMEDEL"),
    *("TIMEPIXR", "FP_TEMP", "CTI_CORR", "CTI_APP", "GAINFILE"),
)
# keys whose value the demo file's data depend on: kept as they are
KEEP = {
    *("TELESCOP", "INSTRUME", "TIMESYS", "TIMEREF", "TIMEUNIT", "MJDREF", "EQUINOX"),
    *("RADESYS", "RA_NOM", "DEC_NOM", "ROLL_NOM", "RA_PNT", "DEC_PNT", "ROLL_PNT"),
    *("TSTART", "TSTOP", "ONTIME", "LIVETIME", "EXPOSURE", "DTCOR", "TIMEZERO"),
    *("RA_TARG", "DEC_TARG", "TIMEDEL", "TIMEPIXR", "MJDREFI", "MJDREFF"),
}


def _plant(path: Path) -> Path:
    """Give the EVENTS header every planted keyword (a value of its own each)."""
    with fits.open(path, mode="update") as hdul:
        h = hdul["EVENTS"].header
        for k, key in enumerate(PLANTED):
            if key in KEEP and key in h:
                continue
            if key in KEEP:
                h[key] = (float(k), f"planted {key}")
            else:
                h[key] = (f"v{k}_{key}", f"planted {key}")
        h["NOTCARRY"] = ("no tool carries this", "planted")
    return path


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from xdm.demo import make_events

    d = tmp_path_factory.mktemp("keywords")
    return _plant(make_events(d / "evt2.fits", n_rows=20_000, seed=5))


@pytest.fixture(scope="module")
def products(events: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from xdm.demo import make_events

    d = tmp_path_factory.mktemp("products")
    out = {
        "pha": d / "src.pi",
        "lc": d / "src.lc",
        "profile": d / "prof.fits",
        "gti": d / "lc.gti",
        "blanksky": d / "bkg.evt",
    }
    xdm.tools.dmextract(
        infile=f"{events}[sky=circle({XC},{YC},20)][bin pi]", outfile=str(out["pha"])
    )
    xdm.tools.dmextract(
        infile=f"{events}[sky=circle({XC},{YC},40)][bin time=::1000]",
        outfile=str(out["lc"]),
        opt="ltc1",
    )
    xdm.tools.dmextract(
        infile=f"{events}[bin sky=annulus({XC},{YC},0:40:20)]",
        outfile=str(out["profile"]),
        opt="generic",
    )
    xdm.tools.dmgti(
        infile=str(out["lc"]), outfile=str(out["gti"]), userlimit="count_rate>=0"
    )
    blank = make_events(d / "blank.fits", n_rows=20_000, seed=21)
    xdm.tools.blanksky(
        evtfile=str(events), blankfile=str(blank), outfile=str(out["blanksky"])
    )
    w = wcs_from_columns(fits.getheader(events, "EVENTS"), "x", "y")
    ra, dec = w.all_pix2world([XC], [YC], 1)
    pos = d / "pos.txt"
    pos.write_text(f"{float(ra[0])!r} {float(dec[0])!r}\n")
    xdm.tools.srcflux(
        infile=str(events), pos=f"@{pos}", outroot=str(d / "sf"), bands="broad"
    )
    out["srcflux"] = d / "sf_broad.flux"
    second = d / "evt2b.fits"
    second.write_bytes(events.read_bytes())
    xdm.tools.merge_obs(
        infiles=f"{events},{second}",
        outroot=f"{d}/m_",
        units="time",
        expmapthresh="0",
        bands="broad",
    )
    out["merge_obs"] = d / "m_broad.img"
    out["merge_obs_evt"] = d / "m_merged_evt.fits"
    return out


def _record(path: Path) -> dict[str, object]:
    """Per block: its sorted header keys, and the planted keywords' values."""
    blocks: dict[str, object] = {}
    with fits.open(path) as hdul:
        for n, hdu in enumerate(hdul):
            h = hdu.header
            keys = sorted({str(k) for k in h if k not in ("", "COMMENT", "HISTORY")})
            carried = {
                k: repr(h[k]) for k in keys if k in PLANTED and k not in ("DATE",)
            }
            blocks[f"{n}:{hdu.name}"] = {"keys": keys, "carried": carried}
    return blocks


def test_products_carry_the_keywords_they_did(
    products: dict[str, Path], regen: bool
) -> None:
    record = {
        name: _record(path) for name, path in sorted(products.items()) if path.exists()
    }
    assert {"pha", "lc", "profile", "gti", "blanksky", "srcflux"} <= set(record)
    check_golden(GOLDEN, json.dumps(record, indent=1, sort_keys=True) + "\n", regen)


def test_carry_copies_the_groups_present_with_comments() -> None:
    src = fits.Header()
    src["OBS_ID"] = ("123", "observation id")
    src["RA_NOM"] = (150.1, "[deg] nominal RA")
    src["NOTCARRY"] = 1
    src["DEC_NOM"] = None
    dst = fits.Header()
    keywords.carry(src, dst, keywords.IDENTITY, keywords.POINTING)
    assert list(dst) == ["OBS_ID", "RA_NOM"]
    assert dst.comments["RA_NOM"] == "[deg] nominal RA"
    assert dst["OBS_ID"] == "123"
    src["LIVTIME3"] = (900.0, "[s] live time of CCD 3")
    src["LIVTIME"] = 1000.0
    keywords.carry(src, dst, chip_times=True)
    assert list(dst) == ["OBS_ID", "RA_NOM", "LIVTIME3"]
    plain: dict[str, object] = {}
    keywords.carry(src, plain, keywords.IDENTITY, comments=False)
    assert plain == {"OBS_ID": "123"}


def test_groups_are_disjoint_upper_case_fits_names() -> None:
    seen: list[str] = []
    for group in keywords.GROUPS.values():
        seen += group
    assert len(seen) == len(set(seen))
    assert all(k == k.upper() and len(k) <= 8 for k in seen)
    assert set(keywords.PRODUCT) <= set(seen)
    assert np.all([isinstance(g, tuple) for g in keywords.GROUPS.values()])


def test_a_light_curves_gti_block_carries_the_time_reference(
    events: Path, products: dict[str, Path]
) -> None:
    """The light curve's GTI block: the events' TIME_REFERENCE keys (values from
    the input, read by astropy) right after HDUCLAS2, then TSTART/TSTOP/ONTIME;
    the rest of TIME_SYSTEM (the clock's assignment and errors) stays behind."""
    before = ("TIMESYS", "TIMEREF", "TIMEUNIT", "MJDREF", "MJDREFI", "MJDREFF")
    source = fits.getheader(events, "EVENTS")
    assert all(k in source for k in keywords.TIME_SYSTEM)  # all planted
    with fits.open(products["lc"]) as hdul:
        gti = hdul["GTI"].header
    keys = list(gti)
    at = keys.index("HDUCLAS2") + 1
    assert keys[at : at + len(before) + 3] == [*before, "TSTART", "TSTOP", "ONTIME"]
    assert before == keywords.TIME_REFERENCE
    for key in before:
        assert gti[key] == source[key] and type(gti[key]) is type(source[key])
    assert not (set(keywords.TIME_SYSTEM) - set(before)) & set(gti)
