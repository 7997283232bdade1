"""Region sources: CIAO/ds9 text files, FITS region tables, masks, sky coordinates.

Oracles: the pyregion samples give the same shapes in physical, image and fk5
forms (they must select the same points); the CSC reg3 file carries CIAO's own
areas (ROI_AREA, ROIBAREA); astropy's own pixel-list WCS reading.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import xdm
from xdm.errors import XdmRegionError
from xdm.regions.coords import (
    Frame,
    LogicalMap,
    logical_map_from_header,
    wcs_from_columns,
    wcs_from_image,
)
from xdm.regions.regfile import read_text_regions

DATA = Path(__file__).parent / "data"
PYREG = DATA / "regions" / "pyregion"
ASTROPY = DATA / "regions" / "astropy-regions"
REG3 = DATA / "regions" / "csc" / "acisf08478_000N001_r0043_reg3.fits"


def _frame(header_name: str) -> Frame:
    header = fits.Header.fromtextfile(PYREG / header_name)
    return Frame(wcs=wcs_from_image(header), logical=logical_map_from_header(header))


def _read(path: Path, frame: Frame):
    return read_text_regions(path.read_text(), frame, name=path.name)


def _near_boundary(region, x, y, eps: float) -> np.ndarray:
    """True where moving a point by ``eps`` (8 directions) changes the answer."""
    base = region.contains(x, y)
    near = np.zeros(x.shape, dtype=bool)
    for k in range(8):
        t = k * math.pi / 4
        near |= region.contains(x + eps * math.cos(t), y + eps * math.sin(t)) != base
    return near


@pytest.fixture(scope="module")
def events() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240501)
    return rng.uniform(3850, 4400, 300_000), rng.uniform(3850, 4350, 300_000)


def test_pyregion_forms_select_the_same_events(events):
    """physical (CIAO, ds9), image, fk5 and sexagesimal CIAO forms agree.

    The files round coordinates to ~0.01 pixel, so points closer than 0.05
    pixel to an edge may differ; every other point must agree.
    """
    frame = _frame("sample_fits01.header")
    x, y = events
    ref = _read(PYREG / "test01_ciao_physical.reg", frame)
    want = ref.contains(x, y)
    assert 15_000 < want.sum() < 30_000
    near = _near_boundary(ref, x, y, 0.05)
    assert near.sum() < 0.01 * want.sum()
    for name in (
        "test01_ds9_physical.reg",
        "test01_img.reg",
        "test01_fk5.reg",
        "test01_ciao.reg",
    ):
        got = _read(PYREG / name, frame).contains(x, y)
        assert not np.any((got != want) & ~near), name
    # ds9 physical is written with the same numbers: identical masks
    same = _read(PYREG / "test01_ds9_physical.reg", frame).contains(x, y)
    assert np.array_equal(same, want)


def test_pyregion_exclusion_applies_to_every_include(events):
    frame = _frame("sample_fits01.header")
    r = _read(PYREG / "test01_ciao_physical.reg", frame)
    assert len(r.components) == 3
    assert all(c[-1].canonical().startswith("!Ellipse") for c in r.components)
    # test01.reg has the ellipse commented out ("## -ellipse")
    assert "Ellipse" not in _read(PYREG / "test01.reg", frame).canonical()


def test_pyregion_image_equals_physical_without_ltv():
    frame = _frame("test.header")
    phys = _read(PYREG / "test03_ciao_physical.reg", frame)
    img = _read(PYREG / "test03_img.reg", frame)
    assert img.canonical() == phys.canonical()


def test_sky_position_outside_projection_is_a_region_error():
    frame = _frame("test.header")
    with pytest.raises(XdmRegionError, match="outside the WCS projection"):
        _read(PYREG / "test03_fk5.reg", frame)


def test_ciao_annuli_and_pies_in_sexagesimal():
    frame = _frame("sample_fits01.header")
    r = _read(PYREG / "test_annuli_ciao.reg", frame)
    names = [c[0].label() for c in r.components]
    assert names == ["Annulus"] * 3 + ["Pie"] * 8
    # 0.468502 arcmin at 0.492 arcsec per pixel
    assert r.components[0][0].r0 == pytest.approx(0.468502 * 60 / 0.492, rel=1e-6)


def test_ds9_image_file_properties_composites_and_multi_annuli():
    frame = Frame(logical=LogicalMap(), system="physical")
    r = _read(ASTROPY / "ds9.image.reg", frame)
    text = r.canonical()
    # two annuli from annulus(166,434,10,20,30); an elliptical and a box annulus
    assert "Annulus(166,434,10,20)" in text and "Annulus(166,434,20,30)" in text
    assert "Ellipse(251,430,30,15,45)&!Ellipse(251,430,15,7.5,45)" in text
    assert "RotBox(338,429,60,30,45)&!RotBox(338,429,40,20,45)" in text
    # exclusions (ellipse, box) apply to every include; -line is not an area
    assert all(
        "!Ellipse(248,529,40,20,45)" in "&".join(s.canonical() for s in c)
        for c in r.components
    )
    assert "Line" not in text and "Text" not in text
    composite = _read(ASTROPY / "ds9.fits.reg", frame)
    assert composite.contains([383.0], [1153.0]).tolist() == [True]
    assert composite.contains([1057.0], [1155.0]).tolist() == [False]  # excluded box


def test_ds9_celestial_file_without_wcs_is_a_clear_error():
    with pytest.raises(XdmRegionError, match="needs a WCS"):
        _read(ASTROPY / "ds9.fk5.reg", Frame())


def test_region_file_through_the_expression_language(tmp_path):
    (tmp_path / "src.reg").write_text(
        "# Region file format: CIAO version 1.0\n"
        "circle(100,100,10)\n"
        "box(200,200,20,20)\n"
        "-circle(100,100,2)\n"
    )
    r = xdm.region("region(src.reg)-point(205,205)", base_dir=tmp_path)
    x = np.array([100.0, 105.0, 200.0, 205.0, 150.0])
    y = np.array([100.0, 100.0, 200.0, 205.0, 150.0])
    assert r.contains(x, y).tolist() == [False, True, True, False, False]
    assert "!Circle(100,100,2)" in r.canonical()


def test_reg3_blocks_rows_and_ciao_areas():
    header = fits.getheader(REG3, "SRCREG")
    src = xdm.region(f"region({REG3})")  # first region block: SRCREG
    assert src.canonical() == "Ellipse(3144.52,4518.81,25.2979,19.1119,42.9872)"
    assert src.area() == pytest.approx(header["ROI_AREA"], rel=1e-12)
    bkg = xdm.region(f"region({REG3}[bkgreg])")
    assert bkg.canonical() == (
        "Ellipse(3144.52,4518.81,126.489,95.5593,42.9872)"
        "&!Ellipse(3144.52,4518.81,25.2979,19.1119,42.9872)"
    )
    assert bkg.area() == pytest.approx(header["ROIBAREA"], rel=1e-3)
    row2 = xdm.region(f"region({REG3}[bkgreg][#row=2])")
    assert row2.canonical() == "!Ellipse(3144.52,4518.81,25.2979,19.1119,42.9872)"
    assert row2.bbox is None
    x = np.array([3144.52380952, 3144.52380952 + 60, 3144.52380952 + 200])
    y = np.full(3, 4518.80952381)
    assert bkg.contains(x, y).tolist() == [False, True, False]


def test_astropy_regions_fits_tables():
    r = xdm.region(f"region({ASTROPY / 'regions_nowcs.fits'})")
    # the '!circle' row (no COMPONENT column) excludes from every included row
    assert all(c[-1].canonical() == "!Circle(240,748.1,62.2)" for c in r.components)
    labels = [c[0].label() for c in r.components]
    assert labels[:3] == ["Point", "Ellipse", "Annulus"]  # Circle&!Circle dropped
    assert "Rectangle" in labels and "RotRectangle" in labels and "Polygon" in labels
    comp5 = xdm.region(f"region({ASTROPY / 'regions_wcs.fits'}[component=5])")
    assert comp5.canonical() == "Annulus(341,345,56,78)"
    rows = xdm.region(f"region({ASTROPY / 'regions_wcs.fits'}[#row=2:3])")
    assert [c[0].label() for c in rows.components] == ["RotBox", "Ellipse"]


def test_mask_image(tmp_path):
    data = np.zeros((20, 30), dtype=np.int16)
    data[5:10, 10:20] = 1  # logical x 11..20, y 6..10
    hdu = fits.PrimaryHDU(data)
    # blocked by 2: logical = 0.5 * physical + 100
    hdu.header.update(LTM1_1=0.5, LTM2_2=0.5, LTV1=100.0, LTV2=100.0)
    hdu.writeto(tmp_path / "m.fits")
    r = xdm.region("mask(m.fits)", base_dir=tmp_path)
    # logical (15, 8) <- physical (2*(15-100), 2*(8-100)) = (-170, -184)
    assert r.contains([-170.0, -100.0], [-184.0, -184.0]).tolist() == [True, False]
    assert r.area() == pytest.approx(50 * 4)  # 50 pixels of 2x2 physical
    # pixels 11..20 x 6..10 span logical [10.5, 20.5] x [5.5, 10.5]
    assert r.bbox == pytest.approx((-179.0, -159.0, -189.0, -179.0))


def test_wcs_from_columns_matches_astropy_pixel_list_reader():
    header = fits.Header.fromtextfile(DATA / "events" / "chandra-pixlist-wcs.hdr")
    xcol = next(k for k in header if k.startswith("TTYPE") and header[k].strip() == "x")
    ycol = next(k for k in header if k.startswith("TTYPE") and header[k].strip() == "y")
    ours = wcs_from_columns(header, "x", "y")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = WCS(header, keysel=["pixel"], colsel=[int(xcol[5:]), int(ycol[5:])])
    px = np.array([4096.5, 3000.0, 5000.0])
    py = np.array([4096.5, 4500.0, 3500.0])
    a = ours.all_pix2world(px, py, 1)
    b = theirs.all_pix2world(px, py, 1)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_sky_circle_on_event_columns():
    with fits.open(DATA / "events" / "chandra_time.fits") as hdul:
        header, data = hdul[1].header, hdul[1].data
        x, y = np.asarray(data["x"], float), np.asarray(data["y"], float)
    wcs = wcs_from_columns(header, "x", "y")
    ra, dec = wcs.all_pix2world(x[:1], y[:1], 1)
    deg = f'circle({ra[0]:.9f}d,{dec[0]:.9f}d,1")'
    assert xdm.region(deg, wcs=wcs).contains(x, y).tolist() == [True, False]
    h = ra[0] / 15.0
    hh, mm = int(h), int((h % 1) * 60)
    ss = ((h * 60) % 1) * 60
    dd, dm = int(dec[0]), int((dec[0] % 1) * 60)
    ds = ((dec[0] * 60) % 1) * 60
    sexa = f"circle({hh}:{mm:02d}:{ss:09.6f},{dd}:{dm:02d}:{ds:08.5f},0.02')"
    r = xdm.region(sexa, wcs=wcs)
    assert r.contains(x, y).tolist() == [True, False]
    (c,) = r.components[0]
    assert c.xc == pytest.approx(x[0], abs=1e-3) and c.yc == pytest.approx(
        y[0], abs=1e-3
    )
    assert c.r == pytest.approx(0.02 * 60 / 0.492, rel=1e-6)


def test_image_wcs_composes_ltm_ltv():
    header = fits.Header.fromtextfile(PYREG / "sample_fits01.header")
    phys = wcs_from_image(header)
    logical = WCS(header)
    lm = logical_map_from_header(header)
    px, py = np.array([3304.5, 4100.0]), np.array([3269.5, 4000.0])
    lx, ly = lm.to_logical(px, py)
    np.testing.assert_allclose(
        phys.all_pix2world(px, py, 1), logical.all_pix2world(lx, ly, 1), atol=1e-10
    )


def test_ds9_galactic_and_icrs_systems_match_fk5(events):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    frame = _frame("sample_fits01.header")
    fk5 = (
        'fk5\ncircle(171.10096,-59.250612,18.510811")\n'
        "polygon(171.1239,-59.26881,171.09051,-59.262088,171.0985,-59.285735,"
        "171.1239,-59.27698)\n"
    )
    ras = [171.10096, 171.1239, 171.09051, 171.0985, 171.1239]
    decs = [-59.250612, -59.26881, -59.262088, -59.285735, -59.27698]
    gal = SkyCoord(ras * u.deg, decs * u.deg, frame="icrs").galactic
    lb = [f"{a:.10f},{b:.10f}" for a, b in zip(gal.l.deg, gal.b.deg)]
    galactic = f'galactic\ncircle({lb[0]},18.510811")\npolygon({",".join(lb[1:])})\n'
    icrs = fk5.replace("fk5", "icrs")
    x, y = events
    want = read_text_regions(fk5, frame).contains(x, y)
    assert want.sum() > 5000
    for text in (galactic, icrs):
        got = read_text_regions(text, frame).contains(x, y)
        near = _near_boundary(read_text_regions(fk5, frame), x, y, 0.01)
        assert not np.any((got != want) & ~near)


def test_virtual_mask_made_by_the_engine():
    """mask(evt[bin sky=16]): every event lies on a non-zero pixel of its own image."""
    evt = DATA / "events" / "chandra_test.fits"
    with fits.open(evt) as hdul:
        x = np.asarray(hdul[1].data["x"], float)
        y = np.asarray(hdul[1].data["y"], float)
    r = xdm.region(f"mask({evt}[bin sky=16])")
    assert r.contains(x, y).all()
    assert not r.contains([100.0, 8000.0], [100.0, 8000.0]).any()
    # 16 x 16 physical pixels per image pixel
    assert r.area() % 256 == 0 and 0 < r.area() < (4768.5 - 3904.5) * (4304.5 - 3520.5)
    minus = xdm.region(f"mask({evt}[bin sky=16])-circle(4200,4000,50)")
    assert minus.contains(x, y).sum() == r.contains(x, y).sum() - np.count_nonzero(
        (x - 4200) ** 2 + (y - 4000) ** 2 <= 2500
    )


def test_ds9_fk5_sexagesimal_with_plus_sign_and_colour_properties():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [202.469479, 47.195839]  # 13:29:52.675 +47:11:45.02
    w.wcs.crpix = [4096.5, 4096.5]
    w.wcs.cdelt = [-0.492 / 3600, 0.492 / 3600]
    r = read_text_regions((ASTROPY / "ds9.color.reg").read_text(), Frame(wcs=w))
    assert len(r.components) == 7
    (big,) = r.components[-1]
    assert big.xc == pytest.approx(4096.5, abs=0.01)
    assert big.yc == pytest.approx(4096.5, abs=0.01)
    assert big.r == pytest.approx(7 / 0.492, rel=1e-6)
    assert r.area() == pytest.approx(math.pi * (7 / 0.492) ** 2, rel=1e-3)


def test_ds9_panda_is_a_pie_and_semicolon_statements():
    text = "physical;panda(100,100,0,90,3,10,20,2) # color=red\nimage; circle(5,5,1)\n"
    r = read_text_regions(text, Frame(logical=LogicalMap(ltm1=0.5, ltm2=0.5)))
    assert r.canonical() == "Pie(100,100,10,20,0,90)|Circle(10,10,2)"


def test_field_of_view_file_filtered_by_ccd(tmp_path):
    """fov1.fits-like table: one polygon per CCD, X/Y vectors padded with NaN."""
    nan = np.nan
    xs = np.array(
        [
            [0, 10, 10, 0, nan, nan],
            [20, 30, 30, 20, nan, nan],
            [40, 50, 45, nan, nan, nan],
        ]
    )
    ys = np.array(
        [[0, 0, 10, 10, nan, nan], [0, 0, 10, 10, nan, nan], [0, 0, 9, nan, nan, nan]]
    )
    cols = [
        fits.Column(name="SHAPE", format="16A", array=np.array(["Polygon"] * 3)),
        fits.Column(name="X", format="6D", array=xs),
        fits.Column(name="Y", format="6D", array=ys),
        fits.Column(name="CCD_ID", format="I", array=np.array([0, 3, 7])),
        fits.Column(name="COMPONENT", format="I", array=np.array([1, 2, 3])),
    ]
    fits.BinTableHDU.from_columns(cols, name="FOV").writeto(tmp_path / "fov1.fits")
    every = xdm.region("region(fov1.fits)", base_dir=tmp_path)
    assert every.area() == pytest.approx(100 + 100 + 45)
    aci = xdm.region("region(fov1.fits[ccd_id=0:3])", base_dir=tmp_path)
    assert aci.canonical() == (
        "Polygon(0,0,10,0,10,10,0,10,0,0)|Polygon(20,0,30,0,30,10,20,10,20,0)"
    )
    src = xdm.region("circle(9,5,3)", base_dir=tmp_path)
    # the source area clipped to the field of view (spec 0.3, srcflux)
    assert src.area(field=aci) == pytest.approx(math.pi * 9 - _segment(3, 1), rel=1e-3)


def _segment(r: float, d: float) -> float:
    """Area of a circle of radius r beyond a chord at distance d from the centre."""
    return r * r * math.acos(d / r) - d * math.sqrt(r * r - d * d)
