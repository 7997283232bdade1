"""srcflux geometry: positions on the sky grid, default and user regions, images."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmIOError, XdmSemanticError
from xdm.tools.params import Values

FloatArray = NDArray[np.float64]


def _split(text: str) -> list[str]:
    """Comma-separated names (commas inside [] or () stay), or an @list file."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("@"):
        try:
            with open(os.path.expanduser(text[1:]), encoding="utf-8") as fh:
                return [
                    ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")
                ]
        except OSError as err:
            raise XdmIOError(
                f"srcflux: cannot read {text[1:]}: {err.strerror}"
            ) from None
    out, depth, word = [], 0, ""
    for ch in text:
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth == 0:
            out.append(word.strip())
            word = ""
        else:
            word += ch
    out.append(word.strip())
    return [w for w in out if w]


def _refuse_calibration(p: Values) -> None:
    if p["psfmethod"] in ("quick", "arfcorr", "marx"):
        raise XdmSemanticError(
            f"srcflux: psfmethod={p['psfmethod']} needs CIAO's PSF calibration",
            hint="use psfmethod=ideal, or psfmethod=psffile with a PSF image",
        )
    if p["regions"] == "optimized":
        raise XdmSemanticError(
            "srcflux: regions=optimized needs CIAO's PSF calibration",
            hint="use regions=simple (radius=) or srcreg=/bkgreg=",
        )
    if not 0 < p["conf"] < 1:
        raise XdmSemanticError(f"srcflux: conf={p['conf']} is outside (0,1)")
    if p["psfmethod"] == "psffile" and not p["psffile"]:
        raise XdmSemanticError("srcflux: psfmethod=psffile needs psffile=")


@dataclass
class _Geometry:
    x: FloatArray
    y: FloatArray
    theta: FloatArray
    phi: FloatArray
    pixel_arcsec: float


def _geometry(header: Any, ra: list[float], dec: list[float]) -> tuple[_Geometry, Any]:
    from xdm.regions.coords import wcs_from_columns

    try:
        wcs = wcs_from_columns(header, "x", "y")
    except KeyError:
        raise XdmSemanticError("srcflux: the events have no x, y sky columns") from None
    if not wcs.wcs.ctype[0]:
        raise XdmSemanticError(
            "srcflux: the events' x, y columns have no sky WCS (TCTYPn/TCRVLn)",
            hint="srcflux needs RA/Dec for its positions",
        )
    x, y = wcs.all_world2pix(np.asarray(ra), np.asarray(dec), 1)
    scale = abs(float(wcs.wcs.cdelt[0])) * 3600.0
    ra0 = float(header.get("RA_PNT", header.get("RA_NOM", wcs.wcs.crval[0])))
    dec0 = float(header.get("DEC_PNT", header.get("DEC_NOM", wcs.wcs.crval[1])))
    r1, d1, r0, d0 = (
        np.radians(v) for v in (np.asarray(ra), np.asarray(dec), ra0, dec0)
    )
    hav = (
        np.sin((d1 - d0) / 2) ** 2
        + np.cos(d0) * np.cos(d1) * np.sin((r1 - r0) / 2) ** 2
    )
    theta = np.degrees(2 * np.arcsin(np.sqrt(np.clip(hav, 0, 1)))) * 60.0
    east = np.cos(d1) * np.sin(r1 - r0)
    north = np.cos(d0) * np.sin(d1) - np.sin(d0) * np.cos(d1) * np.cos(r1 - r0)
    phi = np.degrees(np.arctan2(east, north)) % 360.0
    geo = _Geometry(np.asarray(x, float), np.asarray(y, float), theta, phi, scale)
    return geo, wcs


def _region(text: str, wcs: Any) -> Any:
    import xdm

    spec = f"region({text})" if os.path.isfile(text) else text
    return xdm.region(spec, wcs=wcs)


def _sources(p: Values, geo: _Geometry, wcs: Any) -> tuple[Any, list[str], FloatArray]:
    """Sources (regions) and their SHAPE text and areas (src, bkg)."""
    from xdm.tools._srcflux_counts import Sources

    n = geo.x.size
    src_list, bkg_list = _split(p["srcreg"]), _split(p["bkgreg"])
    if p["regions"] == "user" and not src_list:
        raise XdmSemanticError("srcflux: regions=user needs srcreg= and bkgreg=")
    if src_list:
        if not bkg_list:
            raise XdmSemanticError(
                "srcflux: srcreg= needs bkgreg= too", hint="give a background region"
            )
        if len(src_list) != n or len(bkg_list) != n:
            raise XdmSemanticError(
                f"srcflux: {len(src_list)} source and {len(bkg_list)} background "
                f"regions for {n} positions",
                hint="give one region of each per position (@list files)",
            )
        srcs = [_region(t, wcs) for t in src_list]
        bkgs = [_region(t, wcs) for t in bkg_list]
        reach = np.zeros(n)
        for i, reg in enumerate(srcs + bkgs):
            box = reg.bbox
            if box is None:
                raise XdmSemanticError(
                    "srcflux: a source or background region is unbounded"
                )
            k = i % n
            dx = max(abs(box[0] - geo.x[k]), abs(box[1] - geo.x[k]))
            dy = max(abs(box[2] - geo.y[k]), abs(box[3] - geo.y[k]))
            reach[k] = max(reach[k], math.hypot(dx, dy))
        nan = np.full(n, np.nan)
        areas = np.array([[r.area() for r in srcs], [r.area() for r in bkgs]])
        shapes = [_shape_name(r) for r in srcs]
        return Sources(geo.x, geo.y, nan, nan, nan, reach, srcs, bkgs), shapes, areas
    if p["radius"] is not None:
        r_arcsec = np.full(n, float(p["radius"]))
    else:
        r_arcsec = 1.0 + 10.0 * (geo.theta / 10.0) ** 2
    r = r_arcsec / geo.pixel_arcsec
    src = Sources(geo.x, geo.y, r, 1.7 * r, 5.0 * r, 5.0 * r)
    areas = np.array([math.pi * r * r, _annulus_areas(src)])
    return src, ["Circle"] * n, areas


def _shape_name(region: Any) -> str:
    comps = getattr(region, "components", ())
    if comps and comps[0]:
        return str(comps[0][0].name)
    return "Region"


def _lens(big: float, small: float, d: float) -> float:
    """Area common to circles of radii ``big`` and ``small`` whose centres are ``d`` apart."""
    if d >= big + small:
        return 0.0
    if d <= abs(big - small):
        return math.pi * min(big, small) ** 2
    a = small * small * math.acos((d * d + small * small - big * big) / (2 * d * small))
    b = big * big * math.acos((d * d + big * big - small * small) / (2 * d * big))
    k = (-d + small + big) * (d + small - big) * (d - small + big) * (d + small + big)
    return a + b - 0.5 * math.sqrt(max(k, 0.0))


_NU, _NT = 24, 96  # equal-area polar cells of each cutting circle


def _annulus_areas(src: Any) -> FloatArray:
    """Background annulus areas without the other sources' circles.

    One cutting circle: exact (two circle-circle lens areas). Several: each
    cutting circle is sampled on 24 x 96 equal-area polar cells (uniform in
    r^2 and angle); a cell counts when it lies in the annulus and in no earlier
    cutting circle, so overlaps between the circles are taken once.
    """
    area = math.pi * (src.r_out**2 - src.r_in**2)
    if src.size < 2:
        return np.asarray(area)
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([src.x, src.y]))
    pairs = tree.query_pairs(
        float(np.max(src.r_out) + np.max(src.r)), output_type="ndarray"
    )
    cuts: dict[int, list[int]] = {}
    if pairs.size:
        a, b = pairs[:, 0], pairs[:, 1]
        d = np.hypot(src.x[a] - src.x[b], src.y[a] - src.y[b])
        for i, j in ((a, b), (b, a)):
            hit = (d < src.r_out[i] + src.r[j]) & (d + src.r[j] > src.r_in[i])
            for ii, jj in zip(i[hit].tolist(), j[hit].tolist(), strict=True):
                cuts.setdefault(ii, []).append(jj)
    u = (np.arange(_NU) + 0.5) / _NU
    t = (np.arange(_NT) + 0.5) / _NT * 2 * math.pi
    ring = np.sqrt(u)[:, None]
    cos_t, sin_t = (
        (ring * np.cos(t)[None, :]).ravel(),
        (ring * np.sin(t)[None, :]).ravel(),
    )
    for i, others in cuts.items():
        r_in, r_out = float(src.r_in[i]), float(src.r_out[i])
        if len(others) == 1:
            j = others[0]
            d1 = math.hypot(src.x[i] - src.x[j], src.y[i] - src.y[j])
            cut = _lens(r_out, float(src.r[j]), d1) - _lens(r_in, float(src.r[j]), d1)
            area[i] -= cut
            continue
        cut = 0.0
        for k, j in enumerate(others):
            rj = float(src.r[j])
            px = src.x[j] + rj * cos_t
            py = src.y[j] + rj * sin_t
            dc = np.hypot(px - src.x[i], py - src.y[i])
            keep = (dc >= r_in) & (dc <= r_out)
            for jj in others[:k]:
                keep &= np.hypot(px - src.x[jj], py - src.y[jj]) > src.r[jj]
            cut += math.pi * rj * rj * float(np.count_nonzero(keep)) / px.size
        area[i] -= cut
    return np.asarray(area)


def _default_regions(src: Any, i: int) -> tuple[Any, Any]:
    """Region objects of source i's default circle and annulus (for images)."""
    import xdm

    x, y = src.x[i], src.y[i]
    s = xdm.region(f"circle({float(x)!r},{float(y)!r},{float(src.r[i])!r})")
    text = f"annulus({float(x)!r},{float(y)!r},{float(src.r_in[i])!r},{float(src.r_out[i])!r})"
    d = np.hypot(src.x - x, src.y - y)
    for j in np.flatnonzero((d < src.r_out[i] + src.r) & (np.arange(src.size) != i)):
        text += f"-circle({float(src.x[j])!r},{float(src.y[j])!r},{float(src.r[j])!r})"
    return s, xdm.region(text)


def _image(path: str, what: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    """An image's values and the physical (sky) coordinates of its pixel centres."""
    from xdm.io.hdus import open_fits
    from xdm.regions.coords import logical_map_from_header

    try:
        hdul = open_fits(path, memmap=False)
    except XdmIOError as err:
        raise XdmIOError(f"srcflux: cannot read {what} {path}: {err.message}") from None
    try:
        with hdul:
            hdu = next((h for h in hdul if h.is_image and h.data is not None), None)
            if hdu is None or hdu.data.ndim != 2:
                raise XdmIOError(f"srcflux: {what} {path} has no 2-D image")
            data = np.asarray(hdu.data, dtype=np.float64)
            lm = logical_map_from_header(hdu.header)
    except OSError as err:
        raise XdmIOError(f"srcflux: cannot read {what} {path}: {err}") from None
    ny, nx = data.shape
    lx, ly = np.meshgrid(
        np.arange(1, nx + 1, dtype=float), np.arange(1, ny + 1, dtype=float)
    )
    px, py = lm.to_physical(lx, ly)
    return data, np.asarray(px, float), np.asarray(py, float)


def _region_sums(
    data: FloatArray, px: FloatArray, py: FloatArray, regions: list[tuple[Any, Any]]
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per source: sum and mean of image pixels in the source and background regions."""
    out = np.zeros((4, len(regions)))
    for i, (s, b) in enumerate(regions):
        for k, reg in enumerate((s, b)):
            box = reg.bbox
            sel = (px >= box[0]) & (px <= box[1]) & (py >= box[2]) & (py <= box[3])
            inside = np.zeros_like(sel)
            inside[sel] = reg.contains(px[sel], py[sel])
            vals = data[inside]
            out[k, i] = float(vals.sum())
            out[2 + k, i] = float(vals.mean()) if vals.size else math.nan
    return out[0], out[1], out[2], out[3]


def _photon_weight(path: str) -> Callable[[FloatArray, FloatArray], FloatArray]:
    """1 / exposure-map value at each event (0 off the map or where it is 0)."""
    from xdm.io.hdus import open_fits
    from xdm.regions.coords import logical_map_from_header

    with open_fits(path, memmap=False) as hdul:
        hdu = next(h for h in hdul if h.is_image and h.data is not None)
        data = np.asarray(hdu.data, dtype=np.float64)
        lm = logical_map_from_header(hdu.header)

    def weight(x: FloatArray, y: FloatArray) -> FloatArray:
        ix = np.rint(lm.ltm1 * x + lm.ltv1).astype(np.int64) - 1
        iy = np.rint(lm.ltm2 * y + lm.ltv2).astype(np.int64) - 1
        ok = (ix >= 0) & (ix < data.shape[1]) & (iy >= 0) & (iy < data.shape[0])
        v = np.zeros(x.shape)
        v[ok] = data[iy[ok], ix[ok]]
        with np.errstate(divide="ignore"):
            return np.where(v > 0, 1.0 / v, 0.0)

    return weight


def _limits(header: Any, name: str) -> tuple[float, float]:
    for k, v in header.items():
        if k.startswith("TTYPE") and str(v).strip().lower() == name:
            num = k[5:]
            return float(header.get(f"TLMIN{num}", 1)), float(
                header.get(f"TLMAX{num}", 1024)
            )
    return 1.0, 1024.0


def _psf_fractions(
    files: list[str], regions: list[tuple[Any, Any]]
) -> tuple[FloatArray, FloatArray]:
    """alpha, beta: the PSF image's fractions in each source's regions (sum 1)."""
    n = len(regions)
    if len(files) not in (1, n) or (len(files) == 1 and n > 1):
        raise XdmSemanticError(
            f"srcflux: {len(files)} PSF images for {n} positions",
            hint="give one PSF image per position (@list)",
        )
    alpha, beta = np.zeros(n), np.zeros(n)
    for i, path in enumerate(files):
        data, px, py = _image(path, "PSF image")
        total = float(np.nansum(data))
        if not total > 0:
            raise XdmSemanticError(f"srcflux: the PSF image {path} sums to {total}")
        s, b, _, _ = _region_sums(np.nan_to_num(data) / total, px, py, [regions[i]])
        alpha[i], beta[i] = s[0], b[0]
    return np.minimum(alpha, 1.0), np.minimum(beta, 1.0)
