"""Time filters: rows whose TIME lies in (per-chip) intervals, and the times at
which a filter can keep a row (what the GTIs are narrowed to).

A few intervals are inlined as comparisons in the predicate's tree; more
(``GTI_INLINE_MAX``) become a ``np.searchsorted`` test, whose payload the
executor runs per chunk.
"""

from __future__ import annotations

import math
from typing import Any

from xdm import expr as e
from xdm.engine.exprcontext import FilterContext, Intervals, attach
from xdm.engine.steps import VectorTest
from xdm.errors import XdmError
from xdm.lang import nodes as n

__all__ = [
    "GTI_INLINE_MAX",
    "comparison_interval",
    "is_time",
    "looks_like_fits",
    "read_time_filter",
    "time_support",
    "time_test",
]

GTI_INLINE_MAX = 8
"""Time intervals up to this many are inlined in the numexpr predicate; longer lists
become a ``np.searchsorted`` test (numexpr's compile time grows with the text)."""


def time_test(ctx: FilterContext, intervals: Intervals, node: Any) -> e.Expr:
    """Rows whose TIME lies in their chip's intervals (``intervals_for`` rule)."""
    import numpy as np

    from xdm.io.intervals import intervals_for

    time = ctx.block.require_column("time", source=ctx.source, span=node.span)
    chip = ctx.block.column("ccd_id") or ctx.block.column("chip_id")
    chips = sorted(k for k in intervals if k is not None)
    if chip is None or not chips:
        keep: dict[int | None, Any] = {None: intervals_for(intervals, None)}
        chips = []
    else:
        keep = {k: intervals_for(intervals, k) for k in chips}
        if None in intervals:
            keep[None] = intervals_for(intervals, None)
    tv = ctx.var(time)
    total = sum(len(v) for v in keep.values())
    if total > GTI_INLINE_MAX:
        var = ctx.test_var()
        if chips:
            ctx.var(chip)  # type: ignore[arg-type]
        ctx.tests.append(
            VectorTest(
                var=var.name,
                kind="gti",
                columns=(time.name,),
                describe=f"{time.name} in {total} intervals"
                + (f" per {chip.name}" if chips else ""),  # type: ignore[union-attr]
                chip_column=chip.name if chips else None,  # type: ignore[union-attr]
                payload=keep,
            )
        )
        return var

    def inside(rows: Any) -> e.Expr:
        parts: list[e.Expr] = [
            e.Group(
                e.And(
                    (
                        e.compare(tv, ">=", _time_constant(a)),
                        e.compare(tv, "<", _time_constant(b)),
                    )
                )
            )
            for a, b in np.asarray(rows, float).reshape(-1, 2)
        ]
        return e.any_of(parts) if parts else e.FALSE

    if not chips:
        return inside(keep[None])
    cv = ctx.var(chip)  # type: ignore[arg-type]
    on = [e.compare(cv, "==", e.const(int(k))) for k in chips]
    parts: list[e.Expr] = [
        e.Group(e.And((is_chip, inside(keep[k])))) for is_chip, k in zip(on, chips)
    ]
    if None in keep:
        others = on[0] if len(on) == 1 else e.Or(tuple(on))
        parts.append(e.Group(e.And((e.Not(e.Group(others)), inside(keep[None])))))
    return e.Group(e.Or(tuple(parts)))


def time_support(ctx: FilterContext, node: Any) -> Intervals | None:
    """The times (per chip) at which ``node`` can keep a row, or None for
    all times: time ranges and comparisons, GTI files, ``||`` as union, ``&&``
    as intersection; any other filter leaves the time free."""
    import numpy as np

    from xdm.io.intervals import filter_intersect, filter_union, normalise

    match node:
        case n.OrFilter() | n.AndFilter():
            parts = [time_support(ctx, t) for t in node.terms]
            if isinstance(node, n.OrFilter):
                if any(p is None for p in parts):
                    return None
                out = parts[0]
                for p in parts[1:]:
                    out = filter_union(out, p)  # type: ignore[arg-type]
                return out
            known = [p for p in parts if p is not None]
            if not known:
                return None
            out = known[0]
            for p in known[1:]:
                out = filter_intersect(out, p)
            return out
        case n.FileFilter():
            found = ctx.files.get(id(node))
            if isinstance(found, dict):
                return found
            return None if found is None else time_support(ctx, found)
        case n.RangeFilter() | n.ComparisonFilter() if is_time(ctx, node.column):
            if isinstance(node, n.ComparisonFilter):
                value = node.value
                if not isinstance(value, n.Number) or node.op == "!=":
                    return None
                if node.op == "==":
                    return {None: np.empty((0, 2))}
                return {None: comparison_interval(node.op, value.value)}
            # the branch compiled already, so every bound is a Number
            rows = [
                (
                    r.lo.value if isinstance(r.lo, n.Number) else -np.inf,
                    r.hi.value if isinstance(r.hi, n.Number) else np.inf,
                )
                for r in node.ranges
                if not r.is_single
            ]
            return {None: normalise(np.array(rows, dtype=float).reshape(-1, 2))}
    return None


def is_time(ctx: FilterContext, target: Any) -> bool:
    """``target`` names the block's real TIME column."""
    if not isinstance(target, n.ColumnName):
        return False
    col = ctx.block.column(target.name)
    return col is not None and col.key == "time" and col.kind == "real"


def comparison_interval(op: str, value: float) -> Any:
    """``time<t`` etc. as one half-open ``[start, stop)`` interval."""
    import numpy as np

    after = float(np.nextafter(value, np.inf))
    lo, hi = {
        "<": (-np.inf, value),
        "<=": (-np.inf, after),
        ">": (after, np.inf),
        ">=": (value, np.inf),
    }[op]
    return np.array([[lo, hi]], dtype=float)


def _time_constant(value: float) -> e.Const:
    """A time as a double; an open end as +-1e300 (numexpr has no infinity)."""
    if math.isinf(value):
        return e.const(-1e300 if value < 0 else 1e300)
    return e.const(float(value))


def looks_like_fits(path: str) -> bool:
    """The ``@file`` is a FITS file (a GTI table), not a text of filters."""
    from xdm.io.timefilter import looks_like_fits as fits

    return fits(path)


def read_time_filter(
    vf: n.VirtualFile, base_dir: str | None, source: str | None, at: Any
) -> Intervals:
    """The intervals of a GTI file named in a filter, errors placed at ``at``."""
    from xdm.io.timefilter import read_time_filter as read

    try:
        return read(vf, base_dir)
    except XdmError as exc:
        raise attach(exc, source, getattr(at, "span", None)) from None
