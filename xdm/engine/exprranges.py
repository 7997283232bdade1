"""Column filters as expression trees: ranges, comparisons, bits, logicals,
strings and row numbers (dm-syntax 3 and 3.7), with what top-level ranges
imply for the data subspace and the default bin ranges.

Each function takes the ``FilterContext`` and a filter node and returns a tree
over the context's variables; numbers enter as ``expr.number`` constants. The
unconfirmed CIAO readings these rules follow are read from ``xdm.switches``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xdm import expr as e
from xdm import switches
from xdm.engine.exprcontext import FilterContext
from xdm.engine.exprtime import comparison_interval
from xdm.engine.steps import SubspaceEntry, VectorTest
from xdm.lang import nodes as n

if TYPE_CHECKING:
    from xdm.io.columns import ColumnMeta

__all__ = [
    "RANGE_LIST_INLINE_MAX",
    "comparison",
    "note_complement",
    "range_filter",
    "row_filter",
]

RANGE_LIST_INLINE_MAX = 16
"""Range lists up to this many items are inlined in the numexpr predicate; longer
ones become a ``np.searchsorted`` test (numexpr holds at most 255 constants)."""

Bounds = list[tuple[float | None, float | None, bool]]


# ---------------------------------------------------------------- ranges
def range_filter(ctx: FilterContext, node: n.RangeFilter, *, top: bool) -> e.Expr:
    """``col=lo:hi,...``: one column's range list (bits, logicals, strings too)."""
    col = ctx.column(node.column)
    if col.kind == "bit":
        return _bit_filter(ctx, col, node)
    if col.kind == "logical":
        return _logical_filter(ctx, col, node.ranges)
    if col.kind == "string":
        return _string_filter(ctx, col, node.ranges, negate=False)
    v = ctx.var(col)
    items: list[e.Expr] = []
    bounds: Bounds = []
    for r in node.ranges:
        lo = _number(ctx, r.lo, col)
        hi = _number(ctx, r.hi, col)
        if lo is not None and hi is not None and lo > hi and not r.is_single:
            raise ctx.error(f"empty range {lo:g}:{hi:g} (lower bound above upper)", r)
        bounds.append((lo, hi, r.is_single))
        items.append(_range_item(v, col, r, lo, hi))
    clause: e.Expr
    if e.TRUE in items:
        clause = e.TRUE
    elif len(items) > RANGE_LIST_INLINE_MAX:
        clause = _range_list_test(ctx, col, bounds)
    else:
        clause = e.any_of(items)
    if (
        clause != e.TRUE
        and col.kind == "int"
        and col.tnull is not None
        and switches.current().null_never_matches
        and any(_int_in(col.tnull, lo, hi, single) for lo, hi, single in bounds)
    ):
        not_null = e.compare(v, "!=", e.number(col.tnull))
        clause = e.Group(e.And((clause, not_null)))
    if top:
        _note_ranges(ctx, col, node, bounds)
    return clause


def _range_list_test(ctx: FilterContext, col: ColumnMeta, bounds: Bounds) -> e.Var:
    """A long range list (``pi=1,4,7,...``) as sorted intervals searched with
    ``np.searchsorted``: numexpr programs hold at most 255 constants.

    Same meaning as the inline form: integer columns use ``[lo-0.5, hi+0.5)``;
    real columns ``[lo, hi)`` (or closed: switch ``real_upper_bound_inclusive``)
    and single values exactly.
    """
    import numpy as np

    from xdm.io.intervals import normalise

    rows: list[tuple[float, float]] = []
    singles: list[float] = []
    for lo, hi, single in bounds:
        if col.kind == "int":
            # a single value holds its value in both bounds
            a = -np.inf if lo is None else lo - 0.5
            b = np.inf if hi is None else hi + 0.5
            rows.append((a, b))
        elif single and switches.current().real_single_value_equals:
            singles.append(lo)  # type: ignore[arg-type]
        else:
            b = np.inf if hi is None else hi
            if switches.current().real_upper_bound_inclusive and hi is not None:
                b = float(np.nextafter(hi, np.inf))
            rows.append((-np.inf if lo is None else lo, b))
    intervals = normalise(np.array(rows, dtype=float).reshape(-1, 2))
    var = ctx.test_var()
    ctx.var(col)
    ctx.tests.append(
        VectorTest(
            var=var.name,
            kind="ranges",
            columns=(col.name,),
            describe=f"{col.name} in {len(bounds)} ranges",
            payload=(intervals, np.array(sorted(singles), dtype=float)),
        )
    )
    return var


def _number(ctx: FilterContext, value: Any, col: ColumnMeta) -> float | None:
    if value is None:
        return None
    if isinstance(value, n.Number):
        if not math.isfinite(value.value):
            raise ctx.error(
                f"'{value.text[:20]}' is not a finite number (column '{col.name}')",
                value,
                hint="leave a bound out for an open range, e.g. energy=:5000",
            )
        return value.value
    what = type(value).__name__.replace("Value", "").lower()
    raise ctx.error(
        f"column '{col.name}' is numeric ({col.tform}); got a {what} value", value
    )


def _range_item(
    v: e.Var, col: ColumnMeta, r: n.Range, lo: float | None, hi: float | None
) -> e.Expr:
    integer_bounds = all(
        x is None or (isinstance(x, n.Number) and x.is_integer) for x in (r.lo, r.hi)
    )
    parts: list[e.Expr] = []
    if col.kind == "int":
        if integer_bounds:
            if r.is_single:
                return e.compare(v, "==", e.number(lo))  # type: ignore[arg-type]
            if lo is not None:
                parts.append(e.compare(v, ">=", e.number(lo)))
            if hi is not None:
                parts.append(e.compare(v, "<=", e.number(hi)))
        else:
            # the integer rule of dm-syntax 3.3: lo-0.5 <= v < hi+0.5
            if lo is not None:
                parts.append(e.compare(v, ">=", e.number(lo - 0.5)))
            if hi is not None:
                parts.append(e.compare(v, "<", e.number(hi + 0.5)))
    else:
        if r.is_single and switches.current().real_single_value_equals:
            return e.compare(v, "==", e.number(lo))  # type: ignore[arg-type]
        if lo is not None:
            parts.append(e.compare(v, ">=", e.number(lo)))
        if hi is not None:
            op = "<=" if switches.current().real_upper_bound_inclusive else "<"
            parts.append(e.compare(v, op, e.number(hi)))
    if not parts:
        return e.TRUE
    return e.all_of(parts)


def _note_ranges(
    ctx: FilterContext, col: ColumnMeta, node: n.RangeFilter, bounds: Bounds
) -> None:
    """Top-level ranges narrow the subspace, the GTIs (time) and bin defaults."""
    text = ",".join(_range_text(r) for r in node.ranges)
    if col.key == "time" and col.kind == "real":
        import numpy as np

        rows = []
        for lo, hi, single in bounds:
            if single:
                continue
            rows.append((-np.inf if lo is None else lo, np.inf if hi is None else hi))
        ctx.time_selections.append({None: np.array(rows, dtype=float).reshape(-1, 2)})
    else:
        ctx.subspace.append(
            SubspaceEntry(column=col.name, ranges=text, unit=col.unit, form=_form(col))
        )
    los = [lo for lo, _, _ in bounds]
    his = [hi for _, hi, _ in bounds]
    if all(x is not None for x in los) and all(x is not None for x in his):
        lo_env, hi_env = min(los), max(his)  # type: ignore[type-var]
        ctx.narrow_extent(col.name, lo_env, hi_env)  # type: ignore[arg-type]


def note_complement(ctx: FilterContext, node: n.RangeFilter) -> None:
    """``[exclude col=ranges]`` narrows the subspace (or the GTIs, for time) to
    the complement of the ranges within TLMIN/TLMAX (dm-syntax 10.2)."""
    import numpy as np

    from xdm.io.intervals import normalise, subtract

    col = ctx.column(node.column)
    if col.kind not in ("int", "real"):
        return
    half = 0.5 if col.kind == "int" else 0.0
    rows = []
    for r in node.ranges:
        lo, hi = _number(ctx, r.lo, col), _number(ctx, r.hi, col)
        if r.is_single and col.kind == "real":
            return  # "all but one value" has no range form
        rows.append(
            (
                -np.inf if lo is None else lo - half,
                np.inf if hi is None else hi + half,
            )
        )
    is_time = col.key == "time" and col.kind == "real"
    lo_d = -np.inf if is_time or col.tlmin is None else col.tlmin - half
    hi_d = np.inf if is_time or col.tlmax is None else col.tlmax + half
    keep = subtract(np.array([[lo_d, hi_d]]), normalise(np.array(rows, dtype=float)))
    if is_time:
        ctx.time_selections.append({None: keep})
        return
    parts = []
    for a, b in keep:
        if col.kind == "int":
            first, last = math.ceil(a), math.ceil(b) - 1
            if last < first:
                continue
            parts.append(
                f"{'' if math.isinf(a) else first}:{'' if math.isinf(b) else last}"
            )
        else:
            parts.append(
                f"{'' if math.isinf(a) else _number_text(a)}:"
                f"{'' if math.isinf(b) else _number_text(b)}"
            )
    ctx.subspace.append(
        SubspaceEntry(
            column=col.name,
            ranges=",".join(parts) if parts else "0:-1",
            unit=col.unit,
            form=_form(col),
        )
    )


# ---------------------------------------------------------------- comparisons
def comparison(ctx: FilterContext, node: n.ComparisonFilter, *, top: bool) -> e.Expr:
    """``col<v`` and friends; ``==``/``!=`` on logical and string columns."""
    col = ctx.column(node.column)
    op = node.op
    if col.kind == "bit":
        raise ctx.error(
            f"'{col.name}' is a bit column; use a pattern, e.g. {col.name}=0 or "
            f"{col.name}=xxxx1xxx",
            node,
        )
    if col.kind in ("logical", "string"):
        if op not in ("==", "!="):
            raise ctx.error(
                f"'{op}' needs a numeric column; '{col.name}' is {col.kind}", node
            )
        r = n.Range(lo=node.value, hi=node.value, is_single=True, span=node.span)
        if col.kind == "logical":
            clause = _logical_filter(ctx, col, (r,))
            return e.Not(clause) if op == "!=" else clause
        return _string_filter(ctx, col, (r,), negate=op == "!=")
    value = _number(ctx, node.value, col)
    v = ctx.var(col)
    clause = e.compare(v, op, e.number(value))  # type: ignore[arg-type]
    if top and value is not None and op in ("<", "<=", ">", ">="):
        lo, hi = (None, value) if op in ("<", "<=") else (value, None)
        if lo is not None and col.tlmax is not None:
            ctx.narrow_extent(col.name, lo, col.tlmax)
        if hi is not None and col.tlmin is not None:
            ctx.narrow_extent(col.name, col.tlmin, hi)
        if col.key == "time" and col.kind == "real":
            ctx.time_selections.append({None: comparison_interval(op, value)})
    return clause


# ---------------------------------------------------------------- bits, logicals, strings
def _bit_filter(ctx: FilterContext, col: ColumnMeta, node: n.RangeFilter) -> e.Expr:
    v = ctx.var(col, "bits")
    items: list[e.Expr] = []
    for r in node.ranges:
        if not r.is_single:
            raise ctx.error(f"'{col.name}' is a bit column; ranges do not apply", r)
        value = r.lo
        if isinstance(value, n.Number):
            if not value.is_integer or value.value < 0:
                raise ctx.error(f"bad bit value '{value.text}' for '{col.name}'", value)
            want = int(value.value)
            if want >= 1 << col.width:
                raise ctx.error(
                    f"{want} does not fit the {col.width} bits of '{col.name}'",
                    value,
                )
            full = (1 << col.width) - 1
            items.append(
                e.compare(v, "==", e.const(0)) if want == 0 else _masked(v, full, want)
            )
        elif isinstance(value, n.BitPattern):
            mask, want = _bit_mask(ctx, col, value)
            items.append(_masked(v, mask, want))
        else:
            raise ctx.error(f"'{col.name}' takes a bit pattern of 0, 1 and x", r)
    return e.any_of(items)


def _masked(v: e.Var, mask: int, want: int) -> e.Expr:
    """``((v & mask) == want)``."""
    return e.compare(e.Group(e.And((v, e.const(mask)))), "==", e.const(want))


def _bit_mask(
    ctx: FilterContext, col: ColumnMeta, value: n.BitPattern
) -> tuple[int, int]:
    text = value.text.lower()
    if set(text) - set("01x"):
        raise ctx.error(
            f"bit pattern '{value.text}' holds characters other than 0, 1, x", value
        )
    width = col.width
    if len(text) > width:
        extra, text = text[: len(text) - width], text[len(text) - width :]
        if set(extra) != {"x"} or not switches.current().bit_pattern_align_right:
            raise ctx.error(
                f"bit pattern has {len(value.text)} characters; '{col.name}' has {width} bits",
                value,
            )
    mask = want = 0
    for bit, ch in enumerate(reversed(text)):
        if ch != "x":
            mask |= 1 << bit
            if ch == "1":
                want |= 1 << bit
    return mask, want


def _logical_filter(
    ctx: FilterContext, col: ColumnMeta, ranges: Sequence[n.Range]
) -> e.Expr:
    v = ctx.var(col)
    items: list[e.Expr] = []
    for r in ranges:
        value = r.lo
        truth: bool | None = None
        if isinstance(value, n.BoolValue):
            truth = value.value
        elif isinstance(value, n.StringValue | n.Number):
            truth = {
                "t": True,
                "true": True,
                "f": False,
                "false": False,
                "1": True,
                "0": False,
            }.get(value.text.lower())
        if truth is None or not r.is_single:
            raise ctx.error(f"'{col.name}' is a logical column; use true or false", r)
        items.append(e.compare(v, "==", e.const(ord("T") if truth else ord("F"))))
    return e.any_of(items)


def _string_filter(
    ctx: FilterContext, col: ColumnMeta, ranges: Sequence[n.Range], *, negate: bool
) -> e.Expr:
    wanted = []
    for r in ranges:
        value = r.lo
        if not r.is_single or not isinstance(
            value, n.StringValue | n.Number | n.BoolValue
        ):
            raise ctx.error(f"'{col.name}' is a string column; ranges do not apply", r)
        text = value.text if not isinstance(value, n.BoolValue) else str(value.value)
        wanted.append(text.rstrip().encode("ascii", "replace"))
    fold = not switches.current().string_case_sensitive or col.key == "shape"
    var = ctx.test_var()
    ctx.tests.append(
        VectorTest(
            var=var.name,
            kind="string",
            columns=(col.name,),
            describe=f"{col.name} in {sorted(w.decode() for w in wanted)}"
            + (" (case-folded)" if fold else ""),
            payload=(tuple(wanted), fold),
        )
    )
    return e.Not(var) if negate else var


# ---------------------------------------------------------------- rows
def row_filter(ctx: FilterContext, node: n.RowFilter) -> e.Expr:
    """``#row=lo:hi,...`` over 1-based row numbers."""
    v = ctx.row_var()
    items: list[e.Expr] = []
    for r in node.ranges:
        lo = _int_value(ctx, r.lo, r)
        hi = _int_value(ctx, r.hi, r)
        if r.is_single:
            items.append(e.compare(v, "==", e.const(lo)))  # type: ignore[arg-type]
            continue
        parts: list[e.Expr] = []
        if lo is not None:
            parts.append(e.compare(v, ">=", e.const(lo)))
        if hi is not None:
            parts.append(e.compare(v, "<=", e.const(hi)))
        if not parts:
            return e.TRUE
        items.append(e.all_of(parts))
    return e.any_of(items)


# ---------------------------------------------------------------- helpers
def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _int_in(value: int, lo: float | None, hi: float | None, single: bool) -> bool:
    if single:
        return lo is not None and abs(value - lo) < 0.5
    return (lo is None or value >= lo - 0.5) and (hi is None or value < hi + 0.5)


def _int_value(ctx: FilterContext, value: Any, node: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, n.Number) and value.is_integer and value.value >= 0:
        return int(value.value)
    raise ctx.error("row numbers are non-negative integers", node)


def _range_text(r: n.Range) -> str:
    def text(v: Any) -> str:
        if v is None:
            return ""
        written = getattr(v, "text", None)  # a Number as the user wrote it
        return str(v) if written is None else str(written)

    if r.is_single:
        return f"{text(r.lo)}:{text(r.lo)}"
    return f"{text(r.lo)}:{text(r.hi)}"


def _form(col: ColumnMeta) -> str:
    """The DSFORM of a column: its TFORM's type code (``1E`` -> ``E``)."""
    return col.tform.strip().lstrip("0123456789")[:1].upper()
