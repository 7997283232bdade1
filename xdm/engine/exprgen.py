"""Filter nodes -> one expression tree (the fused predicate), plus the tests
numexpr cannot express.

Takes the filter qualifiers of a virtual file and the opened block's column
metadata; returns ``CompiledFilter``: the predicate as an ``xdm.expr``
tree over safe variable names (and its numexpr text, which ``explain``
prints), the operands (column -> variable), vectorised tests (regions without
a numexpr form, long GTI lists, strings) and what the top-level filters imply
for the data subspace, the GTIs and default bin ranges. User text never
reaches numexpr: names are vetted against the block, numbers are constants.

The parts, one job each: ``exprcontext`` (operands, names, errors),
``exprranges`` (ranges, comparisons, bits, logicals, strings, rows),
``exprregions`` (regions), ``exprtime`` (time intervals and GTI narrowing);
this module dispatches on the filter nodes and reads filter files. The
unconfirmed CIAO readings (dm-syntax.md) come from ``xdm.switches``; the
inlining limits are constants of the module that applies them, importable
from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xdm import expr as e
from xdm import switches
from xdm.engine.exprcontext import FilterContext, Intervals
from xdm.engine.exprranges import (
    RANGE_LIST_INLINE_MAX,
    comparison,
    note_complement,
    range_filter,
    row_filter,
)
from xdm.engine.exprregions import REGION_INLINE_MAX_CONSTANTS, region_filter
from xdm.engine.exprtime import (
    GTI_INLINE_MAX,
    looks_like_fits,
    read_time_filter,
    time_support,
    time_test,
)
from xdm.engine.steps import Operand, SubspaceEntry, VectorTest
from xdm.lang import nodes as n

if TYPE_CHECKING:
    from xdm.io.blocks import Block
    from xdm.regions.coords import ImageReader

__all__ = [
    "GTI_INLINE_MAX",
    "RANGE_LIST_INLINE_MAX",
    "REGION_INLINE_MAX_CONSTANTS",
    "CompiledFilter",
    "compile_filters",
]


@dataclass(slots=True)
class CompiledFilter:
    """The fused predicate and what the top-level (AND'ed) filters imply."""

    expression: e.Expr
    """The predicate's tree: ``&`` of its conjuncts (``expr.TRUE``: keep all)."""
    predicate: str
    """The predicate's numexpr text (``explain`` prints it)."""
    terms: tuple[str, ...]
    """The text of each top-level conjunct (none for ``True``)."""
    operands: tuple[Operand, ...]
    tests: tuple[VectorTest, ...]
    time_selections: tuple[Intervals, ...] = ()
    subspace: tuple[SubspaceEntry, ...] = ()
    extents: dict[str, tuple[float, float]] = field(default_factory=dict)

    def variable(self, column: str) -> str | None:
        """The numexpr variable bound to ``column``'s values, if any."""
        return next(
            (o.var for o in self.operands if o.how == "values" and o.column == column),
            None,
        )


def compile_filters(
    block: Block,
    qualifiers: Sequence[n.FilterQualifier],
    *,
    source: str | None = None,
    base_dir: str | None = None,
    extra_columns: Sequence[str] = (),
    image_reader: ImageReader | None = None,
) -> CompiledFilter:
    """Compile every filter bracket of a virtual file into one conjunction.

    ``extra_columns`` (bin axes, weights) get operands too so the executor reads
    each column once per chunk; ``image_reader`` makes the image of a virtual
    ``mask(vf)`` (the planner hands in the engine's).
    """
    ctx = FilterContext(
        block, source=source, base_dir=base_dir, image_reader=image_reader
    )
    terms = [_qualifier(ctx, q) for q in qualifiers]
    for name in extra_columns:
        ctx.var(block.require_column(name))
    expression = _conjunction(terms)
    texts = () if expression == e.TRUE else tuple(map(str, e.conjuncts(expression)))
    return CompiledFilter(
        expression=expression,
        # the text of an "&" is its conjuncts' joined
        predicate=" & ".join(texts)
        if isinstance(expression, e.And)
        else str(expression),
        terms=texts,
        operands=tuple(ctx.operands.values()),
        tests=tuple(ctx.tests),
        time_selections=tuple(ctx.time_selections),
        subspace=(*ctx.subspace, *ctx.excluded),
        extents=ctx.extents,
    )


def _conjunction(parts: Sequence[e.Expr]) -> e.Expr:
    """``a & b & ...`` of the parts that are not ``True`` (``True`` if none)."""
    kept = [p for p in parts if p != e.TRUE]
    if not kept:
        return e.TRUE
    return kept[0] if len(kept) == 1 else e.And(tuple(kept))


def _qualifier(ctx: FilterContext, q: n.FilterQualifier) -> e.Expr:
    if q.exclude and isinstance(q.expr, n.RegionFilter):
        inner = region_filter(ctx, q.expr, top=False, excluded=True)
        return e.Not(e.Group(inner))
    if q.exclude:
        inner = _expr(ctx, q.expr, top=False)
        if isinstance(q.expr, n.RangeFilter):
            note_complement(ctx, q.expr)
        return e.FALSE if inner == e.TRUE else e.Not(e.Group(inner))
    return _expr(ctx, q.expr, top=True)


def _expr(ctx: FilterContext, node: Any, *, top: bool) -> e.Expr:
    match node:
        case n.AndFilter():
            return _conjunction([_expr(ctx, t, top=top) for t in node.terms])
        case n.OrFilter():
            parts = [_expr(ctx, t, top=False) for t in node.terms]
            if top and switches.current().time_in_or_narrows_gti:
                support = time_support(ctx, node)
                if support is not None:
                    ctx.time_selections.append(support)
            if e.TRUE in parts:
                return e.TRUE
            return e.Group(e.Or(tuple(parts)))
        case n.RangeFilter():
            return range_filter(ctx, node, top=top)
        case n.ComparisonFilter():
            return comparison(ctx, node, top=top)
        case n.RegionFilter():
            return region_filter(ctx, node, top=top)
        case n.RowFilter():
            return row_filter(ctx, node)
        case n.FileFilter():
            return _file_filter(ctx, node, top=top)
    raise ctx.error(f"unsupported filter {type(node).__name__}", node)


def _file_filter(ctx: FilterContext, node: n.FileFilter, *, top: bool) -> e.Expr:
    """``@file``: a GTI table (FITS) or a text of filters, one per line."""
    from xdm.io.blocks import resolve_path

    path = resolve_path(node.file.path, ctx.base_dir)
    if not path.exists():
        from xdm.errors import XdmIOError

        raise XdmIOError(
            f"filter file not found: {node.file.path}",
            source=ctx.source,
            span=node.span,
            hint=f"looked for {path}",
        )
    if looks_like_fits(str(path)):
        intervals = read_time_filter(node.file, ctx.base_dir, ctx.source, node)
        ctx.files[id(node)] = intervals
        if top:
            ctx.time_selections.append(intervals)
        return time_test(ctx, intervals, node)
    text = ",".join(
        line.strip()
        for line in path.read_text(errors="replace").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    from xdm.lang.parser import parse_filter

    parsed = parse_filter(text)
    ctx.files[id(node)] = parsed
    # names inside the file resolve like the virtual file's own (CIAO: the
    # current directory), and the generators share operands and tests
    sub = ctx.inner(text)
    clause = _expr(sub, parsed, top=top)
    ctx.merge(sub)
    return clause if clause == e.TRUE else e.Group(clause)
