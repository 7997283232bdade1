"""The TFORM table (xdm.io.tforms) held to its users and to astropy.

One table file holds a column of every FITS binary-table type; astropy writes it
and is the oracle for the record layout, the row width and the element sizes.
The users read the table: the lean reader (``record_dtype``), the structure
check (``check_file``), the column metadata (``column_metas``) and dmlist.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm.tools
from xdm.io.cards import Cards
from xdm.io.columns import column_metas, raw_dtype
from xdm.io.fitscheck import check_file
from xdm.io.plainfits import record_dtype
from xdm.io.tforms import CODES, TFORMS, field_bytes
from xdm.lang.options import IMAGE_TYPES

ROWS = 4
REPEATS = {"L": 1, "X": 13, "B": 1, "I": 2, "J": 1, "K": 1, "A": 8}
REPEATS |= {"E": 1, "D": 3, "C": 1, "M": 1}
"""Every fixed-width code, some as vectors (13 bits take two bytes)."""


@pytest.fixture(scope="module")
def every_type(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cols = [fits.Column(name=f"c{c}", format=f"{r}{c}") for c, r in REPEATS.items()]
    heap = np.array([np.arange(k, dtype=np.int32) for k in range(ROWS)], dtype=object)
    cols.append(fits.Column(name="cP", format="PJ()", array=heap))
    path = tmp_path_factory.mktemp("tforms") / "every_type.fits"
    hdu = fits.BinTableHDU.from_columns(cols, nrows=ROWS)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def test_the_table_names_every_fits_code_once() -> None:
    assert CODES == "LXBIJKAEDCMPQ"
    assert all(code == t.code for code, t in TFORMS.items())


def test_element_sizes_agree_with_numpy_types() -> None:
    for t in TFORMS.values():
        if t.dtype is not None and t.code != "X":
            assert np.dtype(t.dtype).itemsize * 8 == t.bits, t
    assert TFORMS["X"].bits == 1


def test_field_bytes_are_astropys_row_layout(every_type: Path) -> None:
    with fits.open(every_type) as hdul:
        table = hdul[1]
        layout = table.data.dtype
        for n, col in enumerate(table.columns, 1):
            code = col.format.format
            width = field_bytes(code, col.format.repeat)
            assert width == layout[n - 1].itemsize, col
        assert table.header["NAXIS1"] == layout.itemsize


def test_structure_check_accepts_every_code(every_type: Path) -> None:
    check_file(every_type, every_type.name)  # the row width adds up


def test_lean_layout_is_astropys_for_fixed_width_codes(every_type: Path) -> None:
    with fits.open(every_type) as hdul:
        header = hdul[1].header.copy()
        fixed = fits.BinTableHDU.from_columns(
            [c for c in hdul[1].columns if c.format.format in REPEATS], nrows=ROWS
        )
    assert record_dtype(Cards.parse(fixed.header.tostring())) == raw_dtype(fixed)
    assert record_dtype(Cards.parse(header.tostring())) is None  # a heap: astropy


def test_column_kinds_are_the_tables(every_type: Path) -> None:
    with fits.open(every_type) as hdul:
        header = hdul[1].header
    kinds = {m.name[1:]: m.kind for m in column_metas(header)}
    assert kinds == {code: TFORMS[code].kind for code in [*REPEATS, "P"]}


def test_dmlist_prints_the_tables_type_names(every_type: Path) -> None:
    cols = xdm.tools.dmlist(infile=f"{every_type}[2]", opt="cols", verbose=0)
    types = {c["name"][1:]: c["type"] for c in cols.values["columns"]}
    for code, repeat in REPEATS.items():
        name = TFORMS[code].ciao
        shown = name if repeat == 1 and code not in "AX" else f"{name}[{repeat}]"
        assert types[code] == shown
    assert types["P"] == "PJ(3)"  # no CIAO name: the TFORM itself


def test_numeric_type_names_are_the_image_types_labels() -> None:
    labels = {np.dtype(t.dtype): t.label for t in IMAGE_TYPES}
    for code in "BIJKED":
        t = TFORMS[code]
        assert t.dtype is not None
        assert t.ciao == labels[np.dtype(t.dtype).newbyteorder("=")]
