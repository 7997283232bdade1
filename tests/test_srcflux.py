"""xdm srcflux against plain numpy on the events, direct integration and aprates.

Oracles: counts and flux sums by brute force over every event (numpy, one
source at a time); the exposure key chosen by hand from the header; rates from
the public aprates tool on those counts; CIAO's formulas for net fluxes and
their limits (workflows.md 6.3); the merged rate of 6.6 recomputed from the
per-observation tables; CIAO's summary layout (bin/srcflux summarize_results).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import xdm.tools
from xdm import XdmIOError, XdmSemanticError
from xdm.cli.main import main
from xdm.regions.coords import wcs_from_columns

SPECTRA = Path(__file__).parent / "data" / "spectra"
ARF = SPECTRA / "3c273.arf"
RMF = SPECTRA / "3c273.rmf"
KEV = 1.602177e-9

# sky positions on the demo file: the nucleus, a point source, two blank spots,
# and a pair 12 pixels apart (each in the other's background annulus)
SKY = [
    (4110.3, 4085.7),
    (4210.4, 4031.2),
    (4400.0, 4400.0),
    (3700.0, 4500.0),
    (4000.0, 3950.0),
    (4012.0, 3950.0),
]


@pytest.fixture(scope="module")
def events(synthetic_events: Path) -> dict[str, np.ndarray]:
    with fits.open(synthetic_events) as h:
        d = h["EVENTS"].data
        return {
            k: np.asarray(d[k], dtype=float) for k in ("x", "y", "energy", "ccd_id")
        }


@pytest.fixture(scope="module")
def radec(synthetic_events: Path) -> list[tuple[float, float]]:
    w = wcs_from_columns(fits.getheader(synthetic_events, "EVENTS"), "x", "y")
    ra, dec = w.all_pix2world([s[0] for s in SKY], [s[1] for s in SKY], 1)
    return list(zip(ra.tolist(), dec.tolist(), strict=True))


def _poslist(tmp: Path, radec: list[tuple[float, float]]) -> str:
    path = tmp / "pos.txt"
    path.write_text("".join(f"{a!r} {d!r}\n" for a, d in radec))
    return f"@{path}"


def _brute(ev: dict[str, np.ndarray], xs, ys, r, lo, hi):
    """Counts in each circle and in each annulus 1.7r-5r outside every circle."""
    xs, ys, r = (np.asarray(v, dtype=float) for v in (xs, ys, r))
    band = (ev["energy"] >= lo) & (ev["energy"] <= hi)
    x, y = ev["x"][band], ev["y"][band]
    in_any = np.zeros(x.size, dtype=bool)
    for i in range(xs.size):
        in_any |= np.sqrt((x - xs[i]) ** 2 + (y - ys[i]) ** 2) <= r[i]
    src, bkg = [], []
    for i in range(xs.size):
        d = np.sqrt((x - xs[i]) ** 2 + (y - ys[i]) ** 2)
        src.append(int(np.count_nonzero(d <= r[i])))
        bkg.append(int(np.count_nonzero((d >= 1.7 * r[i]) & (d <= 5 * r[i]) & ~in_any)))
    return np.array(src), np.array(bkg), band


def test_counts_in_regions_equal_a_numpy_count(
    synthetic_events: Path, events, radec, tmp_path: Path
) -> None:
    res = xdm.tools.srcflux(
        infile=str(synthetic_events),
        pos=_poslist(tmp_path, radec),
        outroot=str(tmp_path / "r"),
        bands="broad,hard",
        radius=4.0,
    )
    assert set(res.tables) == {"broad", "hard"}
    for label, (lo, hi) in (("broad", (500, 7000)), ("hard", (2000, 7000))):
        t = Table.read(tmp_path / f"r_{label}.flux", hdu="HISTOGRAM")
        xs, ys = np.asarray(t["XPOS"]), np.asarray(t["YPOS"])
        r = np.full(len(t), 4.0 / 0.492)
        src, bkg, _ = _brute(events, xs, ys, r, lo, hi)
        np.testing.assert_array_equal(t["COUNTS"], src)
        np.testing.assert_array_equal(t["BG_COUNTS"], bkg)
        assert np.allclose(t["AREA"], math.pi * r**2)
        # the pair: each annulus loses the other's circle (area on a fine grid)
        full = math.pi * (25 - 1.7**2) * r**2
        assert np.allclose(t["BG_AREA"][:4], full[:4])
        assert 0 < full[4] - t["BG_AREA"][4] <= math.pi * r[5] ** 2 * 1.001
    assert src[0] > 1000 and src[2] < src[0]  # the nucleus is bright


def test_thousands_of_sources_in_one_pass_match_numpy(
    synthetic_events: Path, events, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    xs = rng.uniform(3900, 4300, 1000)
    ys = rng.uniform(3900, 4300, 1000)
    hdr = fits.getheader(synthetic_events, "EVENTS")
    ra, dec = wcs_from_columns(hdr, "x", "y").all_pix2world(xs, ys, 1)
    cat = tmp_path / "cat.fits"
    Table({"RA": ra, "DEC": dec}).write(cat)
    res = xdm.tools.srcflux(
        infile=str(synthetic_events),
        pos=str(cat),
        outroot=str(tmp_path / "c"),
        radius=1.0,
    )
    t = res.tables["broad"]
    assert len(t) == 1000
    band = (events["energy"] >= 500) & (events["energy"] <= 7000)
    x, y = events["x"][band], events["y"][band]
    r = 1.0 / 0.492
    # source counts: every event tested against every source, in blocks
    got = np.asarray(t["COUNTS"])
    want = np.zeros(1000, dtype=int)
    for start in range(0, 1000, 100):
        sx = np.asarray(t["XPOS"][start : start + 100])[:, None]
        sy = np.asarray(t["YPOS"][start : start + 100])[:, None]
        want[start : start + 100] = np.count_nonzero(
            np.sqrt((x[None, :] - sx) ** 2 + (y[None, :] - sy) ** 2) <= r, axis=1
        )
    np.testing.assert_array_equal(got, want)


def test_rates_are_aprates_on_the_counts_with_the_ccd_livetime(
    synthetic_events: Path, radec, tmp_path: Path
) -> None:
    # a copy whose CCD 3 live time differs from LIVETIME: the rate must use LIVTIME3
    evt = tmp_path / "evt.fits"
    shutil.copy(synthetic_events, evt)
    with fits.open(evt, mode="update") as h:
        h["EVENTS"].header["LIVTIME3"] = 40000.0
        live = float(h["EVENTS"].header["LIVETIME"])
    res = xdm.tools.srcflux(
        infile=str(evt),
        pos=_poslist(tmp_path, radec),
        outroot=str(tmp_path / "r"),
        radius=4.0,
    )
    t = res.tables["broad"]
    for i in range(len(t)):
        chip = int(t["CHIP_ID"][i])
        want_t = 40000.0 if chip == 3 else live
        assert t["EXPOSURE"][i] == pytest.approx(want_t)
        ref = xdm.tools.aprates(
            n=int(t["COUNTS"][i]),
            m=int(t["BG_COUNTS"][i]),
            A_s=float(t["AREA"][i]),
            A_b=float(t["BG_AREA"][i]),
            T_s=want_t,
        ).src_rate
        assert ref is not None
        assert t["NET_RATE_APER"][i] == pytest.approx(ref.mode, rel=1e-4, abs=1e-12)
        assert t["NET_RATE_APER_HI"][i] == pytest.approx(ref.hi, rel=1e-3)
        if ref.lo is None:
            assert math.isnan(t["NET_RATE_APER_LO"][i])
        else:
            assert t["NET_RATE_APER_LO"][i] == pytest.approx(ref.lo, rel=1e-3)
    assert int(t["CHIP_ID"][0]) == 3  # the nucleus is on the aim-point CCD


def test_fluxes_from_the_arf_equal_a_direct_sum(
    synthetic_events: Path, events, radec, tmp_path: Path
) -> None:
    res = xdm.tools.srcflux(
        infile=str(synthetic_events),
        pos=_poslist(tmp_path, radec),
        outroot=str(tmp_path / "r"),
        radius=4.0,
        arffile=str(ARF),
    )
    t = res.tables["broad"]
    arf = fits.getdata(ARF, "SPECRESP")
    edges = np.append(arf["ENERG_LO"], arf["ENERG_HI"][-1])
    r = 4.0 / 0.492
    xs, ys = np.asarray(t["XPOS"]), np.asarray(t["YPOS"])
    _, _, band = _brute(events, xs, ys, np.full(len(t), r), 500, 7000)
    e = events["energy"][band] / 1000.0
    area = arf["SPECRESP"][
        np.clip(np.searchsorted(edges, e, side="right") - 1, 0, len(arf) - 1)
    ]
    w = e * KEV / area
    x, y = events["x"][band], events["y"][band]
    for i in range(len(t)):
        d = np.hypot(x - xs[i], y - ys[i])
        assert t["FLUX_APER"][i] == pytest.approx(
            w[d <= r].sum() / t["EXPOSURE"][i], rel=1e-9
        )
    # net flux: S = alpha F + N, B = beta F + r N (alpha 1, beta 0)
    rr = t["BG_AREA"] / t["AREA"]
    net = (rr * t["FLUX_APER"] - t["BG_FLUX_APER"]) / rr
    ok = net >= 0
    np.testing.assert_allclose(t["NET_FLUX_APER"][ok], net[ok], rtol=1e-12)
    assert np.all(np.isnan(t["NET_FLUX_APER"][~ok]))
    for i in np.flatnonzero(ok):
        rate = (
            t["NET_RATE_APER"][i]
            if t["NET_RATE_APER"][i] > 0
            else t["NET_RATE_APER_HI"][i]
        )
        cnv = t["NET_FLUX_APER"][i] / rate
        assert t["NET_FLUX_APER_HI"][i] == pytest.approx(t["NET_RATE_APER_HI"][i] * cnv)
        assert bool(t["UPPER_LIMIT"][i]) == (t["NET_RATE_APER"][i] <= 0)


def test_blank_position_is_an_upper_limit(
    synthetic_events: Path, events, radec, tmp_path: Path
) -> None:
    # hard band, 2" circle on an empty spot: no source counts, a few background ones
    t = xdm.tools.srcflux(
        infile=str(synthetic_events), pos=f"{radec[2][0]!r} {radec[2][1]!r}",
        outroot=str(tmp_path / "b"), radius=2.0, bands="hard", arffile=str(ARF),
    ).tables["hard"]  # fmt: skip
    src, bkg, _ = _brute(events, t["XPOS"], t["YPOS"], [2.0 / 0.492], 2000, 7000)
    assert src[0] == 0 and bkg[0] > 0  # the data this test is about
    ref = xdm.tools.aprates(
        n=0, m=int(bkg[0]), A_s=float(t["AREA"][0]), A_b=float(t["BG_AREA"][0]),
        T_s=float(t["EXPOSURE"][0]),
    ).src_rate  # fmt: skip
    assert ref is not None and ref.mode == 0 and ref.lo is None
    assert t["NET_RATE_APER"][0] == 0 and math.isnan(t["NET_RATE_APER_LO"][0])
    # n = 0: the posterior is f e^{-fS}, the upper bound -ln(1-conf)/f
    assert t["NET_RATE_APER_HI"][0] == pytest.approx(
        -math.log(0.1) / float(t["EXPOSURE"][0]), rel=1e-6
    )
    assert bool(t["UPPER_LIMIT"][0])
    assert t["NET_MFLUX_APER_HI"][0] == pytest.approx(
        t["NET_RATE_APER_HI"][0] * t["MFLUX_CNV"][0]
    )
    # no counts at all: CIAO writes INDEF (NaN) everywhere
    empty = xdm.tools.srcflux(
        infile=str(synthetic_events), pos=f"{radec[2][0]!r} {radec[2][1]!r}",
        outroot=str(tmp_path / "z"), radius=0.6, bands="hard",
    ).tables["hard"]  # fmt: skip
    assert empty["COUNTS"][0] == 0 and empty["BG_COUNTS"][0] == 0
    assert math.isnan(empty["NET_RATE_APER"][0]) and math.isnan(
        empty["NET_RATE_APER_HI"][0]
    )


def test_summary_has_ciao_layout(
    synthetic_events: Path, radec, tmp_path: Path, capsys
) -> None:
    ra, dec = radec[0]
    code = main(
        [
            "srcflux", str(synthetic_events), f"{ra!r} {dec!r}", str(tmp_path / "s"),
            "radius=4", f"arffile={ARF}", f"rmffile={RMF}", "galnh=0.03",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    text = (tmp_path / "s_summary.txt").read_text()
    assert text.strip("\n") == out.strip("\n")
    t = Table.read(tmp_path / "s_broad.flux", hdu="HISTOGRAM")
    lines = out.splitlines()
    assert "Summary of source fluxes" in lines
    head = next(ln for ln in lines if ln.startswith("      Position"))
    assert head == f"{'      Position':30s}{' ' * 15}{'0.5 - 7.0 keV':40s}"
    conf_line = lines[lines.index(head) + 1]
    assert conf_line == " " * 45 + f"{'Value        90% Conf Interval':40s}"
    rate = next(ln for ln in lines if "Rate" in ln)
    m = re.match(
        r"#0001\|(\d+) (\d+) ([\d.]+) ([+-]\d+) (\d+) ([\d.]+) +Rate {11}", rate
    )
    assert m, rate
    assert len(m.group(3).split(".")[1]) == 2 and len(m.group(6).split(".")[1]) == 1
    want = (
        f"{t['NET_RATE_APER'][0]:.3G} c/s ({t['NET_RATE_APER_LO'][0]:.3G},"
        f"{t['NET_RATE_APER_HI'][0]:.3G})"
    )
    assert rate[30 + 15 :] == f"{want:40s}"
    for label, col in (
        ("Flux ", "NET_FLUX_APER"),
        ("Mod.Flux ", "NET_MFLUX_APER"),
        ("Unabs Mod.Flux", "NET_UMFLUX_APER"),
    ):
        line = next(ln for ln in lines if ln[30:].startswith(label))
        assert f"{t[col][0]:.3G} erg/cm2/s" in line
    h = fits.getheader(tmp_path / "s_broad.flux", "HISTOGRAM")
    assert h["XSECT"] == "MM83" and h["ABSPARAM"] == "abs1.nH=%GAL%"
    assert (h["ENERGY"], h["EMIN"], h["EMAX"], h["CONF"]) == (2.3, 0.5, 7.0, 0.9)
    # absorption removed: the unabsorbed flux is the larger
    assert t["NET_UMFLUX_APER"][0] > t["NET_MFLUX_APER"][0]


def test_positions_in_every_form_agree(
    synthetic_events: Path, radec, tmp_path: Path
) -> None:
    ra, dec = radec[1]
    hours = ra / 15.0
    h, m = int(hours), int((hours * 60) % 60)
    s = (hours * 3600) % 60
    dd, dm = int(abs(dec)), int((abs(dec) * 60) % 60)
    ds = (abs(dec) * 3600) % 60
    forms = [
        f"{ra!r} {dec!r}",
        f"{ra!r},{dec!r}",
        f"{h}:{m}:{s!r} +{dd}:{dm}:{ds!r}",
        f"{h} {m} {s!r} +{dd} {dm} {ds!r}",
    ]
    counts = set()
    for k, pos in enumerate(forms):
        res = xdm.tools.srcflux(
            infile=str(synthetic_events),
            pos=pos,
            outroot=str(tmp_path / f"p{k}"),
            radius=3.0,
        )
        counts.add(int(res.tables["broad"]["COUNTS"][0]))
        assert res.tables["broad"]["RAPOS"][0] == pytest.approx(ra, abs=1e-9)
    assert len(counts) == 1


def test_band_labels_name_the_files(
    synthetic_events: Path, radec, tmp_path: Path
) -> None:
    ra, dec = radec[0]
    res = xdm.tools.srcflux(
        infile=str(synthetic_events), pos=f"{ra} {dec}", outroot=str(tmp_path / "l"),
        bands="0.5:7:2.3,csc", radius=3.0,
    )  # fmt: skip
    names = sorted(Path(f).name for f in res.files)
    assert names == [
        "l_0.5-7.flux",
        "l_hard.flux",
        "l_medium.flux",
        "l_soft.flux",
        "l_summary.txt",
    ]
    soft, medium, hard = (
        res.tables[b]["COUNTS"][0] for b in ("soft", "medium", "hard")
    )
    broad = res.tables["0.5-7"]["COUNTS"][0]
    assert soft + medium + hard >= broad - 5  # the ranges share their edges only


def test_several_observations_merge(
    synthetic_events: Path, radec, tmp_path: Path
) -> None:
    from xdm.demo import make_events

    other = make_events(tmp_path / "evt_b.fits", n_rows=60_000, seed=11)
    pos = _poslist(tmp_path, radec[:3])
    res = xdm.tools.srcflux(
        infile=f"{synthetic_events},{other}", pos=pos, outroot=str(tmp_path / "m"),
        radius=4.0, arffile=str(ARF),
    )  # fmt: skip
    names = {Path(f).name for f in res.files}
    assert {"m_obi001_broad.flux", "m_obi002_broad.flux", "m_broad.flux"} <= names
    assert {"m_obi001_summary.txt", "m_summary.txt"} <= names
    per = [o["broad"] for o in res.observations]
    merged = res.tables["broad"]
    for s in range(3):
        c = [int(o["COUNTS"][s]) for o in per]
        b = [int(o["BG_COUNTS"][s]) for o in per]
        t = np.array([float(o["EXPOSURE"][s]) for o in per])
        r = np.array([float(o["BG_AREA"][s] / o["AREA"][s]) for o in per])
        f = t  # alpha = 1, beta = 0
        m_i = f * np.array(b) / (f * r)
        big_r = float(np.sum(m_i * r) / np.sum(m_i))
        ref = xdm.tools.aprates(
            n=sum(c), m=sum(b), A_s=1.0, A_b=big_r, T_s=float(t.sum())
        ).src_rate
        assert ref is not None
        assert merged["TOTAL_COUNTS"][s] == sum(c) and merged["NUM_OBI"][s] == 2
        assert merged["MERGED_NET_RATE_APER"][s] == pytest.approx(
            ref.mode, rel=1e-4, abs=1e-12
        )
        assert merged["MERGED_NET_RATE_APER_HI"][s] == pytest.approx(ref.hi, rel=1e-3)
        assert merged["MERGED_NET_MFLUX_APER"][s] == pytest.approx(
            merged["MERGED_NET_RATE_APER"][s] * merged["MFLUX_CNV"][s]
        )
    text = (tmp_path / "m_summary.txt").read_text()
    assert "Summary of merged source fluxes" in text and "  NumObi=2" in text


def test_exposure_map_gives_photon_fluxes(
    synthetic_events: Path, radec, tmp_path: Path
) -> None:
    value = 3.0e7
    img = fits.PrimaryHDU(np.full((200, 200), value, dtype=np.float32))
    img.header.update({"LTM1_1": 0.25, "LTM2_2": 0.25, "LTV1": -950.0, "LTV2": -950.0})
    path = tmp_path / "exp.fits"
    img.writeto(path)  # covers sky 3800.5-4600.5 in 4-pixel bins
    res = xdm.tools.srcflux(
        infile=str(synthetic_events), pos=_poslist(tmp_path, radec[:2]),
        outroot=str(tmp_path / "e"), radius=4.0, expmapfile=str(path),
    )  # fmt: skip
    t = res.tables["broad"]
    np.testing.assert_allclose(t["SRC_PHOTFLUX"], t["COUNTS"] / value, rtol=1e-12)
    np.testing.assert_allclose(t["BG_PHOTFLUX"], t["BG_COUNTS"] / value, rtol=1e-12)
    np.testing.assert_allclose(t["MEAN_SRC_EXP"], value, rtol=1e-6)
    rr = t["BG_AREA"] / t["AREA"]
    np.testing.assert_allclose(
        t["NET_PHOTFLUX_APER"],
        (rr * t["SRC_PHOTFLUX"] - t["BG_PHOTFLUX"]) / rr,
        rtol=1e-12,
    )


def test_psf_image_gives_the_fractions(
    synthetic_events: Path, radec, tmp_path: Path
) -> None:
    ra, dec = radec[0]
    x0, y0 = SKY[0]
    sigma = 3.0
    n = 101
    lx = np.arange(1, n + 1, dtype=float)
    gx, gy = np.meshgrid(lx, lx)
    # physical = logical - 51 + x0: the image is centred on the source
    px, py = gx - 51 + x0, gy - 51 + y0
    psf = np.exp(-((px - x0) ** 2 + (py - y0) ** 2) / (2 * sigma**2))
    hdu = fits.PrimaryHDU(psf)
    hdu.header.update({"LTM1_1": 1.0, "LTM2_2": 1.0, "LTV1": 51 - x0, "LTV2": 51 - y0})
    path = tmp_path / "psf.fits"
    hdu.writeto(path)
    res = xdm.tools.srcflux(
        infile=str(synthetic_events), pos=f"{ra!r} {dec!r}", outroot=str(tmp_path / "f"),
        radius=4.0, psfmethod="psffile", psffile=str(path),
    )  # fmt: skip
    t = res.tables["broad"]
    xs, ys = float(t["XPOS"][0]), float(t["YPOS"][0])
    r = 4.0 / 0.492
    d = np.hypot(px - xs, py - ys)
    total = psf.sum()
    assert t["PSFFRAC"][0] == pytest.approx(psf[d <= r].sum() / total, rel=1e-9)
    assert t["BG_PSFFRAC"][0] == pytest.approx(
        psf[(d >= 1.7 * r) & (d <= 5 * r)].sum() / total, rel=1e-6
    )
    assert t["PSFFRAC"][0] == pytest.approx(
        1 - math.exp(-(r**2) / (2 * sigma**2)), rel=2e-2
    )


@pytest.mark.parametrize(
    ("extra", "word"),
    [
        (["psfmethod=quick"], "calibration"),
        (["regions=optimized"], "calibration"),
        (["srcreg=circle(4096,4096,5)"], "bkgreg"),
        (["bands=wide"], "HRC"),
        (["model=xsapec.a1"], "unknown model"),
        (["paramvals=pow1.Gamma=2"], "unknown parameter"),
    ],
)
def test_bad_requests_are_user_errors(
    synthetic_events: Path, tmp_path: Path, extra, word
) -> None:
    with pytest.raises(XdmSemanticError, match=word):
        xdm.tools.srcflux(
            infile=str(synthetic_events), pos="150.1 2.2", outroot=str(tmp_path / "x"),
            **dict(e.split("=", 1) for e in extra),
        )  # fmt: skip


def test_bad_positions_files_and_clobber(
    synthetic_events: Path, tmp_path: Path, capsys
) -> None:
    for pos in ("150.1", "25:00:00 +91:00:00", "abc def"):
        with pytest.raises(XdmSemanticError):
            xdm.tools.srcflux(
                infile=str(synthetic_events), pos=pos, outroot=str(tmp_path / "x")
            )
    with pytest.raises(XdmIOError):
        xdm.tools.srcflux(
            infile=str(tmp_path / "none.fits"),
            pos="150.1 2.2",
            outroot=str(tmp_path / "x"),
        )
    args = [
        "srcflux",
        str(synthetic_events),
        "150.1172 2.2043",
        str(tmp_path / "c"),
        "radius=3",
    ]
    assert main(args) == 0
    assert main(args) == 2
    assert "clobber" in capsys.readouterr().err
    assert main([*args, "clobber+", "--json", "verbose=0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["bands"]["broad"][0]["COUNTS"] > 0


def test_user_regions(synthetic_events: Path, events, radec, tmp_path: Path) -> None:
    ra, dec = radec[0]
    x0, y0 = SKY[0]
    src = tmp_path / "src.reg"
    src.write_text(f"box({x0},{y0},12,8,30)\n")
    res = xdm.tools.srcflux(
        infile=str(synthetic_events), pos=f"{ra!r} {dec!r}", outroot=str(tmp_path / "u"),
        srcreg=str(src), bkgreg=f"annulus({x0},{y0},20,40)-circle({x0 + 30},{y0},5)",
    )  # fmt: skip
    t = res.tables["broad"]
    import xdm as top

    band = (events["energy"] >= 500) & (events["energy"] <= 7000)
    x, y = events["x"][band], events["y"][band]
    box = top.region(f"box({x0},{y0},12,8,30)")
    bkg = top.region(f"annulus({x0},{y0},20,40)-circle({x0 + 30},{y0},5)")
    assert t["COUNTS"][0] == np.count_nonzero(box.contains(x, y))
    assert t["BG_COUNTS"][0] == np.count_nonzero(bkg.contains(x, y))
    assert t["AREA"][0] == pytest.approx(96.0)
    assert t["BG_AREA"][0] == pytest.approx(math.pi * (1600 - 400 - 25), rel=2e-3)
    assert t["SHAPE"][0].strip().lower().startswith("box")


def test_tables_read_back_through_xdm(
    synthetic_events: Path, radec, tmp_path: Path
) -> None:
    import xdm as top

    ra, dec = radec[0]
    xdm.tools.srcflux(
        infile=str(synthetic_events), pos=f"{ra!r} {dec!r}", outroot=str(tmp_path / "v"),
        radius=3.0,
    )  # fmt: skip
    path = tmp_path / "v_broad.flux"
    ours = top.read(f"{path}[cols counts,r,net_rate_aper]")
    theirs = Table.read(path, hdu="HISTOGRAM")
    assert ours["COUNTS"][0] == theirs["COUNTS"][0]
    np.testing.assert_array_equal(np.asarray(ours["R"]), np.asarray(theirs["R"]))
    assert ours["R"][0][0] == pytest.approx(3.0 / 0.492)
