"""Region filters (``sky=circle(...)``) as expression trees, or as a vectorised
``Region.contains`` test behind the region's bounding box.

``region_tree`` gives the tree of ``Region.to_numexpr`` (the regions package's
numexpr text of the same shapes, with CIAO's arithmetic in CIAO's order);
``tests/test_expr.py`` proves the rendered tree is that text for the region
corpus, so the two cannot drift apart. A region of many numbers
(``REGION_INLINE_MAX_CONSTANTS``) or of shapes without a numexpr form
(polygons, pies, sectors, masks) becomes a ``VectorTest``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from xdm import expr as e
from xdm.engine.exprcontext import FilterContext, attach
from xdm.engine.steps import SubspaceEntry, VectorTest
from xdm.errors import XdmError
from xdm.lang import nodes as n

if TYPE_CHECKING:
    from xdm.io.columns import ColumnMeta

__all__ = ["REGION_INLINE_MAX_CONSTANTS", "region_filter", "region_tree"]

REGION_INLINE_MAX_CONSTANTS = 96
"""A region whose numexpr text holds more numbers than this (a region file of many
shapes) is tested with ``Region.contains`` instead (numexpr's 255-constant limit)."""


def region_filter(
    ctx: FilterContext, node: n.RegionFilter, *, top: bool, excluded: bool = False
) -> e.Expr:
    """``sky=shape``; an excluded single shape is recorded as ``!shape``
    (dm-syntax 10.2, unconfirmed form)."""
    xcol, ycol, label = _region_columns(ctx, node.column)
    wcs = _column_wcs(xcol, ycol)
    region = _make_region(ctx, node.region, wcs, node)
    xv, yv = ctx.var(xcol), ctx.var(ycol)
    tree = region_tree(region, xv, yv)
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


# ---------------------------------------------------------------- shapes
def region_tree(region: Any, x: e.Expr, y: e.Expr) -> e.Expr | None:
    """The tree of ``region.to_numexpr(x, y)``: components OR'ed, the shapes of
    a component AND'ed; None when a shape has no numexpr form."""
    from xdm.regions.shapes import Field

    true = e.Group(e.Or((e.compare(x, "==", x), e.compare(x, "!=", x))))
    terms: list[e.Expr] = []
    for component in region.components:
        parts: list[e.Expr] = []
        empty = False  # a !field in the component: it holds no point
        for s in component:
            if isinstance(s, Field):
                if not s.include:
                    empty = True
                    break
                continue
            inside = _inside(s, x, y)
            if inside is None:
                return None
            parts.append(inside if s.include else e.Not(e.Group(inside)))
        if empty:
            continue
        terms.append(
            parts[0] if len(parts) == 1 else e.And(tuple(parts)) if parts else true
        )
    if not terms:
        return e.Not(true)
    grouped = tuple(e.Group(t) for t in terms)
    return grouped[0] if len(grouped) == 1 else e.Or(grouped)


def _inside(s: Any, x: e.Expr, y: e.Expr) -> e.Expr | None:
    """One shape's interior (its ``inside_expr``), or None."""
    from xdm.regions import shapes as sh

    match s:
        case sh.Circle():
            return e.compare(_dist(x, y, s.xc, s.yc), "<=", _lit(s.r))
        case sh.Annulus():
            d = _dist(x, y, s.xc, s.yc)
            return _all(e.compare(d, "<=", _lit(s.r1)), e.compare(d, ">=", _lit(s.r0)))
        case sh.Ellipse():
            xm, ym = _minus(x, s.xc), _minus(y, s.yc)
            # numexpr turns "a / constant" into "a * (1/constant)", which rounds
            # differently from CIAO's division; dividing by an array keeps it exact
            rx, ry = _as_array(s.rx, x), _as_array(s.ry, x)
            if s.angle == 0:
                xr, yr = e.Arith("/", xm, rx), e.Arith("/", ym, ry)
            else:
                c, sn = _cos_sin(s.angle)
                xr = e.Arith("/", _turn(c, xm, sn, ym), rx)
                yr = e.Arith("/", _turn(-sn, xm, c, ym), ry)
            total = e.Arith("+", e.Square(e.Group(xr)), e.Square(e.Group(yr)))
            return e.compare(e.Group(total), "<=", e.const(1.0))
        case sh.Box():
            dx, dy = s.width / 2.0, s.height / 2.0
            if s.angle != 0.0:
                c, sn = _cos_sin(s.angle)
                xm, ym = _minus(x, s.xc), _minus(y, s.yc)
                xp, yp = _turn(c, xm, sn, ym), _turn(-sn, xm, c, ym)
                return _all(
                    e.compare(e.Call("abs", (xp,)), "<=", _lit(dx)),
                    e.compare(e.Call("abs", (yp,)), "<=", _lit(dy)),
                )
            return _within(x, y, s.xc - dx, s.xc + dx, s.yc - dy, s.yc + dy)
        case sh.Rectangle():
            if s.angle != 0.0:
                return None
            return _within(x, y, s.x0, s.x1, s.y0, s.y1)
        case sh.Point():
            return _all(e.compare(x, "==", _lit(s.xc)), e.compare(y, "==", _lit(s.yc)))
        case sh.Field():
            return e.Group(e.Or((e.compare(x, "==", x), e.compare(x, "!=", x))))
    return None


def _lit(value: float) -> e.Expr:
    """A region number: a double, parenthesised when negative (``shapes.lit``)."""
    c = e.const(float(value))
    return e.Group(c) if repr(c.value).startswith("-") else c


def _all(*parts: e.Expr) -> e.Expr:
    return e.Group(e.And(parts))


def _minus(v: e.Expr, centre: float) -> e.Expr:
    """``(v - centre)``."""
    return e.Group(e.Arith("-", v, _lit(centre)))


def _dist(x: e.Expr, y: e.Expr, xc: float, yc: float) -> e.Expr:
    """``sqrt((x - xc)**2 + (y - yc)**2)``: numexpr squares as ``a*a``, as CIAO."""
    total = e.Arith("+", e.Square(_minus(x, xc)), e.Square(_minus(y, yc)))
    return e.Call("sqrt", (total,))


def _as_array(value: float, x: e.Expr) -> e.Expr:
    """``(value + 0.0*x)``: a divisor numexpr cannot fold into a reciprocal."""
    return e.Group(e.Arith("+", _lit(value), e.Arith("*", e.const(0.0), x, True)))


def _turn(a: float, xm: e.Expr, b: float, ym: e.Expr) -> e.Expr:
    """``(a*xm + b*ym)``, one coordinate of a rotation."""
    return e.Group(
        e.Arith("+", e.Arith("*", _lit(a), xm, True), e.Arith("*", _lit(b), ym, True))
    )


def _within(x: e.Expr, y: e.Expr, x0: float, x1: float, y0: float, y1: float) -> e.Expr:
    return _all(
        e.compare(x, ">=", _lit(x0)),
        e.compare(x, "<=", _lit(x1)),
        e.compare(y, ">=", _lit(y0)),
        e.compare(y, "<=", _lit(y1)),
    )


def _cos_sin(angle_deg: float) -> tuple[float, float]:
    """cos and sin of an angle in degrees, with CIAO's ``angle * pi / 180``."""
    theta = angle_deg * math.pi / 180.0
    return math.cos(theta), math.sin(theta)


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


def _column_wcs(xcol: ColumnMeta, ycol: ColumnMeta) -> Any:
    """The columns' world transform for the regions code (None if they have none).

    Built on first use (``_LazyWcs``): a region in physical pixels never touches
    it, and importing astropy.wcs costs ~0.4 s of a fresh process.
    """
    if xcol.wcs is None or ycol.wcs is None:
        return None
    return _LazyWcs(xcol, ycol)


class _LazyWcs:
    """Stands in for an astropy WCS; builds it when an attribute is first read."""

    __slots__ = ("_columns", "_wcs")

    def __init__(self, xcol: ColumnMeta, ycol: ColumnMeta) -> None:
        self._columns = (xcol, ycol)
        self._wcs: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._wcs is None:
            self._wcs = _build_column_wcs(*self._columns)
        return getattr(self._wcs, name)


def _build_column_wcs(xcol: ColumnMeta, ycol: ColumnMeta) -> Any:
    """An astropy WCS mapping physical (x, y) with origin 1 to world."""
    assert xcol.wcs is not None and ycol.wcs is not None
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = [xcol.wcs.ctype, ycol.wcs.ctype]
    w.wcs.crval = [xcol.wcs.crval, ycol.wcs.crval]
    w.wcs.crpix = [xcol.wcs.crpix, ycol.wcs.crpix]
    w.wcs.cdelt = [xcol.wcs.cdelt, ycol.wcs.cdelt]
    w.wcs.cunit = [xcol.wcs.cunit or "deg", ycol.wcs.cunit or "deg"]
    w.wcs.set()
    return w


def _make_region(ctx: FilterContext, node: Any, wcs: Any, at: Any) -> Any:
    """The region a node describes (the regions package's one entry point)."""
    from xdm.regions.api import region

    try:
        return region(
            node, wcs=wcs, base_dir=ctx.base_dir, image_reader=ctx.image_reader
        )
    except XdmError as exc:
        raise attach(exc, ctx.source, getattr(at, "span", None)) from None
