"""The per-task work of merge_obs: counts on the common grid, footprints, exposure.

``CountReducer`` is the ``scan_many`` reducer: each chunk's events are
reprojected onto the common plane and histogrammed per band with
``np.bincount`` (integer counts, so any order of summation gives the same
image); when an exposure map has to be made from the footprint it also keeps
the convex hull of each CCD's events. ``exposure`` turns one observation's
footprint, ARF or user exposure maps into its exposure map per band.
All are module-level and picklable, for dask workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xdm.tools._merge_grid import Frame, Grid, grid_header
from xdm.tools._reproject import reproject_tan

__all__ = [
    "CountReducer",
    "Counts",
    "Exposure",
    "bounds_reducer",
    "combine_bounds",
    "combine_counts",
    "exposure",
    "footprint",
]

Bounds = tuple[float, float, float, float]


def _column(records: NDArray[Any], name: str) -> NDArray[Any] | None:
    names = records.dtype.names or ()
    for n in names:
        if n.lower() == name:
            return records[n]
    return None


def bounds_reducer(
    index: int, records: NDArray[Any], kept: NDArray[np.bool_]
) -> Bounds:
    """``(xmin, xmax, ymin, ymax)`` of the kept events (own sky pixels)."""
    x = _column(records, "x")
    y = _column(records, "y")
    if x is None or y is None or not kept.any():
        return (np.inf, -np.inf, np.inf, -np.inf)
    xs = np.asarray(x[kept], dtype=np.float64)
    ys = np.asarray(y[kept], dtype=np.float64)
    return (float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max()))


def combine_bounds(a: Bounds, b: Bounds) -> Bounds:
    """The box holding both boxes."""
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


@dataclass(frozen=True, slots=True)
class Counts:
    """A partial result: counts per band ``(nbands, ny, nx)`` and CCD hull points."""

    images: NDArray[np.int64]
    hulls: dict[int, NDArray[np.float64]] = field(default_factory=dict)
    events: int = 0


def _hull(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """The convex hull's vertices (counter-clockwise), or the points if degenerate.

    Points strictly inside the octagon of the extreme points in x, y, x+y and
    x-y cannot be hull vertices (Akl-Toussaint), so only the few outside it
    go to qhull.
    """
    if len(points) < 3:
        return points
    from scipy.spatial import ConvexHull, QhullError

    x, y = points[:, 0], points[:, 1]
    extremes = []
    for v in (x, y, x + y, x - y):
        extremes += [int(np.argmin(v)), int(np.argmax(v))]
    octagon = points[np.unique(extremes)]
    if len(octagon) >= 3:
        centre = octagon.mean(axis=0)
        angle = np.arctan2(octagon[:, 1] - centre[1], octagon[:, 0] - centre[0])
        ring = octagon[np.argsort(angle)]
        inside = np.ones(len(points), dtype=bool)
        for a, b in zip(ring, np.roll(ring, -1, axis=0), strict=True):
            inside &= (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]) > 0
        if (~inside).sum() >= 3:
            points = points[~inside]
    try:
        return np.ascontiguousarray(points[ConvexHull(points).vertices])
    except QhullError:  # collinear or repeated points
        return np.unique(points, axis=0)


def combine_counts(a: Counts, b: Counts) -> Counts:
    """Sum two partial results; hulls of the union of both hulls."""
    hulls = dict(a.hulls)
    for ccd, pts in b.hulls.items():
        hulls[ccd] = _hull(np.concatenate([hulls[ccd], pts])) if ccd in hulls else pts
    return Counts(a.images + b.images, dict(sorted(hulls.items())), a.events + b.events)


@dataclass(frozen=True, slots=True)
class CountReducer:
    """Reproject and bin each chunk of observation ``index`` (see module doc).

    ``sources`` holds each observation's own plane; ``bands`` each band's
    energy range in eV (None: no energy filter); ``hull`` asks for CCD hulls.
    """

    sources: tuple[Frame, ...]
    target: Frame
    grid: Grid
    bands: tuple[tuple[float, float] | None, ...]
    hull: bool = False

    def __call__(
        self, index: int, records: NDArray[Any], kept: NDArray[np.bool_]
    ) -> Counts:
        g = self.grid
        images = np.zeros((len(self.bands), g.ny, g.nx), dtype=np.int64)
        x, y = _column(records, "x"), _column(records, "y")
        if x is None or y is None or not kept.any():
            return Counts(images)
        every = bool(kept.all())  # a plain file's task: no copy through the mask
        xc, yc = reproject_tan(
            x if every else x[kept],
            y if every else y[kept],
            self.sources[index],
            self.target,
        )
        fx = np.floor((xc - g.xlo) / g.step)
        fy = np.floor((yc - g.ylo) / g.step)
        on = (fx >= 0) & (fx < g.nx) & (fy >= 0) & (fy < g.ny)
        flat = fy.astype(np.int64) * g.nx + fx.astype(np.int64)
        energy = _column(records, "energy")
        ev = None
        if energy is not None:
            ev = np.asarray(energy if every else energy[kept], dtype=np.float64)
        for b, band in enumerate(self.bands):
            sel = on
            if band is not None and ev is not None:
                sel = on & (ev >= band[0]) & (ev < band[1])
            images[b] = np.bincount(flat[sel], minlength=g.nx * g.ny).reshape(g.shape)
        hulls: dict[int, NDArray[np.float64]] = {}
        if self.hull:
            ccd = _column(records, "ccd_id")
            chips = (
                np.zeros(len(xc), dtype=np.int64)
                if ccd is None
                else np.asarray(ccd if every else ccd[kept], dtype=np.int64)
            )
            finite = np.isfinite(xc) & np.isfinite(yc)
            present = np.flatnonzero(np.bincount(chips - chips.min()))
            for chip in present + chips.min():
                sel = (chips == chip) & finite
                hulls[int(chip)] = _hull(np.column_stack([xc[sel], yc[sel]]))
        return Counts(images, hulls, int(kept.sum()))


def footprint(hulls: dict[int, NDArray[np.float64]], grid: Grid) -> NDArray[np.bool_]:
    """Bins whose centre lies inside one CCD's hull (the observation's footprint)."""
    from xdm.regions.api import region

    gx, gy = grid.centres()
    inside = np.zeros(grid.shape, dtype=bool)
    for pts in hulls.values():
        if len(pts) < 3:
            continue
        text = "polygon(" + ",".join(f"{v!r}" for v in pts.ravel().tolist()) + ")"
        shape = region(text)
        inside |= np.asarray(shape.contains(gx, gy), dtype=bool)
    return inside


@dataclass(frozen=True, slots=True)
class Exposure:
    """How one observation's exposure map is made.

    ``kind``: ``footprint`` (``scale`` x footprint, where ``scale`` is EXPOSURE in
    s, or EXPOSURE x A_eff per band for an ARF) or ``maps`` (user exposure maps,
    one file per band, resampled onto the grid).
    """

    kind: str
    scale: tuple[float, ...] = ()
    maps: tuple[str, ...] = ()
    unit: str = "cm**2 s"


def exposure(
    how: Exposure,
    counts: Counts,
    frame: Frame,
    grid: Grid,
) -> NDArray[np.float64]:
    """The observation's exposure map per band, ``(nbands, ny, nx)``, float64."""
    if how.kind == "footprint":
        mask = footprint(counts.hulls, grid).astype(np.float64)
        return np.stack([s * mask for s in how.scale])
    from xdm.io.hdus import open_fits
    from xdm.tools._reproject import resample

    target = grid_header(frame, grid)
    out = []
    for path in how.maps:
        with open_fits(path) as hdul:
            hdu = next(h for h in hdul if h.is_image and h.header["NAXIS"] == 2)
            data = np.asarray(hdu.data, dtype=np.float64)
            header = hdu.header.copy()
        # exposure is intensive: the mean over each bin (fluximage's resampling)
        out.append(resample(data, header, target, grid.shape, mode="mean"))
    return np.stack(out)
