"""fluximage: counts images equal dmcopy's, thresholds and fluxes against numpy.

Oracles: the counts image of ``xdm.copy`` (dmcopy) for the same grid; a plain
``np.histogram2d`` of the events read with astropy; exposure maps written by
the test with numpy; SPECRESP looked up in the real ARF with astropy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
from xdm import XdmIOError, XdmSemanticError
from xdm.cli.main import main
from xdm.tools import fluximage

ROOT = Path(__file__).resolve().parents[1]
ARF = ROOT / "tests" / "data" / "spectra" / "3c273.arf"
GRID = "3900:4300:8,3900:4300:8"


def _events(path: Path) -> fits.FITS_rec:
    return fits.getdata(path, "EVENTS")


def _hist(path: Path, lo_ev: float, hi_ev: float, edges: np.ndarray) -> np.ndarray:
    ev = _events(path)
    keep = (ev["energy"] >= lo_ev) & (ev["energy"] < hi_ev)
    h, _, _ = np.histogram2d(ev["y"][keep], ev["x"][keep], bins=[edges, edges])
    return h


def _map_file(path: Path, data: np.ndarray, like: Path) -> Path:
    header = fits.getheader(like)
    header["BUNIT"] = "cm**2 s"
    fits.PrimaryHDU(data=data, header=header).writeto(path, overwrite=True)
    return path


def test_counts_image_is_dmcopys_for_the_same_grid(
    synthetic_events: Path, tmp_path: Path
) -> None:
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "a"),
        xygrid=GRID,
        units="time",
        cleanup=False,
    )
    ours = tmp_path / "a_broad.img"
    ref = xdm.copy(
        f"{synthetic_events}[energy=500:7000][bin x=3900:4300:8,y=3900:4300:8]",
        tmp_path / "dmcopy.img",
    )
    a, b = fits.getdata(ours), fits.getdata(ref)
    assert a.dtype == b.dtype and np.array_equal(a, b)
    ha, hb = fits.getheader(ours), fits.getheader(ref)
    for key in (
        "CRVAL1",
        "CRVAL2",
        "CRPIX1",
        "CRPIX2",
        "CDELT1",
        "CDELT2",
        "CTYPE1",
        "CTYPE2",
        "LTV1",
        "LTV2",
        "LTM1_1",
        "LTM2_2",
        "CRVAL1P",
        "CDELT1P",
        "EXPOSURE",
        "BUNIT",
    ):
        assert ha[key] == hb[key], key
    # and both equal an independent histogram of the events
    edges = np.arange(3900, 4300 + 8, 8.0)
    assert np.array_equal(a, _hist(synthetic_events, 500, 7000, edges))


def test_time_units_give_count_rate_images(
    synthetic_events: Path, tmp_path: Path
) -> None:
    r = fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "t"),
        xygrid=GRID,
        units="time",
    )
    assert [Path(f).name for f in r.files] == [
        "t_broad_thresh.img",
        "t_broad_thresh.expmap",
        "t_broad_flux.img",
    ]
    exposure = fits.getheader(synthetic_events, "EVENTS")["EXPOSURE"]
    edges = np.arange(3900, 4300 + 8, 8.0)
    counts = _hist(synthetic_events, 500, 7000, edges)
    flux = fits.getdata(tmp_path / "t_broad_flux.img")
    np.testing.assert_allclose(flux, counts / exposure, rtol=1e-12)
    emap = fits.getheader(tmp_path / "t_broad_thresh.expmap")
    assert emap["BUNIT"] == "s" and "ignored" in str(emap["COMMENT"])
    assert fits.getheader(tmp_path / "t_broad_flux.img")["BUNIT"] == "count/s"


def test_user_map_threshold_and_zero_exposure(
    synthetic_events: Path, tmp_path: Path
) -> None:
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "c"),
        xygrid=GRID,
        units="time",
        expmapthresh="none",
    )
    like = tmp_path / "c_broad.img"
    yy, xx = np.mgrid[0:50, 0:50]
    emap = 1.0e6 * (xx + 1) * (yy + 1) / 2500.0  # 400 .. 1e6
    emap[:5, :] = 0.0  # no exposure at all
    _map_file(tmp_path / "user.expmap", emap, like)
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "u"),
        xygrid=GRID,
        expmapfile=str(tmp_path / "user.expmap"),
        cleanup=False,
    )
    counts = fits.getdata(like).astype(float)
    low = emap < 0.015 * emap.max()
    t_img = np.where(low, 0, counts)
    t_exp = np.where(low, 0, emap)
    expected = np.zeros_like(emap)
    expected[t_exp > 0] = t_img[t_exp > 0] / t_exp[t_exp > 0]
    np.testing.assert_array_equal(fits.getdata(tmp_path / "u_broad_thresh.img"), t_img)
    np.testing.assert_array_equal(
        fits.getdata(tmp_path / "u_broad_thresh.expmap"), t_exp
    )
    flux = fits.getdata(tmp_path / "u_broad_flux.img")
    assert np.all(np.isfinite(flux))
    np.testing.assert_allclose(flux, expected, rtol=1e-12)
    h = fits.getheader(tmp_path / "u_broad_flux.img")
    assert h["BUNIT"] == "photon/cm**2/s" and h["EXTNAME"] == "PFLUX_IMAGE"
    assert h["CTYPE1"] == "RA---TAN" and "LTV1" in h
    # an absolute cut
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "v"),
        xygrid=GRID,
        expmapfile=str(tmp_path / "user.expmap"),
        expmapthresh="5e5",
    )
    np.testing.assert_array_equal(
        fits.getdata(tmp_path / "v_broad_thresh.expmap"), np.where(emap < 5e5, 0, emap)
    )


def test_map_on_another_grid_and_list_summed(
    synthetic_events: Path, tmp_path: Path
) -> None:
    # a finer map (binsize 4) of the same tangent plane, from the engine's header
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "f"),
        xygrid="3900:4300:4,3900:4300:4",
        units="time",
        expmapthresh="none",
    )
    fine_like = tmp_path / "f_broad.img"
    rng = np.random.default_rng(5)
    fine = rng.uniform(100, 200, (100, 100))
    _map_file(tmp_path / "fine.expmap", fine, fine_like)
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "g"),
        xygrid=GRID,
        expmapfile=str(tmp_path / "fine.expmap"),
        expmapthresh="none",
    )
    got = fits.getdata(tmp_path / "g_broad.expmap")
    np.testing.assert_allclose(
        got, fine.reshape(50, 2, 50, 2).mean(axis=(1, 3)), rtol=1e-12
    )
    # per-chip style maps on the counts grid, listed in a file: summed
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "c"),
        xygrid=GRID,
        units="time",
        expmapthresh="none",
    )
    like = tmp_path / "c_broad.img"
    left = np.zeros((50, 50))
    left[:, :25] = 300.0
    right = np.zeros((50, 50))
    right[:, 20:] = 200.0
    _map_file(tmp_path / "left.expmap", left, like)
    _map_file(tmp_path / "right.expmap", right, like)
    (tmp_path / "maps.lis").write_text("left.expmap\n# a comment\nright.expmap\n")
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "s"),
        xygrid=GRID,
        expmapfile="@" + str(tmp_path / "maps.lis"),
        expmapthresh="none",
    )
    np.testing.assert_array_equal(
        fits.getdata(tmp_path / "s_broad.expmap"), left + right
    )


def _specresp(energy: float) -> float:
    d = fits.getdata(ARF, "SPECRESP")
    i = np.nonzero((d["ENERG_LO"] <= energy) & (energy < d["ENERG_HI"]))[0][0]
    return float(d["SPECRESP"][i])


def test_arf_flat_map_mono_and_weighted(synthetic_events: Path, tmp_path: Path) -> None:
    exposure = fits.getheader(synthetic_events, "EVENTS")["EXPOSURE"]
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "r"),
        xygrid=GRID,
        arffile=str(ARF),
        expmapthresh="none",
    )
    emap = fits.getdata(tmp_path / "r_broad.expmap")
    np.testing.assert_allclose(emap, _specresp(2.3) * exposure, rtol=1e-6)
    h = fits.getheader(tmp_path / "r_broad.expmap")
    assert h["BUNIT"] == "cm**2 s" and "vignetting" in str(h["COMMENT"])
    weights = tmp_path / "w.txt"
    weights.write_text("# keV weight\n1.0 1\n2.0 3\n4.0 0.5\n")
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "w"),
        xygrid=GRID,
        arffile=str(ARF),
        weights=str(weights),
        expmapthresh="none",
    )
    mean = (_specresp(1.0) + 3 * _specresp(2.0) + 0.5 * _specresp(4.0)) / 4.5
    np.testing.assert_allclose(
        fits.getdata(tmp_path / "w_broad.expmap"), mean * exposure, rtol=1e-6
    )
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "u"),
        xygrid=GRID,
        arffile=str(ARF),
        units="area",
        expmapthresh="none",
    )
    np.testing.assert_allclose(
        fits.getdata(tmp_path / "u_broad.expmap"), _specresp(2.3), rtol=1e-6
    )
    assert fits.getheader(tmp_path / "u_broad_flux.img")["BUNIT"] == "photon/cm**2"


def test_fov_mask_zeroes_the_flat_map(synthetic_events: Path, tmp_path: Path) -> None:
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "m"),
        xygrid=GRID,
        units="time",
        fovfile="circle(4100,4100,100)",
        expmapthresh="none",
    )
    emap = fits.getdata(tmp_path / "m_broad.expmap")
    centres = 3900 + 8 * (np.arange(50) + 0.5)
    yy, xx = np.meshgrid(centres, centres, indexing="ij")
    inside = (xx - 4100) ** 2 + (yy - 4100) ** 2 < 100**2
    exposure = fits.getheader(synthetic_events, "EVENTS")["EXPOSURE"]
    np.testing.assert_array_equal(emap, np.where(inside, exposure, 0.0))


def test_bands_names_and_default_grid(synthetic_events: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = fluximage(
        infile=str(synthetic_events),
        outroot=str(out) + "/a",
        bands="soft,0.5:7:2.3",
        units="time",
        binsize=16,
    )
    names = sorted(Path(f).name for f in r.files)
    assert "a_0.5-7_flux.img" in names and "a_soft_flux.img" in names
    ev = _events(synthetic_events)
    n_band = int(((ev["energy"] >= 500) & (ev["energy"] < 7000)).sum())
    assert int(fits.getdata(out / "a_0.5-7_thresh.img").sum()) <= n_band
    full = fluximage(
        infile=str(synthetic_events),
        outroot=str(out) + "/",
        units="time",
        binsize=16,
        expmapthresh="none",
    )
    assert (
        int(fits.getdata(out / "broad.img").sum()) == n_band
    )  # the grid holds them all
    assert full.bands[0].counts == n_band


def test_xygrid_from_an_image_file(synthetic_events: Path, tmp_path: Path) -> None:
    ref = xdm.copy(
        f"{synthetic_events}[bin x=3950:4250:4,y=4000:4200:4]", tmp_path / "ref.img"
    )
    r = fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "i"),
        xygrid=str(ref),
        units="time",
    )
    assert r.grid == "x=3950:4250:4,y=4000:4200:4" and r.shape == (50, 75)
    r = fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "n"),
        xygrid="3900:4300:#50,3900:4300:#25",
        units="time",
    )
    assert r.shape == (25, 50) and r.grid == "x=3900:4300:8,y=3900:4300:16"


def test_errors_are_clean(synthetic_events: Path, tmp_path: Path) -> None:
    with pytest.raises(XdmSemanticError, match="no exposure map"):
        fluximage(
            infile=str(synthetic_events), outroot=str(tmp_path / "e"), xygrid=GRID
        )
    with pytest.raises(XdmSemanticError, match="expmapthresh"):
        fluximage(
            infile=str(synthetic_events),
            outroot=str(tmp_path / "e"),
            units="time",
            expmapthresh="lots",
        )
    with pytest.raises(XdmSemanticError, match="xygrid"):
        fluximage(
            infile=str(synthetic_events),
            outroot=str(tmp_path / "e"),
            units="time",
            xygrid="1:2",
        )
    fluximage(
        infile=str(synthetic_events),
        outroot=str(tmp_path / "e"),
        xygrid=GRID,
        units="time",
    )
    with pytest.raises(XdmIOError, match="exists"):
        fluximage(
            infile=str(synthetic_events),
            outroot=str(tmp_path / "e"),
            xygrid=GRID,
            units="time",
        )


def test_cli_exit_status(
    synthetic_events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "fluximage",
            str(synthetic_events),
            str(tmp_path / "k"),
            f"xygrid={GRID}",
            "units=time",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "k_broad_flux.img" in out and "vignetting" in out
    assert main(["fluximage", str(synthetic_events), str(tmp_path / "k")]) == 2


def test_hrc_default_band_is_wide_and_unfiltered(
    synthetic_events: Path, tmp_path: Path
) -> None:
    hrc = tmp_path / "hrc.fits"
    with fits.open(synthetic_events) as hdul:
        hdul["EVENTS"].header["INSTRUME"] = "HRC"
        hdul.writeto(hrc)
    r = fluximage(
        infile=str(hrc), outroot=str(tmp_path / "h"), units="time", expmapthresh="none"
    )
    assert [b.band for b in r.bands] == ["wide"]
    counts = fits.getdata(tmp_path / "h_wide.img")
    assert int(counts.sum()) == len(_events(hrc))  # no energy filter, every event
    assert fits.getheader(tmp_path / "h_wide.img")["LTM1_1"] == pytest.approx(1 / 32)
    with pytest.raises(XdmSemanticError, match="HRC"):
        fluximage(
            infile=str(hrc), outroot=str(tmp_path / "h2"), units="time", bands="broad"
        )


def test_xygrid_number_of_bins_and_axis_names_give_the_same_image(
    synthetic_events: Path, tmp_path: Path
) -> None:
    """``lo:hi:#n`` and ``x=``/``y=`` spell the grid ``lo:hi:step`` spells."""
    images = []
    for k, grid in enumerate(
        (GRID, "3900:4300:#50,3900:4300:#50", "x=3900:4300:8,y=3900:4300:8")
    ):
        fluximage(
            infile=str(synthetic_events),
            outroot=str(tmp_path / f"g{k}"),
            xygrid=grid,
            units="time",
            cleanup=False,
        )
        images.append(fits.getdata(tmp_path / f"g{k}_broad.img"))
    assert images[0].shape == (50, 50)
    for other in images[1:]:
        assert np.array_equal(images[0], other)
    for bad in ("3900:4300:0,3900:4300:8", "4300:3900:8,3900:4300:8", "1:2:#0,1:2:1"):
        with pytest.raises(XdmSemanticError, match="fluximage: xygrid="):
            fluximage(
                infile=str(synthetic_events),
                outroot=str(tmp_path / "bad"),
                xygrid=bad,
                units="time",
            )
