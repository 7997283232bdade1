"""The header keywords a product carries from its event file, in named groups.

One table for every tool: each group is a tuple of CIAO/OGIP keyword names
with the reason it travels; a tool names the groups its product needs and
``carry`` copies those present (value and comment) from the events' header.
The groups are disjoint, so a tool's set is exactly the union it names:

- dmextract's spectra, light curves and profiles: ``PRODUCT`` (every group);
- srcflux's ``.flux`` tables: ``PRODUCT`` too (CIAO's srcflux makes them with
  dmextract), with the per-chip times;
- merge_obs's images: ``IDENTITY, DETECTOR, DATES, TIME_SYSTEM`` (the merge
  sets OBS_ID, TSTART, TSTOP and EXPOSURE);
- dmgti's GTI file: ``IDENTITY, DETECTOR, DATES, TIME_SYSTEM`` (its START and
  STOP already include TIMEZERO, so ``TIME_START`` stays behind);
- blanksky's events: ``POINTING`` (the rest is the blank-sky file's own);
- a product's primary header: ``IDENTITY``.

>>> carry({"OBS_ID": "8", "RA_NOM": 150.1, "X": 1}, out := {}, IDENTITY, POINTING)
>>> out
{'OBS_ID': '8', 'RA_NOM': 150.1}

The keywords that never travel are here too: a block's structure (``LAYOUT``,
``NAXISn``, the column-numbered keys; ``is_structural``), which its writer sets
for its own data, and the subsets a use needs by name: ``REQUIRED``
(``is_required``: a second copy means a damaged header), ``SCALING``,
``EXTENSION_ONLY``, ``CHECKSUMS``, a table's own keys (``is_table_structure``)
and what astropy strips from a header it is given (``ASTROPY_STRIPPED``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

from xdm.io.columns import is_column_keyword

__all__ = [
    "ASTROPY_STRIPPED",
    "ASTROPY_STRIPPED_COLUMNS",
    "CALIBRATION",
    "CHECKSUMS",
    "CHIP_TIMES",
    "DATES",
    "DETECTOR",
    "EXPOSURE",
    "EXTENSION_ONLY",
    "GROUPS",
    "HEAP",
    "IDENTITY",
    "LAYOUT",
    "OLD_SPELLINGS",
    "POINTING",
    "PRODUCT",
    "PROPOSAL",
    "REQUIRED",
    "SCALE",
    "SCALING",
    "SETUP",
    "SIM",
    "TIME_BINS",
    "TIME_REFERENCE",
    "TIME_START",
    "TIME_SYSTEM",
    "carry",
    "is_layout",
    "is_required",
    "is_structural",
    "is_table_structure",
    "names",
]

Group = tuple[str, ...]

IDENTITY: Final[Group] = ("TELESCOP", "INSTRUME", "OBS_ID", "OBJECT")
"""Which observation: every product names it (the primary header too)."""

DETECTOR: Final[Group] = ("DETNAM",)
"""Which detector (ACIS chips, HRC-I/S) took the events."""

SETUP: Final[Group] = ("GRATING", "FILTER", "DATAMODE", "READMODE")
"""How the instrument was set up: responses and backgrounds depend on it."""

PROPOSAL: Final[Group] = ("OBSERVER", "SEQ_NUM")
"""Who asked for it, and its sequence: provenance for archives."""

DATES: Final[Group] = ("DATE-OBS", "DATE-END")
"""When, as calendar dates (UTC)."""

TIME_SYSTEM: Final[Group] = (
    *("TIMESYS", "TIMEREF", "TIMEUNIT", "TASSIGN", "CLOCKAPP"),
    *("MJDREF", "MJDREFI", "MJDREFF", "TIERRELA", "TIERABSO"),
)
"""How to read a TIME value: its scale, unit, reference MJD and errors."""

TIME_REFERENCE: Final[Group] = tuple(
    key
    for key in TIME_SYSTEM
    if key not in ("TASSIGN", "CLOCKAPP", "TIERRELA", "TIERABSO")
)
"""``TIME_SYSTEM`` without the clock's assignment and errors: the scale, unit
and reference MJD that a light curve's GTI block carries (a part of a group, so
not in ``GROUPS``)."""

TIME_START: Final[Group] = ("TIMEZERO", "MJD_OBS")
"""The clock's offset (added to TIME) and the start as an MJD: only products
whose times are the events' own (not already offset) carry them."""

POINTING: Final[Group] = (
    *("EQUINOX", "RADESYS", "RA_NOM", "DEC_NOM", "ROLL_NOM"),
    *("RA_PNT", "DEC_PNT", "ROLL_PNT", "RA_TARG", "DEC_TARG"),
)
"""Where the telescope pointed (nominal, mean pointing, target) and in which frame:
the sky pixels mean nothing without it."""

OLD_SPELLINGS: Final[Group] = ("RADECSYS",)
"""RADESYS's pre-FITS-4 name, kept where a file still uses it."""

SIM: Final[Group] = ("SIM_X", "SIM_Y", "SIM_Z")
"""The science instrument module's position (focus, which detector is in beam)."""

EXPOSURE: Final[Group] = (
    *("TSTART", "TSTOP", "ONTIME", "LIVETIME", "EXPOSURE", "DTCOR", "EXPTIME"),
)
"""The time range and the good, live and exposure times: rates divide by them."""

TIME_BINS: Final[Group] = ("TIMEDEL", "TIMEPIXR")
"""The frame time and where in a frame TIME sits (light curves need them)."""

CALIBRATION: Final[Group] = ("FP_TEMP", "CTI_CORR", "CTI_APP", "GAINFILE")
"""The focal-plane temperature and the corrections applied: spectral fits need them."""

GROUPS: Final[Mapping[str, Group]] = {
    "IDENTITY": IDENTITY,
    "DETECTOR": DETECTOR,
    "SETUP": SETUP,
    "PROPOSAL": PROPOSAL,
    "DATES": DATES,
    "TIME_SYSTEM": TIME_SYSTEM,
    "TIME_START": TIME_START,
    "POINTING": POINTING,
    "OLD_SPELLINGS": OLD_SPELLINGS,
    "SIM": SIM,
    "EXPOSURE": EXPOSURE,
    "TIME_BINS": TIME_BINS,
    "CALIBRATION": CALIBRATION,
}
"""Every group by name, in the order a product's header lists them."""

PRODUCT: Final[Group] = tuple(key for group in GROUPS.values() for key in group)
"""Everything: what a spectrum, light curve or profile of the events carries."""


CHIP_TIMES: Final = re.compile(r"(ONTIME|LIVTIME|EXPOSUR)\d")
"""The per-chip times ``ONTIMEn``, ``LIVTIMEn``, ``EXPOSURn`` (n: the ACIS CCD_ID),
which travel with ``EXPOSURE`` (``carry(..., chip_times=True)``)."""


def names(*groups: Group) -> Group:
    """The keywords of ``groups``, in order (for code that takes a list of keys)."""
    return tuple(key for group in groups for key in group)


def carry(
    src: Mapping[str, Any],
    dst: MutableMapping[str, Any],
    *groups: Group,
    comments: bool = True,
    chip_times: bool = False,
) -> None:
    """Copy the keywords of ``groups`` that ``src`` has (not undefined) into ``dst``,
    then, with ``chip_times``, every ``CHIP_TIMES`` keyword of ``src``.

    With ``comments`` (and a FITS header as ``src``) each card keeps its comment.
    """
    notes = getattr(src, "comments", None) if comments else None
    keys = list(names(*groups))
    if chip_times:
        keys += [str(k) for k in src if CHIP_TIMES.fullmatch(str(k))]
    for key in keys:
        value = src.get(key)
        if value is None:
            continue
        dst[key] = (value, notes[key]) if notes is not None else value


# ---------------------------------------------------------------- structure

REQUIRED: Final[Group] = (
    *("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS"),
)
"""The structure FITS requires of a block (with ``NAXISn``, and a table's
``TFORMn`` and the ``TTYPEn`` xdm requires): once each in a sound header."""

LAYOUT: Final[Group] = (*REQUIRED, "EXTEND")
"""How a block's bytes lie (with ``NAXISn`` and the column-numbered keys): the
writer of a product sets them for its own data, and dmlist does not list them."""

HEAP: Final[Group] = ("THEAP",)
"""Where a table's variable-length arrays start: a table's own (an image binned
from it drops it), which dmlist lists."""

SCALE: Final[Group] = ("BSCALE", "BZERO")
"""How stored pixels become values: dropped once the values are computed."""

SCALING: Final[Group] = (*SCALE, "BLANK")
"""``SCALE`` and the stored value of a null pixel: with any of them the pixels
are not read as stored (no memory map); a product of the values drops them."""

EXTENSION_ONLY: Final[Group] = ("XTENSION", "PCOUNT", "GCOUNT")
"""What only an extension has: an image extension written as a primary drops them."""

CHECKSUMS: Final[Group] = ("CHECKSUM", "DATASUM")
"""A block's integrity sums: stale once its data or header changes."""

ASTROPY_STRIPPED: Final[Group] = (*LAYOUT, "GROUPS", *SCALE)
"""What astropy removes (the first copy of each) from a header given to a new
HDU, with ``NAXISn`` up to NAXIS and ``ASTROPY_STRIPPED_COLUMNS`` numbered up
to TFIELDS: the lean writer removes exactly these, so its bytes are astropy's."""

ASTROPY_STRIPPED_COLUMNS: Final[Group] = (
    *("TFORM", "TSCAL", "TZERO", "TNULL", "TTYPE"),
    *("TUNIT", "TDISP", "TDIM", "THEAP", "TBCOL"),
)
"""The column roots astropy strips (``THEAPn`` too, though THEAP is not numbered)."""

_AXIS = re.compile(r"NAXIS\d+")
_REQUIRED_NUMBERED = re.compile(r"(NAXIS|TFORM|TTYPE)\d+")
_VECTOR_COLUMN = re.compile(r"(MTYPE|MFORM)\d*")
_LAYOUT_NUMBERED = re.compile(r"(NAXIS|TFORM|TTYPE|TDIM)\d+")


def is_structural(key: str) -> bool:
    """Whether ``key`` is a block's structure: ``LAYOUT``, ``NAXISn`` or a
    column-numbered key (``TTYPE3``, ``TLMIN11``, ...)."""
    return key in LAYOUT or bool(_AXIS.fullmatch(key)) or is_column_keyword(key)


def is_required(key: str) -> bool:
    """Whether ``key`` is ``REQUIRED``, ``NAXISn``, ``TFORMn`` or ``TTYPEn``."""
    return key in REQUIRED or bool(_REQUIRED_NUMBERED.fullmatch(key))


def is_layout(key: str) -> bool:
    """Whether ``key`` fixes how the block's bytes lie: ``LAYOUT``, ``HEAP``,
    ``NAXISn`` and the columns' ``TFORMn``, ``TTYPEn``, ``TDIMn`` (dmhedit
    refuses to edit them; a column's units or limits it edits)."""
    return key in LAYOUT or key in HEAP or bool(_LAYOUT_NUMBERED.fullmatch(key))


def is_table_structure(key: str) -> bool:
    """Whether ``key`` says how a table lies: ``is_structural``, ``HEAP`` or
    CIAO's vector columns (``MTYPEn``/``MFORMn``); an image binned from the
    table drops them."""
    return is_structural(key) or key in HEAP or bool(_VECTOR_COLUMN.fullmatch(key))
