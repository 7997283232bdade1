"""Warnings for suspicious or empty selections, from the filters and the header.

``check(text)`` reads the virtual file's filter clauses and the block's header
(TLMIN/TLMAX, TUNITn, TSTART/TSTOP, column WCS) and returns one ``Advice`` per
clause that cannot select anything or looks like a unit slip:

* a range outside the column's TLMIN:TLMAX, or ``energy=0.3:2`` on an eV column
  (``energy is in eV: did you mean 300:2000?``);
* a time range outside TSTART:TSTOP;
* a region whose bounding box misses the x, y limits (said as RA/Dec when the
  region was given in sky coordinates: outside the field);
* when the caller knows the selection came out empty (``empty=True``): a range
  or region that misses the values themselves (one streaming pass over the
  named columns, only then).

Nothing here changes a result; ``warn`` prints the advice to stderr at
``verbose >= 1``. The checks live here, not in the engine.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xdm.io.blocks import Block
    from xdm.io.columns import ColumnMeta
    from xdm.lang import nodes as n

__all__ = ["Advice", "check", "output_is_empty", "warn"]

KEV_LOOKING = 20.0
"""An upper bound at or below this on an eV column reads like keV."""


@dataclass(frozen=True, slots=True)
class Advice:
    """One warning about a filter clause: the message and, maybe, a hint."""

    message: str
    hint: str | None = None

    def text(self) -> str:
        """``warning: ...`` and ``hint: ...`` lines."""
        lines = [f"warning: {self.message}"]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


def warn(
    text: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    empty: bool = False,
    values_only: bool = False,
) -> list[Advice]:
    """Print ``check``'s advice to stderr at verbose >= 1 and return it.

    Any failure of the checks themselves is swallowed: advice never breaks a
    command that has already succeeded.
    """
    import sys

    from xdm.progress import get_verbosity

    if get_verbosity() < 1:
        return []
    try:
        found = check(text, base_dir=base_dir, empty=empty, values_only=values_only)
    except Exception:
        return []
    for a in found:
        print(a.text(), file=sys.stderr)
    return found


def check(
    text: str | n.VirtualFile,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    empty: bool = False,
    values_only: bool = False,
) -> list[Advice]:
    """The advice for each filter clause of the virtual file (see the module).

    ``values_only``: only what the values say of clauses the header finds no
    fault with (a command that warned before its work, then came out empty).
    """
    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse

    vf = parse(text) if isinstance(text, str) else text
    clauses = list(_clauses(vf))
    if not clauses:
        return []
    out: list[Advice] = []
    with open_vf_block(vf, base_dir=base_dir) as block:
        if not block.is_table:
            return []
        for clause in clauses:
            found = _clause(clause, block, base_dir)
            if values_only and found is not None:
                continue  # said already
            if found is None and empty:
                found = _against_values(clause, block, vf, base_dir)
            if found is not None:
                out.append(found)
    return out


def _clauses(vf: n.VirtualFile) -> list[Any]:
    """Range, comparison and region clauses that every kept row must satisfy."""
    from xdm.lang import nodes as n

    out: list[Any] = []

    def walk(expr: Any) -> None:
        if isinstance(expr, n.AndFilter):
            for t in expr.terms:
                walk(t)
        elif isinstance(expr, n.RangeFilter | n.ComparisonFilter | n.RegionFilter):
            out.append(expr)

    for q in vf.filters:
        if not q.exclude:
            walk(q.expr)
    return out


def _interval(clause: Any) -> tuple[float, float] | None:
    """The smallest [lo, hi] holding every value the clause accepts (numbers only)."""
    from xdm.lang import nodes as n

    if isinstance(clause, n.RangeFilter):
        los, his = [], []
        for r in clause.ranges:
            lo = r.lo.value if isinstance(r.lo, n.Number) else -math.inf
            hi = r.hi.value if isinstance(r.hi, n.Number) else math.inf
            if r.is_single:
                hi = lo
            if r.lo is not None and not isinstance(r.lo, n.Number):
                return None
            los.append(lo)
            his.append(hi)
        return (min(los), max(his)) if los else None
    if isinstance(clause, n.ComparisonFilter) and isinstance(clause.value, n.Number):
        v = clause.value.value
        return {
            "<": (-math.inf, v),
            "<=": (-math.inf, v),
            ">": (v, math.inf),
            ">=": (v, math.inf),
            "==": (v, v),
        }.get(clause.op)
    return None


def _shown(lo: float, hi: float) -> str:
    if lo == hi:
        return f"{lo:.10g}"
    left = "" if math.isinf(lo) else f"{lo:.10g}"
    right = "" if math.isinf(hi) else f"{hi:.10g}"
    return f"{left}:{right}"


def _column(clause: Any, block: Block) -> ColumnMeta | None:
    from xdm.lang import nodes as n

    target = clause.column
    if isinstance(target, n.ColumnName):
        return block.column(target.name)
    return None


def _clause(clause: Any, block: Block, base_dir: Any) -> Advice | None:
    from xdm.lang import nodes as n

    if isinstance(clause, n.RegionFilter):
        return _region(clause, block, base_dir)
    col = _column(clause, block)
    span = _interval(clause)
    if col is None or span is None or col.width != 1:
        return None
    lo, hi = span
    name = col.name
    unit = f" {col.unit}" if col.unit else ""
    if name.lower() == "time":
        start, stop = block.cards.get("TSTART"), block.cards.get("TSTOP")
        known = isinstance(start, int | float) and isinstance(stop, int | float)
        if known and (hi < start or lo > stop):
            return Advice(
                f"time={_shown(lo, hi)} lies outside the observation "
                f"(TSTART {start:.11g} to TSTOP {stop:.11g} s)",
                hint="times are mission seconds (MET) as in the TIME column",
            )
        return None
    if (col.unit or "").strip().lower() == "ev" and lo >= 0 and 0 < hi <= KEV_LOOKING:
        guess = _shown(lo * 1000, hi * 1000 if not math.isinf(hi) else hi)
        return Advice(
            f"{name} is in eV: did you mean {guess}?",
            hint=f"{name}={_shown(lo, hi)} asks for {lo:g} to {hi:g} eV",
        )
    tlmin, tlmax = col.tlmin, col.tlmax
    if (tlmax is not None and lo > tlmax) or (tlmin is not None and hi < tlmin):
        return Advice(
            f"{name}={_shown(lo, hi)} lies outside the column's range "
            f"{_shown(-math.inf if tlmin is None else tlmin, math.inf if tlmax is None else tlmax)}"
            f"{unit} (TLMIN/TLMAX): it selects nothing"
        )
    return None


def _xy(clause: Any, block: Block) -> tuple[ColumnMeta, ColumnMeta] | None:
    from xdm.lang import nodes as n

    target = clause.column
    if isinstance(target, n.ColumnName):
        return block.vector(target.name)
    if isinstance(target, n.ColumnPair):
        names = [getattr(c, "name", None) for c in (target.first, target.second)]
        if all(names):
            a, b = block.column(str(names[0])), block.column(str(names[1]))
            if a is not None and b is not None:
                return a, b
    return None


def _world(expr: Any) -> bool:
    """Whether any coordinate of the region was written in sky units."""
    from xdm.lang import nodes as n

    if isinstance(expr, n.Shape):
        return any(
            isinstance(a, n.Coordinate) and a.unit in ("d", "sexagesimal")
            for a in expr.args[:2]
        )
    for child in getattr(expr, "operands", ()) or (getattr(expr, "operand", None),):
        if child is not None and _world(child):
            return True
    return False


def _region_box(
    clause: Any, block: Block, base_dir: Any
) -> tuple[tuple[float, float, float, float] | None, ColumnMeta, ColumnMeta] | None:
    pair = _xy(clause, block)
    if pair is None:
        return None
    from xdm.io.imagewcs import column_wcs
    from xdm.regions.api import region

    xcol, ycol = pair
    wcs = column_wcs(xcol, ycol)  # built only if the region is on the sky
    try:
        r = region(clause.region, wcs=wcs, base_dir=base_dir)
    except Exception:
        return None
    return r.bbox, xcol, ycol


def _region(clause: Any, block: Block, base_dir: Any) -> Advice | None:
    found = _region_box(clause, block, base_dir)
    if found is None or found[0] is None:
        return None
    box, xcol, ycol = found
    assert box is not None
    x0, x1, y0, y1 = box
    limits = (xcol.tlmin, xcol.tlmax, ycol.tlmin, ycol.tlmax)
    if any(v is None for v in limits):
        return None
    lx0, lx1, ly0, ly1 = (float(v) for v in limits if v is not None)
    if x1 < lx0 or x0 > lx1 or y1 < ly0 or y0 > ly1:
        return _outside(
            clause,
            (x0, x1, y0, y1),
            f"{xcol.name},{ycol.name} limits {lx0:g}:{lx1:g}, {ly0:g}:{ly1:g}",
        )
    return None


def _outside(clause: Any, box: tuple[float, float, float, float], what: str) -> Advice:
    x0, x1, y0, y1 = box
    if _world(clause.region):
        return Advice(
            "the region's RA/Dec lies outside the field "
            f"(at physical x {x0:.1f}:{x1:.1f}, y {y0:.1f}:{y1:.1f}; {what})",
            hint="check the coordinates and that the region belongs to this observation",
        )
    return Advice(
        f"the region (x {x0:.6g}:{x1:.6g}, y {y0:.6g}:{y1:.6g}) lies outside "
        f"the data ({what})",
        hint="sky regions are in physical pixels (or give RA/Dec with d or h:m:s)",
    )


def _extent(vf: n.VirtualFile, names: list[str], base_dir: Any) -> dict[str, Any]:
    """Min and max of the named columns over the whole block (one pass)."""
    from dataclasses import replace

    from xdm.api import scan
    from xdm.lang import nodes as n
    from xdm.summary import ColumnRanges

    block = [q for q in vf.qualifiers if isinstance(q, n.BlockRef)]
    cols = n.ColsQualifier(items=tuple(n.ColumnSelect(name=c) for c in names))
    bare = replace(vf, qualifiers=(*block, cols))
    with scan(bare, base_dir=base_dir) as rows:
        ranges = ColumnRanges(rows.columns)
        for records, kept in rows.chunks:
            ranges.add(records, kept)
        summary = ranges.summary(
            rows.header, source="", total_rows=rows.total_rows, good_time_s=None
        )
    return {c.name.lower(): (c.lo, c.hi) for c in summary.columns}


def _against_values(
    clause: Any, block: Block, vf: n.VirtualFile, base_dir: Any
) -> Advice | None:
    from xdm.lang import nodes as n

    if isinstance(clause, n.RegionFilter):
        found = _region_box(clause, block, base_dir)
        if found is None or found[0] is None:
            return None
        box, xcol, ycol = found
        assert box is not None
        x0, x1, y0, y1 = box
        ext = _extent(vf, [xcol.name, ycol.name], base_dir)
        (ex0, ex1), (ey0, ey1) = ext[xcol.key], ext[ycol.key]
        if None in (ex0, ex1, ey0, ey1):
            return None
        if x1 < ex0 or x0 > ex1 or y1 < ey0 or y0 > ey1:
            return _outside(
                clause,
                (x0, x1, y0, y1),
                f"events lie at x {ex0:.6g}:{ex1:.6g}, y {ey0:.6g}:{ey1:.6g}",
            )
        return None
    col = _column(clause, block)
    span = _interval(clause)
    if col is None or span is None or col.width != 1 or col.kind not in ("int", "real"):
        return None
    lo, hi = span
    vlo, vhi = _extent(vf, [col.name], base_dir)[col.key]
    if vlo is None or vhi is None:
        return None
    if hi < vlo or lo > vhi:
        unit = f" {col.unit}" if col.unit else ""
        return Advice(
            f"{col.name}={_shown(lo, hi)} selects nothing: the values lie in "
            f"{vlo:.10g}:{vhi:.10g}{unit}"
        )
    return None


def output_is_empty(path: str | os.PathLike[str]) -> bool:
    """Whether a product holds nothing: its first table has no rows, or its
    image (when it has no table) sums to zero. Headers only for tables."""
    from xdm.io.plainfits import plain_product_is_empty

    if not str(path).lower().endswith((".fits", ".fit", ".fts", ".gz", ".img", ".evt")):
        try:
            with open(path, "rb") as fh:
                if fh.read(6) != b"SIMPLE":
                    return False  # a PNG quick-look, not a FITS product
        except OSError:
            return False
    found = plain_product_is_empty(path)  # read without astropy when plain
    if found is not None:
        return found
    from xdm.io.hdus import is_bintable, open_fits

    with open_fits(path, memmap=True) as hdul:
        for hdu in hdul:
            if is_bintable(hdu) and hdu.name.upper() != "GTI":
                return int(hdu.header.get("NAXIS2", 0)) == 0
        for hdu in hdul:
            if hdu.is_image and int(hdu.header.get("NAXIS", 0)) > 0:
                import numpy as np

                return not bool(np.any(np.asarray(hdu.data)))
    return False
