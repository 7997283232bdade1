"""Build and read FITS objects: the one door to astropy.io.fits above ``xdm/io``.

Tools, plots and the CLI open files, make headers, tables and images, and
write products through these few functions, so the FITS library is imported
in one package only (and lazily: importing this module loads no astropy).
Opening turns the library's errors into an ``XdmIOError`` that says what is
wrong with the file (the words of ``xdm.io.fitscheck``). The objects returned
are astropy's own (headers, HDUs, HDU lists); annotate them with the aliases
``Header``, ``HDUList`` and ``HDU`` imported under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from xdm.errors import Span, XdmIOError

if TYPE_CHECKING:
    from astropy.io.fits import HDUList as HDUList
    from astropy.io.fits import Header as Header
    from astropy.io.fits.hdu.base import _BaseHDU as HDU
    from astropy.table import Table
    from numpy.typing import NDArray

__all__ = [
    "ColumnSpec",
    "hdu_list",
    "image_hdu",
    "is_bintable",
    "is_scaled_records",
    "is_table",
    "new_header",
    "open_fits",
    "primary_hdu",
    "read_header",
    "read_table",
    "records_hdu",
    "records_table",
    "save_hdus",
    "table_hdu",
    "write_fits",
]

Mode = Literal["readonly", "update", "append", "denywrite"]
Cards = Mapping[str, Any] | Iterable[tuple[str, Any] | tuple[str, Any, str | None]]
"""Header cards as a mapping or as ``(key, value)`` / ``(key, value, comment)``."""


# ---------------------------------------------------------------- reading


def open_fits(
    path: str | os.PathLike[str],
    *,
    memmap: bool | None = None,
    mode: Mode = "readonly",
    shown: str | None = None,
    source: str | None = None,
    span: Span | None = None,
) -> HDUList:
    """Open a FITS file: ``with open_fits(path) as hdul:`` closes it after.

    ``memmap`` None is astropy's default (memory-mapped when the file allows
    it). A file that cannot be opened raises ``XdmIOError`` naming the file
    (``shown``, else ``path``) and what is wrong with it; errors raised later,
    in the ``with`` body, are not touched.
    """
    from astropy.io import fits

    try:
        return fits.open(path, mode=mode, memmap=memmap)
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError...
        raise _unreadable(path, shown, exc, source, span) from None


def _unreadable(
    path: str | os.PathLike[str],
    shown: str | None,
    exc: Exception,
    source: str | None,
    span: Span | None,
) -> XdmIOError:
    """The error for a file astropy could not open, in ``fitscheck``'s words."""
    from xdm.io.fitscheck import check_file

    name = shown if shown is not None else os.fspath(path)
    real = Path(os.path.expanduser(os.fspath(path)))
    if not real.exists():
        return XdmIOError(
            f"file not found: {name}",
            source=source,
            span=span,
            hint=f"looked for {real}",
        )
    if isinstance(exc, PermissionError):
        return XdmIOError(
            f"{name}: cannot be read (permission denied)", source=source, span=span
        )
    try:
        check_file(real, name, source=source, span=span)
    except XdmIOError as found:
        return found
    return XdmIOError(f"cannot read {name} as FITS: {exc}", source=source, span=span)


def read_header(path: str | os.PathLike[str], block: int | str = 0) -> Header:
    """A copy of one block's header (``block`` a 0-based index or an EXTNAME)."""
    with open_fits(path) as hdul:
        try:
            return hdul[block].header.copy()
        except (IndexError, KeyError):
            raise XdmIOError(
                f"{os.fspath(path)} has no block {block!r}",
                hint=f"blocks: {', '.join(h.name for h in hdul)}",
            ) from None


def is_bintable(hdu: Any) -> bool:
    """True for a binary table block."""
    from astropy.io import fits

    return isinstance(hdu, fits.BinTableHDU)


def is_table(hdu: Any) -> bool:
    """True for a binary or an ASCII table block."""
    from astropy.io import fits

    return isinstance(hdu, fits.BinTableHDU | fits.TableHDU)


def is_scaled_records(records: Any) -> bool:
    """True for rows read through astropy (heap tables): already scaled to
    physical values, unlike raw records from a memory map."""
    from astropy.io import fits

    return isinstance(records, fits.FITS_rec)


def read_table(hdu: Any) -> Table:
    """A table block as an astropy ``Table`` (the FITS reader alone:
    ``Table.read`` would load every I/O connector)."""
    from astropy.io.fits.connect import read_table_fits

    return read_table_fits(hdu)


def records_table(records: NDArray[Any], header: Header) -> Table:
    """Rows of a table block as an astropy ``Table`` with the header's units
    and scaling (TUNIT, TSCAL, TZERO) applied.

    Rows read through astropy carry their column definitions; raw records
    (from a memory map) are framed as a block under ``header`` and read back,
    since ``BinTableHDU(data=ndarray)`` would drop units and leave unsigned
    columns unscaled.
    """
    import numpy as np
    from astropy.io import fits
    from astropy.table import Table

    if isinstance(records, fits.FITS_rec):
        return Table.read(fits.BinTableHDU(data=records, header=header))
    header = header.copy()
    header["NAXIS1"] = records.dtype.itemsize
    header["NAXIS2"] = len(records)
    big_endian = np.asarray(records, dtype=records.dtype.newbyteorder(">"))
    body = np.ascontiguousarray(big_endian).tobytes()
    body += b"\0" * (-len(body) % 2880)
    return Table.read(
        fits.BinTableHDU.fromstring(header.tostring().encode("ascii") + body)
    )


# ---------------------------------------------------------------- building


def new_header(cards: Cards = ()) -> Header:
    """A header holding ``cards`` in order."""
    from astropy.io import fits

    header = fits.Header()
    items = cards.items() if isinstance(cards, Mapping) else cards
    for card in items:
        key, *rest = card
        header[key] = rest[0] if len(rest) == 1 else tuple(rest)
    return header


@dataclass(frozen=True, slots=True, eq=False)
class ColumnSpec:
    """One column of a table to build: FITS name, TFORM, values and TUNIT;
    ``dim``, ``null``, ``bscale`` and ``bzero`` as the TDIM/TNULL/TSCAL/TZERO
    keywords (values are physical: the scaling is applied on writing)."""

    name: str
    format: str
    array: Any
    unit: str | None = None
    dim: str | None = None
    null: Any = None
    bscale: Any = None
    bzero: Any = None


def table_hdu(
    columns: Sequence[ColumnSpec],
    *,
    name: str | None = None,
    header: Header | None = None,
) -> HDU:
    """A binary table block of ``columns`` (``name`` its EXTNAME), with the
    cards of ``header`` when given."""
    from astropy.io import fits

    cols = [
        fits.Column(
            name=c.name,
            format=c.format,
            array=c.array,
            unit=c.unit,
            dim=c.dim,
            null=c.null,
            bscale=c.bscale,
            bzero=c.bzero,
        )
        for c in columns
    ]
    if name is None:
        return fits.BinTableHDU.from_columns(cols, header=header)
    return fits.BinTableHDU.from_columns(cols, header=header, name=name)


def records_hdu(data: Any, header: Header) -> HDU:
    """A binary table block holding ``data`` (rows read from a table, or None)
    under a copy of ``header``; the data is shared, not copied."""
    from astropy.io import fits

    return fits.BinTableHDU(data=data, header=header.copy())


def image_hdu(
    data: NDArray[Any] | None, header: Header | None = None, *, primary: bool
) -> HDU:
    """An image block: the primary one, or an extension (IMAGE)."""
    from astropy.io import fits

    if primary:
        return fits.PrimaryHDU(data=data, header=header)
    return fits.ImageHDU(data=data, header=header)


def primary_hdu(header: Header | None = None) -> HDU:
    """An empty primary block (the one before a file's tables)."""
    from astropy.io import fits

    return fits.PrimaryHDU(header=header)


def hdu_list(hdus: Iterable[HDU]) -> HDUList:
    """The blocks of one file, the first one primary."""
    from astropy.io import fits

    return fits.HDUList(list(hdus))


# ---------------------------------------------------------------- writing


def save_hdus(
    path: str | os.PathLike[str], hdus: Iterable[HDU], *, fix: bool = False
) -> None:
    """Write ``hdus`` (the first one primary) to ``path``, replacing it; for a
    temporary file of ``xdm.io.atomic.atomic_output``. ``fix`` repairs
    fixable non-standard cards silently (else astropy refuses them)."""
    if fix:
        from xdm.io.writer import write_hdulist

        write_hdulist(Path(path), list(hdus))
        return
    from astropy.io import fits

    fits.HDUList(list(hdus)).writeto(path, overwrite=True)


def write_fits(
    path: str | os.PathLike[str],
    hdus: Iterable[HDU],
    *,
    clobber: bool,
    source: str | None = None,
    fix: bool = False,
) -> Path:
    """Write a product atomically: a temporary file renamed over ``path``
    (refused if it exists and not ``clobber``; nothing left on failure)."""
    from xdm.io.atomic import atomic_output

    with atomic_output(path, clobber=clobber, source=source) as tmp:
        save_hdus(tmp, hdus, fix=fix)
    return Path(path)
