"""Bad regions: a clear XdmRegionError naming the shape, with a caret at it."""

from __future__ import annotations

import pytest

import xdm
from xdm.errors import XdmRegionError

BAD = [
    ("circle(1,2)", "circle", "argument"),
    ("ellipse(1,1,1,1)", "ellipse", "argument"),
    ("polygon(1,2,3,4)", "polygon", "vertices"),
    ("circle(1,2,-3)", "circle", "negative"),
    ("box(1,1,-1,2)", "box", "negative"),
    ("annulus(1,2,5,3)", "annulus", "smaller than inner"),
    ("pie(1,1,5,3,0,90)", "pie", "smaller than inner"),
    ("foo(1,2,3)", "foo", "unknown region shape"),
    ("circle(12:00:00,-30:00:00,3)", "circle", "needs a WCS"),
    ("circle(10.5d,-3.2d,3)", "circle", "needs a WCS"),
    ('circle(1,2,3")', "circle", "needs a WCS"),
    ("annulus(1,1,0:10:1)", "annulus", "dmextract"),
]


@pytest.mark.parametrize(("text", "shape", "words"), BAD)
def test_bad_region_message_names_shape_and_position(text, shape, words):
    source = f"circle(0,0,1)+{text}"
    with pytest.raises(XdmRegionError) as info:
        xdm.region(source)
    err = info.value
    assert err.exit_status == 2
    assert shape in err.message and words in err.message
    assert err.span is not None
    start = source.index(text)
    # the caret points into the bad shape, not at the good one before it
    assert start <= err.span.start < start + len(text)
    assert "^" in err.render()


def test_unreadable_file_names_the_file_and_points_at_it(tmp_path):
    source = "region(missing.reg)"
    with pytest.raises(XdmRegionError) as info:
        xdm.region(source, base_dir=tmp_path)
    assert "missing.reg" in info.value.message and "cannot read" in info.value.message
    assert info.value.span is not None and "^" in info.value.render()


def test_bad_line_in_a_region_file_names_file_and_line(tmp_path):
    (tmp_path / "bad.reg").write_text("circle(1,1,2)\nbox(1,1,-4,2)\n")
    with pytest.raises(XdmRegionError, match=r"bad.reg:2: box: negative"):
        xdm.region("region(bad.reg)", base_dir=tmp_path)


def test_fits_region_in_degrees_without_wcs(tmp_path):
    import numpy as np
    from astropy.io import fits

    cols = [
        fits.Column(name="SHAPE", format="16A", array=np.array(["circle"])),
        fits.Column(name="X", format="D", unit="deg", array=np.array([10.0])),
        fits.Column(name="Y", format="D", unit="deg", array=np.array([20.0])),
        fits.Column(name="R", format="D", unit="deg", array=np.array([0.01])),
    ]
    fits.BinTableHDU.from_columns(cols, name="REGION").writeto(tmp_path / "sky.fits")
    with pytest.raises(XdmRegionError, match=r"sky coordinates.*no WCS"):
        xdm.region("region(sky.fits)", base_dir=tmp_path)


def test_fits_file_without_region_block(tmp_path):
    import numpy as np
    from astropy.io import fits

    fits.PrimaryHDU(np.zeros((2, 2))).writeto(tmp_path / "img.fits")
    with pytest.raises(XdmRegionError, match="no region table"):
        xdm.region("region(img.fits)", base_dir=tmp_path)


def test_unknown_shape_in_fits_table(tmp_path):
    import numpy as np
    from astropy.io import fits

    cols = [
        fits.Column(name="SHAPE", format="16A", array=np.array(["blob"])),
        fits.Column(name="X", format="D", array=np.array([1.0])),
        fits.Column(name="Y", format="D", array=np.array([2.0])),
    ]
    fits.BinTableHDU.from_columns(cols, name="REGION").writeto(tmp_path / "r.fits")
    with pytest.raises(XdmRegionError, match="unknown region shape 'blob'"):
        xdm.region("region(r.fits)", base_dir=tmp_path)
