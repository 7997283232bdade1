"""The structure keywords (``xdm.io.keywords``: LAYOUT, REQUIRED, SCALING, ...)
held to their users: dmlist's header listing, the image binned from a table,
the structure check, the lean writer (against astropy, its oracle) and the
lean reader's test for scaled images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
import xdm.tools
from xdm.errors import XdmIOError
from xdm.io.cards import Cards
from xdm.io.fitscheck import check_file
from xdm.io.keywords import (
    ASTROPY_STRIPPED,
    ASTROPY_STRIPPED_COLUMNS,
    CHECKSUMS,
    HEAP,
    LAYOUT,
    REQUIRED,
    SCALING,
    is_required,
    is_structural,
    is_table_structure,
)
from xdm.io.plainfits import plain_product_is_empty
from xdm.io.plainwrite import primary_cards

CHANDRA = Path(__file__).parent / "data" / "events" / "chandra_test.fits"


def test_the_groups_nest_as_named() -> None:
    assert set(REQUIRED) < set(LAYOUT) < set(ASTROPY_STRIPPED)
    for key in (*LAYOUT, "NAXIS2", "TTYPE3", "TLMIN11", "TCRVL2"):
        assert is_structural(key) and is_table_structure(key), key
    for key in ("OBJECT", "EXTNAME", "THEAP", "MTYPE1", "BSCALE", "TLMIN"):
        assert not is_structural(key), key
    assert all(is_table_structure(k) for k in (*HEAP, "MTYPE1", "MFORM2"))
    required = [k for k in (*LAYOUT, "NAXIS1", "TFORM2", "TTYPE9") if is_required(k)]
    assert required == [*REQUIRED, "NAXIS1", "TFORM2", "TTYPE9"]
    assert not any(is_required(k) for k in ("EXTEND", "THEAP", "TUNIT1", "TLMIN1"))


def test_dmlist_lists_what_is_not_structural() -> None:
    values = xdm.tools.dmlist(infile=f"{CHANDRA}[EVENTS]", opt="header").values
    header = fits.getheader(CHANDRA, "EVENTS")
    expected = [k for k in header if k and not is_structural(k)]
    assert [c["key"] for c in values["header"]] == expected
    assert any(k.startswith("MTYPE") for k in expected)  # dmlist lists them


def test_an_image_binned_from_a_table_drops_its_structure(tmp_path: Path) -> None:
    out = tmp_path / "img.fits"
    xdm.copy(f"{CHANDRA}[EVENTS][bin sky=64]", out)
    events = fits.getheader(CHANDRA, "EVENTS")
    image = fits.getheader(out, 0)
    assert any(k.startswith("TLMIN") for k in events if is_table_structure(k))
    columns = [k for k in image if is_structural(k) and k not in LAYOUT]
    assert columns == ["NAXIS1", "NAXIS2"]  # the image's own; no column keys
    assert image["NAXIS"] == 2 and "TFIELDS" not in image and "XTENSION" not in image
    kept = [k for k in events if k and not is_table_structure(k)]
    assert [k for k in kept if k not in image] == list(CHECKSUMS)  # stale there


def _with_extra_card(tmp_path: Path, key: str, value: str) -> Path:
    """A small table file whose extension header has one more card, ``key``."""
    hdu = fits.BinTableHDU.from_columns([fits.Column(name="a", format="J")], nrows=2)
    hdu.header["TUNIT1"] = "s"
    path = tmp_path / f"dup_{key}.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    data = bytearray(path.read_bytes())
    end = data.index(b"END" + b" " * 77, 2880)
    data[end : end + 160] = f"{key:<8}= {value:>20}".ljust(80).encode() + b"END".ljust(
        80
    )
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("BITPIX", "8"),
        ("NAXIS1", "4"),
        ("PCOUNT", "0"),
        ("TFIELDS", "1"),
        ("TFORM1", "'J'"),
        ("TTYPE1", "'a'"),
        ("EXTEND", "T"),
        ("THEAP", "0"),
        ("TUNIT1", "'s'"),
        ("EXTNAME", "'B'"),
    ],
)
def test_the_check_refuses_a_second_copy_of_required_keys(
    tmp_path: Path, key: str, value: str
) -> None:
    path = _with_extra_card(tmp_path, key, value)
    if is_required(key):
        with pytest.raises(XdmIOError, match=f"has {key} twice"):
            check_file(path, path.name)
    else:
        check_file(path, path.name)


def test_the_lean_writer_strips_what_astropy_strips() -> None:
    """astropy removes ASTROPY_STRIPPED, NAXISn up to NAXIS and the column roots
    numbered up to TFIELDS; the lean writer's header is astropy's, byte for byte."""
    header = fits.Header()
    for key in ASTROPY_STRIPPED:
        header[key] = "IMAGE" if key == "XTENSION" else 2
    for i in (1, 2, 3):
        header[f"NAXIS{i}"] = 5
        for root in ASTROPY_STRIPPED_COLUMNS:
            header[f"{root}{i}"] = 1
    header["OBJECT"], header["THEAP"], header["BLANK"] = "x", 1, -1
    data = np.zeros((3, 4), dtype=np.int16)
    theirs = fits.PrimaryHDU(data=data, header=header).header
    lean = primary_cards(data, Cards.parse(header.tostring()), extend=False)
    assert lean.tostring() == theirs.tostring()
    own = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2"}
    kept = {f"{root}3" for root in ASTROPY_STRIPPED_COLUMNS} | {"NAXIS3"}
    assert set(theirs) - own == kept | {"OBJECT", "THEAP", "BLANK"}


@pytest.mark.parametrize("key", SCALING)
def test_scaled_images_are_left_to_astropy(tmp_path: Path, key: str) -> None:
    path = tmp_path / "scaled.fits"
    hdu = fits.PrimaryHDU(data=np.zeros((2, 2), dtype=np.int16))
    hdu.writeto(path)
    assert plain_product_is_empty(path) is True
    with fits.open(path, mode="update") as hdul:
        hdul[0].header[key] = {"BSCALE": 1, "BZERO": 0, "BLANK": -1}[key]
    assert plain_product_is_empty(path) is None
