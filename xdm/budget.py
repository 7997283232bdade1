"""The memory budget: refuse a product that would need more memory than allowed,
before allocating it.

One number for the whole process: ``XDM_MAX_MEMORY`` (``500MB``, ``2GB``,
``1.5G``, ``3000000000``; default 2 GB). Every place that allocates an array
whose size comes from the user's input (binned images and cubes, light-curve
bins, region-bin tables, image sections) calls ``check(nbytes, what)`` first,
so a typo such as ``[bin sky=0.001]`` gives a one-line error with the size it
would need instead of an out-of-memory kill.

>>> check(1000, "a small image")
>>> limit() >= 2**20
True
"""

from __future__ import annotations

import os
import re

from xdm.errors import Span, XdmSemanticError

__all__ = ["DEFAULT_LIMIT", "ENV", "check", "format_bytes", "limit", "parse_size"]

ENV = "XDM_MAX_MEMORY"
DEFAULT_LIMIT = 2 * 2**30
"""2 GB: what one product may take when ``XDM_MAX_MEMORY`` is not set."""

_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kb": 2**10,
    "kib": 2**10,
    "m": 2**20,
    "mb": 2**20,
    "mib": 2**20,
    "g": 2**30,
    "gb": 2**30,
    "gib": 2**30,
    "t": 2**40,
    "tb": 2**40,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*")


def parse_size(text: str) -> int:
    """``"500MB"`` -> 524288000 (units are powers of 1024; a bare number is bytes).

    Raises XdmSemanticError for anything else (it names ``XDM_MAX_MEMORY``).
    """
    m = _SIZE.fullmatch(text)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _UNITS:
        raise XdmSemanticError(
            f"{ENV}={text!r} is not a size",
            hint=f"write e.g. {ENV}=500MB or {ENV}=4GB",
        )
    value = float(m.group(1)) * _UNITS[unit]
    if value < 1:
        raise XdmSemanticError(f"{ENV}={text!r} must be at least one byte")
    return int(value)


def limit() -> int:
    """The budget in bytes: ``XDM_MAX_MEMORY`` if set, else ``DEFAULT_LIMIT``.

    Read at each call, so a test or a long session can change it.
    """
    text = os.environ.get(ENV, "").strip()
    return parse_size(text) if text else DEFAULT_LIMIT


def format_bytes(nbytes: float) -> str:
    """``3221225472`` -> ``"3.0 GB"`` (powers of 1024, as ``XDM_MAX_MEMORY`` reads)."""
    for unit, size in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{int(nbytes)} bytes"


def check(
    nbytes: float,
    what: str,
    *,
    source: str | None = None,
    span: Span | None = None,
    hint: str | None = None,
) -> None:
    """Refuse (XdmSemanticError, exit status 2) when ``nbytes`` exceeds the budget.

    ``what`` names the product in the message (``"image of 819200 x 819200
    bins"``); ``source``/``span`` point the caret at the text that asked for it;
    ``hint`` says how to need less (the budget's variable is always named).
    """
    budget = limit()
    if nbytes <= budget:
        return
    how = f"raise {ENV} (now {format_bytes(budget)})"
    raise XdmSemanticError(
        f"{what} would need {format_bytes(nbytes)} of memory, above the "
        f"{format_bytes(budget)} budget",
        source=source,
        span=span,
        hint=f"{hint}, or {how}" if hint else how,
    )
