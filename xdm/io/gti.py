"""Good-time intervals: interval algebra, GTI references and exposure keywords.

Intervals are ``(n, 2)`` float64 arrays of half-open ``[START, STOP)`` rows.
The algebra is pure numpy; ``read_time_filter`` is the one function that opens
a file (a ``[@file]`` reference); ``update_gti_blocks`` and
``update_exposure_keys`` rewrite the GTI blocks and time keywords of a product
after a time filter (dm-syntax 4, workflows 0.1/0.2).

Chip mapping: a time filter is a ``dict[int | None, ndarray]`` keyed by ACIS
``CCD_ID``; ``None`` applies to every chip. ``intervals_for(keep, ccd)`` is the
one rule both the row filter and the GTI rewrite use to pick a chip's intervals.
A GTI block's chip is its ``CCD_ID`` key, else the chip of the data-subspace
component whose ``DSREF`` names the block (``refs``, see
``Subspace.chip_refs``), else a ``GTIn`` block name (``gti_ccd``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xdm.errors import XdmIOError, XdmSemanticError
from xdm.lang import nodes

if TYPE_CHECKING:
    from astropy.io.fits import BinTableHDU, Header

__all__ = [
    "AIM_CCDS",
    "MULTI_BLOCK_COMBINE",
    "SINGLE_SELECTION_APPLIES_TO_ALL",
    "UPDATE_TSTART_TSTOP",
    "TimeFilter",
    "filter_intersect",
    "filter_union",
    "gti_ccd",
    "gti_intervals",
    "intersect",
    "intervals_for",
    "intervals_from_filter",
    "is_gti_block",
    "looks_like_fits",
    "normalise",
    "overlap",
    "read_time_filter",
    "refresh_exposure",
    "subspace_refs",
    "subtract",
    "total",
    "union",
    "update_exposure_keys",
    "update_gti_blocks",
]

Intervals = NDArray[np.float64]
TimeFilter = dict[int | None, Intervals]

# dm-syntax 4: "TSTART/TSTOP update: (unconfirmed)". Default: keep the observation's
# TSTART/TSTOP; when True they become the first START / last STOP of the new GTIs.
UPDATE_TSTART_TSTOP = False

# Several GTI blocks with no CCD_ID (RXTE files carry two) describe one detector,
# so the good time is where all of them are good (unconfirmed; "union" is the
# other choice).
MULTI_BLOCK_COMBINE = "intersect"

# A reference narrowed to one set of intervals (``@flt1.fits[GTI7]``,
# ``@evt2.fits[ccd_id=7]``) is a plain time filter for every row (unconfirmed:
# CIAO might tie it to chip 7 only).
SINGLE_SELECTION_APPLIES_TO_ALL = True

# Aim-point chips, tried in order when the header does not say which chip's ONTIME
# is the overall ONTIME: ACIS-S3 (7), then ACIS-I3 (3).
AIM_CCDS = (7, 3)

_EMPTY = np.empty((0, 2), dtype=np.float64)
_CHIP_COLUMNS = ("ccd_id", "chip_id")


# ---------------------------------------------------------------- algebra


def normalise(gti: ArrayLike) -> Intervals:
    """Sort, drop empty rows (STOP <= START) and merge overlapping or touching rows.

    >>> normalise([[5, 7], [1, 3], [2, 4], [4, 4.5], [9, 9]]).tolist()
    [[1.0, 4.5], [5.0, 7.0]]
    """
    g = np.asarray(gti, dtype=np.float64).reshape(-1, 2)
    g = g[g[:, 1] > g[:, 0]]
    if len(g) < 2:
        return g.copy()
    g = g[np.argsort(g[:, 0], kind="stable")]
    # a row starts a new interval when it begins after every earlier row ended
    ends = np.maximum.accumulate(g[:, 1])
    starts_new = np.empty(len(g), dtype=bool)
    starts_new[0] = True
    starts_new[1:] = g[1:, 0] > ends[:-1]
    first = np.flatnonzero(starts_new)
    last = np.append(first[1:], len(g)) - 1
    return np.column_stack((g[first, 0], ends[last]))


def intersect(a: ArrayLike, b: ArrayLike) -> Intervals:
    """Times good in both ``a`` and ``b``.

    >>> intersect([[0, 10], [20, 30]], [[5, 25]]).tolist()
    [[5.0, 10.0], [20.0, 25.0]]
    """
    a, b = normalise(a), normalise(b)
    if not len(a) or not len(b):
        return _EMPTY.copy()
    # every candidate row is max(start) .. min(stop) of a pair that can overlap;
    # for each row of a, only the rows of b between these two indices can.
    lo = np.searchsorted(b[:, 1], a[:, 0], side="right")
    hi = np.searchsorted(b[:, 0], a[:, 1], side="left")
    counts = np.maximum(hi - lo, 0)
    ia = np.repeat(np.arange(len(a)), counts)
    ib = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ib = ib + np.repeat(lo, counts)
    out = np.column_stack(
        (np.maximum(a[ia, 0], b[ib, 0]), np.minimum(a[ia, 1], b[ib, 1]))
    )
    return out[out[:, 1] > out[:, 0]]


def union(a: ArrayLike, b: ArrayLike) -> Intervals:
    """Times good in ``a`` or ``b``."""
    return normalise(
        np.concatenate([np.reshape(a, (-1, 2)), np.reshape(b, (-1, 2))]).astype(
            np.float64
        )
    )


def subtract(a: ArrayLike, b: ArrayLike) -> Intervals:
    """Times good in ``a`` but not in ``b`` (``[exclude time=...]``)."""
    b = normalise(b)
    gaps = np.column_stack((np.append(-np.inf, b[:, 1]), np.append(b[:, 0], np.inf)))
    return intersect(a, gaps)


def total(gti: ArrayLike) -> float:
    """Summed length of the intervals, overlaps counted once."""
    g = normalise(gti)
    return float(np.sum(g[:, 1] - g[:, 0]))


def overlap(gti: ArrayLike, tlo: ArrayLike, thi: ArrayLike) -> NDArray[np.float64]:
    """Good time inside each bin ``[tlo, thi)``, vectorised over bins.

    Uses the cumulative good time ``F(t)``: the overlap of a bin is
    ``F(thi) - F(tlo)``.

    >>> overlap([[0, 10], [20, 30]], [0, 5, 8], [5, 25, 40]).tolist()
    [5.0, 10.0, 12.0]
    """
    lo = np.asarray(tlo, dtype=np.float64)
    hi = np.asarray(thi, dtype=np.float64)
    g = normalise(gti)
    if lo.size and len(g):
        # clip to the span of the bins so open-ended GTIs stay finite
        g = intersect(g, [[np.min(lo), np.max(hi)]])
    return np.maximum(_cumulative(g, hi) - _cumulative(g, lo), 0.0)


def _cumulative(g: Intervals, t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Good time before ``t`` for normalised intervals ``g``."""
    if not len(g):
        return np.zeros_like(t)
    length = g[:, 1] - g[:, 0]
    before = np.concatenate(([0.0], np.cumsum(length)))
    i = np.searchsorted(g[:, 0], t, side="right") - 1
    inside = np.clip(t - g[np.maximum(i, 0), 0], 0.0, length[np.maximum(i, 0)])
    return np.where(i >= 0, before[np.maximum(i, 0)] + inside, 0.0)


def intervals_for(keep: Mapping[int | None, Intervals], ccd: int | None) -> Intervals:
    """The intervals a time filter gives chip ``ccd``.

    ``keep[ccd]`` if present, else ``keep[None]``; a table with no chip column
    (``ccd is None``) gets the union of every entry; a chip with no entry has no
    good time (an ``flt1`` file without a block for that chip).
    """
    if ccd is not None and ccd in keep:
        return normalise(keep[ccd])
    if None in keep:
        return normalise(keep[None])
    if ccd is None:
        out = _EMPTY.copy()
        for g in keep.values():
            out = union(out, g)
        return out
    return _EMPTY.copy()


def _chip_rows(keep: Mapping[int | None, Intervals], chip: int | None) -> Intervals:
    """A filter's intervals for ``chip`` (``None``: chips it does not name)."""
    if chip in keep:
        return normalise(keep[chip])
    if None in keep:
        return normalise(keep[None])
    return _EMPTY.copy()


def _combine_filters(a: TimeFilter, b: TimeFilter, op: Any) -> TimeFilter:
    keys = set(a) | set(b)
    out: TimeFilter = {
        k: op(_chip_rows(a, k), _chip_rows(b, k)) for k in keys if k is not None
    }
    if None in a or None in b:
        out[None] = op(_chip_rows(a, None), _chip_rows(b, None))
    return out


def filter_union(a: TimeFilter, b: TimeFilter) -> TimeFilter:
    """Times (per chip) good in either time filter: ``(time=a)||(time=b)``."""
    return _combine_filters(a, b, union)


def filter_intersect(a: TimeFilter, b: TimeFilter) -> TimeFilter:
    """Times (per chip) good in both time filters: ``time=a && @gti``."""
    return _combine_filters(a, b, intersect)


# ---------------------------------------------------------------- GTI blocks


def _column(hdu: Any, name: str) -> str | None:
    """The block's column called ``name`` in any case (``Start``), or None."""
    columns = getattr(hdu, "columns", None)
    if columns is None:
        return None
    for col in columns.names:
        if col.upper() == name:
            return str(col)
    return None


def _has_intervals(hdu: Any) -> bool:
    return _column(hdu, "START") is not None and _column(hdu, "STOP") is not None


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
    return tagged and _has_intervals(hdu)


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
    start = np.asarray(data[_column(hdu, "START")], dtype=np.float64)
    stop = np.asarray(data[_column(hdu, "STOP")], dtype=np.float64)
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
    ``UPDATE_TSTART_TSTOP``). Other blocks are returned unchanged. New HDU objects
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
        start_name, stop_name = _column(hdu, "START"), _column(hdu, "STOP")
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
        for key in ("CHECKSUM", "DATASUM"):
            header.remove(key, ignore_missing=True)
        table = fits.BinTableHDU.from_columns(columns, header=header)
        _set(table.header, "ONTIME", total(new), "[s] Sum of GTIs")
        if UPDATE_TSTART_TSTOP and len(new):
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
            plain = g if plain is None else _combine(plain, g)
        else:
            per_chip[ccd] = g if ccd not in per_chip else intersect(per_chip[ccd], g)
    return per_chip, plain


def _combine(a: Intervals, b: Intervals) -> Intervals:
    return intersect(a, b) if MULTI_BLOCK_COMBINE == "intersect" else union(a, b)


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
    plain blocks combined per ``MULTI_BLOCK_COMBINE``). ``LIVETIME = ONTIME x
    DTCOR`` (DTCOR 1 when absent; DTCOR itself is never changed), ``EXPOSURE =
    LIVETIME``. Keys of chips without a GTI block are left alone. TSTART/TSTOP
    change only when ``UPDATE_TSTART_TSTOP``. Nothing is written when there are
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

    if UPDATE_TSTART_TSTOP:
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


# ---------------------------------------------------------------- [@file] references


def looks_like_fits(path: str, base_dir: str | None = None) -> bool:
    """True when the (possibly gzipped) file starts with a FITS primary header.

    Tells a ``[@flt1.fits]`` GTI reference from a ``[@filter.lis]`` text filter.
    """
    import gzip

    full = _resolve(path, base_dir)
    try:
        with open(full, "rb") as fh:
            head = fh.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(full, "rb") as fh:
            return fh.read(9) == b"SIMPLE  ="
    except OSError:
        return False


def _resolve(path: str, base_dir: str | None) -> str:
    expanded = os.path.expanduser(os.path.expandvars(path))
    if base_dir and not os.path.isabs(expanded):
        expanded = os.path.join(base_dir, expanded)
    return expanded


def _chip_set(expr: nodes.RangeFilter) -> set[int]:
    """Chip numbers named by ``ccd_id=0:3,7``."""
    chips: set[int] = set()
    for item in expr.ranges:
        lo = item.lo.value if isinstance(item.lo, nodes.Number) else 0
        hi = item.hi.value if isinstance(item.hi, nodes.Number) else 9
        if lo != int(lo) or hi != int(hi):
            raise XdmSemanticError(
                "chip numbers must be integers",
                span=expr.span,
                hint="write ccd_id=7 or ccd_id=0:3",
            )
        chips.update(range(int(lo), int(hi) + 1))
    return chips


def intervals_from_filter(expr: nodes.FilterExpr) -> Intervals:
    """``time=a:b,c:d`` or ``time>a`` as normalised intervals (open ends are inf).

    Half-open like real-column ranges; a single value ``time=t`` is empty.
    """
    if isinstance(expr, nodes.RangeFilter):
        rows = []
        for item in expr.ranges:
            lo = item.lo.value if isinstance(item.lo, nodes.Number) else -np.inf
            hi = item.hi.value if isinstance(item.hi, nodes.Number) else np.inf
            rows.append((lo, hi))
        return normalise(rows)
    assert isinstance(expr, nodes.ComparisonFilter)
    if not isinstance(expr.value, nodes.Number) or expr.op not in (
        "<",
        ">",
        "<=",
        ">=",
    ):
        raise XdmSemanticError(
            f"cannot use time{expr.op}{getattr(expr.value, 'text', '')} on GTIs",
            span=expr.span,
            hint="use time=lo:hi, time<t or time>t",
        )
    t = expr.value.value
    return np.array([[t, np.inf]] if expr.op in (">", ">=") else [[-np.inf, t]])


def _terms(expr: nodes.FilterExpr) -> tuple[nodes.FilterExpr, ...]:
    return expr.terms if isinstance(expr, nodes.AndFilter) else (expr,)


class _Selection:
    """What a nested reference's own qualifiers keep: chips, rows, times."""

    def __init__(self, vf: nodes.VirtualFile) -> None:
        self.chips: set[int] | None = None
        self.rows: list[tuple[int, int]] | None = None
        self.rows_excluded = False
        self.times: Intervals = np.array([[-np.inf, np.inf]])
        for qualifier in vf.filters:
            for term in _terms(qualifier.expr):
                self._add(term, qualifier.exclude, len(_terms(qualifier.expr)))

    def _add(self, term: nodes.FilterExpr, exclude: bool, n_terms: int) -> None:
        if exclude and n_terms > 1:
            raise XdmSemanticError(
                "a multi-clause [exclude ...] is not supported in a GTI reference",
                span=term.span,
                hint="write one [exclude ...] bracket per clause",
            )
        name = ""
        if isinstance(term, nodes.RangeFilter | nodes.ComparisonFilter) and isinstance(
            term.column, nodes.ColumnName
        ):
            name = term.column.name.lower()
        if name in _CHIP_COLUMNS and isinstance(term, nodes.RangeFilter):
            chips = _chip_set(term)
            if exclude:
                chips = set(range(10)) - chips
            self.chips = chips if self.chips is None else self.chips & chips
        elif name in ("time", "start", "stop"):
            ranges = intervals_from_filter(term)
            self.times = (subtract if exclude else intersect)(self.times, ranges)
        elif isinstance(term, nodes.RowFilter):
            if self.rows is not None:
                raise XdmSemanticError(
                    "only one #row filter is supported in a GTI reference",
                    span=term.span,
                )
            self.rows = [
                (
                    int(r.lo.value) if isinstance(r.lo, nodes.Number) else 1,
                    int(r.hi.value) if isinstance(r.hi, nodes.Number) else 2**62,
                )
                for r in term.ranges
            ]
            self.rows_excluded = exclude
        else:
            raise XdmSemanticError(
                "a GTI reference can only be filtered on ccd_id, time or #row",
                span=term.span,
                expected=("ccd_id=...", "time=...", "#row=...", "a block name"),
                hint="filter the events themselves in the outer brackets",
            )

    def rows_of(self, hdu: Any) -> Intervals:
        g = hdu.data
        start = np.asarray(g[_column(hdu, "START")], dtype=np.float64)
        stop = np.asarray(g[_column(hdu, "STOP")], dtype=np.float64)
        if self.rows is not None:
            number = np.arange(1, len(start) + 1)
            chosen = np.zeros(len(start), dtype=bool)
            for lo, hi in self.rows:
                chosen |= (number >= lo) & (number <= hi)
            if self.rows_excluded:
                chosen = ~chosen
            start, stop = start[chosen], stop[chosen]
        return intersect(np.column_stack((start, stop)), self.times)


def _find_block(hdul: Any, block: nodes.BlockRef, path: str) -> Any:
    if block.number is not None:
        if 1 <= block.number <= len(hdul):
            return hdul[block.number - 1]  # CIAO numbers count the primary as 1
    else:
        wanted = (block.name or "").upper()
        for hdu in hdul:
            names = {
                str(hdu.header.get("EXTNAME", "")).strip().upper(),
                str(hdu.header.get("HDUNAME", "")).strip().upper(),
            }
            if wanted in names:
                return hdu
    label = block.name if block.number is None else str(block.number)
    raise XdmIOError(
        f"no block {label!r} in {path}",
        span=block.span,
        expected=tuple(
            str(h.header.get("HDUNAME", h.name)).strip() or h.name for h in hdul
        ),
        hint="block names are EXTNAME/HDUNAME; numbers count the primary as 1",
    )


def read_time_filter(vf: nodes.VirtualFile, base_dir: str | None = None) -> TimeFilter:
    """Read the intervals of a ``[@file]`` time filter.

    Accepted files: a GTI table (``START``/``STOP`` columns in any case, e.g.
    RXTE ``Start``/``Stop``), a per-chip file (``GTI0``..``GTI9`` blocks with a
    ``CCD_ID`` key, like ``flt1.fits``), or an event file whose GTI blocks are
    used. The keys of the result are chips (``CCD_ID``) or ``None`` for "every
    chip"; see ``intervals_for``.

    The nested file's own qualifiers are honoured where they select intervals:

    * a block (``@evt2.fits[GTI7]``, ``@gti.fits[2]``): that block only; an event
      block selects the file's GTI blocks;
    * ``ccd_id=``/``chip_id=`` ranges (also in ``[exclude ...]``): those chips;
    * ``time=`` ranges or ``time<t``/``time>t``: intervals clipped to them;
    * ``#row=``: those rows of each GTI table.

    Any other filter raises ``XdmSemanticError``; ``[cols]``, ``[opt]`` and
    ``[subspace]`` are ignored. When the selection leaves one set of intervals
    (one block chosen, or one chip) it applies to all rows (key ``None``, see
    ``SINGLE_SELECTION_APPLIES_TO_ALL``). Several blocks without a chip are
    combined per ``MULTI_BLOCK_COMBINE``.

    Raises
    ------
    XdmIOError
        Missing or unreadable file, unknown block.
    XdmSemanticError
        No START/STOP table in the file, or an unsupported nested filter.
    """
    from astropy.io import fits

    path = _resolve(vf.path, base_dir)
    selection = _Selection(vf)
    try:
        hdul = fits.open(path, memmap=True)
    except FileNotFoundError:
        raise XdmIOError(
            f"GTI file not found: {vf.path}",
            span=vf.span,
            hint=f"looked for {path}",
        ) from None
    except OSError as exc:
        raise XdmIOError(
            f"cannot read {vf.path} as FITS: {exc}",
            span=vf.span,
            hint="a text filter file is read with [@file.lis], not as GTIs",
        ) from None
    with hdul:
        refs: dict[str, int] = {}
        for hdu in hdul:
            if not is_gti_block(hdu):
                refs.update(subspace_refs(hdu.header))
        chosen_one = False
        if vf.block is not None:
            hdu = _find_block(hdul, vf.block, vf.path)
            if _has_intervals(hdu):
                blocks, chosen_one = [hdu], True
            else:
                blocks = [h for h in hdul if is_gti_block(h)]
        else:
            blocks = [h for h in hdul if is_gti_block(h)]
            if not blocks:  # an untagged table of START/STOP
                blocks = [h for h in hdul if _has_intervals(h)][:1]
        if not blocks:
            raise XdmSemanticError(
                f"{vf.path} holds no table with START and STOP columns",
                span=vf.span,
                hint="a GTI file has START/STOP columns (any case)",
            )
        keep: TimeFilter = {}
        for hdu in blocks:
            ccd = None if chosen_one else gti_ccd(hdu.header, refs)
            if (
                selection.chips is not None
                and ccd is not None
                and ccd not in selection.chips
            ):
                continue
            g = selection.rows_of(hdu)
            if ccd in keep:
                keep[ccd] = (
                    intersect(keep[ccd], g)
                    if ccd is not None
                    else _combine(keep[ccd], g)
                )
            else:
                keep[ccd] = g
    if selection.chips is not None and not keep:
        raise XdmSemanticError(
            f"{vf.path} has no GTI block for ccd_id {sorted(selection.chips)}",
            span=vf.span,
        )
    if (
        SINGLE_SELECTION_APPLIES_TO_ALL
        and len(keep) == 1
        and (chosen_one or (selection.chips is not None and len(selection.chips) == 1))
    ):
        return {None: next(iter(keep.values()))}
    return keep
