"""dmregrid: sums, block sums, rotations and reprojection against numpy and astropy.wcs.

Oracles: numpy sums and reshapes of the inputs; dmcopy's own header for the
coarser binning of the same events; an analytic Gaussian sampled by the test
at pixel centres through astropy.wcs on two tangent planes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

import xdm
from xdm import XdmSemanticError
from xdm.cli.main import main
from xdm.tools import dmregrid


@pytest.fixture(scope="module")
def img(synthetic_events: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("regrid")
    return xdm.copy(
        f"{synthetic_events}[bin x=3900:4300:8,y=3900:4300:8]", d / "img.fits"
    )


def test_identity_grid_keeps_the_image(img: Path, tmp_path: Path) -> None:
    out = tmp_path / "same.fits"
    r = dmregrid(infile=str(img), outfile=str(out), bin="1:50:1,1:50:1")
    assert r.shape == (50, 50)
    np.testing.assert_array_equal(fits.getdata(out), fits.getdata(img))
    a, b = fits.getheader(out), fits.getheader(img)
    for key in ("CRPIX1", "CRPIX2", "CDELT1", "LTV1", "LTM1_1", "CRPIX1P", "CDELT1P"):
        assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-12), key


def test_block_sum_matches_dmcopys_coarser_binning(
    synthetic_events: Path, img: Path, tmp_path: Path
) -> None:
    out = tmp_path / "b2.fits"
    dmregrid(infile=str(img), outfile=str(out), bin="1:50:2,1:50:2")
    data = fits.getdata(img).astype(float)
    np.testing.assert_array_equal(
        fits.getdata(out), data.reshape(25, 2, 25, 2).sum(axis=(1, 3))
    )
    ref = xdm.copy(
        f"{synthetic_events}[bin x=3900:4300:16,y=3900:4300:16]", tmp_path / "r.fits"
    )
    np.testing.assert_array_equal(fits.getdata(out), fits.getdata(ref))
    a, b = fits.getheader(out), fits.getheader(ref)
    for key in (
        "CRPIX1",
        "CRPIX2",
        "CDELT1",
        "CDELT2",
        "LTV1",
        "LTV2",
        "LTM1_1",
        "CRVAL1P",
        "CDELT1P",
    ):
        assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-9), key
    # the same grid asked for in sky pixels
    dmregrid(
        infile=str(img),
        outfile=str(tmp_path / "p.fits"),
        bin="3900:4300:16,3900:4300:16",
        coord_sys="physical",
    )
    np.testing.assert_array_equal(fits.getdata(tmp_path / "p.fits"), fits.getdata(ref))


def test_list_of_maps_is_summed(img: Path, tmp_path: Path) -> None:
    header = fits.getheader(img)
    rng = np.random.default_rng(2)
    maps = [rng.uniform(0, 100, (50, 50)) for _ in range(3)]
    names = []
    for i, m in enumerate(maps):
        path = tmp_path / f"chip{i}.expmap"
        fits.PrimaryHDU(m, header).writeto(path)
        names.append(path.name)
    (tmp_path / "maps.lis").write_text("\n".join(names) + "\n")
    out = tmp_path / "sum.fits"
    r = dmregrid(
        infile="@" + str(tmp_path / "maps.lis"), outfile=str(out), bin="1:50:1,1:50:1"
    )
    np.testing.assert_allclose(
        fits.getdata(out), maps[0] + maps[1] + maps[2], rtol=1e-12
    )
    assert r.inputs == 3


def test_rotation_by_90_degrees(img: Path, tmp_path: Path) -> None:
    out = tmp_path / "rot.fits"
    dmregrid(
        infile=str(img),
        outfile=str(out),
        bin="1:50:1,1:50:1",
        rotangle=90,
        rotxcenter=25.5,
        rotycenter=25.5,
        npts=1,
    )
    d = fits.getdata(img).astype(float)
    want = np.zeros_like(d)
    yy, xx = np.mgrid[0:50, 0:50]
    # logical (x, y) = (xx + 1, yy + 1); a point at +dx from the centre moves to +dy
    dx, dy = xx + 1 - 25.5, yy + 1 - 25.5
    nx, ny = (25.5 - dy - 1).astype(int), (25.5 + dx - 1).astype(int)
    want[ny, nx] = d[yy, xx]
    np.testing.assert_array_equal(fits.getdata(out), want)
    assert fits.getdata(out).sum() == d.sum()


def _gaussian_image(
    header: fits.Header,
    shape: tuple[int, int],
    centre: tuple[float, float],
    sigma_deg: float,
) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        w = WCS(header)
    yy, xx = np.mgrid[1 : shape[0] + 1, 1 : shape[1] + 1]
    ra, dec = w.all_pix2world(xx, yy, 1)
    r2 = ((ra - centre[0]) * np.cos(np.radians(dec))) ** 2 + (dec - centre[1]) ** 2
    return np.exp(-r2 / (2 * sigma_deg**2))


def test_another_tangent_plane_through_ra_dec(img: Path, tmp_path: Path) -> None:
    target = fits.getheader(img)
    other = target.copy()
    other["CRVAL1"], other["CRVAL2"] = 150.13, 2.215  # another tangent point
    centre = (150.1205, 2.2045)
    sigma = 40 * 8 * 0.492 / 3600 / 8  # 40 sky pixels
    src = _gaussian_image(other, (50, 50), centre, sigma)
    fits.PrimaryHDU(src, other).writeto(tmp_path / "other.fits")
    # the grid is the first image's: an empty image on the target grid comes first
    fits.PrimaryHDU(np.zeros((50, 50)), target).writeto(tmp_path / "zero.fits")
    out = tmp_path / "onto.fits"
    dmregrid(
        infile=f"{tmp_path / 'zero.fits'},{tmp_path / 'other.fits'}",
        outfile=str(out),
        bin="1:50:1,1:50:1",
        npts=10,
    )
    want = _gaussian_image(target, (50, 50), centre, sigma)
    got = fits.getdata(out)
    peak = want.max()
    assert np.max(np.abs(got - want)) < 0.015 * peak  # pixel-scale sampling (0.8% seen)
    assert got.sum() == pytest.approx(want.sum(), rel=0.005)


def test_errors(img: Path, tmp_path: Path) -> None:
    with pytest.raises(XdmSemanticError, match="bin="):
        dmregrid(infile=str(img), outfile=str(tmp_path / "x.fits"), bin="1:50")
    assert (
        main(["dmregrid", str(img), str(tmp_path / "y.fits"), "bin=1:50:0,1:50:1"]) == 2
    )
    assert (
        main(["dmregrid", str(img), str(tmp_path / "y.fits"), "bin=1:50:1,1:50:1"]) == 0
    )
    assert (
        main(["dmregrid", str(img), str(tmp_path / "y.fits"), "bin=1:50:1,1:50:1"]) == 2
    )
