"""Region filters (``sky=circle(...)``) as expression trees, or as a vectorised
``Region.contains`` test behind the region's bounding box.

The tree is the region's own (``Region.numexpr_tree`` over the columns'
variables: the regions package's one numexpr form of each shape, CIAO's
arithmetic in CIAO's order). A region of many numbers
(``REGION_INLINE_MAX_CONSTANTS``) or of shapes without a numexpr form
(polygons, pies, sectors, masks) becomes a ``VectorTest``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xdm import expr as e
from xdm.engine.exprcontext import FilterContext, attach
from xdm.engine.steps import SubspaceEntry, VectorTest
from xdm.errors import XdmError
from xdm.io.imagewcs import column_wcs
from xdm.lang import nodes as n

if TYPE_CHECKING:
    from xdm.io.columns import ColumnMeta

__all__ = ["REGION_INLINE_MAX_CONSTANTS", "region_filter"]

REGION_INLINE_MAX_CONSTANTS = 96
"""A region whose numexpr text holds more numbers than this (a region file of many
shapes) is tested with ``Region.contains`` instead (numexpr's 255-constant limit)."""


def region_filter(
    ctx: FilterContext, node: n.RegionFilter, *, top: bool, excluded: bool = False
) -> e.Expr:
    """``sky=shape``; an excluded single shape is recorded as ``!shape``
    (dm-syntax 10.2, unconfirmed form)."""
    xcol, ycol, label = _region_columns(ctx, node.column)
    wcs = column_wcs(xcol, ycol)
    region = _make_region(ctx, node.region, wcs, node)
    xv, yv = ctx.var(xcol), ctx.var(ycol)
    tree = region.numexpr_tree(xv, yv)
    if tree is not None and e.constants(tree) > REGION_INLINE_MAX_CONSTANTS:
        tree = None  # many shapes: the vectorised test, behind the bbox
    bbox = region.bbox
    if top:
        canonical = region.canonical()
        ctx.subspace.append(
            SubspaceEntry(column=label, ranges=canonical, is_region=True)
        )
        if bbox is not None:
            ctx.narrow_extent(xcol.name, bbox[0], bbox[1])
            ctx.narrow_extent(ycol.name, bbox[2], bbox[3])
    if excluded:
        canonical = region.canonical()
        if not any(op in canonical for op in "+*!"):
            # after the included shapes: CIAO's region library rejects a
            # region whose first term is an exclusion
            ctx.excluded.append(
                SubspaceEntry(column=label, ranges="!" + canonical, is_region=True)
            )
    if tree is not None:
        return e.Group(tree)
    prefilter = None
    if bbox is not None:
        xmin, xmax, ymin, ymax = (float(b) for b in bbox)
        prefilter = e.And(
            (
                e.compare(xv, ">=", e.number(xmin)),
                e.compare(xv, "<=", e.number(xmax)),
                e.compare(yv, ">=", e.number(ymin)),
                e.compare(yv, "<=", e.number(ymax)),
            )
        )
    var = ctx.test_var()
    ctx.tests.append(
        VectorTest(
            var=var.name,
            kind="region",
            columns=(xcol.name, ycol.name),
            describe=f"({xcol.name},{ycol.name}) in {region.canonical()}",
            prefilter=prefilter,
            payload=region,
        )
    )
    return var


# ---------------------------------------------------------------- columns
def _region_columns(
    ctx: FilterContext, target: Any
) -> tuple[ColumnMeta, ColumnMeta, str]:
    if isinstance(target, n.ColumnPair):
        cols = []
        for part in (target.first, target.second):
            if isinstance(part, n.AxisNumber):
                raise ctx.error("'#n' names an image axis; this block is a table", part)
            cols.append(ctx.column(part))
        a, b = cols
        label = next(
            (k for k, v in ctx.block.vectors.items() if v == (a.key, b.key)),
            f"({a.name},{b.name})",
        )
        return a, b, label
    if isinstance(target, n.AxisNumber):
        raise ctx.error("'#n' names an image axis; this block is a table", target)
    pair = ctx.block.vector(target.name)
    if pair is None:
        col = ctx.block.require_column(target.name, source=ctx.source, span=target.span)
        raise ctx.error(
            f"a region needs a 2-D vector column; '{col.name}' is a scalar column",
            target,
            hint="name a vector (sky, chip, det) or a pair: (x,y)=circle(...)",
        )
    for c in pair:
        if c.kind not in ("int", "real") or c.width != 1:
            raise ctx.error(
                f"column '{c.name}' of '{target.name}' is not numeric", target
            )
    return pair[0], pair[1], target.name.lower()


def _make_region(ctx: FilterContext, node: Any, wcs: Any, at: Any) -> Any:
    """The region a node describes (the regions package's one entry point)."""
    from xdm.regions.api import region

    try:
        return region(
            node, wcs=wcs, base_dir=ctx.base_dir, image_reader=ctx.image_reader
        )
    except XdmError as exc:
        raise attach(exc, ctx.source, getattr(at, "span", None)) from None
