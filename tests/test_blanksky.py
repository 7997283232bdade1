"""blanksky and blanksky_image against astropy.wcs and numpy counts made in the test.

The blank-sky file is a second synthetic observation whose events the test moves
to another tangent point with astropy.wcs (sky -> RA/Dec -> new sky). Oracles:
RA/Dec of every background event before and after (astropy.wcs built here from
the TC* keys), per-chip counts and LIVTIMEn ratios computed with numpy on the
files read with astropy, and np.histogram2d of the background per chip times
its BKGSCALn for the image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import xdm
from xdm import XdmIOError, XdmSemanticError
from xdm.cli.main import main
from xdm.tools import blanksky, blanksky_image

CHIPS = (0, 1, 2, 3, 6)


def _col(header: fits.Header, name: str) -> str:
    return next(k[5:] for k in header if k.startswith("TTYPE") and header[k] == name)


def _wcs(header: fits.Header) -> WCS:
    xi, yi = _col(header, "x"), _col(header, "y")
    w = WCS(naxis=2)
    w.wcs.ctype = [header[f"TCTYP{xi}"], header[f"TCTYP{yi}"]]
    w.wcs.crval = [header[f"TCRVL{xi}"], header[f"TCRVL{yi}"]]
    w.wcs.crpix = [header[f"TCRPX{xi}"], header[f"TCRPX{yi}"]]
    w.wcs.cdelt = [header[f"TCDLT{xi}"], header[f"TCDLT{yi}"]]
    return w


@pytest.fixture(scope="module")
def blank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A blank-sky file on another tangent point, with 10x the exposure."""
    from xdm.demo import make_events

    d = tmp_path_factory.mktemp("blank")
    raw = make_events(d / "raw.fits", n_rows=60_000, seed=21)
    out = d / "blank.fits"
    with fits.open(raw) as hdul:
        ev = hdul["EVENTS"]
        old = _wcs(ev.header)
        xi, yi = _col(ev.header, "x"), _col(ev.header, "y")
        new_header = ev.header.copy()
        new_header[f"TCRVL{xi}"] = 150.16
        new_header[f"TCRVL{yi}"] = 2.17
        ra, dec = old.all_pix2world(ev.data["x"], ev.data["y"], 1)
        nx, ny = _wcs(new_header).all_world2pix(ra, dec, 1)
        data = ev.data.copy()
        data["x"], data["y"] = nx, ny
        hdul["EVENTS"].data = data
        hdul.writeto(out)
    with fits.open(out, mode="update") as hdul:  # column attributes win on write
        h = hdul["EVENTS"].header
        h[f"TCRVL{xi}"], h[f"TCRVL{yi}"] = 150.16, 2.17
        for key in ("EXPOSURE", "LIVETIME", *(f"LIVTIME{c}" for c in CHIPS)):
            h[key] = h[key] * 10.0
        h["LIVTIME6"] = h["LIVTIME6"] * 2.0  # one chip with another live time
    assert _wcs(fits.getheader(out, "EVENTS")).wcs.crval[0] == 150.16
    return out


def _band_counts(path: Path, lo: float = 9000, hi: float = 12000, mask=None) -> dict:
    ev = fits.getdata(path, "EVENTS")
    keep = (ev["energy"] >= lo) & (ev["energy"] < hi)
    if mask is not None:
        keep &= mask(ev)
    return {c: int((keep & (ev["ccd_id"] == c)).sum()) for c in CHIPS}


def test_events_keep_their_sky_position(
    synthetic_events: Path, blank: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bkg.fits"
    r = blanksky(evtfile=str(synthetic_events), blankfile=str(blank), outfile=str(out))
    assert r.reprojected
    got = fits.getdata(out, "EVENTS")
    src = fits.getdata(blank, "EVENTS")
    assert len(got) == len(src)  # all land inside the sky range
    ra0, dec0 = _wcs(fits.getheader(blank, "EVENTS")).all_pix2world(
        src["x"], src["y"], 1
    )
    obs_wcs = _wcs(fits.getheader(synthetic_events, "EVENTS"))
    ra1, dec1 = obs_wcs.all_pix2world(got["x"], got["y"], 1)
    # float32 sky pixels: 1e-3 pixel is 0.5 milliarcsec
    assert (
        np.max(np.abs(ra1 - ra0)) * 3600 < 1e-3
        and np.max(np.abs(dec1 - dec0)) * 3600 < 1e-3
    )
    assert np.array_equal(got["energy"], src["energy"]) and np.array_equal(
        got["time"], src["time"]
    )
    header = fits.getheader(out, "EVENTS")
    assert header[f"TCRVL{_col(header, 'x')}"] == pytest.approx(150.1191)


def test_particle_scales_are_count_ratios(
    synthetic_events: Path, blank: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bkg.fits"
    r = blanksky(evtfile=str(synthetic_events), blankfile=str(blank), outfile=str(out))
    obs, bkg = _band_counts(synthetic_events), _band_counts(blank)
    h = fits.getheader(out, "EVENTS")
    for c in CHIPS:
        assert h[f"BKGSCAL{c}"] == pytest.approx(obs[c] / bkg[c], rel=1e-12)
        assert r.scales[c] == h[f"BKGSCAL{c}"]
    assert h["BKGMETH"] == "particle" and h["BKGPARAM"] == "[energy=9000:12000]"
    obs_h = fits.getheader(synthetic_events, "EVENTS")
    for key in ("EXPOSURE", "LIVETIME", "ONTIME", "LIVTIME3", "EXPOSUR3", "RA_NOM"):
        assert h[key] == obs_h[key], key
    assert h["BSKYEXP"] == pytest.approx(10 * obs_h["EXPOSURE"])


def test_time_and_particle_rate(
    synthetic_events: Path, blank: Path, tmp_path: Path
) -> None:
    obs_h = fits.getheader(synthetic_events, "EVENTS")
    bkg_h = fits.getheader(blank, "EVENTS")
    t = {c: obs_h[f"LIVTIME{c}"] / bkg_h[f"LIVTIME{c}"] for c in CHIPS}
    assert t[6] == pytest.approx(0.05) and t[3] == pytest.approx(0.1)
    blanksky(
        evtfile=str(synthetic_events),
        blankfile=str(blank),
        outfile=str(tmp_path / "t.fits"),
        weight_method="time",
    )
    h = fits.getheader(tmp_path / "t.fits", "EVENTS")
    assert "BKGPARAM" not in h and h["BKGMETH"] == "time"
    for c in CHIPS:
        assert h[f"BKGSCAL{c}"] == pytest.approx(t[c], rel=1e-12)
    blanksky(
        evtfile=str(synthetic_events),
        blankfile=str(blank),
        outfile=str(tmp_path / "r.fits"),
        weight_method="particle-rate",
        bkgparams="[energy=10000:14000]",
    )
    h = fits.getheader(tmp_path / "r.fits", "EVENTS")
    obs = _band_counts(synthetic_events, 10000, 14000)
    bkg = _band_counts(blank, 10000, 14000)
    for c in CHIPS:
        assert h[f"BKGSCAL{c}"] == pytest.approx(obs[c] / bkg[c] / t[c], rel=1e-12)
    assert h["BKGPARAM"] == "[energy=10000:14000]"


def test_observation_filters_and_chips_carry_over(
    synthetic_events: Path, blank: Path, tmp_path: Path
) -> None:
    out = tmp_path / "f.fits"
    r = blanksky(
        evtfile=f"{synthetic_events}[ccd_id=3,6][grade=0,2,3,4,6]",
        blankfile=str(blank),
        outfile=str(out),
    )
    assert sorted(r.scales) == [3, 6]
    h = fits.getheader(out, "EVENTS")
    assert "BKGSCAL0" not in h and "BKGSCAL3" in h
    ev = fits.getdata(blank, "EVENTS")
    grades = np.isin(ev["grade"], [0, 2, 3, 4, 6])
    want = int((np.isin(ev["ccd_id"], [3, 6]) & grades).sum())
    assert r.events == want == len(fits.getdata(out, "EVENTS"))

    def graded(e):
        return np.isin(e["grade"], [0, 2, 3, 4, 6])

    obs, bkg = (
        _band_counts(synthetic_events, mask=graded),
        _band_counts(blank, mask=graded),
    )
    assert h["BKGSCAL6"] == pytest.approx(obs[6] / bkg[6], rel=1e-12)


def test_errors(synthetic_events: Path, blank: Path, tmp_path: Path) -> None:
    with pytest.raises(XdmSemanticError, match="zero counts"):
        blanksky(
            evtfile=f"{synthetic_events}[energy=:8000]",
            blankfile=str(blank),
            outfile=str(tmp_path / "z.fits"),
        )
    with pytest.raises(XdmSemanticError, match="energy or pi"):
        blanksky(
            evtfile=str(synthetic_events),
            blankfile=str(blank),
            outfile=str(tmp_path / "z.fits"),
            bkgparams="[grade=0]",
        )
    with pytest.raises(XdmSemanticError, match="brackets"):
        blanksky(
            evtfile=str(synthetic_events),
            blankfile=str(blank),
            outfile=str(tmp_path / "z.fits"),
            bkgparams="energy=9000:12000",
        )
    assert not (tmp_path / "z.fits").exists()
    blanksky(
        evtfile=str(synthetic_events),
        blankfile=str(blank),
        outfile=str(tmp_path / "y.fits"),
        weight_method="time",
    )
    with pytest.raises(XdmIOError, match="exists"):
        blanksky(
            evtfile=str(synthetic_events),
            blankfile=str(blank),
            outfile=str(tmp_path / "y.fits"),
            weight_method="time",
        )
    assert (
        main(
            [
                "blanksky",
                str(synthetic_events),
                str(tmp_path / "w.fits"),
                f"blankfile={blank}",
                "weight_method=speed",
            ]
        )
        == 2
    )


# ---------------------------------------------------------------- blanksky_image


def test_background_image_is_the_scaled_sum_per_chip(
    synthetic_events: Path, blank: Path, tmp_path: Path
) -> None:
    bkg = tmp_path / "bkg.fits"
    blanksky(evtfile=str(synthetic_events), blankfile=str(blank), outfile=str(bkg))
    img = xdm.copy(
        f"{synthetic_events}[ccd_id=0:3][energy=500:2000][grade=0,2,3,4,6]"
        "[bin x=3800:4400:8,y=3800:4400:8]",
        tmp_path / "img.fits",
    )
    r = blanksky_image(bkgfile=str(bkg), outroot=str(tmp_path / "b"), imgfile=str(img))
    assert Path(r.bgnd).name == "b_particle_bgnd.img"
    assert sorted(r.scales) == [0, 1, 2, 3]  # the image's chips only
    ev = fits.getdata(bkg, "EVENTS")
    h = fits.getheader(bkg, "EVENTS")
    edges = np.arange(3800, 4400 + 8, 8.0)
    want = np.zeros((75, 75))
    for c in (0, 1, 2, 3):
        keep = (
            (ev["ccd_id"] == c)
            & (ev["energy"] >= 500)
            & (ev["energy"] < 2000)
            & np.isin(ev["grade"], [0, 2, 3, 4, 6])
        )
        hist, _, _ = np.histogram2d(ev["y"][keep], ev["x"][keep], bins=[edges, edges])
        want += h[f"BKGSCAL{c}"] * hist
    got = fits.getdata(r.bgnd)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(
        fits.getdata(r.bkgsub), fits.getdata(img) - want, rtol=1e-12
    )
    out_h = fits.getheader(r.bgnd)
    for key in ("CRVAL1", "CRPIX1", "CDELT1", "LTV1", "LTM1_1"):
        assert out_h[key] == fits.getheader(img)[key]
    assert out_h["BKGMETH"] == "particle"


def test_background_image_with_a_region_subspace(
    synthetic_events: Path, blank: Path, tmp_path: Path
) -> None:
    bkg = tmp_path / "bkg.fits"
    blanksky(
        evtfile=str(synthetic_events),
        blankfile=str(blank),
        outfile=str(bkg),
        weight_method="time",
    )
    img = xdm.copy(
        f"{synthetic_events}[sky=circle(4100,4100,120)][energy=700:3000]"
        "[bin x=3950:4250:4,y=3950:4250:4]",
        tmp_path / "img.fits",
    )
    r = blanksky_image(bkgfile=str(bkg), outroot=str(tmp_path / "c_"), imgfile=str(img))
    assert Path(r.bgnd).name == "c_time_bgnd.img"
    ev = fits.getdata(bkg, "EVENTS")
    h = fits.getheader(bkg, "EVENTS")
    edges = np.arange(3950, 4250 + 4, 4.0)
    inside = (ev["x"] - 4100.0) ** 2 + (ev["y"] - 4100.0) ** 2 <= 120.0**2
    want = np.zeros((75, 75))
    for c in CHIPS:
        keep = (
            inside & (ev["ccd_id"] == c) & (ev["energy"] >= 700) & (ev["energy"] < 3000)
        )
        hist, _, _ = np.histogram2d(ev["y"][keep], ev["x"][keep], bins=[edges, edges])
        want += h[f"BKGSCAL{c}"] * hist
    np.testing.assert_allclose(fits.getdata(r.bgnd), want, rtol=1e-12)


def test_blanksky_image_needs_a_tailored_file(
    synthetic_events: Path, tmp_path: Path
) -> None:
    img = xdm.copy(
        f"{synthetic_events}[bin x=3900:4300:8,y=3900:4300:8]", tmp_path / "i.fits"
    )
    with pytest.raises(XdmSemanticError, match="BKGMETH"):
        blanksky_image(
            bkgfile=str(synthetic_events), outroot=str(tmp_path / "x"), imgfile=str(img)
        )


def _as_hrc(src: Path, out: Path) -> Path:
    """A demo file relabelled as HRC-I: chip_id 0 for every event."""
    with fits.open(src) as hdul:
        ev = hdul["EVENTS"]
        ev.data["ccd_id"][:] = 0
        ev.columns.change_name("ccd_id", "chip_id")
        ev.header["INSTRUME"] = "HRC"
        ev.header["DETNAM"] = "HRC-I"
        hdul.writeto(out)
    return out


def test_hrc_gets_one_bkgscale(
    synthetic_events: Path, blank: Path, tmp_path: Path
) -> None:
    obs = _as_hrc(synthetic_events, tmp_path / "hrc_obs.fits")
    bkg = _as_hrc(blank, tmp_path / "hrc_blank.fits")
    out = tmp_path / "hrc_bkg.fits"
    r = blanksky(evtfile=str(obs), blankfile=str(bkg), outfile=str(out))
    h = fits.getheader(out, "EVENTS")
    assert h["BKGPARAM"] == "[pi=300:500]" and not any(
        k.startswith("BKGSCAL") and k != "BKGSCALE" for k in h
    )

    def band(path: Path) -> int:
        pi = fits.getdata(path, "EVENTS")["pi"]
        return int(((pi >= 300) & (pi <= 500)).sum())  # pi is an integer column: closed

    assert h["BKGSCALE"] == pytest.approx(band(obs) / band(bkg), rel=1e-12)
    assert r.as_dict()["scales"] == {"BKGSCALE": h["BKGSCALE"]}
    img = xdm.copy(
        f"{obs}[pi=50:400][bin x=3900:4300:8,y=3900:4300:8]", tmp_path / "h.img"
    )
    b = blanksky_image(bkgfile=str(out), outroot=str(tmp_path / "h"), imgfile=str(img))
    ev = fits.getdata(out, "EVENTS")
    keep = (ev["pi"] >= 50) & (ev["pi"] <= 400)
    edges = np.arange(3900, 4300 + 8, 8.0)
    hist, _, _ = np.histogram2d(ev["y"][keep], ev["x"][keep], bins=[edges, edges])
    np.testing.assert_allclose(fits.getdata(b.bgnd), h["BKGSCALE"] * hist, rtol=1e-12)


def _relabel(src: Path, out: Path, ra: float, dec: float) -> Path:
    """The same events with another tangent point for their sky pixels."""
    with fits.open(src) as hdul:
        hdul.writeto(out)
    with fits.open(out, mode="update") as hdul:
        h = hdul["EVENTS"].header
        h[f"TCRVL{_col(h, 'x')}"], h[f"TCRVL{_col(h, 'y')}"] = ra, dec
    return out


def test_reprojection_at_high_declination(
    synthetic_events: Path, tmp_path: Path
) -> None:
    from xdm.demo import make_events

    obs = _relabel(synthetic_events, tmp_path / "obs.fits", 210.0, 72.0)
    raw = make_events(tmp_path / "raw.fits", n_rows=20_000, seed=4)
    bkg = _relabel(raw, tmp_path / "bkg.fits", 210.4, 71.93)
    out = tmp_path / "out.fits"
    blanksky(
        evtfile=str(obs), blankfile=str(bkg), outfile=str(out), weight_method="time"
    )
    src = fits.getdata(bkg, "EVENTS")
    ra, dec = _wcs(fits.getheader(bkg, "EVENTS")).all_pix2world(src["x"], src["y"], 1)
    want_x, want_y = _wcs(fits.getheader(obs, "EVENTS")).all_world2pix(ra, dec, 1)
    inside = (want_x >= 0.5) & (want_x <= 8192.5) & (want_y >= 0.5) & (want_y <= 8192.5)
    got = fits.getdata(out, "EVENTS")
    assert len(got) == int(inside.sum()) > 0.9 * len(src)
    assert abs(float(np.mean(want_x[inside])) - 4096.5) > 500  # really moved
    # float32 columns: a few 1e-4 pixel
    np.testing.assert_allclose(got["x"], want_x[inside], atol=2e-3, rtol=0)
    np.testing.assert_allclose(got["y"], want_y[inside], atol=2e-3, rtol=0)


def test_a_list_of_per_chip_blank_files(
    synthetic_events: Path, blank: Path, tmp_path: Path
) -> None:
    parts = []
    for name, chips, factor in (("a", (0, 1, 2), 3.0), ("b", (3, 6), 5.0)):
        path = tmp_path / f"{name}.fits"
        xdm.copy(f"{blank}[ccd_id={','.join(map(str, chips))}]", path)
        with fits.open(path, mode="update") as hdul:
            for c in chips:
                hdul["EVENTS"].header[f"LIVTIME{c}"] *= factor
        parts.append(path)
    (tmp_path / "blank.lis").write_text("a.fits\nb.fits\n")
    out = tmp_path / "t.fits"
    blanksky(
        evtfile=str(synthetic_events),
        blankfile="@" + str(tmp_path / "blank.lis"),
        outfile=str(out),
        weight_method="time",
    )
    h = fits.getheader(out, "EVENTS")
    obs_h = fits.getheader(synthetic_events, "EVENTS")
    for path in parts:
        ph = fits.getheader(path, "EVENTS")
        for c in set(fits.getdata(path, "EVENTS")["ccd_id"].tolist()):
            assert h[f"BKGSCAL{c}"] == pytest.approx(
                obs_h[f"LIVTIME{c}"] / ph[f"LIVTIME{c}"], rel=1e-12
            )
    assert len(fits.getdata(out, "EVENTS")) == len(fits.getdata(blank, "EVENTS"))
    blanksky(
        evtfile=str(synthetic_events),
        blankfile=f"{parts[0]},{parts[1]}",
        outfile=str(tmp_path / "p.fits"),
    )
    obs, bkg = _band_counts(synthetic_events), _band_counts(blank)
    hp = fits.getheader(tmp_path / "p.fits", "EVENTS")
    for c in CHIPS:
        assert hp[f"BKGSCAL{c}"] == pytest.approx(obs[c] / bkg[c], rel=1e-12)
