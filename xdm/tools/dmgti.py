"""``xdm dmgti infile outfile userlimit``: good time intervals from a row filter.

The rows of ``infile`` that pass ``userlimit`` (written in xdm's filter
language, which takes CIAO's ``(rate>2.0)&&(rate<5.0)`` spellings; the others,
``.gt.``, ``0.9<rate``, ``!(...)``, two columns, are read by
``xdm.tools._userlimit``) give the
good time: the union of the kept rows' ``[TIME_MIN, TIME_MAX)``, or of
``[TIME - TIMEPIXR x TIMEDEL, + TIMEDEL)`` when the table has no bin edges,
merged into intervals. The filter is applied as a virtual-file filter
(``infile[userlimit]``) in one streaming pass: the text goes through the
grammar and planner, never to ``eval``. The output is an OGIP GTI file (block
``GTI``, START/STOP, ONTIME, the table's time keys) that filters events with
``evt.fits[@gti.fits]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmError, XdmIOError, XdmSemanticError
from xdm.io import keywords
from xdm.tools._userlimit import ColumnTest, read_limit, relocate, virtual_file
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

if TYPE_CHECKING:
    from xdm.io.hdus import Header

__all__ = [
    "TIME_KEYS",
    "TOOL",
    "GtiResult",
    "dmgti",
    "row_intervals",
    "run",
    "write_gti",
]

TOOL = Tool(
    "dmgti",
    "good time intervals from limits on a table's columns",
    (
        Param(
            "infile",
            "f",
            "",
            "input table with a TIME column (light curve, MTL)",
            required=True,
        ),
        Param("outfile", "f", "", "output GTI file", required=True),
        Param(
            "userlimit", "s", "", "row filter, e.g. (count_rate>0.9)&&(count_rate<1.1)"
        ),
        Param("mtlfile", "f", "none", "optional output: the rows that pass the limits"),
        Param(
            "lkupfile",
            "f",
            "none",
            "optional table of limits (column gti_limits), ANDed",
        ),
        Param(
            "smooth", "b", True, "smooth the data before applying limits (see notes)"
        ),
        CLOBBER,
        VERBOSE,
    ),
    positional=("infile", "outfile", "userlimit"),
    notes=(
        "`userlimit` is an xdm filter (docs/syntax.md): CIAO's `&&`, `||`, "
        "parentheses and comparisons work, as do xdm ranges (`count_rate=0.9:1.1`), "
        "FORTRAN operators (`.gt. .lt. .ge. .le. .eq. .ne. .and. .or. .not.`), a "
        "number first (`0.9<count_rate`), and, as whole conditions ANDed with the "
        "others, `!(...)` and comparisons of two columns (`count_rate>bg_rate`); "
        "arithmetic (`count_rate*2>3`) is refused with a caret. "
        "A row's time span is [TIME_MIN, TIME_MAX) when the table has them, else "
        "TIME - TIMEPIXR x TIMEDEL for TIMEDEL (key or column; TIMEPIXR default 0.5); "
        "TIMEZERO is added. `lkupfile`: a table whose `gti_limits` string column "
        "holds one filter per row, all applied with `userlimit`. `mtlfile` writes the "
        "rows that pass (not CIAO's smoothed MTL with limit_status). `smooth` is "
        "accepted and has no effect: xdm applies the limits to the rows as they are."
    ),
)

TIME_KEYS = keywords.names(
    keywords.IDENTITY, keywords.DETECTOR, keywords.DATES, keywords.TIME_SYSTEM
)
"""Keywords copied from the input table to a GTI file (workflows spec 0.2); not
TIMEZERO (``keywords.TIME_START``): START and STOP already include it."""


@dataclass(frozen=True, eq=False)
class GtiResult:
    """The good time intervals written, with the row counts behind them."""

    outfile: str | None
    intervals: NDArray[np.float64]
    rows: int
    kept: int

    @property
    def ontime(self) -> float:
        """Summed length of the intervals [s]."""
        return float(np.sum(self.intervals[:, 1] - self.intervals[:, 0]))

    def as_dict(self) -> dict[str, Any]:
        """The result as plain values (``--json``)."""
        return {
            "outfile": self.outfile,
            "intervals": self.intervals.tolist(),
            "ontime": self.ontime,
            "rows": self.rows,
            "kept": self.kept,
        }


def dmgti(**params: Any) -> GtiResult:
    """``xdm.tools.dmgti(infile=..., outfile=..., userlimit=...)``: write a GTI file."""
    return TOOL.call(run, params)


def run(p: Values) -> GtiResult:
    """Filter the table's rows, merge their time spans, write the GTI file."""
    from xdm.progress import get_verbosity, note

    texts = _limits(p)
    infile = str(p["infile"])
    columns = _column_names(infile)
    limits = [read_limit(text, columns) for text in texts]
    vf_text, places = virtual_file(infile, limits)
    tests = [test for limit in limits for test in limit.tests]
    mtl = str(p["mtlfile"]).strip()
    if tests and mtl and mtl.lower() != "none":
        raise XdmSemanticError(
            "dmgti: mtlfile= cannot hold the rows of a comparison of two columns",
            hint="give mtlfile=none, or limits that compare columns with numbers",
        )
    note(f"dmgti: rows of {vf_text}", level=2)
    try:
        intervals, rows, kept, header = row_intervals(vf_text, tests=tests)
    except XdmError as exc:
        relocate(exc, vf_text, places)  # the caret under the user's own text
        raise
    limits_text = " && ".join(texts)
    if len(intervals) == 0:
        raise XdmSemanticError(
            f"dmgti: no rows of {infile} pass {limits_text} ({rows} rows)",
            hint="no good time: check the limits against the column's values",
        )
    out = str(p["outfile"])
    write_gti(out, intervals, header=header, history=p.text(), clobber=p["clobber"])
    if mtl and mtl.lower() != "none":
        from xdm.api import copy

        copy(vf_text, mtl, clobber=p["clobber"], history=p.text())
    result = GtiResult(out, intervals, rows, kept)
    if get_verbosity() >= 1:
        print(
            f"dmgti: {kept} of {rows} rows pass; {len(intervals)} interval(s), "
            f"{result.ontime:.2f} s of good time written to {out}"
        )
    return result


def _limits(p: Values) -> list[str]:
    limits = [str(p["userlimit"]).strip()] if str(p["userlimit"]).strip() else []
    lookup = str(p["lkupfile"]).strip()
    if lookup and lookup.lower() != "none":
        limits += _lookup_limits(lookup)
    if not limits:
        raise XdmSemanticError(
            "dmgti: userlimit= is empty",
            hint='give the row filter, e.g. userlimit="(count_rate>0.9)&&(count_rate<1.1)"',
        )
    return limits


def _lookup_limits(path: str) -> list[str]:
    """The ``gti_limits`` rows of a limits table (CIAO lkupfile, block LIMITS)."""
    import xdm

    table = xdm.read(path)
    names = {n.lower(): n for n in getattr(table, "colnames", ())}
    if "gti_limits" not in names:
        raise XdmSemanticError(
            f"dmgti: {path} has no gti_limits column",
            hint="a lkupfile is a table with one limit expression per row in gti_limits",
        )
    return [str(v).strip() for v in table[names["gti_limits"]] if str(v).strip()]


def _column_names(infile: str) -> frozenset[str]:
    """The lower-case column names of the input table."""
    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse

    with open_vf_block(parse(infile)) as block:
        return frozenset(c.name.lower() for c in block.columns)


def row_intervals(
    vf: str, *, tests: Sequence[ColumnTest] = ()
) -> tuple[NDArray[np.float64], int, int, Header]:
    """Merged time spans of the rows a table virtual file keeps, in one pass.

    ``tests``: comparisons of two columns the rows must pass as well.
    Returns ``(intervals, rows, kept, header)``: normalised ``[START, STOP)``
    rows, the block's row count, the rows kept and the block's header.
    """
    from xdm.api import scan
    from xdm.io.blocks import open_vf_block
    from xdm.io.intervals import normalise
    from xdm.lang.parser import parse
    from xdm.tools._flares import bin_edges

    with open_vf_block(parse(vf)) as block:
        metas = {c.name.lower(): c for c in block.columns}
        header = block.header.copy()
    if "time" not in metas:
        raise XdmSemanticError(
            f"dmgti: {vf} has no TIME column",
            expected=tuple(sorted(metas)),
            hint="dmgti needs a table with a TIME column (a light curve or MTL)",
        )
    edges = "time_min" in metas and "time_max" in metas
    timedel = header.get("TIMEDEL")
    if not edges and "timedel" not in metas and not _number(timedel):
        raise XdmSemanticError(
            f"dmgti: {vf} has neither TIME_MIN/TIME_MAX columns nor a TIMEDEL key",
            hint="the time span of each row is unknown; add TIMEDEL or bin edges",
        )
    zero = (
        float(header.get("TIMEZERO", 0.0)) if _number(header.get("TIMEZERO")) else 0.0
    )
    pixr = (
        float(header.get("TIMEPIXR", 0.5)) if _number(header.get("TIMEPIXR")) else 0.5
    )
    pieces = [np.empty((0, 2))]
    kept = 0
    every = slice(None)
    with scan(vf) as stream:
        rows = stream.total_rows
        for records, mask in stream.chunks:
            for test in tests:
                left = _values(records, metas[test.left], every)
                mask = mask & test.mask(
                    left, _values(records, metas[test.right], every)
                )
            if not mask.any():
                continue
            kept += int(mask.sum())

            def col(name: str, records: Any = records, mask: Any = mask) -> Any:
                return _values(records, metas[name], mask)

            t = col("time")
            if edges:
                lo, hi = bin_edges(t, col("time_min"), col("time_max"))
            else:
                width = col("timedel") if "timedel" in metas else float(timedel)
                lo, hi = bin_edges(t, timedel=width, timepixr=pixr)
            pieces.append(_merge_bins(lo + zero, hi + zero))
    return normalise(np.concatenate(pieces)), rows, kept, header


def _merge_bins(
    lo: NDArray[np.float64], hi: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``normalise`` of the rows ``[lo, hi)``; rows in time order (light curves,
    event files) are merged in one pass without sorting."""
    from xdm.io.intervals import normalise

    if lo.size < 2 or not bool(np.all(lo[1:] >= lo[:-1])):
        return normalise(np.column_stack((lo, hi)))
    full = hi > lo
    if not full.all():
        lo, hi = lo[full], hi[full]
        if lo.size == 0:
            return np.empty((0, 2))
    ends = np.maximum.accumulate(hi)
    first = np.flatnonzero(np.concatenate(([True], lo[1:] > ends[:-1])))
    last = np.append(first[1:], lo.size) - 1
    return np.column_stack((lo[first], ends[last]))


def _values(records: Any, meta: Any, mask: Any) -> NDArray[np.float64]:
    """The kept rows of one column as float64 (gathered before converting)."""
    from xdm.io.columns import column_values
    from xdm.io.hdus import is_scaled_records

    if is_scaled_records(records):  # heap tables come scaled
        return np.asarray(records[meta.name][mask], dtype=np.float64)
    if meta.is_scaled:
        return np.asarray(column_values(records[mask], meta), dtype=np.float64)
    return np.asarray(records[meta.name][mask], dtype=np.float64)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def write_gti(
    out: str | os.PathLike[str],
    intervals: Iterable[Iterable[float]] | NDArray[np.float64],
    *,
    header: Header | Mapping[str, Any] | None = None,
    history: str | None = None,
    clobber: bool = False,
    creator: str = "xdm dmgti",
) -> Path:
    """Write ``intervals`` as an OGIP GTI file (workflows spec 0.2).

    One ``GTI`` block after an empty primary: START/STOP ``1D`` in s,
    HDUCLASS OGIP / HDUCLAS1 GTI / HDUCLAS2 STANDARD, ONTIME, TSTART/TSTOP
    (the input's, else the intervals' span) and the time keys of ``header``
    (``TIME_KEYS``); the primary names the observation (``keywords.IDENTITY``).
    Written to a temporary file and renamed; an existing ``out`` needs
    ``clobber``.
    """
    from xdm.io.gti import gti_block
    from xdm.io.hdus import primary_hdu, write_fits
    from xdm.io.intervals import normalise

    g = normalise(
        np.asarray(
            list(intervals) if not isinstance(intervals, np.ndarray) else intervals,
            dtype=np.float64,
        )
    )
    if str(out).strip() == "" or "[" in str(out):
        raise XdmIOError(
            f"bad output file name {str(out)!r}", hint="give a plain file name"
        )
    source = dict(header.items()) if header is not None else {}
    given: tuple[Any, Any] = (source.get("TSTART"), source.get("TSTOP"))
    if _number(given[0]) and _number(given[1]):
        tstart, tstop = float(given[0]), float(given[1])
    else:
        tstart = float(g[0, 0]) if len(g) else 0.0
        tstop = float(g[-1, 1]) if len(g) else 0.0
    hdu = gti_block(g, header=source, keys=TIME_KEYS, tstart=tstart, tstop=tstop)
    h = hdu.header
    h["CONTENT"] = ("GTI", "Data product identification")
    h["ORIGIN"] = ("xdm", "Source of FITS file")
    h["CREATOR"] = (creator, "tool that created this output")
    if history:
        h.add_history(history)
    primary = primary_hdu()
    primary.header["CREATOR"] = creator
    keywords.carry(source, primary.header, keywords.IDENTITY, comments=False)
    return write_fits(out, [primary, hdu], clobber=clobber)
