"""Write the common products without astropy: a binned image as the primary HDU
with its header in ``Cards``, followed by HDUs of the input copied byte for byte.

The primary header is laid out as astropy lays it out (SIMPLE, BITPIX, NAXIS,
NAXISn, EXTEND when extensions follow, then the given cards with the structural
ones stripped), the data is big-endian and padded with zeros to 2880 bytes. A
header or extension the lean path cannot write goes through astropy instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xdm.io.cards import RECORD, Card, Cards, LeanUnsupported, as_header
from xdm.io.keywords import ASTROPY_STRIPPED, ASTROPY_STRIPPED_COLUMNS
from xdm.io.plainfits import PlainHdu
from xdm.lang.options import IMAGE_TYPES

__all__ = ["BITPIX", "primary_cards", "write_image"]

BITPIX = {np.dtype(t.dtype).str[1:]: t.bitpix for t in IMAGE_TYPES}
"""numpy kinds a primary image is written as, without BSCALE/BZERO."""


def primary_cards(data: NDArray[Any], header: Cards, *, extend: bool) -> Cards:
    """The primary header astropy writes for ``data`` with ``header``."""
    kind = data.dtype.str[1:]
    if kind not in BITPIX:
        raise LeanUnsupported(f"image type {data.dtype}")
    rest = header.copy()
    naxis, tfields = rest.get("NAXIS", 0), rest.get("TFIELDS", 0)
    for i in range(1, int(naxis) + 1):
        rest.remove(f"NAXIS{i}", ignore_missing=True)
    for root in ASTROPY_STRIPPED_COLUMNS:
        for i in range(1, int(tfields) + 1):
            rest.remove(f"{root}{i}", ignore_missing=True)
    for key in ASTROPY_STRIPPED:
        rest.remove(key, ignore_missing=True)
    cards = [
        Card("SIMPLE", True, "conforms to FITS standard"),
        Card("BITPIX", BITPIX[kind], "array data type"),
        Card("NAXIS", data.ndim, "number of array dimensions"),
    ]
    cards += [Card(f"NAXIS{i}", n) for i, n in enumerate(data.shape[::-1], 1)]
    if extend:
        cards.append(Card("EXTEND", True))
    cards += rest.cards
    # astropy inserts NAXISn and EXTEND after the rest, each taking a trailing blank
    for _ in range(data.ndim + extend):
        if len(cards) > 1 and cards[-1].is_blank:
            del cards[-1]
    return Cards(cards)


def write_image(
    path: Path, data: NDArray[Any], header: Any, extensions: Sequence[Any] = ()
) -> None:
    """Write ``data`` as the primary image with ``header``, then ``extensions``.

    Lean when ``header`` is ``Cards`` and every extension is a ``PlainHdu`` (its
    bytes are copied from its file); otherwise astropy writes the whole file.
    """
    text = None
    if isinstance(header, Cards) and all(isinstance(h, PlainHdu) for h in extensions):
        try:
            text = primary_cards(data, header, extend=bool(extensions)).tostring()
        except LeanUnsupported:
            text = None
    if text is None:
        _astropy_image(path, data, header, extensions)
        return
    raw = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder(">"))
    with open(path, "wb") as fh:
        fh.write(text.encode("ascii"))
        fh.write(raw.view(np.uint8).data)
        fh.write(b"\0" * ((-raw.nbytes) % RECORD))
        for hdu in extensions:
            fh.write(hdu.read_bytes())


def _astropy_image(
    path: Path, data: NDArray[Any], header: Any, extensions: Sequence[Any]
) -> None:
    from astropy.io import fits

    from xdm.io.writer import write_hdulist

    hdus = [fits.PrimaryHDU(data=data, header=as_header(header))]
    for hdu in extensions:
        if isinstance(hdu, PlainHdu):
            hdu = fits.BinTableHDU.fromstring(hdu.read_bytes())
        hdus.append(hdu)
    write_hdulist(path, hdus)
