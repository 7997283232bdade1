"""Image WCS headers against the event columns' own WCS and a plain gnomonic projection.

Oracles: astropy's WCS of the event columns (TCTYP/TCRVL/TCRPX/TCDLT of real
Chandra files), an independent numpy TAN (gnomonic) inverse written here, and the
observed CIAO physical transform of dm-syntax 7.4.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from xdm.io.imagewcs import (
    AxisGrid,
    binned_image_header,
    collapsed_header,
    physical_axis_names,
    physical_transform,
    physical_world_wcs,
    resampled_header,
    wcs_from_event_columns,
)

DATA = Path(__file__).parent / "data" / "events"


def _gnomonic(x, y, crval, crpix, cdelt):  # type: ignore[no-untyped-def]
    """RA/Dec (deg) of pixel (x, y) for RA---TAN/DEC--TAN, no rotation (textbook inverse)."""
    xi = np.radians(cdelt[0] * (np.asarray(x) - crpix[0]))
    eta = np.radians(cdelt[1] * (np.asarray(y) - crpix[1]))
    ra0, dec0 = np.radians(crval[0]), np.radians(crval[1])
    denom = np.cos(dec0) - eta * np.sin(dec0)
    ra = ra0 + np.arctan2(xi, denom)
    dec = np.arctan((np.sin(dec0) + eta * np.cos(dec0)) * np.cos(ra - ra0) / denom)
    return np.degrees(ra) % 360.0, np.degrees(dec)


def _column_keys(header: fits.Header, n: int) -> tuple[list[float], ...]:
    return tuple(float(header[f"{k}{n}"]) for k in ("TCRVL", "TCRPX", "TCDLT"))  # type: ignore[return-value]


def _sky_columns(header: fits.Header) -> tuple[int, int]:
    names = {
        str(header[k]).strip().lower(): int(k[5:])
        for k in header
        if k.startswith("TTYPE")
    }
    return names["x"], names["y"]


def _events() -> list[tuple[fits.Header, np.ndarray, np.ndarray]]:
    with fits.open(DATA / "chandra_time.fits") as hdul:
        real = (
            hdul[1].header.copy(),
            hdul[1].data["x"].astype(float),
            hdul[1].data["y"].astype(float),
        )
    header = fits.Header.fromtextfile(DATA / "chandra-pixlist-wcs.hdr")
    rng = np.random.default_rng(7)
    synthetic = (header, rng.uniform(1000, 7000, 50), rng.uniform(1000, 7000, 50))
    return [real, synthetic]


@pytest.mark.parametrize("case", [0, 1], ids=["chandra_time", "pixlist_hdr"])
@pytest.mark.parametrize("lo,step", [(0.5, 1.0), (3595.5, 4.0), (2000.25, 0.5)])
def test_image_pixel_of_an_event_has_the_event_sky_position(
    case: int, lo: float, step: float
) -> None:
    header, x, y = _events()[case]
    nx, ny = _sky_columns(header)
    axes = [
        AxisGrid.from_column(header, n, lo=lo, step=step, nbins=int(8192 / step))
        for n in (nx, ny)
    ]
    image = binned_image_header(axes, event_header=header, vector="sky")
    px, py = axes[0].to_logical(x), axes[1].to_logical(y)

    ra, dec = WCS(image).all_pix2world(px, py, 1)
    ra_col, dec_col = wcs_from_event_columns(header, nx, ny).all_pix2world(x, y, 1)
    (rx, cx, dx), (ry, cy, dy) = _column_keys(header, nx), _column_keys(header, ny)
    ra_np, dec_np = _gnomonic(x, y, (rx, ry), (cx, cy), (dx, dy))

    assert np.allclose(ra, ra_col, rtol=0, atol=1e-9)
    assert np.allclose(dec, dec_col, rtol=0, atol=1e-9)
    assert np.allclose(ra, ra_np, rtol=0, atol=1e-9)
    assert np.allclose(dec, dec_np, rtol=0, atol=1e-9)
    assert image["RADESYS"] == "ICRS"
    assert (image["MTYPE1"], image["MFORM1"]) == ("sky", "x,y")

    # physical transform: both spellings give the event's x, y back
    phys = WCS(image, key="P").all_pix2world(px, py, 1)
    assert np.allclose(phys[0], x) and np.allclose(phys[1], y)
    (m1, v1), (m2, v2) = physical_transform(image, 2)
    assert np.allclose((px - v1) / m1, x) and np.allclose((py - v2) / m2, y)
    assert physical_axis_names(image, 2) == ["x", "y"]

    # the physical -> world WCS used for regions on images agrees with the columns
    pw = physical_world_wcs(image)
    assert pw is not None
    assert np.allclose(pw.all_pix2world(x, y, 1), (ra_col, dec_col), rtol=0, atol=1e-9)


def test_observed_ciao_grid_transform() -> None:
    """dm-syntax 7.4: ``x = 3595.5 + 4.0*(#1 - 0.5)``."""
    axis = AxisGrid(name="x", lo=3595.5, step=4.0, nbins=294, unit="pixel")
    header = binned_image_header(
        [axis, AxisGrid(name="y", lo=3799.5, step=4.0, nbins=297)]
    )
    logical = np.array([0.5, 1.0, 294.5])
    (m, v), _ = physical_transform(header, 2)
    assert np.allclose((logical - v) / m, 3595.5 + 4.0 * (logical - 0.5))
    assert header["LTV1"] == 0.5 - 3595.5 / 4 and header["LTM1_1"] == 0.25
    assert header["CRVAL1P"] == 3595.5 and header["CRPIX1P"] == 0.5
    assert header["CDELT1P"] == 4.0 and header["WCSNAMEP"] == "PHYSICAL"
    assert header["CTYPE1"] == "x"  # no world transform: physical is primary


def test_cube_keeps_sky_and_a_linear_time_axis() -> None:
    header, x, y = _events()[0]
    nx, ny = _sky_columns(header)
    axes = [
        AxisGrid.from_column(header, nx, lo=3900.0, step=2.0, nbins=250),
        AxisGrid.from_column(header, ny, lo=3100.0, step=2.0, nbins=250),
        AxisGrid(name="time", lo=6.0e8, step=1000.0, nbins=10, unit="s"),
    ]
    image = binned_image_header(axes, event_header=header)
    w = WCS(image)
    assert w.naxis == 3 and w.has_celestial
    ra, dec, t = w.all_pix2world(
        axes[0].to_logical(x), axes[1].to_logical(y), [2.5, 3.5], 1
    )
    ra_col, dec_col = wcs_from_event_columns(header, nx, ny).all_pix2world(x, y, 1)
    assert np.allclose(ra, ra_col, atol=1e-9) and np.allclose(dec, dec_col, atol=1e-9)
    assert np.allclose(t, [6.0e8 + 2000.0, 6.0e8 + 3000.0])


def test_lone_celestial_axis_falls_back_to_physical() -> None:
    header, _, _ = _events()[0]
    nx, _ = _sky_columns(header)
    image = binned_image_header(
        [AxisGrid.from_column(header, nx, lo=0.5, step=8.0, nbins=1024)],
        event_header=header,
    )
    assert image["CTYPE1"] == "x" and "RADESYS" not in image


def _world(header: fits.Header, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    return np.array(WCS(header).all_pix2world(px, py, 1))


@pytest.mark.parametrize(
    "offsets,factors", [((0, 0), (2, 2)), ((37, 5), (1, 1)), ((10, 21), (4, 3))]
)
def test_resampled_header_keeps_world_and_physical_coordinates(
    offsets: tuple[int, int], factors: tuple[int, int]
) -> None:
    header, _, _ = _events()[0]
    nx, ny = _sky_columns(header)
    axes = [
        AxisGrid.from_column(header, n, lo=3000.5, step=2.0, nbins=500)
        for n in (nx, ny)
    ]
    old = binned_image_header(axes, event_header=header)
    new = resampled_header(old, offsets, factors)
    rng = np.random.default_rng(1)
    lx, ly = rng.uniform(50, 400, 20), rng.uniform(50, 400, 20)
    nlx = (lx - offsets[0] - 0.5) / factors[0] + 0.5
    nly = (ly - offsets[1] - 0.5) / factors[1] + 0.5
    assert np.allclose(_world(old, lx, ly), _world(new, nlx, nly), rtol=0, atol=1e-10)
    phys_old = np.array(WCS(old, key="P").all_pix2world(lx, ly, 1))
    phys_new = np.array(WCS(new, key="P").all_pix2world(nlx, nly, 1))
    assert np.allclose(phys_old, phys_new)
    for i, (lv, nlv) in enumerate(((lx, nlx), (ly, nly))):
        (m, v), (nm, nv) = physical_transform(old, 2)[i], physical_transform(new, 2)[i]
        assert np.allclose((lv - v) / m, (nlv - nv) / nm)


def test_resampled_header_adds_physical_to_a_plain_image() -> None:
    header = fits.Header(
        {
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRVAL1": 10.0,
            "CRVAL2": -30.0,
            "CRPIX1": 50.0,
            "CRPIX2": 60.0,
            "CD1_1": -1e-4,
            "CD1_2": 2e-5,
            "CD2_1": 2e-5,
            "CD2_2": 1e-4,
        }
    )
    new = resampled_header(header, (9, 3), (2, 2))
    lx, ly = np.array([20.0, 77.0]), np.array([33.0, 5.0])
    nlx, nly = (lx - 9.5) / 2 + 0.5, (ly - 3.5) / 2 + 0.5
    assert np.allclose(_world(header, lx, ly), _world(new, nlx, nly), atol=1e-12)
    (m, v), _ = physical_transform(new, 2)
    assert np.allclose((nlx - v) / m, lx)  # physical = the old logical pixels


def test_collapsed_header_renumbers_axes() -> None:
    header, x, y = _events()[0]
    nx, ny = _sky_columns(header)
    axes = [
        AxisGrid(name="time", lo=6.0e8, step=1000.0, nbins=10, unit="s"),
        AxisGrid.from_column(header, nx, lo=3900.0, step=2.0, nbins=250),
        AxisGrid.from_column(header, ny, lo=3100.0, step=2.0, nbins=250),
    ]
    cube = binned_image_header(axes, event_header=header)
    sky = collapsed_header(cube, [2, 3])
    ra_col, dec_col = wcs_from_event_columns(header, nx, ny).all_pix2world(x, y, 1)
    ra, dec = WCS(sky).all_pix2world(axes[1].to_logical(x), axes[2].to_logical(y), 1)
    assert np.allclose(ra, ra_col, atol=1e-9) and np.allclose(dec, dec_col, atol=1e-9)
    assert physical_axis_names(sky, 2) == ["x", "y"] and "LTV3" not in sky
    only_x = collapsed_header(cube, [2])
    assert "CTYPE1" not in only_x and only_x["CTYPE1P"] == "x"  # lone RA axis dropped
