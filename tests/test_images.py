"""Image virtual files against plain numpy slicing/summing and astropy world coordinates.

Fixtures are seeded images whose header comes from a real Chandra event file's
sky WCS (binned at 2 physical pixels from x=3000.5, y=2800.5). Oracles: numpy
indexing and block sums, numpy distance tests on pixel centres, astropy WCS and
SkyCoord separations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from xdm.engine.images import evaluate_image, read_image
from xdm.errors import XdmSemanticError
from xdm.io.imagewcs import AxisGrid, binned_image_header, physical_transform
from xdm.io.subspace import Subspace
from xdm.lang.parser import parse

EVENTS = Path(__file__).parent / "data" / "events" / "chandra_time.fits"
NX, NY = 600, 300
LO_X, LO_Y, STEP = 3000.5, 2800.5, 2.0


@pytest.fixture(scope="module")
def image() -> tuple[np.ndarray, fits.Header]:
    with fits.open(EVENTS) as hdul:
        events = hdul[1].header.copy()
    axes = [
        AxisGrid.from_column(events, 11, lo=LO_X, step=STEP, nbins=NX),
        AxisGrid.from_column(events, 12, lo=LO_Y, step=STEP, nbins=NY),
    ]
    header = binned_image_header(axes, event_header=events, vector="sky")
    rng = np.random.default_rng(42)
    data = rng.poisson(3.0, size=(NY, NX)).astype(np.int16)
    return data, header


def _run(
    text: str, data: np.ndarray, header: fits.Header
) -> tuple[np.ndarray, fits.Header]:
    return evaluate_image(parse(text), data, header)


def _physical(
    header: fits.Header, lx: np.ndarray, ly: np.ndarray
) -> tuple[np.ndarray, ...]:
    (m1, v1), (m2, v2) = physical_transform(header, 2)
    return (lx - v1) / m1, (ly - v2) / m2


def _world(header: fits.Header, lx, ly) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array(WCS(header).all_pix2world(lx, ly, 1))


def _same_sky(old: fits.Header, new: fits.Header, old_px, new_px) -> None:  # type: ignore[no-untyped-def]
    assert np.allclose(_world(old, *old_px), _world(new, *new_px), rtol=0, atol=1e-10)
    assert np.allclose(_physical(old, *old_px), _physical(new, *new_px))


def test_logical_cutout_inclusive(image) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    out, h = _run("im.fits[#1=257:512,#2=1:100]", data, header)
    assert out.shape == (100, 256)
    assert np.array_equal(out, data[0:100, 256:512])
    assert out.dtype == np.int16 and (h["NAXIS1"], h["NAXIS2"]) == (256, 100)
    new = (np.array([1.0, 17.0, 256.0]), np.array([1.0, 50.0, 100.0]))
    _same_sky(header, h, (new[0] + 256, new[1]), new)


def test_physical_cutout_half_open(image) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    out, h = _run("im.fits[x=3400:3601,y=2900.5:3100.5]", data, header)
    cx = LO_X + STEP * (np.arange(1, NX + 1) - 0.5)
    cy = LO_Y + STEP * (np.arange(1, NY + 1) - 0.5)
    sx = (cx >= 3400) & (cx < 3601)
    sy = (cy >= 2900.5) & (cy < 3100.5)
    assert np.array_equal(out, data[np.ix_(sy, sx)])
    i0, j0 = np.flatnonzero(sx)[0], np.flatnonzero(sy)[0]
    _same_sky(
        header,
        h,
        (np.array([i0 + 1.0]), np.array([j0 + 1.0])),
        (np.array([1.0]), np.array([1.0])),
    )
    ss = Subspace.from_header(h)
    assert ss.entry("x").value == "3400:3601" and ss.entry("y").value == "2900.5:3100.5"


def test_plane_of_a_cube_and_collapse() -> None:
    rng = np.random.default_rng(3)
    cube = rng.integers(0, 50, size=(12, 40, 30)).astype(np.int32)
    axes = [
        AxisGrid(name="x", lo=100.5, step=4.0, nbins=30),
        AxisGrid(name="y", lo=200.5, step=4.0, nbins=40),
        AxisGrid(name="time", lo=5.0e8, step=1000.0, nbins=12, unit="s"),
    ]
    header = binned_image_header(axes)
    plane, _ = _run("cube.fits[#3=10]", cube, header)
    assert plane.shape == (1, 40, 30) and np.array_equal(plane[0], cube[9])
    flat, h2 = _run("cube.fits[#3=10][bin x,y]", cube, header)
    assert flat.shape == (40, 30) and np.array_equal(flat, cube[9])
    assert h2["NAXIS"] == 2 and "CTYPE3P" not in h2 and h2["CTYPE1P"] == "x"
    total, _ = _run("cube.fits[bin x,y]", cube, header)
    assert np.array_equal(total, cube.sum(axis=0))
    window, h3 = _run("cube.fits[time=500001500:500004500]", cube, header)
    assert np.array_equal(window, cube[1:4])  # centres 5e8 + 1000*(l - 0.5)
    assert h3["CRVAL3P"] == 5.0e8 and h3["CRPIX3P"] == pytest.approx(0.5 - 1)


def _centres(
    header: fits.Header, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    ly, lx = np.mgrid[1 : shape[0] + 1, 1 : shape[1] + 1].astype(float)
    return _physical(header, lx, ly)


@pytest.mark.parametrize("opt,null", [("", 0), ("[opt null=-7]", -7)])
def test_circle_region_crops_and_nulls(image, opt: str, null: int) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    cx, cy, r = 3607.3, 3011.9, 41.3
    out, h = _run(f"im.fits[sky=circle({cx},{cy},{r})]{opt}", data, header)
    px, py = _centres(header, data.shape)
    inside = (px - cx) ** 2 + (py - cy) ** 2 <= r**2
    # crop = pixels overlapping the circle's bounding box
    lx = (np.array([cx - r, cx + r]) - LO_X) / STEP + 0.5
    ly = (np.array([cy - r, cy + r]) - LO_Y) / STEP + 0.5
    x0, x1 = int(np.floor(lx[0] - 0.5)) + 1, int(np.ceil(lx[1] + 0.5)) - 1
    y0, y1 = int(np.floor(ly[0] - 0.5)) + 1, int(np.ceil(ly[1] + 0.5)) - 1
    expected = np.where(inside, data, null)[y0 - 1 : y1, x0 - 1 : x1]
    assert np.array_equal(out, expected)
    assert inside.sum() == (out != null).sum() + (data[inside] == null).sum()
    _same_sky(
        header,
        h,
        (np.array([x0 + 3.0]), np.array([y0 + 5.0])),
        (np.array([4.0]), np.array([6.0])),
    )
    assert Subspace.from_header(h).entry("sky").value.lower().startswith("circle(")

    full_opt = "[opt full,null=-7]" if opt else "[opt full]"
    full, _ = _run(f"im.fits[sky=circle({cx},{cy},{r})]{full_opt}", data, header)
    assert full.shape == data.shape and np.array_equal(
        full, np.where(inside, data, null)
    )


def test_exclude_region_and_logical_region(image) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    out, h = _run("im.fits[exclude (x,y)=box(3500.2,3000.7,60,31)]", data, header)
    px, py = _centres(header, data.shape)
    inside = (np.abs(px - 3500.2) <= 30) & (np.abs(py - 3000.7) <= 15.5)
    assert out.shape == data.shape and np.array_equal(out, np.where(inside, 0, data))
    assert Subspace.from_header(h).entry("sky").value.startswith("!")

    out, _ = _run("im.fits[(#1,#2)=circle(145.2,56.3,25.1)]", data, header)
    ly, lx = np.mgrid[1 : NY + 1, 1 : NX + 1].astype(float)
    inside = (lx - 145.2) ** 2 + (ly - 56.3) ** 2 <= 25.1**2
    # crop: pixels overlapping the bounding box 120.1..170.3 x 31.2..81.4
    crop = np.where(inside, data, 0)[31 - 1 : 81, 120 - 1 : 170]
    assert np.array_equal(out, crop)


def test_region_in_world_coordinates_matches_sky_separation(image) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    px, py = 3607.0, 3011.0
    ra, dec = WCS(header, key=" ").all_pix2world(
        (px - LO_X) / STEP + 0.5, (py - LO_Y) / STEP + 0.5, 1
    )
    radius = 20.0  # arcsec
    out, _ = _run(
        f'im.fits[sky=circle({float(ra):.8f}d,{float(dec):.8f}d,{radius}")][opt full]',
        data,
        header,
    )
    world = WCS(header).all_pix2world(
        *np.meshgrid(np.arange(1, NX + 1), np.arange(1, NY + 1)), 1
    )
    sep = (
        SkyCoord(world[0] * u.deg, world[1] * u.deg)
        .separation(SkyCoord(float(ra) * u.deg, float(dec) * u.deg))
        .arcsec
    )
    selected = out == data
    sure = np.abs(sep - radius) > 0.05
    assert np.array_equal(
        selected[sure & (data != 0)], (sep <= radius)[sure & (data != 0)]
    )
    assert (sep <= radius).sum() > 100


def test_rebin_logical_and_sky(image) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    out, h = _run("im.fits[bin #1=::2,#2=::2]", data, header)
    assert np.array_equal(out, data.reshape(NY // 2, 2, NX // 2, 2).sum(axis=(1, 3)))
    _same_sky(
        header,
        h,
        (np.array([1.5, 2.5]), np.array([1.5, 4.5])),
        (np.array([1.0, 1.5]), np.array([1.0, 2.5])),
    )
    assert h["CDELT1P"] == 4.0 and h["LTM1_1"] == pytest.approx(0.25)

    # one image pixel is 2 sky pixels: sky=14 is a factor 7, which divides neither size
    out, h = _run("im.fits[bin sky=14]", data, header)
    padded = np.zeros((301, 602), dtype=np.int64)
    padded[:300, :600] = data
    assert out.shape == (43, 86)
    assert np.array_equal(out, padded.reshape(43, 7, 86, 7).sum(axis=(1, 3)))
    _same_sky(
        header,
        h,
        (np.array([4.0, 11.0]), np.array([4.0, 4.0])),
        (np.array([1.0, 2.0]), np.array([1.0, 1.0])),
    )

    out, h = _run("im.fits[bin x=3400.5:3600.5:4,y=::2]", data, header)
    first = int((3400.5 - LO_X) / STEP)  # 200 pixels before
    assert np.array_equal(
        out, data[:, first : first + 100].reshape(NY, 50, 2).sum(axis=2)
    )
    _same_sky(
        header,
        h,
        (np.array([first + 1.5]), np.array([1.0])),
        (np.array([1.0]), np.array([1.0])),
    )


def test_filter_then_rebin_nulls_only_empty_blocks(image) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    out, _ = _run(
        "im.fits[(#1,#2)=box(50,50,20,20)][bin #1=::4,#2=::4][opt full,null=-1]",
        data,
        header,
    )
    ly, lx = np.mgrid[1 : NY + 1, 1 : NX + 1]
    inside = (np.abs(lx - 50) <= 10) & (np.abs(ly - 50) <= 10)
    sums = np.where(inside, data, 0).reshape(75, 4, 150, 4).sum(axis=(1, 3))
    any_in = inside.reshape(75, 4, 150, 4).any(axis=(1, 3))
    assert np.array_equal(out, np.where(any_in, sums, -1))


def test_types_nulls_and_overflow(image) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    out, h = _run("im.fits[#1=1:10,#2=1:10][opt type=r4]", data, header)
    assert out.dtype == np.float32 and h["BITPIX"] == -32
    out, _ = _run("im.fits[(#1,#2)=circle(5,5,2)][opt null=NaN,type=r8]", data, header)
    assert np.isnan(out).sum() == out.size - 13
    with pytest.raises(XdmSemanticError):
        _run("im.fits[(#1,#2)=circle(5,5,2)][opt null=NaN]", data, header)
    big = np.full((4, 4), 30000, dtype=np.int16)
    out, _ = _run("im.fits[bin #1=::2,#2=::2]", big, header)
    assert out.dtype == np.int32 and np.all(out == 120000)  # widened, never wrapped
    with pytest.raises(XdmSemanticError):
        _run("im.fits[bin #1=::2,#2=::2][opt type=i2]", big, header)
    blank = header.copy()
    blank["BLANK"] = -32768
    out, _ = _run("im.fits[(#1,#2)=circle(5,5,2)]", data, blank)
    assert (out == -32768).sum() == out.size - 13


@pytest.mark.parametrize(
    "text",
    [
        "im.fits[energy=1:2]",
        "im.fits[#3=1]",
        "im.fits[bin sky=3]",
        "im.fits[bin y,x]",
        "im.fits[cols x]",
        "im.fits[#1=900:1000]",
        "im.fits[opt type=q7]",
        "im.fits[bin x,y;w]",
    ],
)
def test_bad_image_filters_raise(image, text: str) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    with pytest.raises(XdmSemanticError):
        _run(text, data, header)


def test_read_image_from_file_with_scaling(tmp_path: Path, image) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    hdu = fits.PrimaryHDU(data=data.astype(np.float32), header=header)
    hdu.scale("int16", bscale=0.5, bzero=10.0)
    path = tmp_path / "im.fits"
    hdu.writeto(path)
    out, h = read_image(
        "im.fits[#1=1:20,#2=5:9][opt type=r8][IMG]", base_dir=str(tmp_path)
    )
    assert np.allclose(out, data[4:9, 0:20])
    assert "BSCALE" not in h and h["HDUNAME"] == "IMG"
    out, _ = read_image(f"{path}[bin #1=::3,#2=::3]")
    assert np.allclose(out, data.reshape(100, 3, 200, 3).sum(axis=(1, 3)))


def test_multi_clause_exclude_cuts_a_window_and_update_no(image) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    out, h = _run("im.fits[exclude #1=11:20,#2=31:40][opt update=no]", data, header)
    expected = data.copy()
    expected[30:40, 10:20] = 0  # NOT(a AND b): only the window is nulled
    assert np.array_equal(out, expected)
    assert Subspace.from_header(h) == Subspace.from_header(header)

    _, h = _run("im.fits[x=3400:3600][subspace -x]", data, header)
    assert Subspace.from_header(h).entry("x") is None
    _, h = _run("im.fits[x=3400:3600][opt update=no]", data, header)
    assert Subspace.from_header(h).entry("x") is None


def test_or_filter_of_two_boxes_keeps_full_size(image) -> None:  # type: ignore[no-untyped-def]
    data, header = image
    out, _ = _run("im.fits[filter (#1=1:5)||(#2=1:3)]", data, header)
    ly, lx = np.mgrid[1 : NY + 1, 1 : NX + 1]
    assert np.array_equal(out, np.where((lx <= 5) | (ly <= 3), data, 0))
