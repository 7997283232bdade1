"""GTI blocks and exposure keywords: find a file's GTI blocks and their chips,
make an OGIP GTI block, and rewrite the GTI blocks and time keywords of a product
after a time filter (dm-syntax 4, workflows 0.1/0.2).

A GTI block's chip is its ``CCD_ID`` key, else the chip of the data-subspace
component whose ``DSREF`` names the block (``refs``, see
``Subspace.chip_refs``), else a ``GTIn`` block name (``gti_ccd``). The interval
algebra is ``xdm.io.intervals``; ``[@file]`` references are ``xdm.io.timefilter``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from xdm import switches
from xdm.io.intervals import (
    Intervals,
    intersect,
    intervals_for,
    normalise,
    total,
    union,
)
from xdm.io.keywords import CHECKSUMS
from xdm.io.plainfits import PlainHdu

if TYPE_CHECKING:
    from astropy.io.fits import BinTableHDU, Header

    from xdm.io.blocks import Block

__all__ = [
    "AIM_CCDS",
    "combine_blocks",
    "editable_blocks",
    "gti_block",
    "gti_blocks",
    "gti_ccd",
    "gti_intervals",
    "has_intervals",
    "interval_column",
    "is_gti_block",
    "refresh_exposure",
    "subspace_refs",
    "update_exposure_keys",
    "update_gti_blocks",
]

# The unconfirmed readings (TSTART/TSTOP update, combining several GTI blocks
# without CCD_ID) are xdm.switches: update_tstart_tstop, multi_block_combine.

# Aim-point chips, tried in order when the header does not say which chip's ONTIME
# is the overall ONTIME: ACIS-S3 (7), then ACIS-I3 (3).
AIM_CCDS = (7, 3)

_EMPTY = np.empty((0, 2), dtype=np.float64)


def interval_column(hdu: Any, name: str) -> str | None:
    """The block's column called ``name`` in any case (``Start``), or None; read
    from the TTYPEn keywords of a ``PlainHdu``."""
    columns = getattr(hdu, "columns", None)
    if columns is not None:
        names = list(columns.names)
    elif isinstance(hdu, PlainHdu) and hdu.cards.get("XTENSION") == "BINTABLE":
        fields = int(hdu.cards.get("TFIELDS", 0))
        names = [
            str(hdu.cards.get(f"TTYPE{n}", "")).strip() for n in range(1, fields + 1)
        ]
    else:
        return None
    for col in names:
        if col.upper() == name:
            return str(col)
    return None


def has_intervals(hdu: Any) -> bool:
    return (
        interval_column(hdu, "START") is not None
        and interval_column(hdu, "STOP") is not None
    )


def gti_blocks(block: Block, *, editable: bool = False) -> dict[int, Any]:
    """The GTI blocks of ``block``'s file other than itself, by HDU index.

    For a plain file they are ``PlainHdu`` (headers read without astropy, copied
    byte for byte into a product), unless ``editable`` asks for astropy HDUs
    (``update_gti_blocks`` rewrites them).
    """
    hdus = block.hdul if editable or block.plain is None else block.plain
    return {i: h for i, h in enumerate(hdus) if i != block.index and is_gti_block(h)}


def editable_blocks(block: Block, blocks: Mapping[int, Any]) -> dict[int, Any]:
    """``blocks`` with each ``PlainHdu`` replaced by the astropy HDU of the same
    index in ``block``'s file (``update_gti_blocks`` and ``gti_intervals`` read
    and rewrite their rows)."""
    return {
        i: block.hdul[i] if isinstance(h, PlainHdu) else h for i, h in blocks.items()
    }


def is_gti_block(hdu: Any) -> bool:
    """A table with START/STOP columns named ``GTI*`` or with ``HDUCLAS1='GTI'``."""
    header = hdu.header
    names = (
        str(header.get("EXTNAME", "")).upper(),
        str(header.get("HDUNAME", "")).upper(),
    )
    tagged = str(header.get("HDUCLAS1", "")).strip().upper() == "GTI" or any(
        n.startswith("GTI") for n in names
    )
    return tagged and has_intervals(hdu)


def gti_ccd(header: Header, refs: Mapping[str, int] | None = None) -> int | None:
    """The chip a GTI block belongs to: ``CCD_ID``, else the chip the event
    block's subspace gives the block (``refs``: block name -> chip, from
    ``Subspace.chip_refs``), else a ``GTIn`` block name."""
    for key in ("CCD_ID", "CHIP_ID"):
        value = header.get(key)
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            return int(value)
    if refs:
        for name in _block_names(header):
            if name in refs:
                return refs[name]
    name = str(header.get("HDUNAME", "")).strip().upper()
    match = re.fullmatch(r"GTI(\d)", name)
    return int(match.group(1)) if match else None


def _block_names(header: Header) -> list[str]:
    """What a ``DSREF`` may call a block: HDUNAME, EXTNAME, EXTNAME + EXTVER."""
    extname = str(header.get("EXTNAME", "")).strip().upper()
    names = [str(header.get("HDUNAME", "")).strip().upper(), extname]
    if extname and isinstance(header.get("EXTVER"), int):
        names.append(f"{extname}{header['EXTVER']}")
    return [n for n in names if n]


def subspace_refs(events_header: Header) -> dict[str, int]:
    """Block name -> chip from an event header's data-subspace components."""
    from xdm.io.subspace import Subspace

    return Subspace.from_header(events_header).chip_refs()


def gti_intervals(hdu: Any) -> Intervals:
    """The normalised ``[START, STOP)`` rows of a GTI table."""
    data = hdu.data
    if data is None or len(data) == 0:
        return _EMPTY.copy()
    start = np.asarray(data[interval_column(hdu, "START")], dtype=np.float64)
    stop = np.asarray(data[interval_column(hdu, "STOP")], dtype=np.float64)
    return normalise(np.column_stack((start, stop)))


def gti_block(
    intervals: ArrayLike,
    *,
    header: Mapping[str, Any] | None = None,
    keys: Iterable[str] = (),
    tstart: float,
    tstop: float,
) -> Any:
    """One OGIP ``GTI`` block (spec 0.2): START/STOP ``1D`` in s, HDUNAME GTI,
    HDUCLASS OGIP / HDUCLAS1 GTI / HDUCLAS2 STANDARD, the ``keys`` that
    ``header`` has, TSTART/TSTOP and ONTIME; the one place such a block is made."""
    from astropy.io import fits

    g = normalise(intervals)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="START", format="1D", unit="s", array=g[:, 0]),
            fits.Column(name="STOP", format="1D", unit="s", array=g[:, 1]),
        ],
        name="GTI",
    )
    h = hdu.header
    h["HDUNAME"] = ("GTI", "ASCDM block name")
    h["HDUCLASS"] = "OGIP"
    h["HDUCLAS1"] = "GTI"
    h["HDUCLAS2"] = "STANDARD"
    source = header if header is not None else {}
    for key in keys:
        if key in source and source[key] is not None:
            h[key] = source[key]
    h["TSTART"] = (tstart, "[s] Observation start time")
    h["TSTOP"] = (tstop, "[s] Observation end time")
    h["ONTIME"] = (total(g), "[s] Sum of GTIs")
    return hdu


def update_gti_blocks(
    hdus: Iterable[BinTableHDU],
    keep: Mapping[int | None, Intervals],
    *,
    refs: Mapping[str, int] | None = None,
) -> list[BinTableHDU]:
    """Intersect every GTI block with the time filter ``keep``.

    A GTI block (``is_gti_block``) becomes ``intersect(old, intervals_for(keep,
    gti_ccd(header, refs)))``; its header is kept (column names, units, CCD_ID,
    TIMESYS...) with ``ONTIME`` set to the new total (and TSTART/TSTOP when
    ``update_tstart_tstop``). Other blocks are returned unchanged. New HDU objects
    are made; the inputs are not modified.
    """
    from astropy.io import fits

    out = []
    for hdu in hdus:
        if not is_gti_block(hdu):
            out.append(hdu)
            continue
        chip = gti_ccd(hdu.header, refs)
        new = intersect(gti_intervals(hdu), intervals_for(keep, chip))
        cols = hdu.columns
        start_name, stop_name = (
            interval_column(hdu, "START"),
            interval_column(hdu, "STOP"),
        )
        columns = []
        for col in cols:
            if col.name == start_name:
                array = new[:, 0]
            elif col.name == stop_name:
                array = new[:, 1]
            else:
                continue  # extra columns cannot follow merged rows
            columns.append(
                fits.Column(
                    name=col.name, format=col.format, unit=col.unit, array=array
                )
            )
        header = hdu.header.copy()
        for key in CHECKSUMS:
            header.remove(key, ignore_missing=True)
        table = fits.BinTableHDU.from_columns(columns, header=header)
        _set(table.header, "ONTIME", total(new), "[s] Sum of GTIs")
        if switches.current().update_tstart_tstop and len(new):
            _set(table.header, "TSTART", float(new[0, 0]))
            _set(table.header, "TSTOP", float(new[-1, 1]))
        out.append(table)
    return out


# ---------------------------------------------------------------- exposure keys


def _set(header: Header, key: str, value: float, comment: str | None = None) -> None:
    if key in header:
        header[key] = value  # keep the original comment and position
    else:
        header[key] = (value, comment) if comment else value


def _chip_gtis(
    gti_hdus: Iterable[Any], refs: Mapping[str, int] | None = None
) -> tuple[dict[int, Intervals], Intervals | None]:
    """GTIs per chip and the combined GTI of blocks with no chip."""
    per_chip: dict[int, Intervals] = {}
    plain: Intervals | None = None
    for hdu in gti_hdus:
        if not is_gti_block(hdu):
            continue
        g = gti_intervals(hdu)
        ccd = gti_ccd(hdu.header, refs)
        if ccd is None:
            plain = g if plain is None else combine_blocks(plain, g)
        else:
            per_chip[ccd] = g if ccd not in per_chip else intersect(per_chip[ccd], g)
    return per_chip, plain


def combine_blocks(a: Intervals, b: Intervals) -> Intervals:
    combine = switches.current().multi_block_combine
    return intersect(a, b) if combine == "intersect" else union(a, b)


def _aim_ccd(header: Header, chips: Iterable[int]) -> int | None:
    """The chip whose ONTIME is the overall ONTIME.

    Read before any key is rewritten: the chips whose ``ONTIMEn`` equals the
    existing ``ONTIME`` (what the pipeline wrote; ties go to ``AIM_CCDS`` order,
    then the lowest), else the only chip, else the first of ``AIM_CCDS``
    present, else the lowest chip.
    """
    chips = sorted(chips)
    if not chips:
        return None
    ontime = header.get("ONTIME")
    if isinstance(ontime, int | float):
        matches = [
            n
            for n in chips
            if isinstance(value := header.get(f"ONTIME{n}"), int | float)
            and math.isclose(value, ontime, rel_tol=1e-9, abs_tol=1e-6)
        ]
        if matches:
            return next((n for n in AIM_CCDS if n in matches), matches[0])
    if len(chips) == 1:
        return chips[0]
    return next((n for n in AIM_CCDS if n in chips), chips[0])


def update_exposure_keys(
    events_header: Header,
    gti_hdus: Iterable[Any],
    *,
    aim_ccd: int | None = None,
    refs: Mapping[str, int] | None = None,
) -> None:
    """Recompute the exposure keywords of ``events_header`` from its GTI blocks.

    Per chip n with a GTI block, or with existing ``ONTIMEn``/``LIVTIMEn``/
    ``EXPOSURn`` keys and a GTI block: ``ONTIMEn`` = total GTI,
    ``LIVTIMEn = ONTIMEn x DTCOR``, ``EXPOSURn = LIVTIMEn``. Overall ``ONTIME``
    is the aim-point chip's (``aim_ccd``, or the rule in ``_aim_ccd``); for files
    without per-chip GTIs (HRC, RXTE) it is the total of the plain GTI (several
    plain blocks combined per ``multi_block_combine``). ``LIVETIME = ONTIME x
    DTCOR`` (DTCOR 1 when absent; DTCOR itself is never changed), ``EXPOSURE =
    LIVETIME``. Keys of chips without a GTI block are left alone. TSTART/TSTOP
    change only with ``update_tstart_tstop``. Nothing is written when there are
    no GTI blocks. A block's chip is found per ``gti_ccd``; ``refs`` defaults to
    the data subspace of ``events_header``.
    """
    gti_hdus = list(gti_hdus)
    if refs is None:
        refs = subspace_refs(events_header)
    per_chip, plain = _chip_gtis(gti_hdus, refs)
    dtcor = events_header.get("DTCOR", 1.0)
    dtcor = float(dtcor) if isinstance(dtcor, int | float) else 1.0

    ontime_chip = {n: total(g) for n, g in per_chip.items()}
    if aim_ccd is None or aim_ccd not in ontime_chip:
        aim_ccd = _aim_ccd(events_header, ontime_chip)  # before the keys change
    for n, value in sorted(ontime_chip.items()):
        _set(events_header, f"ONTIME{n}", value, f"[s] Sum of GTIs for CCD {n}")
        _set(events_header, f"LIVTIME{n}", value * dtcor, f"[s] Livetime for CCD {n}")
        _set(events_header, f"EXPOSUR{n}", value * dtcor, f"[s] Exposure for CCD {n}")

    ontime: float | None
    if plain is not None and not per_chip:
        ontime = total(plain)
    else:
        ontime = ontime_chip.get(aim_ccd) if aim_ccd is not None else None
        if ontime is None and plain is not None:
            ontime = total(plain)
    if ontime is None:
        return
    _set(events_header, "ONTIME", ontime, "[s] Sum of GTIs")
    _set(events_header, "LIVETIME", ontime * dtcor, "[s] Ontime x DTCOR")
    _set(events_header, "EXPOSURE", ontime * dtcor, "[s] Exposure time")

    if switches.current().update_tstart_tstop:
        everything = [g for g in per_chip.values() if len(g)]
        if plain is not None and len(plain):
            everything.append(plain)
        if everything:
            _set(events_header, "TSTART", min(float(g[0, 0]) for g in everything))
            _set(events_header, "TSTOP", max(float(g[-1, 1]) for g in everything))


def refresh_exposure(events_header: Header, gti_hdus: Iterable[Any]) -> None:
    """The ``[time=:]`` side effect: rederive ONTIME/LIVETIME/EXPOSURE from the GTIs.

    Used after ``DTCOR`` was edited (CIAO's HRC dead-time thread); the GTIs and
    events are not changed.
    """
    update_exposure_keys(events_header, gti_hdus)
