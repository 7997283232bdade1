"""merge_obs against plain numpy and astropy: three pointings, one merged plane.

The observations are written here with astropy: three tangent points a few
arcminutes apart, two CCD-like rectangles of background each, and sources put at
known RA/Dec through each observation's own WCS. Oracles: every event's RA/Dec by
astropy.wcs from the file's column keys, to the merged image's pixel through the
merged image's own WCS, histogrammed with ``np.histogram2d``; the known source
positions; the rectangles the footprint must cover; SPECRESP read from a real ARF.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import xdm.tools
from xdm.errors import XdmIOError, XdmSemanticError
from xdm.tools.merge_obs import scan_many, tree_reduce

SCALE = 0.492 / 3600.0
POINTINGS = [(150.10, 2.20), (150.14, 2.23), (150.07, 2.17)]  # tangent points (deg)
SOURCES = [(150.105, 2.205, 600), (150.125, 2.215, 400), (150.095, 2.19, 300)]
EXPOSURES = [20_000.0, 35_000.0, 12_000.0]
CHIPS = {0: (3700.0, 4090.0, 3700.0, 4500.0), 1: (4100.0, 4500.0, 3700.0, 4500.0)}
ARF = Path(__file__).parent / "data" / "spectra" / "3c273.arf"


def column_wcs(ra0: float, dec0: float) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra0, dec0]
    w.wcs.crpix = [4096.5, 4096.5]
    w.wcs.cdelt = [-SCALE, SCALE]
    w.wcs.set()
    return w


def write_obs(path: Path, k: int, n_bkg: int = 6000, seed: int = 0) -> Path:
    """One observation: background on two chips and the sources, energies 0.3-9 keV."""
    rng = np.random.default_rng(seed + 17 * k)
    ra0, dec0 = POINTINGS[k]
    w = column_wcs(ra0, dec0)
    xs, ys, cc = [], [], []
    for chip, (x0, x1, y0, y1) in CHIPS.items():
        xs.append(rng.uniform(x0, x1, n_bkg))
        ys.append(rng.uniform(y0, y1, n_bkg))
        cc.append(np.full(n_bkg, chip))
    for ra, dec, n in SOURCES:
        px, py = w.wcs_world2pix([[ra, dec]], 1)[0]
        xs.append(px + rng.normal(0, 1.2, n))
        ys.append(py + rng.normal(0, 1.2, n))
        cc.append(np.where(px < 4095, 0, 1) + np.zeros(n, dtype=int))
    x, y, ccd = np.concatenate(xs), np.concatenate(ys), np.concatenate(cc)
    # float32 positions can sit exactly on a bin edge (0.5 + k); the oracle's
    # WCS round trip moves such a tie by 1e-12 pixel into either bin: avoid ties
    x, y = (
        np.where((v.astype(np.float32) - 0.5) % 1 == 0, v + 0.25, v) for v in (x, y)
    )
    n = len(x)
    order = rng.permutation(n)
    cols = [
        fits.Column("time", "D", "s", array=np.sort(rng.uniform(0, 1e4, n))),
        fits.Column("ccd_id", "I", array=ccd[order]),
        fits.Column("energy", "E", "eV", array=rng.uniform(300, 9000, n)),
        fits.Column("x", "E", "pixel", array=x[order]),
        fits.Column("y", "E", "pixel", array=y[order]),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    h = hdu.header
    for i, c in ((4, 0), (5, 1)):
        h[f"TCTYP{i}"] = ["RA---TAN", "DEC--TAN"][c]
        h[f"TCRVL{i}"] = POINTINGS[k][c]
        h[f"TCRPX{i}"] = 4096.5
        h[f"TCDLT{i}"] = [-SCALE, SCALE][c]
        h[f"TLMIN{i}"] = 0.5
        h[f"TLMAX{i}"] = 8192.5
    h["TELESCOP"], h["INSTRUME"], h["OBS_ID"] = "CHANDRA", "ACIS", str(1000 + k)
    h["EXPOSURE"], h["TSTART"], h["TSTOP"] = EXPOSURES[k], 0.0, 1e4
    h["RADESYS"], h["EQUINOX"] = "ICRS", 2000.0
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


@pytest.fixture(scope="module")
def obs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("merge_obs")
    return [write_obs(folder / f"obs{k}.fits", k) for k in range(3)]


def events_on(image: Path, files: list[Path], band: tuple[float, float]) -> np.ndarray:
    """The oracle: histogram2d of every event, RA/Dec -> the image's own pixels."""
    header = fits.getheader(image)
    out_wcs = WCS(header)
    ny, nx = header["NAXIS2"], header["NAXIS1"]
    total = np.zeros((ny, nx))
    for f in files:
        d = fits.getdata(f, "EVENTS")
        h = fits.getheader(f, "EVENTS")
        w = column_wcs(h["TCRVL4"], h["TCRVL5"])
        keep = (d["energy"] >= band[0]) & (d["energy"] < band[1])
        ra, dec = w.wcs_pix2world(
            d["x"][keep].astype(float), d["y"][keep].astype(float), 1
        )
        px, py = out_wcs.wcs_world2pix(ra, dec, 0)
        hist, _, _ = np.histogram2d(
            py, px, bins=(ny, nx), range=((-0.5, ny - 0.5), (-0.5, nx - 0.5))
        )
        total += hist
    return total


def test_merged_counts_equal_a_numpy_histogram_of_every_events_sky_position(
    obs: list[Path], tmp_path: Path
) -> None:
    r = xdm.tools.merge_obs(
        infiles=",".join(map(str, obs)),
        outroot=tmp_path / "m",
        units="time",
        expmapthresh="0",
        bands="broad,0.3:2:1",
    )
    assert r.bands == ("broad", "0.3-2")
    for label, band in (("broad", (500.0, 7000.0)), ("0.3-2", (300.0, 2000.0))):
        image = tmp_path / f"m_{label}.img"
        data = fits.getdata(image)
        oracle = events_on(image, obs, band)
        assert data.dtype.kind == "i" and fits.getheader(image)["BUNIT"] == "count"
        np.testing.assert_array_equal(data, oracle)
        assert int(data.sum()) > 5_000
    # three tangent points: every event of the band is on the default grid
    d = [fits.getdata(f, "EVENTS") for f in obs]
    n_broad = sum(int(((e["energy"] >= 500) & (e["energy"] < 7000)).sum()) for e in d)
    assert r.counts[0] == n_broad


def test_sources_at_known_ra_dec_fall_in_the_same_merged_pixel(
    obs: list[Path], tmp_path: Path
) -> None:
    xdm.tools.merge_obs(
        infiles=",".join(map(str, obs)),
        outroot=f"{tmp_path}/",
        units="time",
        binsize=4,
        expmapthresh="0",
    )
    merged = tmp_path / "broad.img"
    w = WCS(fits.getheader(merged))
    peaks = {}
    for ra, dec, _ in SOURCES:
        px, py = w.wcs_world2pix([[ra, dec]], 0)[0]
        peaks[(ra, dec)] = (int(np.floor(py + 0.5)), int(np.floor(px + 0.5)))
    for name in ["broad.img", "1000_broad.img", "1001_broad.img", "1002_broad.img"]:
        data = fits.getdata(tmp_path / name)
        for iy, ix in peaks.values():
            box = data[iy - 3 : iy + 4, ix - 3 : ix + 4]
            peak = np.unravel_index(np.argmax(box), box.shape)
            assert peak == (3, 3), (name, peak)  # the brightest bin is the RA/Dec's
    # the merged tangent point is the first observation's
    h = fits.getheader(merged)
    assert (h["CRVAL1"], h["CRVAL2"]) == POINTINGS[0]
    assert h["CTYPE1"] == "RA---TAN" and h["CDELT2"] == pytest.approx(4 * SCALE)


def test_refcoord_moves_the_tangent_point_and_sources_stay_put(
    obs: list[Path], tmp_path: Path
) -> None:
    xdm.tools.merge_obs(
        infiles=",".join(map(str, obs)),
        outroot=f"{tmp_path}/r",
        units="time",
        refcoord="10:00:30 +02:12:00",
        expmapthresh="0",
    )
    image = tmp_path / "r_broad.img"
    h = fits.getheader(image)
    assert h["CRVAL1"] == pytest.approx(150.125) and h["CRVAL2"] == pytest.approx(2.2)
    np.testing.assert_array_equal(
        fits.getdata(image), events_on(image, obs, (500, 7000))
    )


def test_exposure_is_exposure_times_the_chip_footprint_and_flux_is_the_ratio(
    obs: list[Path], tmp_path: Path
) -> None:
    r = xdm.tools.merge_obs(
        infiles=",".join(map(str, obs)), outroot=f"{tmp_path}/", units="time", binsize=8
    )
    merged_map = fits.getdata(tmp_path / "broad_thresh.expmap").astype(np.float64)
    total = np.zeros_like(merged_map)
    for k in range(3):
        raw = fits.getdata(tmp_path / f"{1000 + k}_broad.expmap")
        h = fits.getheader(tmp_path / f"{1000 + k}_broad.expmap")
        assert h["BUNIT"] == "s"
        # bin centres back in the observation's own sky pixels
        ny, nx = raw.shape
        gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
        ra, dec = WCS(h).wcs_pix2world(gx.ravel(), gy.ravel(), 0)
        ox, oy = column_wcs(*POINTINGS[k]).wcs_world2pix(ra, dec, 1)
        inner = np.zeros(ox.size, bool)
        outer = np.zeros(ox.size, bool)
        for x0, x1, y0, y1 in CHIPS.values():
            # the hull of sparse events cuts a chip's corners by a few pixels
            inner |= (ox > x0 + 12) & (ox < x1 - 12) & (oy > y0 + 12) & (oy < y1 - 12)
            outer |= (ox > x0 - 6) & (ox < x1 + 6) & (oy > y0 - 6) & (oy < y1 + 6)
        flat = raw.ravel()
        assert np.all(flat[inner] == np.float32(EXPOSURES[k]))
        assert np.all(flat[~outer] == 0)
        assert set(np.unique(flat)) <= {0.0, np.float32(EXPOSURES[k])}
        # the threshold (1.5% of the maximum) keeps the whole footprint here
        thr = fits.getdata(tmp_path / f"{1000 + k}_broad_thresh.expmap")
        np.testing.assert_array_equal(thr, raw)
        img = fits.getdata(tmp_path / f"{1000 + k}_broad_thresh.img")
        rawimg = fits.getdata(tmp_path / f"{1000 + k}_broad.img")
        np.testing.assert_array_equal(img, np.where(raw > 0, rawimg, 0))
        total += thr
    np.testing.assert_allclose(merged_map, total, rtol=1e-6)
    counts = fits.getdata(tmp_path / "broad_thresh.img")
    flux = fits.getdata(tmp_path / "broad_flux.img")
    expected = np.where(
        merged_map > 0, counts / np.where(merged_map > 0, merged_map, 1), 0
    )
    np.testing.assert_allclose(flux, expected, rtol=1e-6)
    assert fits.getheader(tmp_path / "broad_flux.img")["BUNIT"] == "count/s"
    assert fits.getheader(tmp_path / "broad_flux.img")["EXTNAME"] == "PFLUX_IMAGE"
    assert r.counts[0] == int(counts.sum())


def test_threshold_cuts_bins_below_the_fraction_of_the_maximum(
    obs: list[Path], tmp_path: Path
) -> None:
    xdm.tools.merge_obs(
        infiles=",".join(map(str, obs[:2])),
        outroot=f"{tmp_path}/",
        units="time",
        expmapthresh="60%",
    )
    for k in range(2):
        raw = fits.getdata(tmp_path / f"{1000 + k}_broad.expmap")
        thr = fits.getdata(tmp_path / f"{1000 + k}_broad_thresh.expmap")
        np.testing.assert_array_equal(thr, np.where(raw >= 0.6 * raw.max(), raw, 0))


def test_arf_exposure_is_specresp_at_the_band_energy_times_exposure(
    obs: list[Path], tmp_path: Path
) -> None:
    arf = fits.getdata(ARF, "SPECRESP")
    i = np.searchsorted(arf["ENERG_HI"], 2.3, side="right")
    assert arf["ENERG_LO"][i] <= 2.3 < arf["ENERG_HI"][i]
    area = float(arf["SPECRESP"][i])
    xdm.tools.merge_obs(
        infiles=",".join(map(str, obs[:2])),
        outroot=f"{tmp_path}/",
        arffiles=f"{ARF},{ARF}",
        expmapthresh="0",
    )
    for k in range(2):
        emap = fits.getdata(tmp_path / f"{1000 + k}_broad.expmap")
        assert (
            fits.getheader(tmp_path / f"{1000 + k}_broad.expmap")["BUNIT"] == "cm**2 s"
        )
        assert emap.max() == np.float32(area * EXPOSURES[k])
    flux_unit = fits.getheader(tmp_path / "broad_flux.img")["BUNIT"]
    assert flux_unit == "photon/cm**2/s"


def test_user_exposure_maps_are_resampled_onto_the_merged_grid(
    obs: list[Path], tmp_path: Path
) -> None:
    # a map already on the merged grid comes back unchanged (same WCS)
    first = tmp_path / "first"
    xdm.tools.merge_obs(
        infiles=",".join(map(str, obs)),
        outroot=f"{first}/",
        units="time",
        expmapthresh="0",
    )
    grid_hdr = fits.getheader(first / "broad.img")
    ny, nx = grid_hdr["NAXIS2"], grid_hdr["NAXIS1"]
    ramp = (np.arange(nx)[None, :] * 3.0 + np.arange(ny)[:, None]).astype(np.float32)
    h = grid_hdr.copy()
    h["BUNIT"] = "cm**2 s"
    fits.PrimaryHDU(ramp, h).writeto(tmp_path / "ramp.fits")
    # a constant map in observation 1's own frame, on a 2-pixel grid
    w = column_wcs(*POINTINGS[1])
    const = fits.Header()
    const.update(w.to_header())
    const["CRPIX1"] = (4096.5 - 3500.5) / 2 + 0.5
    const["CRPIX2"] = (4096.5 - 3500.5) / 2 + 0.5
    const["CDELT1"], const["CDELT2"] = -2 * SCALE, 2 * SCALE
    fits.PrimaryHDU(np.full((600, 600), 500.0, np.float32), const).writeto(
        tmp_path / "const.fits"
    )
    maps = [tmp_path / "ramp.fits", tmp_path / "const.fits", tmp_path / "ramp.fits"]
    xdm.tools.merge_obs(
        infiles=",".join(map(str, obs)),
        outroot=f"{tmp_path}/u/",
        expmapfiles=",".join(map(str, maps)),
        xygrid=str(first / "broad.img"),
        expmapthresh="0",
    )
    np.testing.assert_array_equal(
        fits.getdata(tmp_path / "u" / "1000_broad.expmap"), ramp
    )
    got = fits.getdata(tmp_path / "u" / "1001_broad.expmap")
    # bins whose corners all lie well inside the constant map are exactly 500
    hh = fits.getheader(tmp_path / "u" / "1001_broad.expmap")
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
    ra, dec = WCS(hh).wcs_pix2world(gx.ravel(), gy.ravel(), 0)
    cx, cy = WCS(const).wcs_world2pix(ra, dec, 0)
    inside = ((cx > 10) & (cx < 590) & (cy > 10) & (cy < 590)).reshape(got.shape)
    outside = ((cx < -10) | (cx > 610) | (cy < -10) | (cy > 610)).reshape(got.shape)
    assert inside.sum() > 100 and outside.sum() > 100
    assert np.all(got[inside] == 500.0) and np.all(got[outside] == 0.0)


def test_output_names_follow_ciao(obs: list[Path], tmp_path: Path) -> None:
    r = xdm.tools.merge_obs(
        infiles=",".join(map(str, obs[:2])),
        outroot=f"{tmp_path}/out/a",
        units="time",
        bands="csc",
    )
    names = sorted(Path(f).name for f in r.files)
    for band in ("soft", "medium", "hard"):
        for tail in ("_thresh.img", "_thresh.expmap", "_flux.img"):
            assert f"a_{band}{tail}" in names
        for k in (1000, 1001):
            for tail in (
                ".img",
                ".expmap",
                "_thresh.img",
                "_thresh.expmap",
                "_flux.img",
            ):
                assert f"a_{k}_{band}{tail}" in names
    assert len(names) == 3 * (3 + 2 * 5) == len(set(names))
    assert all(Path(f).exists() for f in r.files)
    assert [Path(f).name for f in r.merged][:3] == [
        "a_soft_thresh.img",
        "a_soft_thresh.expmap",
        "a_soft_flux.img",
    ]


def test_a_list_file_and_filtered_virtual_files(
    obs: list[Path], tmp_path: Path
) -> None:
    lst = tmp_path / "obs.lis"
    lst.write_text("".join(f"{p.name}[ccd_id=0]\n" for p in obs))
    for p in obs:
        shutil.copy(p, tmp_path / p.name)
    r = xdm.tools.merge_obs(
        infiles=f"@{lst}", outroot=f"{tmp_path}/", units="time", expmapthresh="0"
    )
    expected = 0
    for p in obs:
        d = fits.getdata(p, "EVENTS")
        expected += int(
            ((d["ccd_id"] == 0) & (d["energy"] >= 500) & (d["energy"] < 7000)).sum()
        )
    assert r.counts == (expected,)


def test_xygrid_text_gives_the_grid(obs: list[Path], tmp_path: Path) -> None:
    xdm.tools.merge_obs(
        infiles=",".join(map(str, obs)),
        outroot=f"{tmp_path}/",
        units="time",
        xygrid="3800.5:4400.5:#150,3900.5:4300.5:#100",
        expmapthresh="0",
    )
    h = fits.getheader(tmp_path / "broad.img")
    assert (h["NAXIS1"], h["NAXIS2"]) == (150, 100)
    assert h["LTM1_1"] == 0.25 and h["LTV1"] == pytest.approx(0.5 - 3800.5 / 4)
    np.testing.assert_array_equal(
        fits.getdata(tmp_path / "broad.img"),
        events_on(tmp_path / "broad.img", obs, (500, 7000)),
    )


def test_xygrid_steps_and_axis_names_give_the_same_grid(
    obs: list[Path], tmp_path: Path
) -> None:
    """``lo:hi:step`` and ``x=``/``y=`` spell the grid ``lo:hi:#n`` spells."""
    images = []
    for k, grid in enumerate(
        (
            "3800.5:4400.5:#150,3900.5:4300.5:#100",
            "3800.5:4400.5:4,3900.5:4300.5:4",
            "x=3800.5:4400.5:4,y=3900.5:4300.5:#100",
        )
    ):
        xdm.tools.merge_obs(
            infiles=",".join(map(str, obs)),
            outroot=f"{tmp_path}/m{k}_",
            units="time",
            xygrid=grid,
            expmapthresh="0",
        )
        images.append(fits.getdata(tmp_path / f"m{k}_broad.img"))
    assert images[0].shape == (100, 150)
    for other in images[1:]:
        assert np.array_equal(images[0], other)
    for bad, why in (
        ("3800.5:4400.5:4,3900.5:4300.5:8", "square pixels"),
        ("3800.5:4400.5:4,3900.5:4300.5", "xygrid="),
        ("1:2:5,1:2:5", "no whole bin"),
    ):
        with pytest.raises(XdmSemanticError, match=why):
            xdm.tools.merge_obs(
                infiles=",".join(map(str, obs)),
                outroot=f"{tmp_path}/bad_",
                units="time",
                xygrid=bad,
            )


def test_scan_many_matches_numpy_and_does_not_depend_on_the_task_cut(
    obs: list[Path],
) -> None:
    from functools import partial

    def energy_sum(
        index: int, records: np.ndarray, kept: np.ndarray
    ) -> tuple[int, float]:
        return (
            int(kept.sum()),
            float(np.sum(records["energy"][kept], dtype=np.float64)),
        )

    def add(a: tuple[int, float], b: tuple[int, float]) -> tuple[int, float]:
        return (a[0] + b[0], a[1] + b[1])

    vfs = [str(o) for o in obs] + [f"{obs[0]}[energy=1000:2000]"]
    whole = scan_many(vfs, energy_sum, add)
    cut = scan_many(vfs, energy_sum, add, task_rows=1000, chunk_rows=300)
    cut_again = scan_many(vfs, partial(energy_sum), add, task_rows=1000, chunk_rows=300)
    assert cut == cut_again  # the same cut: the same bits
    for k, o in enumerate(obs):
        e = fits.getdata(o, "EVENTS")["energy"].astype(np.float64)
        assert whole[k][0] == cut[k][0] == len(e)
        assert whole[k][1] == pytest.approx(e.sum(), rel=1e-12)
        assert cut[k][1] == pytest.approx(e.sum(), rel=1e-12)
    e = fits.getdata(obs[0], "EVENTS")["energy"]
    assert whole[3][0] == int(((e >= 1000) & (e < 2000)).sum())
    assert (
        tree_reduce([1, 2, 3, 4, 5], lambda a, b: f"({a}+{b})") == "(((1+2)+(3+4))+5)"
    )


def test_bad_input_is_a_clear_user_error(obs: list[Path], tmp_path: Path) -> None:
    infiles = ",".join(map(str, obs))
    with pytest.raises(XdmSemanticError, match="units=default needs exposure maps"):
        xdm.tools.merge_obs(infiles=infiles, outroot=f"{tmp_path}/")
    with pytest.raises(XdmSemanticError, match="asolfiles= needs CIAO"):
        xdm.tools.merge_obs(
            infiles=infiles, outroot=f"{tmp_path}/", units="time", asolfiles="a.fits"
        )
    with pytest.raises(XdmSemanticError, match="xygrid"):
        xdm.tools.merge_obs(
            infiles=infiles, outroot=f"{tmp_path}/", units="time", xygrid="1:2"
        )
    with pytest.raises(XdmSemanticError, match="2 expmapfiles"):
        xdm.tools.merge_obs(
            infiles=infiles,
            outroot=f"{tmp_path}/",
            expmapfiles=f"{obs[0]},{obs[1]}",
            bands="csc,broad",
        )
    with pytest.raises(XdmSemanticError, match="not a 2-D image"):
        xdm.tools.merge_obs(
            infiles=infiles, outroot=f"{tmp_path}/", expmapfiles=infiles
        )
    with pytest.raises(XdmSemanticError, match="scheduler"):
        xdm.tools.merge_obs(
            infiles=infiles,
            outroot=f"{tmp_path}/",
            units="time",
            parallel=True,
            scheduler="nowhere",
        )
    xdm.tools.merge_obs(infiles=infiles, outroot=f"{tmp_path}/", units="time")
    with pytest.raises(XdmIOError, match="exists"):
        xdm.tools.merge_obs(infiles=infiles, outroot=f"{tmp_path}/", units="time")
    again = xdm.tools.merge_obs(
        infiles=infiles, outroot=f"{tmp_path}/", units="time", clobber=True
    )
    assert all(Path(f).exists() for f in again.files)


def test_the_command_line_reports_and_exits_2_on_user_errors(
    obs: list[Path], tmp_path: Path
) -> None:
    exe = [sys.executable, "-m", "xdm", "merge_obs"]
    infiles = ",".join(map(str, obs))
    done = subprocess.run(
        [*exe, infiles, f"{tmp_path}/c/", "units=time", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"merged"' in done.stdout and "broad_flux.img" in done.stdout
    bad = subprocess.run(
        [*exe, infiles, f"{tmp_path}/d/"], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "units=time" in bad.stderr
    assert not (tmp_path / "d").exists()


def test_without_dask_parallel_runs_say_how_to_install_it(
    obs: list[Path], tmp_path: Path
) -> None:
    hide = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('dask', 'distributed'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from xdm.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            hide,
            "merge_obs",
            ",".join(map(str, obs)),
            f"{tmp_path}/",
            "units=time",
            "parallel=yes",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'xdm[dask]'" in done.stderr and "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_hrc_defaults_wide_band_and_32_pixel_bins(tmp_path: Path) -> None:
    path = write_obs(tmp_path / "hrc.fits", 0)
    with fits.open(path, mode="update") as hdul:
        hdul["EVENTS"].header["INSTRUME"] = "HRC"
    r = xdm.tools.merge_obs(
        infiles=str(path), outroot=f"{tmp_path}/h/", units="time", expmapthresh="0"
    )
    h = fits.getheader(tmp_path / "h" / "wide.img")
    assert r.bands == ("wide",) and r.binsize == 32 and h["LTM1_1"] == 1 / 32
    assert r.counts == (len(fits.getdata(path, "EVENTS")),)  # wide: no energy filter


def test_images_carry_the_observation_keys_and_the_merge_spans_the_dates(
    obs: list[Path], tmp_path: Path
) -> None:
    """Each observation's image has its events' DATE-OBS/DATE-END and time system;
    the merged image the earliest start, the latest end and the largest timing
    error (CIAO: fluximage_header_lookup.txt), other keys the first's."""
    dates = [("2019-03-02T10:00:00", "2019-03-02T16:00:00")]
    dates += [("2018-01-05T01:00:00", "2018-01-05T03:00:00")]
    dates += [("2020-07-09T08:00:00", "2020-07-09T09:30:00")]
    files = []
    for k, (path, (start, end)) in enumerate(zip(obs, dates, strict=True)):
        copy = shutil.copy(path, tmp_path / path.name)
        with fits.open(copy, mode="update") as hdul:
            h = hdul["EVENTS"].header
            h["DATE-OBS"], h["DATE-END"] = start, end
            h["TIMESYS"], h["MJDREF"] = "TT", 50814.0
            h["TIMEREF"] = "LOCAL" if k == 0 else "GEO"
            h["TIERABSO"], h["DETNAM"] = [5e-5, 2e-4, 1e-4][k], f"ACIS-{k}"
        files.append(Path(copy))
    xdm.tools.merge_obs(
        infiles=",".join(map(str, files)),
        outroot=f"{tmp_path}/out/",
        units="time",
        expmapthresh="0",
        bands="broad",
    )
    for k, f in enumerate(files):
        events = fits.getheader(f, "EVENTS")
        image = fits.getheader(tmp_path / "out" / f"{1000 + k}_broad.img")
        for key in ("DATE-OBS", "DATE-END", "TIMESYS", "TIMEREF", "MJDREF", "TIERABSO"):
            assert image[key] == events[key], key
        assert image["DETNAM"] == events["DETNAM"]
        assert image["OBS_ID"] == events["OBS_ID"]
    merged = fits.getheader(tmp_path / "out" / "broad.img")
    assert merged["DATE-OBS"] == min(start for start, _ in dates)
    assert merged["DATE-END"] == max(end for _, end in dates)
    assert merged["TIERABSO"] == 2e-4
    assert (merged["TIMEREF"], merged["DETNAM"]) == ("LOCAL", "ACIS-0")
    assert merged["OBS_ID"] == "MERGED"
