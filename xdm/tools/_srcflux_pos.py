"""srcflux ``pos=``: one position or many, in degrees or sexagesimal.

* ``"246.888 -24.688"`` or ``"246.888,-24.688"``: degrees;
* ``"16:27:33.115 -24:41:15.51"`` or ``"16 27 33.115 -24 41 15.51"``:
  right ascension in hours, declination in degrees (its sign written);
* ``@list.txt``: one position per line (either form; ``#`` comments);
* a table file (FITS or text) with columns ``RA`` and ``DEC`` in degrees, or
  else its first two columns (CIAO's rule).

>>> ra, dec = parse_positions("16:27:33.115 -24:41:15.51")
>>> round(ra[0], 6), round(dec[0], 6)
(246.887979, -24.687642)
"""

from __future__ import annotations

import math
import os
import re

from xdm.errors import XdmIOError, XdmSemanticError

__all__ = ["parse_positions"]

_HINT = 'give "RA DEC" in degrees or as "hh:mm:ss.s +dd:mm:ss", @list or a table'


def _sexagesimal(parts: list[str], text: str, hours: bool) -> float:
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise XdmSemanticError(
            f"srcflux: pos {text!r} is not a position", hint=_HINT
        ) from None
    if len(values) != 3 or not (0 <= values[1] < 60 and 0 <= values[2] < 60):
        raise XdmSemanticError(
            f"srcflux: {':'.join(parts)!r} in pos {text!r} is not dd:mm:ss", hint=_HINT
        )
    negative = parts[0].strip().startswith("-")
    value = abs(values[0]) + values[1] / 60.0 + values[2] / 3600.0
    value = -value if negative else value
    return value * 15.0 if hours else value


def _one(text: str) -> tuple[float, float]:
    """One position -> (ra, dec) in degrees."""
    words = [w for w in re.split(r"[\s,]+", text.strip()) if w]
    if len(words) == 2 and ":" not in text:
        try:
            ra, dec = float(words[0]), float(words[1])
        except ValueError:
            raise XdmSemanticError(
                f"srcflux: pos {text!r} is not a position", hint=_HINT
            ) from None
    elif len(words) == 2:
        ra = _sexagesimal(words[0].split(":"), text, hours=True)
        dec = _sexagesimal(words[1].split(":"), text, hours=False)
    elif len(words) == 6:
        ra = _sexagesimal(words[:3], text, hours=True)
        dec = _sexagesimal(words[3:], text, hours=False)
    else:
        raise XdmSemanticError(f"srcflux: pos {text!r} is not a position", hint=_HINT)
    if not (math.isfinite(ra) and math.isfinite(dec)) or not 0 <= ra <= 360:
        raise XdmSemanticError(f"srcflux: right ascension {ra:g} is outside 0..360")
    if not -90 <= dec <= 90:
        raise XdmSemanticError(f"srcflux: declination {dec:g} is outside -90..90")
    return ra, dec


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return [
                line.split("#", 1)[0].strip()
                for line in fh
                if line.split("#", 1)[0].strip()
            ]
    except OSError as err:
        raise XdmIOError(f"srcflux: cannot read {path}: {err.strerror}") from None


def _table(path: str) -> tuple[list[float], list[float]]:
    """RA/DEC columns (degrees) of a FITS table, else its first two columns."""
    from xdm.io.hdus import is_table, open_fits

    with open_fits(path, memmap=False) as hdul:
        for hdu in hdul[1:]:
            if not is_table(hdu) or hdu.data is None:
                continue
            names = {n.upper(): n for n in hdu.columns.names}
            keys = (
                (names["RA"], names["DEC"])
                if "RA" in names and "DEC" in names
                else tuple(hdu.columns.names[:2])
            )
            ra = [float(v) for v in hdu.data[keys[0]]]
            dec = [float(v) for v in hdu.data[keys[1]]]
            for a, d in zip(ra, dec, strict=True):
                _one(f"{a!r} {d!r}")
            return ra, dec
    raise XdmIOError(f"srcflux: {path} has no table of positions")


def parse_positions(text: str) -> tuple[list[float], list[float]]:
    """``pos=`` -> (ra list, dec list) in degrees."""
    value = text.strip()
    if not value:
        raise XdmSemanticError("srcflux: pos= is empty", hint=_HINT)
    lines: list[str]
    if value.startswith("@"):
        lines = _lines(os.path.expanduser(value[1:]))
    elif os.path.isfile(value):
        with open(value, "rb") as fh:
            fits_file = fh.read(6) == b"SIMPLE"
        if fits_file:
            return _table(value)
        lines = _lines(value)
        if lines and re.match(r"^[A-Za-z]", lines[0]):  # a header line: RA DEC
            lines = lines[1:]
    else:
        lines = [value]
    if not lines:
        raise XdmSemanticError(f"srcflux: pos {text!r} lists no positions", hint=_HINT)
    pairs = [_one(line) for line in lines]
    return [p[0] for p in pairs], [p[1] for p in pairs]
