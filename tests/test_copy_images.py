"""Copying a virtual file whose block is an image keeps the file's other blocks
(CIAO dmcopy does, as for filtered tables).

Oracles: the input files read with astropy (blocks, GTI rows, table rows) and plain
numpy slicing and block sums of the input pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.api import copy


@pytest.fixture(scope="module")
def sky_image(tmp_path_factory: pytest.TempPathFactory, synthetic_events: Path) -> Path:
    """A binned image (primary HDU) followed by the five GTI blocks."""
    out = tmp_path_factory.mktemp("img") / "img.fits"
    copy(f"{synthetic_events}[bin x=3600.5:4600.5:4,y=3600.5:4600.5:4]", out)
    return out


def _same_tables(a: fits.BinTableHDU, b: fits.BinTableHDU) -> None:
    assert a.name == b.name and a.header.get("CCD_ID") == b.header.get("CCD_ID")
    assert a.columns.names == b.columns.names
    for name in a.columns.names:
        assert np.array_equal(a.data[name], b.data[name]), name


def test_primary_image_keeps_the_gti_blocks(tmp_path: Path, sky_image: Path) -> None:
    out = tmp_path / "rebinned.fits"
    copy(f"{sky_image}[bin #1=::2,#2=::2]", out)
    with fits.open(sky_image) as src, fits.open(out) as dst:
        assert len(dst) == len(src) > 1
        assert [h.header.get("HDUNAME") for h in dst[1:]] == [
            h.header.get("HDUNAME") for h in src[1:]
        ]
        pixels = src[0].data.astype(np.int64)
        ny, nx = pixels.shape
        want = pixels.reshape(ny // 2, 2, nx // 2, 2).sum(axis=(1, 3))
        assert np.array_equal(dst[0].data.astype(np.int64), want)
        assert dst[0].header["EXTEND"] is True
        for a, b in zip(src[1:], dst[1:]):
            _same_tables(a, b)
        dst.verify("exception")


def test_image_extension_stays_in_place(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 50, size=(40, 60)).astype(np.int32)
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name="COUNTS", format="J", array=np.arange(7))], name="STATS"
    )
    src_path = tmp_path / "ext.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(pixels, name="SCI"), table]).writeto(
        src_path
    )
    out = tmp_path / "cut.fits"
    copy(f"{src_path}[SCI][#1=11:30,#2=5:24]", out)
    with fits.open(out) as dst:
        assert [h.name for h in dst] == ["PRIMARY", "SCI", "STATS"]
        assert dst[0].data is None
        assert np.array_equal(dst[1].data, pixels[4:24, 10:30])  # logical, inclusive
        assert np.array_equal(dst[2].data["COUNTS"], np.arange(7))
        dst.verify("exception")


def test_image_copy_still_refuses_to_overwrite(tmp_path: Path, sky_image: Path) -> None:
    from xdm.errors import XdmIOError

    out = tmp_path / "x.fits"
    out.write_bytes(b"keep")
    with pytest.raises(XdmIOError):
        copy(f"{sky_image}[bin #1=::2,#2=::2]", out)
    assert out.read_bytes() == b"keep"


@pytest.mark.parametrize(
    ("kind", "dtype", "bitpix"),
    [("u1", np.uint8, 8), ("i8", np.int64, 64), ("r8", np.float64, -64)],
)
def test_image_blocks_copy_to_every_image_type(
    tmp_path: Path, kind: str, dtype: type, bitpix: int
) -> None:
    """u1 and i8 are image-block types (a [bin] of a table makes i2/i4/r4/r8)."""
    pixels = np.arange(60, dtype=np.int16).reshape(6, 10)
    fits.PrimaryHDU(pixels).writeto(tmp_path / "in.fits")
    out = tmp_path / "out.fits"
    copy(f"{tmp_path / 'in.fits'}[#1=3:8][opt type={kind}]", out)
    with fits.open(out) as dst:
        assert dst[0].header["BITPIX"] == bitpix
        assert dst[0].data.dtype.newbyteorder("=") == np.dtype(dtype)
        assert np.array_equal(dst[0].data, pixels[:, 2:8])
