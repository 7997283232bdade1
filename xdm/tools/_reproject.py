"""Reprojection between sky frames: events through RA/Dec, images onto a grid.

Events: an observation's sky pixels ``x, y`` are a tangent-plane projection
about its own tangent point (the ``TCRVL`` of the ``x``/``y`` columns).
``reproject_events`` maps pixels of one frame to another through (RA, Dec)
with astropy.wcs, as CIAO's reproject_events does for a static pointing
(vectorised; dither is not re-simulated).

Images: ``resample`` puts an image on another grid. On one tangent plane with
axis-aligned pixels (the common case: per-chip exposure maps, a rebinned
map) it is exact: output pixel ``k`` takes every input pixel ``j`` with the
weight of their 1-D overlaps on each axis (CIAO dmregrid's ``npts=0`` polygon
method reduces to this for aligned rectangles). Otherwise (a rotation, or
another tangent point) each output pixel is sampled at ``npts x npts`` points
mapped through physical or world coordinates (dmregrid's approximate method).
``mode="sum"`` conserves counts (extensive images); ``mode="mean"`` averages
(intensive images: exposure maps in cm**2 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError

if TYPE_CHECKING:
    from astropy.wcs import WCS

    from xdm.io.hdus import Header

__all__ = [
    "Rotation",
    "column_wcs",
    "reproject_events",
    "resample",
    "same_tangent_plane",
]


def column_wcs(header: Header, xname: str = "x", yname: str = "y") -> WCS:
    """The astropy WCS of an event table's sky columns (physical, origin 1 -> RA/Dec)."""
    from xdm.io.imagewcs import wcs_from_event_columns

    index = {}
    for key in header:
        if key.startswith("TTYPE"):
            index[str(header[key]).strip().lower()] = int(key[5:])
    if xname not in index or yname not in index:
        raise XdmSemanticError(f"the table has no {xname}, {yname} columns")
    xi, yi = index[xname], index[yname]
    if f"TCRVL{xi}" not in header or f"TCRVL{yi}" not in header:
        raise XdmSemanticError(
            f"columns {xname}, {yname} have no sky transform (TCTYP/TCRVL keys)"
        )
    return wcs_from_event_columns(header, xi, yi)


def same_tangent_plane(a: WCS, b: WCS, tol: float = 1e-10) -> bool:
    """True when two pixel->sky transforms are the same (tangent point, pixel, scale)."""
    wa, wb = a.wcs, b.wcs
    pairs = [
        (wa.crval, wb.crval),
        (wa.crpix, wb.crpix),
        (np.asarray(a.pixel_scale_matrix), np.asarray(b.pixel_scale_matrix)),
    ]
    if [c.strip() for c in wa.ctype] != [c.strip() for c in wb.ctype]:
        return False
    return all(np.allclose(u, v, rtol=tol, atol=tol) for u, v in pairs)


def reproject_events(
    x: NDArray[Any], y: NDArray[Any], from_wcs: WCS, to_wcs: WCS
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Sky pixels of one frame -> sky pixels of another, through (RA, Dec).

    Both transforms map physical pixels with origin 1 (``all_pix2world(x, y, 1)``).
    Plain gnomonic (``RA---TAN``/``DEC--TAN``, no distortion, default LONPOLE)
    frames are computed with the closed-form TAN formulas in numpy, several
    times faster than wcslib; anything else goes through astropy.wcs.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if same_tangent_plane(from_wcs, to_wcs):
        return x.copy(), y.copy()
    if _plain_tan(from_wcs) and _plain_tan(to_wcs):
        ra, dec = _tan_pix2world(from_wcs, x, y)
        return _tan_world2pix(to_wcs, ra, dec)
    ra, dec = from_wcs.all_pix2world(x, y, 1)
    nx, ny = to_wcs.all_world2pix(ra, dec, 1)
    return np.asarray(nx, dtype=np.float64), np.asarray(ny, dtype=np.float64)


def _plain_tan(w: WCS) -> bool:
    c = w.wcs
    return (
        [t.strip().upper() for t in c.ctype] == ["RA---TAN", "DEC--TAN"]
        and w.sip is None
        and w.cpdis1 is None
        and w.cpdis2 is None
        and w.det2im1 is None
        and w.det2im2 is None
        and not c.get_pv()
        and float(c.lonpole) == 180.0
        and abs(float(c.crval[1])) < 90.0
    )


def _tan_pix2world(
    w: WCS, x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gnomonic deprojection: pixel -> (ra, dec) in radians."""
    m = np.asarray(w.pixel_scale_matrix, dtype=np.float64)
    dx, dy = x - w.wcs.crpix[0], y - w.wcs.crpix[1]
    xi = np.radians(m[0, 0] * dx + m[0, 1] * dy)
    eta = np.radians(m[1, 0] * dx + m[1, 1] * dy)
    ra0, dec0 = np.radians(w.wcs.crval[0]), np.radians(w.wcs.crval[1])
    cd, sd = np.cos(dec0), np.sin(dec0)
    denom = cd - eta * sd
    ra = ra0 + np.arctan2(xi, denom)
    dec = np.arctan2(sd + eta * cd, np.hypot(xi, denom))
    return ra, dec


def _tan_world2pix(
    w: WCS, ra: NDArray[np.float64], dec: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gnomonic projection: (ra, dec) in radians -> pixel (origin 1)."""
    ra0, dec0 = np.radians(w.wcs.crval[0]), np.radians(w.wcs.crval[1])
    cd, sd = np.cos(dec0), np.sin(dec0)
    cdec, sdec = np.cos(dec), np.sin(dec)
    dra = ra - ra0
    cosc = sd * sdec + cd * cdec * np.cos(dra)
    xi = np.degrees(cdec * np.sin(dra) / cosc)
    eta = np.degrees((cd * sdec - sd * cdec * np.cos(dra)) / cosc)
    inv = np.linalg.inv(np.asarray(w.pixel_scale_matrix, dtype=np.float64))
    px = inv[0, 0] * xi + inv[0, 1] * eta + w.wcs.crpix[0]
    py = inv[1, 0] * xi + inv[1, 1] * eta + w.wcs.crpix[1]
    return px, py


@dataclass(frozen=True, slots=True)
class Rotation:
    """dmregrid's rotation and offsets, in the input image's logical pixels.

    An input image rotated by ``angle`` degrees (counter-clockwise) about
    ``(xcenter, ycenter)`` and shifted by ``(xoffset, yoffset)``.
    """

    angle: float = 0.0
    xcenter: float = 0.0
    ycenter: float = 0.0
    xoffset: float = 0.0
    yoffset: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.angle % 360.0 == 0.0 and self.xoffset == 0 and self.yoffset == 0

    def inverse(
        self, lx: NDArray[np.float64], ly: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Where in the unrotated input a rotated-image position comes from."""
        theta = math.radians(self.angle)
        c, s = math.cos(theta), math.sin(theta)
        dx = lx - self.xoffset - self.xcenter
        dy = ly - self.yoffset - self.ycenter
        return (c * dx + s * dy + self.xcenter, -s * dx + c * dy + self.ycenter)


def _transform(header: Header) -> list[tuple[float, float]]:
    from xdm.io.imagewcs import physical_transform

    return physical_transform(header, 2)


def _sky(header: Header) -> WCS | None:
    from xdm.io.imagewcs import physical_world_wcs

    return physical_world_wcs(header)


def _needs_world(src: Header, dst: Header) -> bool:
    a, b = _sky(src), _sky(dst)
    if a is None or b is None:
        return False
    return not (
        np.allclose(a.wcs.crval, b.wcs.crval, rtol=0, atol=1e-10)
        and np.allclose(a.wcs.crpix, b.wcs.crpix, rtol=1e-12, atol=1e-8)
        and np.allclose(a.pixel_scale_matrix, b.pixel_scale_matrix, rtol=1e-9)
    )


def resample(
    data: NDArray[Any],
    src_header: Header,
    dst_header: Header,
    dst_shape: tuple[int, int],
    *,
    mode: str = "sum",
    npts: int = 0,
    rotation: Rotation | None = None,
) -> NDArray[np.float64]:
    """``data`` (with ``src_header``) on the grid of ``dst_header`` / ``dst_shape``.

    ``mode="sum"`` conserves the total of an extensive image; ``"mean"`` keeps
    the value of an intensive one. ``npts=0`` asks for the exact overlap method,
    used when the grids share a tangent plane and the pixels are aligned
    (otherwise 10 x 10 samples per pixel are taken); ``npts >= 1`` samples.
    """
    if mode not in ("sum", "mean"):
        raise ValueError(mode)
    rotation = rotation or Rotation()
    world = _needs_world(src_header, dst_header)
    if not world and rotation.is_identity and npts == 0:
        return _exact(
            np.asarray(data, dtype=np.float64), src_header, dst_header, dst_shape, mode
        )
    return _sampled(
        np.asarray(data, dtype=np.float64),
        src_header,
        dst_header,
        dst_shape,
        mode,
        npts or 10,
        rotation,
        world,
    )


def _edges_in_source(
    n_out: int, src: tuple[float, float], dst: tuple[float, float]
) -> NDArray[np.float64]:
    """Edges of the output pixels (logical k +- 0.5) in the source's logical pixels."""
    ltm_d, ltv_d = dst
    ltm_s, ltv_s = src
    edges = np.arange(n_out + 1, dtype=np.float64) + 0.5
    physical = (edges - ltv_d) / ltm_d
    return ltm_s * physical + ltv_s


def _overlap_matrix(edges: NDArray[np.float64], n_in: int, mode: str) -> Any:
    """Sparse (n_out, n_in): overlap of output bin k with input pixel j."""
    from scipy import sparse

    lo = np.minimum(edges[:-1], edges[1:])
    hi = np.maximum(edges[:-1], edges[1:])
    rows, cols, vals = [], [], []
    first = np.floor(lo - 0.5).astype(np.int64)  # input pixel j covers [j+0.5, j+1.5)
    stop = np.floor(hi - 0.5).astype(np.int64) + 1
    width = int((stop - first).max(initial=0))
    for d in range(width):
        j = first + d
        ok = (j < stop) & (j >= 0) & (j < n_in)
        k = np.nonzero(ok)[0]
        jj = j[ok]
        ov = np.minimum(hi[k], jj + 1.5) - np.maximum(lo[k], jj + 0.5)
        good = ov > 0
        rows.append(k[good])
        cols.append(jj[good])
        size = (hi[k] - lo[k])[good]
        vals.append(ov[good] / size if mode == "mean" else ov[good])
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(edges) - 1, n_in),
    )


def _exact(
    data: NDArray[np.float64],
    src_header: Header,
    dst_header: Header,
    dst_shape: tuple[int, int],
    mode: str,
) -> NDArray[np.float64]:
    src_t, dst_t = _transform(src_header), _transform(dst_header)
    ny, nx = dst_shape
    wx = _overlap_matrix(_edges_in_source(nx, src_t[0], dst_t[0]), data.shape[1], mode)
    wy = _overlap_matrix(_edges_in_source(ny, src_t[1], dst_t[1]), data.shape[0], mode)
    out = wy @ (wx @ data.T).T
    return np.asarray(out, dtype=np.float64)


def _sampled(
    data: NDArray[np.float64],
    src_header: Header,
    dst_header: Header,
    dst_shape: tuple[int, int],
    mode: str,
    npts: int,
    rotation: Rotation,
    world: bool,
) -> NDArray[np.float64]:
    src_t, dst_t = _transform(src_header), _transform(dst_header)
    ny, nx = dst_shape
    src_wcs = _sky(src_header) if world else None
    dst_wcs = _sky(dst_header) if world else None
    # output pixel area in source logical pixels (the Jacobian of the map)
    area = abs(src_t[0][0] / dst_t[0][0] * src_t[1][0] / dst_t[1][0])
    if world and src_wcs is not None and dst_wcs is not None:
        area *= abs(
            np.linalg.det(dst_wcs.pixel_scale_matrix)
            / np.linalg.det(src_wcs.pixel_scale_matrix)
        )
    gy, gx = np.mgrid[1 : ny + 1, 1 : nx + 1].astype(np.float64)
    out = np.zeros(dst_shape, dtype=np.float64)
    offsets = (np.arange(npts) + 0.5) / npts - 0.5
    sy_n, sx_n = data.shape
    for oy in offsets:
        for ox in offsets:
            px = (gx + ox - dst_t[0][1]) / dst_t[0][0]
            py = (gy + oy - dst_t[1][1]) / dst_t[1][0]
            if src_wcs is not None and dst_wcs is not None:
                ra, dec = dst_wcs.all_pix2world(px, py, 1)
                px, py = src_wcs.all_world2pix(ra, dec, 1)
            lx = src_t[0][0] * px + src_t[0][1]
            ly = src_t[1][0] * py + src_t[1][1]
            if not rotation.is_identity:
                lx, ly = rotation.inverse(lx, ly)
            ix = np.floor(lx - 0.5).astype(np.int64)
            iy = np.floor(ly - 0.5).astype(np.int64)
            ok = (ix >= 0) & (ix < sx_n) & (iy >= 0) & (iy < sy_n)
            values = np.zeros(dst_shape, dtype=np.float64)
            values[ok] = data[iy[ok], ix[ok]]
            out += values
    scale = area if mode == "sum" else 1.0
    return out * (scale / (npts * npts))
