"""The CIAO region shapes, one frozen class each, in physical coordinates.

Every shape answers ``inside(x, y)`` for numpy arrays with CIAO's region-library
arithmetic (same operations, same order, same boundary tests), so points exactly
on an edge land where CIAO puts them. ``include=False`` is CIAO's exclusion flag
(``!circle``). Each shape also knows its CIAO extent (used by CIAO as a region
bounding box, so we apply it too), its exact area, its numexpr form (its
interior as an ``xdm.expr`` tree, CIAO's arithmetic in CIAO's order) and its
CIAO-style printed form. Each class names the entries of the shape vocabulary
(``xdm.lang.shapes``) it implements; ``GEOMETRY`` maps each entry to its class.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar, overload

import numpy as np

from xdm import expr as e
from xdm.lang.shapes import ShapeSpec, specs
from xdm.regions.forms import (
    all_true,
    distance,
    lit,
    offset,
    turn,
    whole_plane,
    within,
)

__all__ = [
    "GEOMETRY",
    "SHAPE_CLASSES",
    "Annulus",
    "Box",
    "Circle",
    "Ellipse",
    "Field",
    "Pie",
    "Point",
    "Polygon",
    "Rectangle",
    "Sector",
    "Shape",
]

Array = np.ndarray
Extent = tuple[float, float, float, float]
"""``(xmin, xmax, ymin, ymax)``; CIAO's "field" is ``±inf``."""

INF = math.inf
FIELD_EXTENT: Extent = (-INF, INF, -INF, INF)


def fmt(value: float) -> str:
    """A number as CIAO prints it in region strings (C ``%g``)."""
    return f"{value:g}"


@overload
def _mod_angle(a: float) -> float: ...
@overload
def _mod_angle(a: np.ndarray) -> np.ndarray: ...
def _mod_angle(a: np.ndarray | float) -> np.ndarray | float:
    """CIAO ``reg_mod_angle``: ``fmod(a, 360)`` moved into ``[0, 360]``."""
    if isinstance(a, float):
        m = math.fmod(a, 360.0)
        return m + 360.0 if m < 0.0 else m
    mm = np.fmod(a, 360.0)
    out: np.ndarray = np.where(mm < 0.0, mm + 360.0, mm)
    return out


@dataclass(frozen=True, slots=True)
class Shape:
    """Base of the shapes: an inclusion flag plus geometry in subclasses."""

    include: bool = field(default=True, kw_only=True)

    name: ClassVar[str] = "Shape"
    entries: ClassVar[tuple[ShapeSpec, ...]] = ()
    """The shape-vocabulary entries this class implements."""

    @classmethod
    def from_values(cls, values: Sequence[float]) -> Shape:
        """The shape of an entry's arguments as physical values, in its order."""
        return cls(*values)

    # --- geometry, overridden per shape
    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Raw geometric test (ignores ``include``)."""
        raise NotImplementedError

    def interior(self, x: e.Expr, y: e.Expr) -> e.Expr | None:
        """``inside`` as a tree over the operands ``x``, ``y`` (None: no numexpr form)."""
        return None

    def extent(self) -> Extent:
        """CIAO's extent of the shape's interior."""
        return FIELD_EXTENT

    def area(self) -> float:
        """Exact area of the interior in physical pixels squared."""
        raise NotImplementedError

    def args(self) -> tuple[float, ...]:
        """The printed arguments."""
        raise NotImplementedError

    def label(self) -> str:
        return self.name

    # --- shared behaviour
    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Boolean mask honouring ``include``."""
        inside = self.inside(x, y)
        return inside if self.include else ~inside

    def bound(self) -> Extent:
        """Extent used for region bounds: CIAO gives exclusions the whole field."""
        return self.extent() if self.include else FIELD_EXTENT

    def negated(self) -> Shape:
        return replace(self, include=not self.include)

    def canonical(self) -> str:
        body = ",".join(fmt(v) for v in self.args())
        return f"{'' if self.include else '!'}{self.label()}({body})"


def _dist(x: np.ndarray, y: np.ndarray, xc: float, yc: float) -> np.ndarray:
    dx = x - xc
    dy = y - yc
    return np.sqrt(dx * dx + dy * dy)


@dataclass(frozen=True, slots=True)
class Circle(Shape):
    xc: float
    yc: float
    r: float
    name: ClassVar[str] = "Circle"
    entries: ClassVar[tuple[ShapeSpec, ...]] = specs("circle")

    def inside(self, x: Array, y: Array) -> Array:
        return _dist(x, y, self.xc, self.yc) <= self.r

    def interior(self, x: e.Expr, y: e.Expr) -> e.Expr | None:
        return e.compare(distance(x, y, self.xc, self.yc), "<=", lit(self.r))

    def extent(self) -> Extent:
        return (self.xc - self.r, self.xc + self.r, self.yc - self.r, self.yc + self.r)

    def area(self) -> float:
        return math.pi * self.r * self.r

    def args(self) -> tuple[float, ...]:
        return (self.xc, self.yc, self.r)


@dataclass(frozen=True, slots=True)
class Annulus(Shape):
    xc: float
    yc: float
    r0: float
    r1: float
    name: ClassVar[str] = "Annulus"
    entries: ClassVar[tuple[ShapeSpec, ...]] = specs("annulus")

    def inside(self, x: Array, y: Array) -> Array:
        d = _dist(x, y, self.xc, self.yc)
        return (d <= self.r1) & (d >= self.r0)

    def interior(self, x: e.Expr, y: e.Expr) -> e.Expr | None:
        d = distance(x, y, self.xc, self.yc)
        return all_true(
            e.compare(d, "<=", lit(self.r1)), e.compare(d, ">=", lit(self.r0))
        )

    def extent(self) -> Extent:
        r = self.r1
        return (self.xc - r, self.xc + r, self.yc - r, self.yc + r)

    def area(self) -> float:
        return math.pi * (self.r1 * self.r1 - self.r0 * self.r0)

    def args(self) -> tuple[float, ...]:
        return (self.xc, self.yc, self.r0, self.r1)


def _rotated_corners(
    xc: float, yc: float, dx: float, dy: float, cos_t: float, sin_t: float, angle: float
) -> Extent:
    """CIAO ``reg_box_corners`` + ``reg_corner_bounds``."""
    if angle == 0.0:
        cos_t, sin_t = 1.0, 0.0
    xs, ys = [], []
    for sx, sy in ((dx, dy), (-dx, dy), (dx, -dy), (-dx, -dy)):
        xs.append((cos_t * sx - sin_t * sy) + xc)
        ys.append((sin_t * sx + cos_t * sy) + yc)
    return (min(xs), max(xs), min(ys), max(ys))


def _cos_sin(angle_deg: float) -> tuple[float, float]:
    """cos and sin of an angle in degrees, with CIAO's ``angle * pi / 180``."""
    theta = angle_deg * math.pi / 180.0
    return math.cos(theta), math.sin(theta)


@dataclass(frozen=True, slots=True)
class Ellipse(Shape):
    xc: float
    yc: float
    rx: float
    ry: float
    angle: float = 0.0
    name: ClassVar[str] = "Ellipse"
    entries: ClassVar[tuple[ShapeSpec, ...]] = specs("ellipse")

    @property
    def _cs(self) -> tuple[float, float]:
        return _cos_sin(self.angle)

    def inside(self, x: Array, y: Array) -> Array:
        if self.angle == 0:
            xr = (x - self.xc) / self.rx
            yr = (y - self.yc) / self.ry
        else:
            c, s = self._cs
            xm = x - self.xc
            ym = y - self.yc
            xr = (c * xm + s * ym) / self.rx
            yr = (-s * xm + c * ym) / self.ry
        return (xr * xr + yr * yr) <= 1.0

    def interior(self, x: e.Expr, y: e.Expr) -> e.Expr | None:
        xm, ym = offset(x, self.xc), offset(y, self.yc)
        # numexpr turns "a / constant" into "a * (1/constant)", which rounds
        # differently from CIAO's division; dividing by an array, (r + 0.0*x),
        # keeps it exact
        zero_x = e.Arith("*", e.const(0.0), x, True)
        rx = e.Group(e.Arith("+", lit(self.rx), zero_x))
        ry = e.Group(e.Arith("+", lit(self.ry), zero_x))
        if self.angle == 0:
            xr, yr = e.Arith("/", xm, rx), e.Arith("/", ym, ry)
        else:
            c, s = self._cs
            xr = e.Arith("/", turn(c, xm, s, ym), rx)
            yr = e.Arith("/", turn(-s, xm, c, ym), ry)
        total = e.Arith("+", e.Square(e.Group(xr)), e.Square(e.Group(yr)))
        return e.compare(e.Group(total), "<=", e.const(1.0))

    def extent(self) -> Extent:
        c, s = self._cs
        return _rotated_corners(self.xc, self.yc, self.rx, self.ry, c, s, self.angle)

    def area(self) -> float:
        return math.pi * self.rx * self.ry

    def args(self) -> tuple[float, ...]:
        return (self.xc, self.yc, self.rx, self.ry, self.angle)


@dataclass(frozen=True, slots=True)
class Box(Shape):
    """``box(xc, yc, width, height[, angle])``; printed ``RotBox`` when angle != 0."""

    xc: float
    yc: float
    width: float
    height: float
    angle: float = 0.0
    name: ClassVar[str] = "Box"
    entries: ClassVar[tuple[ShapeSpec, ...]] = specs("box", "rotbox")

    @property
    def _cs(self) -> tuple[float, float]:
        return _cos_sin(self.angle)

    def label(self) -> str:
        return "Box" if self.angle == 0.0 else "RotBox"

    def inside(self, x: Array, y: Array) -> Array:
        dx = self.width / 2.0
        dy = self.height / 2.0
        if self.angle != 0.0:
            c, s = self._cs
            xm = x - self.xc
            ym = y - self.yc
            xp = c * xm + s * ym
            yp = -s * xm + c * ym
            return (np.abs(xp) <= dx) & (np.abs(yp) <= dy)
        return (
            (x >= self.xc - dx)
            & (x <= self.xc + dx)
            & (y >= self.yc - dy)
            & (y <= self.yc + dy)
        )

    def interior(self, x: e.Expr, y: e.Expr) -> e.Expr | None:
        dx = self.width / 2.0
        dy = self.height / 2.0
        if self.angle != 0.0:
            c, s = self._cs
            xm, ym = offset(x, self.xc), offset(y, self.yc)
            xp, yp = turn(c, xm, s, ym), turn(-s, xm, c, ym)
            return all_true(
                e.compare(e.Call("abs", (xp,)), "<=", lit(dx)),
                e.compare(e.Call("abs", (yp,)), "<=", lit(dy)),
            )
        xc, yc = self.xc, self.yc
        return within(x, y, xc - dx, xc + dx, yc - dy, yc + dy)

    def extent(self) -> Extent:
        c, s = self._cs
        return _rotated_corners(
            self.xc, self.yc, self.width / 2.0, self.height / 2.0, c, s, self.angle
        )

    def area(self) -> float:
        return self.width * self.height

    def args(self) -> tuple[float, ...]:
        base = (self.xc, self.yc, self.width, self.height)
        return base if self.angle == 0.0 else (*base, self.angle)


@dataclass(frozen=True, slots=True)
class Rectangle(Shape):
    """``rectangle(xmin, ymin, xmax, ymax)``; ``rotrectangle`` adds an angle."""

    x0: float
    y0: float
    x1: float
    y1: float
    angle: float = 0.0
    name: ClassVar[str] = "Rectangle"
    entries: ClassVar[tuple[ShapeSpec, ...]] = specs("rectangle", "rotrectangle")

    def label(self) -> str:
        return "Rectangle" if self.angle == 0.0 else "RotRectangle"

    def _rot(self, px: Any, py: Any) -> tuple[Any, Any]:
        """CIAO ``reg_rotated_coords`` about the centre (rotation by -angle, negated)."""
        c, s = _cos_sin(self.angle)
        ct, st = -c, -s
        xcen = (self.x1 + self.x0) / 2.0
        ycen = (self.y1 + self.y0) / 2.0
        return ct * (px - xcen) - st * (py - ycen), st * (px - xcen) + ct * (py - ycen)

    def inside(self, x: Array, y: Array) -> Array:
        if self.angle == 0.0:
            return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)
        xp, yp = self._rot(x, y)
        xr0, yr0 = self._rot(self.x0, self.y0)
        xr1, yr1 = self._rot(self.x1, self.y1)
        inside: Array = (xp >= xr0) & (xp <= xr1) & (yp >= yr0) & (yp <= yr1)
        return inside

    def interior(self, x: e.Expr, y: e.Expr) -> e.Expr | None:
        if self.angle != 0.0:
            return None
        return within(x, y, self.x0, self.x1, self.y0, self.y1)

    def extent(self) -> Extent:
        if self.angle == 0.0:
            xs = (self.x0, self.x1, self.x0, self.x1)
            ys = (self.y0, self.y1, self.y1, self.y0)
        else:
            c, s = _cos_sin(self.angle)
            xcen = (self.x1 + self.x0) / 2.0
            ycen = (self.y1 + self.y0) / 2.0
            xr, yr = self._rot(self.x0, self.y0)
            xs = (
                self.x0,
                self.x1,
                (c * xr - s * -yr) + xcen,
                (c * -xr - s * yr) + xcen,
            )
            ys = (
                self.y0,
                self.y1,
                (s * xr + c * -yr) + ycen,
                (s * -xr + c * yr) + ycen,
            )
        return (min(xs), max(xs), min(ys), max(ys))

    def area(self) -> float:
        if self.angle == 0.0:
            return (self.x1 - self.x0) * (self.y1 - self.y0)
        xr, yr = self._rot(self.x0, self.y0)
        return float(abs(4.0 * xr * yr))

    def args(self) -> tuple[float, ...]:
        base = (self.x0, self.y0, self.x1, self.y1)
        return base if self.angle == 0.0 else (*base, self.angle)


@dataclass(frozen=True, slots=True)
class Polygon(Shape):
    """Closed polygon (first vertex repeated at the end); CIAO winding-number rule.

    Points on an edge are inside; self-intersecting polygons use non-zero winding.
    """

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    name: ClassVar[str] = "Polygon"
    entries: ClassVar[tuple[ShapeSpec, ...]] = specs("polygon")

    @classmethod
    def from_values(cls, values: Sequence[float]) -> Shape:
        return cls.closed(tuple(values[0::2]), tuple(values[1::2]))

    @staticmethod
    def closed(
        xs: tuple[float, ...], ys: tuple[float, ...], include: bool = True
    ) -> Polygon:
        if xs[0] != xs[-1] or ys[0] != ys[-1]:
            xs, ys = (*xs, xs[0]), (*ys, ys[0])
        return Polygon(xs, ys, include=include)

    def inside(self, x: Array, y: Array) -> Array:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        xlo, xhi, ylo, yhi = self.extent()
        out = np.zeros(np.broadcast(x, y).shape, dtype=bool)
        pre = (x >= xlo) & (x <= xhi) & (y >= ylo) & (y <= yhi)
        idx = np.flatnonzero(pre)
        if idx.size:
            out.flat[idx] = self._inside_exact(
                np.broadcast_to(x, out.shape).flat[idx],
                np.broadcast_to(y, out.shape).flat[idx],
            )
        return out

    def _inside_exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """CIAO's winding number with on-edge points inside, edge by edge.

        Only points within an edge's y-range can touch or wind around it, so
        each edge works on that subset.
        """
        wn = np.zeros(x.shape, dtype=np.int32)
        on_edge = np.zeros(x.shape, dtype=bool)
        for (x1, y1), (x2, y2) in itertools.pairwise(zip(self.xs, self.ys)):
            idx = np.flatnonzero((y >= min(y1, y2)) & (y <= max(y1, y2)))
            if idx.size == 0:
                continue
            xs, ys = x[idx], y[idx]
            is_left = (x2 - x1) * (ys - y1) - (xs - x1) * (y2 - y1)
            zero = is_left == 0
            if zero.any():  # collinear: on the edge if inside the segment's box
                on_edge[idx[zero & (min(x1, x2) <= xs) & (xs <= max(x1, x2))]] = True
            # an upward edge counts where y1 <= y < y2, a downward one where y2 <= y < y1
            if y1 < y2:
                wn[idx[(ys < y2) & (is_left > 0)]] += 1
            elif y1 > y2:
                wn[idx[(ys < y1) & (is_left < 0)]] -= 1
        inside: Array = on_edge | (wn != 0)
        return inside

    def extent(self) -> Extent:
        return (min(self.xs), max(self.xs), min(self.ys), max(self.ys))

    def area(self) -> float:
        xs, ys = self.xs, self.ys
        s = sum(xs[i] * ys[i + 1] - xs[i + 1] * ys[i] for i in range(len(xs) - 1))
        return abs(s) / 2.0

    def args(self) -> tuple[float, ...]:
        return tuple(v for pair in zip(self.xs, self.ys) for v in pair)


def _angle_test(angat: Array, a1: float, a2: float) -> Array:
    if a1 < a2:
        return (angat >= a1) & (angat <= a2)
    return (angat >= a1) | (angat <= a2)


@dataclass(frozen=True, slots=True)
class Pie(Shape):
    """``pie(xc, yc, r_in, r_out, a1, a2)``: angles from +X, CCW, wrapping through 0."""

    xc: float
    yc: float
    r0: float
    r1: float
    a1: float
    a2: float
    name: ClassVar[str] = "Pie"
    entries: ClassVar[tuple[ShapeSpec, ...]] = specs("pie")

    def inside(self, x: Array, y: Array) -> Array:
        angat = _mod_angle(np.arctan2(y - self.yc, x - self.xc) * 180.0 / math.pi)
        ok = _angle_test(angat, _mod_angle(self.a1), _mod_angle(self.a2))
        d = _dist(x, y, self.xc, self.yc)
        ok &= (d <= self.r1) & (d >= self.r0)
        if self.r0 == 0.0:
            ok |= (x == self.xc) & (y == self.yc)
        return ok

    def extent(self) -> Extent:
        dx0, dx1, dy0, dy1 = _pie_bounds(self.a1, self.a2, self.r0, self.r1)
        return (dx0 + self.xc, dx1 + self.xc, dy0 + self.yc, dy1 + self.yc)

    def area(self) -> float:
        a1, a2 = _mod_angle(self.a1), _mod_angle(self.a2)
        theta = a2 - a1 if a1 < a2 else 360.0 - (a1 - a2)
        return math.pi * (theta / 360.0) * (self.r1 * self.r1 - self.r0 * self.r0)

    def args(self) -> tuple[float, ...]:
        return (self.xc, self.yc, self.r0, self.r1, self.a1, self.a2)


@dataclass(frozen=True, slots=True)
class Sector(Shape):
    """``sector(xc, yc, a1, a2)``: a pie of infinite radius."""

    xc: float
    yc: float
    a1: float
    a2: float
    name: ClassVar[str] = "Sector"
    entries: ClassVar[tuple[ShapeSpec, ...]] = specs("sector")

    def inside(self, x: Array, y: Array) -> Array:
        angat = _mod_angle(np.arctan2(y - self.yc, x - self.xc) * 180.0 / math.pi)
        return _angle_test(angat, _mod_angle(self.a1), _mod_angle(self.a2))

    def area(self) -> float:
        return INF

    def args(self) -> tuple[float, ...]:
        return (self.xc, self.yc, self.a1, self.a2)


@dataclass(frozen=True, slots=True)
class Point(Shape):
    """Matches only the exact coordinates."""

    xc: float
    yc: float
    name: ClassVar[str] = "Point"
    entries: ClassVar[tuple[ShapeSpec, ...]] = specs("point")

    def inside(self, x: Array, y: Array) -> Array:
        inside: Array = (x == self.xc) & (y == self.yc)
        return inside

    def interior(self, x: e.Expr, y: e.Expr) -> e.Expr | None:
        return all_true(
            e.compare(x, "==", lit(self.xc)), e.compare(y, "==", lit(self.yc))
        )

    def extent(self) -> Extent:
        return (self.xc, self.xc, self.yc, self.yc)

    def area(self) -> float:
        return 0.0

    def args(self) -> tuple[float, ...]:
        return (self.xc, self.yc)


@dataclass(frozen=True, slots=True)
class Field(Shape):
    """The whole plane: ``field()``."""

    name: ClassVar[str] = "Field"
    entries: ClassVar[tuple[ShapeSpec, ...]] = specs("field")

    def inside(self, x: Array, y: Array) -> Array:
        return np.ones(np.broadcast(x, y).shape, dtype=bool)

    def interior(self, x: e.Expr, y: e.Expr) -> e.Expr | None:
        return whole_plane(x)

    def area(self) -> float:
        return INF

    def args(self) -> tuple[float, ...]:
        return ()


SHAPE_CLASSES: tuple[type[Shape], ...] = (
    Circle,
    Annulus,
    Ellipse,
    Box,
    Rectangle,
    Polygon,
    Pie,
    Sector,
    Point,
    Field,
)
GEOMETRY: Mapping[ShapeSpec, type[Shape]] = MappingProxyType(
    {spec: cls for cls in SHAPE_CLASSES for spec in cls.entries}
)
"""Each entry of ``xdm.lang.shapes.SHAPES`` -> the class that implements it."""


def _quadrant(ang: float) -> int:
    """CIAO ``reg_quadrant``."""
    while ang < 0.0:
        ang += 360.0
    if ang == 360.0:
        return 4
    return int(math.fmod(ang, 360.0) / 90.0) + 1


def _pie_bounds(a1: float, a2: float, r2: float, r1: float) -> Extent:
    """CIAO ``reg_pie_bounds`` (r2 inner, r1 outer): offsets of the pie's extent."""
    a1 = _mod_angle(a1)
    a2 = _mod_angle(a2)
    q1, q2 = _quadrant(a1), _quadrant(a2)
    x0, x1, y0, y1 = -r1, r1, -r1, r1
    if q1 == q2 and a1 >= a2:
        return (x0, x1, y0, y1)
    c1, c2 = math.cos(math.pi * a1 / 180.0), math.cos(math.pi * a2 / 180.0)
    s1, s2 = math.sin(math.pi * a1 / 180.0), math.sin(math.pi * a2 / 180.0)
    if q1 == 1:
        if q2 == 1:
            x0, x1, y0, y1 = r2 * c2, r1 * c1, r2 * s1, r1 * s2
        elif q2 == 2:
            x0, x1, y0 = r1 * c2, r1 * c1, min(r2 * s1, r2 * s2)
        elif q2 == 3:
            x1, y0 = r1 * c1, r1 * s2
        else:
            x1 = max(r1 * c1, r1 * c2)
    elif q1 == 2:
        if q2 == 1:
            y1 = max(r1 * s1, r1 * s2)
        elif q2 == 2:
            x0, x1, y0, y1 = r1 * c2, r2 * c1, r2 * s2, r1 * s1
        elif q2 == 3:
            x1, y0, y1 = max(r2 * c1, r2 * c2), r1 * s2, r1 * s1
        else:
            x1, y1 = r1 * c2, r1 * s1
    elif q1 == 3:
        if q2 == 1:
            x0, y1 = r1 * c1, r1 * s2
        elif q2 == 2:
            x0 = min(r1 * c1, r1 * c2)
        elif q2 == 3:
            x0, x1, y0, y1 = r1 * c1, r2 * c2, r1 * s2, r2 * s1
        else:
            x0, x1, y1 = r1 * c1, r1 * c2, max(r2 * s1, r2 * s2)
    else:
        if q2 == 1:
            x0, y0, y1 = min(r2 * c1, r2 * c2), r1 * s1, r1 * s2
        elif q2 == 2:
            x0, y0 = r1 * c2, r1 * s1
        elif q2 == 3:
            y0 = min(r1 * s1, r1 * s2)
        else:
            x0, x1, y0, y1 = r2 * c1, r1 * c2, r1 * s1, r2 * s2
    return (x0, x1, y0, y1)
