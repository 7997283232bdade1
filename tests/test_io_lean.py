"""The lean FITS path (xdm.io.cards, plainfits, plainwrite) against astropy.

Oracles: astropy reads every input and product. Headers are compared card by
card (keyword, value, comment, value type), data array for array; products of
the lean path (a plain input) and of astropy (the same input gzipped, which the
lean path leaves to astropy) must be equal and pass ``verify('exception')``.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

import xdm
from xdm.io.blocks import open_block
from xdm.io.cards import Card, Cards, LeanUnsupported, as_header
from xdm.io.columns import raw_dtype
from xdm.io.plainfits import plain_product_is_empty, record_dtype, scan_plain
from xdm.io.plainwrite import write_image

EVENTS = Path(__file__).parent / "data" / "events"
SPECTRA = Path(__file__).parent / "data" / "spectra"


def _cards(header: Any) -> list[tuple[str, Any, str, type]]:
    return [(c.keyword, c.value, c.comment, type(c.value)) for c in header.cards]


def _plain_inputs(synthetic_events: Path) -> list[Path]:
    return [
        synthetic_events,
        EVENTS / "chandra_test.fits",
        EVENTS / "chandra_time.fits",
        EVENTS / "chandra_noener_test.fits",
        SPECTRA / "3c273.pi",
        SPECTRA / "3c273.arf",
    ]


# ---------------------------------------------------------------- reading


def test_plain_files_read_as_astropy_reads(synthetic_events: Path) -> None:
    """Every header card, data offset and table record layout of the plain test
    files equals what astropy reads."""
    for path in _plain_inputs(synthetic_events):
        hdus = scan_plain(path)
        assert hdus is not None, path
        with fits.open(path) as hdul:
            assert len(hdus) == len(hdul)
            for i, (mine, theirs) in enumerate(zip(hdus, hdul)):
                assert _cards(mine.cards) == _cards(theirs.header), (path, i)
                assert mine.data_start == hdul.fileinfo(i)["datLoc"]
                assert mine.data_size == theirs.header.data_size
                if isinstance(theirs, fits.BinTableHDU):
                    assert record_dtype(mine.cards) == raw_dtype(theirs)


def test_open_block_reads_plain_rows_without_astropy(synthetic_events: Path) -> None:
    with open_block(str(synthetic_events)) as block, fits.open(synthetic_events) as h:
        assert isinstance(block.cards, Cards)
        raw = block.raw()
        theirs = np.asarray(h[block.index].data).view(np.ndarray).view(raw.dtype)
        assert np.array_equal(raw, theirs)
        assert _cards(block.header) == _cards(h[block.index].header)


def test_odd_files_go_to_astropy(tmp_path: Path) -> None:
    """gzip, variable-length arrays and tile compression are not plain."""
    packed = tmp_path / "evt.fits.gz"
    with open(EVENTS / "chandra_test.fits", "rb") as src, gzip.open(packed, "wb") as d:
        shutil.copyfileobj(src, d)
    assert scan_plain(packed) is None
    with open_block(str(packed)) as block:
        assert not isinstance(block.cards, Cards)
        assert block.nrows > 0
    vla = tmp_path / "vla.fits"
    col = fits.Column(name="V", format="PJ()", array=[[1, 2], [3]])
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([col])]).writeto(vla)
    assert scan_plain(vla) is None
    tiles = tmp_path / "tiles.fits"
    image = fits.CompImageHDU(np.arange(64, dtype=np.int32).reshape(8, 8))
    fits.HDUList([fits.PrimaryHDU(), image]).writeto(tiles)
    assert scan_plain(tiles) is None


def test_cards_refuse_what_they_cannot_read() -> None:
    for image in (
        "HIERARCH ESO DET = 1",
        "LONG    = 'abc&'",
        "CPLX    = (1.0, 2.0)",
        "UNDEF   =",
        "NOVALUE   text",
    ):
        with pytest.raises(LeanUnsupported):
            Cards.parse(f"{image:80}")


# ---------------------------------------------------------------- formatting

VALUES = [
    ("INT", 42, "an int"),
    ("NEG", -7, ""),
    ("BIG", 10**15, "big"),
    ("FLT", 0.1, "tenth"),
    ("FLT2", 1e-5, ""),
    ("FLT3", 12345.678, ""),
    ("FLT4", -0.00136666666667, "deg"),
    ("FLT5", 1e20, ""),
    ("FLT6", 2000.0, ""),
    ("NPF", np.float64(0.125), ""),
    ("NPF32", np.float32(0.5), ""),
    ("NPI", np.int64(3), ""),
    ("T", True, "yes"),
    ("F", np.bool_(False), ""),
    ("STR", "ACIS", "instrument"),
    ("QUOTE", "it's", ""),
    ("EMPTY", "", ""),
    ("LONGSTR", "x" * 60, ""),
]


@pytest.mark.parametrize(("key", "value", "comment"), VALUES)
def test_new_cards_are_astropy_cards(key: str, value: Any, comment: str) -> None:
    """A new card is formatted character for character as astropy formats it."""
    assert Card(key, value, comment).text() == fits.Card(key, value, comment).image


def test_cards_astropy_would_truncate_are_refused() -> None:
    with pytest.raises(LeanUnsupported):
        Card("LONGFLT", 1.2345678901234567e-300, "").text()
    with pytest.raises(LeanUnsupported):
        Card("LONGCOM", "x" * 60, "a comment that no longer fits on the card").text()


def _edit(h: Any) -> None:
    """One sequence of header edits, applied to astropy's Header and to Cards."""
    h["OBJECT"] = ("3C 273", "target")
    h.add_history("first")
    h["RA_NOM"] = 187.2779  # a new keyword goes before the trailing HISTORY
    h.add_comment("a comment")
    h.add_history("second " + "y" * 100)  # split into 72-character cards
    h["OBJECT"] = "3C273"  # the comment is kept
    h["EQUINOX"] = (2000.0, "")
    h.append(("DSTYP1", "TIME"), end=True)
    h.remove("RA_NOM")
    h.remove("NOTHERE", ignore_missing=True)
    h.update(_other(type(h)))
    h["OBJECT"] = ("3C 273", "new comment")
    del h["DSTYP1"]


def _other(kind: type) -> Any:
    o = kind()
    o["CTYPE1"] = "RA---TAN"
    o["CRVAL1"] = 187.2779
    o["EQUINOX"] = 2000.0
    return o


def test_edits_place_cards_as_astropy_places_them() -> None:
    text = "".join(
        f"{c:80}"
        for c in (
            "SIMPLE  =                    T",
            "EQUINOX =               2000.0 / default",
            "HISTORY original",
            "",
        )
    )
    theirs = fits.Header.fromstring(text)
    mine = Cards.parse(text)
    _edit(theirs)
    _edit(mine)
    assert _cards(mine) == _cards(theirs)
    assert _cards(fits.Header.fromstring(mine.tostring())) == _cards(theirs)
    assert _cards(as_header(mine)) == _cards(theirs)


# ---------------------------------------------------------------- products

QUERIES = [
    "[energy=300:2000][bin x=::8,y=::8]",
    "[bin sky=16]",
    "[energy>1000][bin x=3000:5000:4,y=3000:5000:4][opt type=r4]",
    "[ccd_id=7,energy=500:7000][bin sky=32][opt type=i2]",
    "[energy=300:2000]",
    "[ccd_id=7][cols time,energy,x,y]",
    "[sky=circle(4096.5,4096.5,400)]",
]


@pytest.fixture(scope="module")
def packed_events(synthetic_events: Path, tmp_path_factory: Any) -> Path:
    """The synthetic events gzipped: the same file, read by astropy."""
    packed = tmp_path_factory.mktemp("packed") / "evt2.fits.gz"
    with open(synthetic_events, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return packed


def _same_products(a: Path, b: Path) -> None:
    with fits.open(a) as mine, fits.open(b) as theirs:
        mine.verify("exception")
        theirs.verify("exception")
        assert len(mine) == len(theirs)
        for x, y in zip(mine, theirs):
            assert _cards(x.header) == _cards(y.header)
            if y.data is None:
                assert x.data is None
            else:
                assert np.array_equal(np.asarray(x.data), np.asarray(y.data))


@pytest.mark.parametrize("query", QUERIES)
def test_lean_products_equal_astropy_products(
    query: str, synthetic_events: Path, packed_events: Path, tmp_path: Path
) -> None:
    lean, astro = tmp_path / "lean.fits", tmp_path / "astro.fits"
    xdm.copy(f"{synthetic_events}{query}", lean, history="same history")
    xdm.copy(f"{packed_events}{query}", astro, history="same history")
    _same_products(lean, astro)


@pytest.mark.parametrize(
    "query", ["[energy=500:7000][bin sky=8]", "[ccd_id=7]", "[bin pi=1:1024:1]"]
)
def test_real_chandra_products_equal(query: str, tmp_path: Path) -> None:
    """A Chandra file (long CONTINUE strings in its header) through both paths."""
    path = EVENTS / "chandra_test.fits"
    packed = tmp_path / "evt.fits.gz"
    with open(path, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    with open_block(str(path)) as block:
        assert isinstance(block.cards, Cards)
    lean, astro = tmp_path / "lean.fits", tmp_path / "astro.fits"
    xdm.copy(f"{path}{query}", lean, history="h")
    xdm.copy(f"{packed}{query}", astro, history="h")
    _same_products(lean, astro)


def test_time_filter_products_equal(
    synthetic_events: Path, packed_events: Path, tmp_path: Path
) -> None:
    """A time filter rewrites the GTI blocks (through astropy) in both."""
    t0 = float(fits.getheader(synthetic_events, 1)["TSTART"])
    query = f"[time={t0 + 100}:{t0 + 5000}][bin sky=32]"
    lean, astro = tmp_path / "lean.fits", tmp_path / "astro.fits"
    xdm.copy(f"{synthetic_events}{query}", lean, history="h")
    xdm.copy(f"{packed_events}{query}", astro, history="h")
    _same_products(lean, astro)


def test_read_hands_out_astropy_headers(synthetic_events: Path) -> None:
    image = xdm.read(f"{synthetic_events}[bin sky=64]")
    assert isinstance(image.header, fits.Header)


def test_unwritable_header_falls_back_to_astropy(tmp_path: Path) -> None:
    """A card the lean writer refuses sends the whole image through astropy."""
    data = np.arange(12, dtype=np.int32).reshape(3, 4)
    header = Cards()
    header["OBJECT"] = "x"
    header["TINY"] = 1.2345678901234567e-300  # astropy shortens it
    lean = tmp_path / "lean.fits"
    write_image(lean, data, header)
    astro = tmp_path / "astro.fits"
    fits.PrimaryHDU(data, header=as_header(header)).writeto(astro)
    _same_products(lean, astro)


def test_product_emptiness_as_astropy_sees_it(tmp_path: Path) -> None:
    zeros, ones = tmp_path / "zeros.fits", tmp_path / "ones.fits"
    fits.PrimaryHDU(np.zeros((4, 4), dtype=np.int16)).writeto(zeros)
    fits.PrimaryHDU(np.ones((4, 4), dtype=np.int16)).writeto(ones)
    assert plain_product_is_empty(zeros) is True
    assert plain_product_is_empty(ones) is False
    empty = tmp_path / "empty.fits"
    col = fits.Column(name="A", format="D", array=np.zeros(0))
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([col])]).writeto(
        empty
    )
    assert plain_product_is_empty(empty) is True


def test_common_dmcopy_imports_no_astropy(
    synthetic_events: Path, tmp_path: Path
) -> None:
    """``xdm dmcopy evt[filter][bin]`` on a plain file never imports astropy."""
    out = tmp_path / "img.fits"
    run = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "xdm",
            "dmcopy",
            f"{synthetic_events}[energy=300:2000][bin x=::8,y=::8]",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = [line for line in run.stderr.splitlines() if "import time" in line]
    assert imported
    assert not [line for line in imported if "astropy" in line]
    with fits.open(out) as hdul:
        hdul.verify("exception")
        assert hdul[0].data.shape == (1024, 1024)
