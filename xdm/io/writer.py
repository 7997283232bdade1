"""Writing FITS products: whole HDU lists, one HDU's bytes, streamed event
tables (``EventWriter``) and the column keywords of a column selection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from xdm.io.cards import LeanUnsupported, as_header
from xdm.io.columns import COLUMN_KEY
from xdm.io.plainfits import PlainHdu

if TYPE_CHECKING:
    from astropy.io.fits import Header
    from numpy.typing import NDArray

__all__ = ["EventWriter", "hdu_bytes", "retarget_column_keywords", "write_hdulist"]


def write_hdulist(path: Path, hdus: Sequence[Any]) -> None:
    """Write complete HDUs (the first one primary) to ``path``."""
    from astropy.io import fits

    fits.HDUList(list(hdus)).writeto(path, overwrite=True, output_verify="silentfix")


def hdu_bytes(hdu: Any, *, primary: bool) -> bytes:
    """One HDU serialised as FITS bytes (header + padded data), to append to a file;
    a ``PlainHdu`` (an unchanged HDU of a plain input) is its bytes in the file."""
    import io

    if isinstance(hdu, PlainHdu):
        return hdu.read_bytes()

    from astropy.io import fits

    stream = io.BytesIO()
    if primary:
        fits.HDUList([hdu]).writeto(stream, output_verify="silentfix")
        return stream.getvalue()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(stream, output_verify="silentfix")
    return stream.getvalue()[2880:]  # drop the empty primary: one 2880-byte header


class EventWriter:
    """Streams selected rows of a table block into a FITS file being built.

    The header is written first with NAXIS2 = 0 and patched when the writer is
    closed (card width is fixed, so the header length does not change). Rows are
    appended as raw big-endian records: no conversion, no per-row Python.
    ``header`` is ``Cards`` or an astropy ``Header``; cards the lean format
    cannot write are handed to astropy.
    """

    def __init__(self, fh: BinaryIO, header: Any, dtype: np.dtype[Any]) -> None:
        self.fh = fh
        self.header = header.copy()
        self.dtype = dtype
        self.nrows = 0
        self.header["NAXIS1"] = dtype.itemsize
        self.header["NAXIS2"] = 0
        self.header["PCOUNT"] = 0
        self._start = fh.tell()
        try:
            text = self.header.tostring()
        except LeanUnsupported:
            self.header = as_header(self.header)
            text = self.header.tostring()
        fh.write(text.encode("ascii"))
        self._data_start = fh.tell()

    def append(self, records: NDArray[Any]) -> None:
        if len(records):
            rows = np.ascontiguousarray(records)
            if rows.dtype.itemsize != self.dtype.itemsize:
                raise ValueError("record size does not match the table layout")
            self.fh.write(rows.view(np.uint8).data)
            self.nrows += len(records)

    def close(self) -> Header:
        size = self.nrows * self.dtype.itemsize
        pad = (-size) % 2880
        if pad:
            self.fh.write(b"\0" * pad)
        end = self.fh.tell()
        self.header["NAXIS2"] = self.nrows
        self.fh.seek(self._start)
        text = self.header.tostring().encode("ascii")
        assert self._start + len(text) == self._data_start
        self.fh.write(text)
        self.fh.seek(end)
        return self.header


def retarget_column_keywords(
    header: Header, keep: Sequence[tuple[int, str]], nfields: int
) -> Header:
    """A table header for a column selection.

    ``keep`` lists ``(old_number, new_name)`` in output order; keywords of dropped
    columns go, the kept ones are renumbered, and vector groups (MTYPE/MFORM)
    survive only when both components are kept in order under their names.
    """
    out = header.copy()
    for key in list(out.keys()):
        if COLUMN_KEY.match(key):
            del out[key]
    for key in [k for k in out if k.startswith(("MTYPE", "MFORM"))]:
        del out[key]
    renumber = {old: new for new, (old, _) in enumerate(keep, start=1)}
    for key, value, comment in [(c.keyword, c.value, c.comment) for c in header.cards]:
        m = COLUMN_KEY.match(key)
        if not m:
            continue
        old = int(m.group(2))
        if old in renumber:
            new = renumber[old]
            if m.group(1) == "TTYPE":
                value = keep[new - 1][1]
            out[f"{m.group(1)}{new}"] = (value, comment)
    kept_names = [name.lower() for _, name in keep]
    original = {
        int(m.group(1)): str(v).strip().lower()
        for k, v in header.items()
        if (m := re.match(r"^TTYPE(\d+)$", k))
    }
    group = 1
    for key in [k for k in header if k.startswith("MTYPE") and k[5:].isdigit()]:
        form = str(header.get("MFORM" + key[5:], ""))
        parts = [p.strip().lower() for p in form.split(",")]
        idx = [kept_names.index(p) if p in kept_names else -1 for p in parts]
        olds = [keep[i][0] if i >= 0 else -1 for i in idx]
        ok = (
            all(i >= 0 for i in idx)
            and idx == sorted(idx)
            and all(original.get(o) == p for o, p in zip(olds, parts))
        )
        if ok:
            out[f"MTYPE{group}"] = header[key]
            out[f"MFORM{group}"] = header["MFORM" + key[5:]]
            group += 1
    out["TFIELDS"] = nfields
    return out
