"""A cell lookup table that answers ``Region.contains`` for most points at once.

Polygons (and regions mixing them with circles, boxes, exclusions) have no
numexpr form, and CIAO's exact winding-number test costs some 150 ns a point.
Most events lie far from any edge, though. ``Raster`` lays a grid of about
``CELLS`` x ``CELLS`` square cells over the region and marks every cell that a
boundary passes near (polygon and box edges, circle and annulus rims, CIAO's
region-bounds box). Each unmarked cell lies
wholly inside or wholly outside the region, so its centre's answer from the
exact test is every point's answer there; only points in marked cells (and
NaNs) go through ``Region.contains``. The result is the exact test's, bit for
bit:

* the marks are conservative: a cell is marked when a boundary comes within a
  margin (a billionth of the coordinates' scale, far above the rounding error
  of any shape test) of the closed cell, so any point the exact test could
  decide either way lies in a marked cell;
* a point's cell comes from floating-point arithmetic and may be one off when
  the point lies within rounding distance of a cell side; such a point is
  within the margin of the cell it is given, and so shares that cell's answer
  when the cell is unmarked;
* outside the grid (which covers every boundary with two cells to spare) the
  answer is one constant, the exact test's at a far point.

Shapes whose boundary is not made of segments and circles (ellipses, pies,
sectors, rotated rectangles, masks) get no raster: ``for_region`` returns None
and callers run the exact test.
"""

from __future__ import annotations

import itertools
import math
import os
from functools import lru_cache

import numpy as np

from xdm.regions.compound import Region
from xdm.regions.shapes import (
    FIELD_EXTENT,
    Annulus,
    Box,
    Circle,
    Field,
    Point,
    Polygon,
    Rectangle,
    Shape,
    _cos_sin,
)

__all__ = ["CELLS", "MIN_POINTS", "SUBCHUNK", "Raster", "for_points", "for_region"]

CELLS = 256
"""Cells along the longer side of the region's boundary box."""

MIN_POINTS = 50_000
"""Fewer candidate points than this go straight to the exact test (building the
table costs about as much as testing this many points exactly). The environment
variable ``XDM_RASTER_MIN_POINTS`` overrides it (0: always the table)."""

SUBCHUNK = 65536
"""Rows converted and looked up at a time (their buffers stay in the CPU cache)."""

_MAX_SEGMENTS = 4096
"""Regions with more edges than this are tested exactly (marking would cost more)."""

_OUT, _IN, _EXACT = 0, 1, 2

Segment = tuple[float, float, float, float]
Rim = tuple[float, float, float]  # centre and radius


def _shape_boundary(shape: Shape) -> tuple[list[Segment], list[Rim]] | None:
    """The shape's boundary as segments and circles; None if it has other curves."""
    if isinstance(shape, Field):
        return [], []
    if isinstance(shape, Circle):
        return [], [(shape.xc, shape.yc, shape.r)]
    if isinstance(shape, Annulus):
        return [], [(shape.xc, shape.yc, shape.r0), (shape.xc, shape.yc, shape.r1)]
    if isinstance(shape, Point):
        return [(shape.xc, shape.yc, shape.xc, shape.yc)], []
    if isinstance(shape, Polygon):
        pts = list(zip(shape.xs, shape.ys))
        return [(*a, *b) for a, b in itertools.pairwise(pts)], []
    if isinstance(shape, Box):
        dx, dy = shape.width / 2.0, shape.height / 2.0
        c, s = _cos_sin(shape.angle) if shape.angle != 0.0 else (1.0, 0.0)
        corners = [
            (shape.xc + c * sx - s * sy, shape.yc + s * sx + c * sy)
            for sx, sy in ((dx, dy), (-dx, dy), (-dx, -dy), (dx, -dy))
        ]
        return _ring(corners), []
    if isinstance(shape, Rectangle) and shape.angle == 0.0:
        x0, y0, x1, y1 = shape.x0, shape.y0, shape.x1, shape.y1
        return _ring([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]), []
    return None


def _ring(corners: list[tuple[float, float]]) -> list[Segment]:
    return [(*corners[i - 1], *corners[i]) for i in range(len(corners))]


class Raster:
    """The lookup table of one region (see the module docstring)."""

    def __init__(
        self,
        region: Region,
        segments: list[Segment],
        rims: list[Rim],
        outer: bool,
        cells: int = CELLS,
    ) -> None:
        self.region = region
        xs = [v for s in segments for v in (s[0], s[2])]
        ys = [v for s in segments for v in (s[1], s[3])]
        xs += [v for x, _, r in rims for v in (x - r, x + r)]
        ys += [v for _, y, r in rims for v in (y - r, y + r)]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        span = max(x1 - x0, y1 - y0)
        scale = max(abs(v) for v in (x0, x1, y0, y1, span))
        self.cell = span / cells if span > 0 else max(1.0, scale) * 1e-3
        # far above the rounding error of any shape test on these coordinates
        self.margin = 1e-9 * max(1.0, scale)
        pad = 3
        self.x0 = x0 - pad * self.cell
        self.y0 = y0 - pad * self.cell
        self.nx = math.ceil((x1 - x0) / self.cell) + 2 * pad
        self.ny = math.ceil((y1 - y0) / self.cell) + 2 * pad
        self.outer = _IN if outer else _OUT
        marked = np.zeros((self.ny, self.nx), dtype=bool)
        for seg in segments:
            self._mark_segment(marked, seg)
        for rim in rims:
            self._mark_rim(marked, rim)
        # codes on a one-cell ring of "outer" around the grid (out-of-grid points)
        codes = np.full((self.ny + 2, self.nx + 2), self.outer, dtype=np.uint8)
        inner = codes[1:-1, 1:-1]
        iy, ix = np.nonzero(~marked)
        cx = self.x0 + (ix + 0.5) * self.cell
        cy = self.y0 + (iy + 0.5) * self.cell
        inner[iy, ix] = region.contains(cx, cy).astype(np.uint8)
        inner[marked] = _EXACT
        self.codes = codes.reshape(-1)
        self.exact_fraction = float(marked.mean())

    # ------------------------------------------------------------ marking
    def _cell_centres(
        self, xlo: float, xhi: float, ylo: float, yhi: float
    ) -> tuple[slice, slice, np.ndarray, np.ndarray]:
        """Cells whose centres may lie within reach of the box, with their centres."""
        reach = self.cell + self.margin
        i0 = max(0, math.floor((xlo - reach - self.x0) / self.cell))
        i1 = min(self.nx, math.ceil((xhi + reach - self.x0) / self.cell) + 1)
        j0 = max(0, math.floor((ylo - reach - self.y0) / self.cell))
        j1 = min(self.ny, math.ceil((yhi + reach - self.y0) / self.cell) + 1)
        cx = self.x0 + (np.arange(i0, i1) + 0.5) * self.cell
        cy = self.y0 + (np.arange(j0, j1) + 0.5) * self.cell
        return slice(j0, j1), slice(i0, i1), cx[None, :], cy[:, None]

    @property
    def _reach(self) -> float:
        return self.cell * math.sqrt(0.5) + self.margin

    def _mark_segment(self, marked: np.ndarray, seg: Segment) -> None:
        ax, ay, bx, by = seg
        rows, cols, cx, cy = self._cell_centres(
            min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
        )
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        if length2 > 0:
            t = np.clip(((cx - ax) * dx + (cy - ay) * dy) / length2, 0.0, 1.0)
        else:
            t = np.zeros(np.broadcast_shapes(cx.shape, cy.shape))
        d = np.hypot(cx - (ax + t * dx), cy - (ay + t * dy))
        marked[rows, cols] |= d <= self._reach

    def _mark_rim(self, marked: np.ndarray, rim: Rim) -> None:
        xc, yc, r = rim
        rows, cols, cx, cy = self._cell_centres(xc - r, xc + r, yc - r, yc + r)
        d = np.hypot(cx - xc, cy - yc)
        marked[rows, cols] |= np.abs(d - r) <= self._reach

    # ------------------------------------------------------------ lookup
    def contains(
        self, x: np.ndarray, y: np.ndarray, *, subchunk: int = SUBCHUNK
    ) -> np.ndarray:
        """``region.contains(x, y)``: the table where it knows, the exact test elsewhere.

        ``x`` and ``y`` may be any numeric arrays (big-endian, strided views of
        a memory map): they are converted ``subchunk`` rows at a time into
        reused float64 buffers that stay in the CPU cache.
        """
        n = len(x)
        out = np.empty(n, dtype=bool)
        size = min(n, subchunk)
        fx, fy = np.empty(size), np.empty(size)
        flat = np.empty(size, dtype=np.intp)
        code = np.empty(size, dtype=np.uint8)
        inv = 1.0 / self.cell
        unsure = []
        with np.errstate(invalid="ignore"):
            for j in range(0, n, subchunk):
                m = min(subchunk, n - j)
                a, b, f, c = fx[:m], fy[:m], flat[:m], code[:m]
                np.copyto(a, x[j : j + m])
                a -= self.x0
                a *= inv
                np.floor(a, out=a)
                np.clip(a, -1.0, float(self.nx), out=a)
                np.copyto(b, y[j : j + m])
                b -= self.y0
                b *= inv
                np.floor(b, out=b)
                np.clip(b, -1.0, float(self.ny), out=b)
                b += 1.0
                b *= self.nx + 2
                b += a
                b += 1.0  # flat index into the ringed table; NaN where x or y is
                np.copyto(f, b, casting="unsafe")
                np.take(self.codes, f, out=c, mode="clip")
                nan = np.isnan(b)
                if nan.any():
                    c[nan] = _EXACT
                np.equal(c, _IN, out=out[j : j + m])
                hard = np.flatnonzero(c == _EXACT)
                if len(hard):
                    unsure.append(hard + j)
        if unsure:
            idx = np.concatenate(unsure)
            xs = np.asarray(x[idx], dtype=np.float64)
            ys = np.asarray(y[idx], dtype=np.float64)
            out[idx] = self.region.contains(xs, ys)
        return out


def _boundary(region: Region) -> tuple[list[Segment], list[Rim]] | None:
    segments: list[Segment] = []
    rims: list[Rim] = []
    for component in region.components:
        for shape in component:
            got = _shape_boundary(shape)
            if got is None:
                return None
            segments += got[0]
            rims += got[1]
    return segments, rims


def for_points(region: Region, n: int) -> Raster | None:
    """The region's raster when ``n`` points are worth building it for, else None
    (``MIN_POINTS``, or ``$XDM_RASTER_MIN_POINTS``)."""
    text = os.environ.get("XDM_RASTER_MIN_POINTS", "").strip()
    least = int(text) if text.lstrip("-").isdigit() else MIN_POINTS
    return for_region(region) if n >= least else None


@lru_cache(maxsize=64)
def for_region(region: Region, cells: int = CELLS) -> Raster | None:
    """The region's raster of about ``cells`` x ``cells`` cells, or None when it
    cannot have one (see module docstring)."""
    b = region.bounds
    if b is None:
        return None
    got = _boundary(region)
    if got is None:
        return None
    segments, rims = got
    if b != FIELD_EXTENT:
        if not all(math.isfinite(v) for v in b):
            return None  # a half-open bounds box: the outside is not one piece
        xlo, xhi, ylo, yhi = b
        segments += _ring([(xlo, ylo), (xhi, ylo), (xhi, yhi), (xlo, yhi)])
    if not segments and not rims:
        return None
    if len(segments) + len(rims) > _MAX_SEGMENTS:
        return None
    if not all(math.isfinite(v) for s in segments for v in s) or not all(
        math.isfinite(v) for r in rims for v in r
    ):
        return None
    coords = [abs(v) for s in segments for v in s] + [abs(v) for r in rims for v in r]
    far = 4.0 * (2.0 * max(coords) + 1.0)  # beyond every boundary, radii included
    outer = bool(region.contains(np.array([far]), np.array([far]))[0])
    return Raster(region, segments, rims, outer, cells)
