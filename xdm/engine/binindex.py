"""Bin indices: the expression tree of each row's flat bin number, and when the
padded integer path (``kernels.padded_index``) provably gives the same bins.

Takes ``BinGrid`` steps; returns ``xdm.expr`` trees over vetted variable
names and numbers (``expr.number``). Shared by the planner (which chooses the
path) and the executor (which binds the step operands).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from xdm import expr as e

if TYPE_CHECKING:
    from xdm.engine.steps import BinGrid
    from xdm.io.columns import ColumnMeta

__all__ = [
    "KEEP",
    "accumulator_bytes",
    "histogram_expression",
    "padded_axes",
    "step_operand",
    "step_operands",
    "value_type",
]


def value_type(col: ColumnMeta) -> str:
    """What a column's values are once read: ``f4``, ``f8`` or ``int``."""
    if col.is_scaled:
        return "f8"
    if col.kind == "int":
        return "int"
    return "f4" if col.tform.strip().upper().endswith("E") else "f8"


def padded_axes(
    grids: Sequence[BinGrid], value_types: Sequence[str] | None = None
) -> tuple[tuple[float, float, int, int | None], ...] | None:
    """The grids as ``Histogram.padded`` axes, or None if one of them cannot be.

    An axis qualifies when its index ``floor((v - lo) * (1/step))`` (numpy, float64)
    is provably the bin ``histogram_expression`` gives, with rows outside
    ``[lo, hi)`` below 0 or at least ``nbins``: unit bins of an integer column
    (integer arithmetic), or a power-of-two step (exact scaling) whose index is
    right at the four values next to the edges (the largest value below ``lo``,
    the smallest at or above it, the same at ``hi``) among the values the
    column can hold (``value_types``: ``f4``, ``f8`` (the default) or ``int``).
    The index never decreases as ``v`` grows, so those four decide every value.
    """
    types = value_types or ["f8"] * len(grids)
    axes: list[tuple[float, float, int, int | None]] = []
    for g, kind in zip(grids, types):
        if _is_integer_unit(g):
            axes.append((g.lo, 1.0, g.nbins, int(g.lo + 0.5)))
            continue
        if math.frexp(g.step)[0] != 0.5:
            return None
        scale = 1.0 / g.step
        n = g.nbins
        below_lo, at_lo = _neighbours(g.lo, kind)
        below_hi, at_hi = _neighbours(g.hi, kind)

        def index(v: float, lo: float = g.lo, scale: float = scale) -> int:
            return math.floor((v - lo) * scale)

        if not (
            index(below_lo) <= -1
            and index(at_lo) >= 0
            and index(below_hi) <= n - 1
            and index(at_hi) >= n
        ):
            return None
        axes.append((g.lo, scale, n, None))
    return tuple(axes)


def _neighbours(edge: float, kind: str) -> tuple[float, float]:
    """The largest value of the type below ``edge`` and the smallest at or above it."""
    if kind == "int":
        up = math.ceil(edge)
        return float(up - 1), float(up)
    if kind == "f4":
        import numpy as np

        near = np.float32(edge)
        if float(near) >= edge:
            at, below = near, np.nextafter(near, np.float32(-np.inf))
        else:
            below, at = near, np.nextafter(near, np.float32(np.inf))
        return float(below), float(at)
    return math.nextafter(edge, -math.inf), edge


def accumulator_bytes(nrows: int, *, weighted: bool) -> int:
    """Bytes per bin of the histogram accumulator: int32 counts while no bin can
    exceed 2**31 - 1 rows, else int64; float64 sums for weights."""
    return 8 if weighted or nrows >= 2**31 - 1 else 4


KEEP = e.Var("_keep")
"""The precomputed mask of kept rows, for the index expression's split fallback."""


def histogram_expression(predicate: e.Expr, grids: Sequence[BinGrid]) -> e.Expr:
    """Each row's flat bin index, or ``size`` when it is not kept.

    Bounds are folded into the predicate, and the floor is clamped to the last
    bin so a value a rounding error below the upper edge cannot overflow.
    """
    keep: list[e.Expr] = [] if predicate == e.TRUE else [predicate]
    index_terms: list[e.Expr] = []
    stride = 1
    size = 1
    for g in grids:
        v = e.Var(g.var)
        bounds = (
            e.compare(v, ">=", e.number(g.lo)),
            e.compare(v, "<", e.number(g.hi)),
        )
        keep.append(e.And(bounds))
        term = _index_term(g)
        index_terms.append(term if stride == 1 else e.Arith("*", e.const(stride), term))
        stride *= g.nbins
        size *= g.nbins
    index = index_terms[0]
    for term in index_terms[1:]:
        index = e.Arith("+", index, term)
    kept = keep[0] if len(keep) == 1 else e.And(tuple(keep))
    return e.Call("where", (kept, index, e.const(size)))


def _index_term(g: BinGrid) -> e.Expr:
    """One axis's bin number of a kept row.

    Unit bins of an integer column on its half-integer grid (``[bin pi]``,
    ``pi=1:1024:1``) are integer arithmetic, ``v - first``: numexpr then yields
    an integer index (no float temporaries, no float-to-int copy before
    ``np.bincount``), equal to ``floor(v - lo)`` for every whole ``v``.
    """
    v = e.Var(g.var)
    first = g.lo + 0.5
    if _is_integer_unit(g):
        if first == 0:
            return v
        sign: Literal["-", "+"] = "-" if first > 0 else "+"
        return e.Group(e.Arith(sign, v, e.number(abs(first))))
    lo, last = e.number(g.lo), e.const(g.nbins - 1)
    offset = e.Group(e.Arith("-", v, lo))
    if math.frexp(g.step)[0] == 0.5:  # a power of two: division and edges are exact
        q = e.Call("floor", (e.Arith("/", offset, e.number(g.step)),))
        return e.Call("minimum", (q, last))
    # Bin i is lo + i*step <= v < lo + (i+1)*step with the edges as floats compute
    # them; the quotient can be one off at an edge (and numexpr would turn a literal
    # divisor into a reciprocal product), so divide by an operand and correct.
    step = e.Var(step_operand(g))
    q = e.Call("floor", (e.Arith("/", offset, step),))
    one, zero = e.const(1), e.const(0)
    below = e.Compare("<", v, e.Arith("+", lo, e.Arith("*", q, step)))
    above = e.Compare(
        ">=", v, e.Arith("+", lo, e.Arith("*", e.Group(e.Arith("+", q, one)), step))
    )
    corrected = e.Arith(
        "+",
        e.Arith("-", q, e.Call("where", (below, one, zero))),
        e.Call("where", (above, one, zero)),
    )
    return e.Call("minimum", (corrected, last))


def _is_integer_unit(g: BinGrid) -> bool:
    first = g.lo + 0.5
    return g.integer and g.step == 1.0 and first.is_integer() and abs(first) < 2**31


def step_operand(g: BinGrid) -> str:
    """Name of the operand holding a bin size that is not a power of two."""
    return f"_binstep_{g.var}"


def step_operands(grids: Sequence[BinGrid]) -> dict[str, float]:
    """The operands ``_divisor`` names, with their values, for the executor."""
    return {
        step_operand(g): g.step
        for g in grids
        if math.frexp(g.step)[0] != 0.5 and not _is_integer_unit(g)
    }
