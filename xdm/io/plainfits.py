"""Plain FITS files without astropy: walk the HDUs of an uncompressed file with
plain reads, parse each header into ``Cards``, and give a binary table's record
layout from its TFORMs so its rows can be memory-mapped with numpy.

"Plain" means: not gzip, a primary header and IMAGE or BINTABLE extensions,
no random groups, no heap (variable-length arrays), no tile compression, and
every header in the fixed card format ``Cards`` reads. Anything else returns
None and the caller uses astropy (``fits.open``): this module never guesses.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xdm.io.cards import CARD, RECORD, Cards, LeanUnsupported
from xdm.io.keywords import SCALING
from xdm.io.tforms import CODES, TFORMS, field_bytes
from xdm.lang.options import IMAGE_TYPES

if TYPE_CHECKING:
    from xdm.io.fitscheck import CheckedHeader

__all__ = ["PlainHdu", "plain_product_is_empty", "record_dtype", "scan_plain"]

MAX_HEADER_RECORDS = 1000
_TFORM = re.compile(rf"^\s*(\d*)\s*([{CODES}])\s*$", re.IGNORECASE)
_IMAGE_DTYPES = {t.bitpix: np.dtype(t.dtype).newbyteorder(">") for t in IMAGE_TYPES}
"""BITPIX -> the pixels' numpy type as stored (FITS numbers are big-endian)."""


@dataclass(frozen=True, slots=True)
class PlainHdu:
    """One HDU of a plain file: its header and where its bytes are."""

    path: str
    cards: Cards
    header_start: int
    data_start: int
    data_size: int  # without the padding to 2880 bytes

    @property
    def end(self) -> int:
        """The offset after the padded data (the next HDU's start)."""
        return self.data_start + self.data_size + (-self.data_size) % RECORD

    @property
    def header(self) -> Cards:
        return self.cards

    def read_bytes(self) -> bytes:
        """The whole HDU as it is in the file: header, data and padding."""
        with open(self.path, "rb") as fh:
            fh.seek(self.header_start)
            return fh.read(self.end - self.header_start)


def scan_plain(
    path: str | os.PathLike[str], checked: Sequence[CheckedHeader] | None = None
) -> list[PlainHdu] | None:
    """Every HDU of ``path`` if it is a plain FITS file, else None.

    ``checked``: the headers ``xdm.io.fitscheck.check_file`` read from it, used
    as they are (the file is not read again).
    """
    try:
        if checked is not None:
            return _checked_hdus(str(path), checked)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            hdus: list[PlainHdu] = []
            offset = 0
            while offset < size:
                hdu = _read_hdu(fh, str(path), offset, primary=not hdus)
                if hdu is None or hdu.end > size:
                    return None
                hdus.append(hdu)
                offset = hdu.end
            return hdus or None
    except (OSError, LeanUnsupported, ValueError, UnicodeDecodeError):
        return None


def _checked_hdus(path: str, checked: Sequence[CheckedHeader]) -> list[PlainHdu] | None:
    """``scan_plain`` of headers the check read: the same HDUs, or None."""
    hdus: list[PlainHdu] = []
    offset = 0
    for header in checked:
        if header.cards is None or header.start != offset:
            return None
        hdu = _plain_hdu(path, offset, header.length, header.cards, primary=not hdus)
        if hdu is None:
            return None
        hdus.append(hdu)
        offset = hdu.end
    # bytes after the last block (padding the check lets pass) are not plain
    return hdus if hdus and offset == os.path.getsize(path) else None


def _read_hdu(fh: Any, path: str, offset: int, *, primary: bool) -> PlainHdu | None:
    fh.seek(offset)
    parts = []
    for _ in range(MAX_HEADER_RECORDS):
        record = fh.read(RECORD)
        if len(record) < RECORD:
            return None
        text = record.decode("ascii")
        parts.append(text)
        if any(text[i : i + CARD].rstrip() == "END" for i in range(0, RECORD, CARD)):
            break
    else:
        return None
    cards = Cards.parse("".join(parts))
    return _plain_hdu(path, offset, RECORD * len(parts), cards, primary=primary)


def _plain_hdu(
    path: str, offset: int, length: int, cards: Cards, *, primary: bool
) -> PlainHdu | None:
    """The HDU whose header of ``length`` bytes at ``offset`` has ``cards``,
    or None when it is not plain."""
    first = cards.cards[0].keyword if cards.cards else ""
    if primary != (first == "SIMPLE"):
        return None
    xtension = "" if primary else str(cards.get("XTENSION", "")).strip().upper()
    if not primary and xtension not in ("IMAGE", "BINTABLE"):
        return None
    if cards.get("GROUPS") is True or "ZIMAGE" in cards or "ZTABLE" in cards:
        return None
    bitpix = cards.get("BITPIX")
    naxis = cards.get("NAXIS")
    if bitpix not in _IMAGE_DTYPES or not isinstance(naxis, int):
        return None
    dims = [cards.get(f"NAXIS{i}") for i in range(1, naxis + 1)]
    if not all(isinstance(d, int) and d >= 0 for d in dims):
        return None
    pcount, gcount = cards.get("PCOUNT", 0), cards.get("GCOUNT", 1)
    if pcount != 0 or gcount != 1:
        return None
    if xtension == "BINTABLE" and record_dtype(cards) is None:
        return None
    size = abs(bitpix) // 8 * math.prod(dims) if naxis else 0
    return PlainHdu(path, cards, offset, offset + length, size)


def record_dtype(cards: Cards) -> np.dtype[Any] | None:
    """A binary table's on-disk record layout (big-endian numbers, bit fields
    as raw bytes, logicals as bytes), or None when the lean path cannot say."""
    fields: list[tuple[Any, ...]] = []
    names: set[str] = set()
    for n in range(1, int(cards.get("TFIELDS", 0)) + 1):
        name = str(cards.get(f"TTYPE{n}", "")).strip()
        m = _TFORM.match(str(cards.get(f"TFORM{n}", "")))
        if not name or name.lower() in names or m is None:
            return None
        names.add(name.lower())
        repeat = int(m.group(1)) if m.group(1) else 1
        code = m.group(2).upper()
        if code == "X":
            fields.append((name, "u1", (field_bytes(code, repeat),)))
        elif code == "A":
            fields.append((name, f"S{repeat}"))
        elif repeat == 0 or (stored := TFORMS[code].dtype) is None:
            return None
        else:
            base = np.dtype(stored)
            fields.append((name, base, (repeat,)) if repeat > 1 else (name, base))
    try:
        dtype = np.dtype(fields)
    except (TypeError, ValueError):
        return None
    return dtype if dtype.itemsize == cards.get("NAXIS1") else None


def plain_product_is_empty(path: str | os.PathLike[str]) -> bool | None:
    """Whether a plain product holds nothing (its first table other than GTI has
    no rows; else its first image is all zeros), or None when ``path`` is not a
    plain file or its image is scaled (BSCALE/BZERO/BLANK): ask astropy."""
    hdus = scan_plain(path)
    if hdus is None:
        return None
    for hdu in hdus:
        c = hdu.cards
        name = str(c.get("EXTNAME", "")).strip().upper()
        if c.get("XTENSION") == "BINTABLE" and name != "GTI":
            return int(c.get("NAXIS2", 0)) == 0
    for hdu in hdus:
        c = hdu.cards
        if c.get("XTENSION", "IMAGE") != "IMAGE" or not c.get("NAXIS"):
            continue
        if any(k in c for k in SCALING):
            return None
        dtype = _IMAGE_DTYPES[int(c["BITPIX"])]
        count = hdu.data_size // dtype.itemsize
        if not count:
            return True
        data = np.memmap(
            hdu.path, dtype=dtype, mode="r", offset=hdu.data_start, shape=(count,)
        )
        return not bool(np.any(data))
    return False
