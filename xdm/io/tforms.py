"""FITS binary-table column types: one row per TFORM code (FITS 4.0, table 18).

Read by the lean reader (``plainfits.record_dtype``: the record layout), the
structure check (``fitscheck``: a row's width in bytes), the column metadata
(``columns.column_metas``: a column's kind) and the inspection tools
(``tools._inspect.ciao_type``: the type name dmlist prints).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["CODES", "TFORMS", "Kind", "Tform", "field_bytes"]

Kind = Literal["int", "real", "bit", "logical", "string", "other"]
"""What the engine does with a column: integer columns have inclusive ranges,
real ones half-open ranges, bit columns take patterns."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Tform:
    """One binary-table type code (the letter of ``TFORMn = '8A'``)."""

    code: str
    bits: int
    """The bits one element takes in a row (``X``: 1; every other code whole bytes)."""
    dtype: str | None
    """numpy's type of one element as stored (big-endian; ``X``: of each byte of
    bits), None where the lean reader does not map it (``P``/``Q``: descriptors
    into the heap, which the reader refuses)."""
    kind: Kind
    """How the engine reads an unscaled column (scaled integers are ``real``)."""
    ciao: str | None
    """The type name dmlist prints (``Int2``), None where it prints the TFORM."""


TFORMS: Final[Mapping[str, Tform]] = {
    t.code: t
    for t in (
        Tform(code="L", bits=8, dtype="i1", kind="logical", ciao="Logical"),
        Tform(code="X", bits=1, dtype="u1", kind="bit", ciao="Bit"),
        Tform(code="B", bits=8, dtype="u1", kind="int", ciao="Uint1"),
        Tform(code="I", bits=16, dtype=">i2", kind="int", ciao="Int2"),
        Tform(code="J", bits=32, dtype=">i4", kind="int", ciao="Int4"),
        Tform(code="K", bits=64, dtype=">i8", kind="int", ciao="Int8"),
        Tform(code="A", bits=8, dtype="S1", kind="string", ciao="String"),
        Tform(code="E", bits=32, dtype=">f4", kind="real", ciao="Real4"),
        Tform(code="D", bits=64, dtype=">f8", kind="real", ciao="Real8"),
        Tform(code="C", bits=64, dtype=">c8", kind="other", ciao="Complex8"),
        Tform(code="M", bits=128, dtype=">c16", kind="other", ciao="Complex16"),
        Tform(code="P", bits=64, dtype=None, kind="other", ciao=None),
        Tform(code="Q", bits=128, dtype=None, kind="other", ciao=None),
    )
}
"""Every TFORM code FITS defines, in the standard's order."""

CODES: Final = "".join(TFORMS)
"""The codes as one string, for a regular expression's character class."""


def field_bytes(code: str, repeat: int) -> int:
    """Bytes a field of ``repeat`` elements of ``code`` takes in a row (bits
    are packed eight to a byte, the last byte padded)."""
    return (repeat * TFORMS[code].bits + 7) // 8
