"""Table columns: what a header says about each column (``ColumnMeta``), the
on-disk record layout, and a column's values or bits from a chunk of raw records.

Pure header and numpy work: no file is opened here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xdm.errors import XdmSemanticError
from xdm.io.tforms import CODES, TFORMS, Kind

if TYPE_CHECKING:
    from astropy.io.fits import Header
    from numpy.typing import NDArray

__all__ = [
    "COLUMN_KEY",
    "COLUMN_KEYWORDS",
    "STANDARD_VECTORS",
    "ColumnMeta",
    "ColumnWcs",
    "Kind",
    "bit_values",
    "column_metas",
    "column_values",
    "column_vectors",
    "is_column_keyword",
    "raw_dtype",
]

STANDARD_VECTORS: dict[str, tuple[str, str]] = {
    "sky": ("x", "y"),
    "chip": ("chipx", "chipy"),
    "det": ("detx", "dety"),
    "tdet": ("tdetx", "tdety"),
    "pos": ("x", "y"),
    "eqpos": ("ra", "dec"),
    "oc": ("ocx", "ocy"),
}
"""Chandra vector columns, used when the header has no MTYPE/MFORM for them."""

# keywords indexed by column number (TTYPE1, TLMIN3, TCRVL11, ...)
COLUMN_KEYWORDS = (
    "TTYPE",
    "TFORM",
    "TUNIT",
    "TNULL",
    "TSCAL",
    "TZERO",
    "TDISP",
    "TDIM",
    "TLMIN",
    "TLMAX",
    "TDMIN",
    "TDMAX",
    "TCTYP",
    "TCRVL",
    "TCRPX",
    "TCDLT",
    "TCUNI",
    "TCNA",
    "TCROT",
    "LONP",
    "LATP",
    "TCD",
)
COLUMN_KEY = re.compile(r"^(" + "|".join(COLUMN_KEYWORDS) + r")(\d+)$")
"""A column-numbered keyword: group 1 the root (``TLMIN``), group 2 the number."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnWcs:
    """A column's world transform (TCTYPn/TCRVLn/TCRPXn/TCDLTn/TCUNIn)."""

    ctype: str
    crval: float
    crpix: float
    cdelt: float
    cunit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnMeta:
    """One table column as the engine sees it.

    ``kind`` drives the bound rules: integer columns have inclusive ranges, real
    columns half-open ones, bit columns take patterns. ``width`` is the number of
    elements (bits for ``nX``); only scalar columns (width 1) can be filtered or
    binned, except bit columns.
    """

    name: str
    number: int
    kind: Kind
    tform: str
    width: int = 1
    unit: str | None = None
    tlmin: float | None = None
    tlmax: float | None = None
    tnull: int | None = None
    scale: float = 1.0
    zero: float = 0.0
    wcs: ColumnWcs | None = None

    @property
    def key(self) -> str:
        """The case-folded name used for look-ups."""
        return self.name.lower()

    @property
    def is_scaled(self) -> bool:
        return self.scale != 1.0 or self.zero != 0.0


_TFORM = re.compile(rf"^\s*(\d*)\s*([{CODES}])(.*)$", re.IGNORECASE)


def column_metas(header: Header) -> Iterator[ColumnMeta]:
    for n in range(1, int(header.get("TFIELDS", 0)) + 1):
        name = str(header.get(f"TTYPE{n}", f"col{n}")).strip()
        tform = str(header.get(f"TFORM{n}", "")).strip()
        m = _TFORM.match(tform)
        repeat = int(m.group(1)) if m and m.group(1) else 1
        code = m.group(2).upper() if m else "?"
        scale = float(header.get(f"TSCAL{n}", 1.0))
        zero = float(header.get(f"TZERO{n}", 0.0))
        kind: Kind = TFORMS[code].kind if code in TFORMS else "other"
        if kind == "int" and not (scale == 1.0 and float(zero).is_integer()):
            kind = "real"
        wcs = None
        if f"TCTYP{n}" in header:
            wcs = ColumnWcs(
                ctype=str(header[f"TCTYP{n}"]).strip(),
                crval=float(header.get(f"TCRVL{n}", 0.0)),
                crpix=float(header.get(f"TCRPX{n}", 0.0)),
                cdelt=float(header.get(f"TCDLT{n}", 1.0)),
                cunit=(
                    str(header[f"TCUNI{n}"]).strip() if f"TCUNI{n}" in header else None
                ),
            )
        tnull = header.get(f"TNULL{n}")
        yield ColumnMeta(
            name=name,
            number=n,
            kind=kind,
            tform=tform,
            width=repeat,
            unit=(str(header[f"TUNIT{n}"]).strip() or None)
            if f"TUNIT{n}" in header
            else None,
            tlmin=_float_or_none(header.get(f"TLMIN{n}")),
            tlmax=_float_or_none(header.get(f"TLMAX{n}")),
            tnull=int(tnull)
            if isinstance(tnull, int | float) and kind == "int"
            else None,
            scale=scale,
            zero=zero,
            wcs=wcs,
        )


def is_column_keyword(key: str) -> bool:
    """Whether ``key`` is indexed by column number (``TTYPE3``, ``TLMIN11``, ...)."""
    return COLUMN_KEY.match(key) is not None


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def column_vectors(
    header: Header, columns: Sequence[ColumnMeta]
) -> dict[str, tuple[str, str]]:
    names = {c.key for c in columns}
    out: dict[str, tuple[str, str]] = {
        vec: (a, b)
        for vec, (a, b) in STANDARD_VECTORS.items()
        if a in names and b in names
    }
    for key in header:
        if key.startswith("MTYPE") and key[5:].isdigit():
            form = str(header.get("MFORM" + key[5:], ""))
            parts = [p.strip().lower() for p in form.split(",")]
            if len(parts) == 2 and all(p in names for p in parts):
                out[str(header[key]).strip().lower()] = (parts[0], parts[1])
    return out


def raw_dtype(hdu: Any) -> np.dtype[Any]:
    """The on-disk record layout: big-endian numbers, bit fields as raw bytes."""
    fields: list[tuple[Any, ...]] = []
    for col in hdu.columns:
        fmt = col.format
        rec = fmt.recformat  # e.g. 'i2', 'f8', 'u1' (bits), 'a8'
        code = fmt.format
        repeat = fmt.repeat
        if code == "X":
            fields.append((col.name, "u1", ((repeat + 7) // 8,)))
        elif code == "A":
            fields.append((col.name, f"S{repeat}"))
        elif code == "L":
            fields.append(
                (col.name, "i1", (repeat,)) if repeat > 1 else (col.name, "i1")
            )
        else:
            base = np.dtype(rec)
            if repeat > 1:  # recformat '2f8' already holds the repeat
                base = base.base
            dt = base.newbyteorder(">") if base.itemsize > 1 else base
            fields.append((col.name, dt, (repeat,)) if repeat > 1 else (col.name, dt))
    return np.dtype(fields)


# ---------------------------------------------------------------- values


def column_values(records: NDArray[Any], col: ColumnMeta) -> NDArray[Any]:
    """The column's values for a chunk of raw records.

    Plain numeric columns come back as the big-endian strided view (no copy:
    numexpr and numpy read it directly); scaled columns are scaled; logical
    columns stay raw bytes (``T``, ``F`` or 0 for undefined).
    """
    values = records[col.name]
    if col.is_scaled:
        return values * col.scale + col.zero
    return values


def bit_values(records: NDArray[Any], col: ColumnMeta) -> NDArray[Any]:
    """A bit column (``32X``) as one integer per row, bit 0 = rightmost character.

    FITS stores the field's first bit in the most significant bit of the first
    byte, so the bytes read big-endian give the pattern's characters left to
    right. Whole-byte widths (8X, 16X, 32X, 64X) are a signed big-endian view of
    the bytes (numexpr has no unsigned types; masks with bit 31 still work because
    sign extension only sets bits above the mask); other widths are repacked and
    their padding bits shifted out.
    """
    raw = np.asarray(records[col.name])
    nbytes = raw.shape[1] if raw.ndim == 2 else 1
    if nbytes > 8:
        raise XdmSemanticError(
            f"bit column {col.name} wider than 64 bits is not supported"
        )
    if col.width == nbytes * 8 and nbytes in (1, 2, 4, 8):
        field = raw.reshape(len(raw), nbytes)
        if field.strides[1] == 1:  # a strided view on the records: no copy
            packed = field.view(f">i{nbytes}")[:, 0]
        else:
            packed = np.ascontiguousarray(field).view(f">i{nbytes}").ravel()
        return packed if nbytes >= 4 else packed.astype(np.int32)
    padded = np.zeros((len(raw), 8), dtype=np.uint8)
    padded[:, 8 - nbytes :] = raw.reshape(len(raw), nbytes)
    value = padded.view(">u8").ravel().astype(np.int64)
    shift = nbytes * 8 - col.width
    return value >> shift if shift else value
