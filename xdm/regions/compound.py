"""A region as CIAO stores it: a sum of products of (possibly excluded) shapes.

``Region.components`` is a tuple of components; the shapes of a component are
AND'ed and components are OR'ed (CIAO's COMPONENT column). Like CIAO's
``regInsideRegion``, ``contains`` first rejects points outside the region
bounds (the union over components of the intersection of shape extents, with
excluded shapes counting as the whole field).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from xdm import expr as e
from xdm.regions.forms import whole_plane
from xdm.regions.shapes import FIELD_EXTENT, INF, Extent, Field, Rectangle, Shape

__all__ = ["Region"]

Component = tuple[Shape, ...]

AREA_GRID = 2048
"""Cells per axis of the midpoint grid used for areas of compound regions."""


def _clip(v: float, lo: float, hi: float) -> float:
    """CIAO ``reg_trim_double``."""
    if v < lo and v < hi:
        return lo
    if v > lo and v > hi:
        return hi
    return v


def _component_bounds(component: Component) -> Extent:
    xlo, xhi, ylo, yhi = component[0].bound()
    for shape in component[1:]:
        sx0, sx1, sy0, sy1 = shape.bound()
        xlo, xhi = _clip(xlo, sx0, sx1), _clip(xhi, sx0, sx1)
        ylo, yhi = _clip(ylo, sy0, sy1), _clip(yhi, sy0, sy1)
    return (xlo, xhi, ylo, yhi)


@dataclass(frozen=True, slots=True)
class Region:
    """A 2-D region in physical coordinates (see module docstring)."""

    components: tuple[Component, ...]

    # ------------------------------------------------------------ algebra
    @staticmethod
    def of(shape: Shape) -> Region:
        return Region(((shape,),))

    @staticmethod
    def union(regions: Iterable[Region]) -> Region:
        return Region(tuple(c for r in regions for c in r.components))

    def __or__(self, other: Region) -> Region:
        return Region(self.components + other.components)

    def __and__(self, other: Region) -> Region:
        return Region(tuple(a + b for a in self.components for b in other.components))

    def __invert__(self) -> Region:
        """De Morgan: NOT(sum of products) = product of sums of negated shapes."""
        if not self.components:
            return Region(((Field(),),))
        factors = [Region(tuple((s.negated(),) for s in c)) for c in self.components]
        result = factors[0]
        for factor in factors[1:]:
            result = result & factor
        return result.simplified()

    def simplified(self) -> Region:
        """Drop components holding a shape and its own negation."""
        return Region(
            tuple(c for c in self.components if not any(s.negated() in c for s in c))
        )

    # ------------------------------------------------------------ geometry
    @property
    def bounds(self) -> Extent | None:
        """CIAO's region bounds (may hold ``±inf``); None for the empty region."""
        if not self.components:
            return None
        boxes = [_component_bounds(c) for c in self.components]
        return (
            min(b[0] for b in boxes),
            max(b[1] for b in boxes),
            min(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )

    @property
    def bbox(self) -> tuple[float, float, float, float] | None:
        """``(xmin, xmax, ymin, ymax)`` holding every inside point; None if unbounded."""
        b = self.bounds
        if b is None:
            return (0.0, 0.0, 0.0, 0.0)
        return b if all(math.isfinite(v) for v in b) else None

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Boolean mask: which points ``(x, y)`` the region includes."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        shape = np.broadcast(x, y).shape
        b = self.bounds
        if b is None:
            return np.zeros(shape, dtype=bool)
        x, y = np.broadcast_to(x, shape), np.broadcast_to(y, shape)
        mask = _bounds_mask(x, y, b)
        if mask is None:
            xs, ys, idx = x, y, None
        else:
            idx = np.flatnonzero(mask)
            xs, ys = x.reshape(-1)[idx], y.reshape(-1)[idx]
        hit = np.zeros(xs.shape, dtype=bool)
        for component in self.components:
            ok = component[0].contains(xs, ys)
            for s in component[1:]:
                ok &= s.contains(xs, ys)
            hit |= ok
        if idx is None:
            return hit.reshape(shape)
        out = np.zeros(shape, dtype=bool)
        out.reshape(-1)[idx] = hit
        return out

    def numexpr_tree(self, x: e.Expr, y: e.Expr) -> e.Expr | None:
        """``contains`` as an expression tree over the operands ``x``, ``y``:
        components OR'ed, the shapes of a component AND'ed.

        None when some shape has no numexpr form (polygons, pies, sectors,
        masks); the caller then evaluates ``contains`` on the rows inside
        ``bbox``. Only region numbers (``repr`` doubles) and the given operands
        enter the tree. CIAO's region-bounds test is left out: the shape tests
        decide every point of the CIAO oracle alike with or without it.
        """
        true = whole_plane(x)
        terms: list[e.Expr] = []
        for component in self.components:
            parts: list[e.Expr] = []
            empty = False  # a !field in the component: it holds no point
            for s in component:
                if isinstance(s, Field):
                    if not s.include:
                        empty = True
                        break
                    continue
                inside = s.interior(x, y)
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

    def to_numexpr(self, x: str, y: str) -> str | None:
        """numexpr text of ``contains`` over variable names ``x``, ``y``: the
        rendered ``numexpr_tree`` (None when it has none)."""
        tree = self.numexpr_tree(e.Var(x), e.Var(y))
        return None if tree is None else e.render(tree)

    def canonical(self) -> str:
        """CIAO-style text: ``Circle(1,2,3)&!Box(4,5,6,7)|Point(1,1)``."""
        return "|".join("&".join(s.canonical() for s in c) for c in self.components)

    def __str__(self) -> str:
        return self.canonical()

    def area(self, field: Region | Extent | None = None) -> float:
        """Area in physical pixels squared, optionally clipped to ``field``
        (a region such as the field of view, or a box ``(xmin, xmax, ymin, ymax)``).

        Components are grouped by overlapping bounding boxes. A group that is
        one included shape counts its exact area; any other group is counted
        on a midpoint grid of ``AREA_GRID``² cells over the group's bounding
        box (relative error well under 0.1%). Unbounded regions are infinite.
        """
        if isinstance(field, tuple):
            field = Region.of(Rectangle(field[0], field[2], field[1], field[3]))
        region = self if field is None else self & field
        total = region.bbox
        if total is None:
            return INF
        area = 0.0
        for group, box in _clusters(region.components, total):
            real = [s for s in group[0] if not (isinstance(s, Field) and s.include)]
            if len(group) == 1 and len(real) == 1 and real[0].include:
                area += real[0].area()
            elif box[1] > box[0] and box[3] > box[2]:
                area += _grid_area(Region(tuple(group)), box)
        return area


def _clusters(
    components: tuple[Component, ...], total: Extent
) -> list[tuple[list[Component], Extent]]:
    """Components grouped so that bounding boxes of different groups are disjoint."""
    groups: list[tuple[list[Component], Extent]] = []
    for comp in components:
        b = _component_bounds(comp)
        box = (
            max(b[0], total[0]),
            min(b[1], total[1]),
            max(b[2], total[2]),
            min(b[3], total[3]),
        )
        members = [comp]
        keep = []
        for g, gbox in groups:
            if _overlap(box, gbox):
                members = g + members
                box = (
                    min(box[0], gbox[0]),
                    max(box[1], gbox[1]),
                    min(box[2], gbox[2]),
                    max(box[3], gbox[3]),
                )
            else:
                keep.append((g, gbox))
        groups = [*keep, (members, box)]
    return groups


def _overlap(a: Extent, b: Extent) -> bool:
    return not (a[1] < b[0] or a[0] > b[1] or a[3] < b[2] or a[2] > b[3])


def _bounds_mask(x: np.ndarray, y: np.ndarray, b: Extent) -> np.ndarray | None:
    if b == FIELD_EXTENT:
        return None
    mask = np.ones(x.shape, dtype=bool)
    if b[0] > -INF:
        mask &= x >= b[0]
    if b[1] < INF:
        mask &= x <= b[1]
    if b[2] > -INF:
        mask &= y >= b[2]
    if b[3] < INF:
        mask &= y <= b[3]
    return mask


def _grid_area(region: Region, box: Extent) -> float:
    """Area of ``region`` on a midpoint grid of ``AREA_GRID``² cells over ``box``."""
    xlo, xhi, ylo, yhi = box
    n = AREA_GRID
    dx, dy = (xhi - xlo) / n, (yhi - ylo) / n
    xs = xlo + (np.arange(n) + 0.5) * dx
    count = 0
    rows = max(1, (1 << 20) // n)
    for start in range(0, n, rows):
        ys = ylo + (np.arange(start, min(n, start + rows)) + 0.5) * dy
        gx, gy = np.meshgrid(xs, ys)
        count += int(np.count_nonzero(region.contains(gx, gy)))
    return count * dx * dy
