"""Coordinate frames for regions: physical pixels, image (logical) pixels, sky.

``Frame`` says how bare numbers are read (CIAO text: physical; ds9 files may
declare ``image`` or a celestial system) and carries the transforms: an astropy
WCS for physical -> world (``all_pix2world(x, y, 1)``) and the image header's
LTM/LTV for logical <-> physical. ``wcs_from_columns`` and ``wcs_from_image``
build that WCS from event-file columns or an image header.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np

from xdm.io.imagewcs import wcs_from_columns, wcs_from_image

if TYPE_CHECKING:
    from astropy.wcs import WCS
    from numpy.typing import NDArray

    from xdm.io.hdus import Header
    from xdm.lang.nodes import VirtualFile

__all__ = [
    "Frame",
    "ImageReader",
    "LogicalMap",
    "logical_map_from_header",
    "parse_sexagesimal",
    "wcs_from_columns",
    "wcs_from_image",
]

System = Literal["physical", "image", "world", "galactic", "ecliptic"]

ImageReader: TypeAlias = (
    "Callable[[VirtualFile, Path | None], tuple[NDArray[Any], Header]]"
)
"""Evaluates a virtual file to an image (pixels, header): how ``mask(vf)`` of a
virtual file (``mask(evt2.fits[bin sky=4])``) is made. The regions sit below the
engine and cannot import it, so the engine hands this in (``Frame.image_reader``;
``xdm.plan.planner.evaluate_virtual_image``)."""


@dataclass(frozen=True, slots=True)
class LogicalMap:
    """Image header LTM/LTV: ``logical = ltm * physical + ltv`` per axis (diagonal)."""

    ltm1: float = 1.0
    ltm2: float = 1.0
    ltv1: float = 0.0
    ltv2: float = 0.0

    def to_physical(self, x: Any, y: Any) -> tuple[Any, Any]:
        return (x - self.ltv1) / self.ltm1, (y - self.ltv2) / self.ltm2

    def to_logical(self, x: Any, y: Any) -> tuple[Any, Any]:
        return self.ltm1 * x + self.ltv1, self.ltm2 * y + self.ltv2

    @property
    def scale(self) -> float:
        """Physical pixels per logical pixel (geometric mean of the axes)."""
        return 1.0 / math.sqrt(abs(self.ltm1 * self.ltm2))


@dataclass(frozen=True, slots=True)
class Frame:
    """How to read region numbers and turn them into physical coordinates."""

    wcs: WCS | None = None
    logical: LogicalMap | None = None
    system: System = "physical"
    base_dir: Path | None = None
    image_reader: ImageReader | None = None

    def sky_to_physical(
        self, lon: float, lat: float, system: System
    ) -> tuple[float, float]:
        """World (degrees, in ``system``) -> physical pixel via the WCS."""
        lon, lat = _to_icrs(lon, lat, system)
        assert self.wcs is not None
        px, py = self.wcs.all_world2pix(np.array([lon]), np.array([lat]), 1)
        if not (np.isfinite(px[0]) and np.isfinite(py[0])):
            from xdm.errors import XdmRegionError

            raise XdmRegionError(
                f"sky position ({lon:.6f}, {lat:.6f}) lies outside the WCS projection"
            )
        return float(px[0]), float(py[0])

    def degrees_per_pixel(self) -> float:
        """Sky scale of one physical pixel (geometric mean of the two axes)."""
        from astropy.wcs.utils import proj_plane_pixel_scales

        assert self.wcs is not None
        sx, sy = proj_plane_pixel_scales(self.wcs.celestial)
        return float(math.sqrt(abs(sx * sy)))

    def north_offset(self, system: System = "world") -> float:
        """Angle (degrees) to add to a sky-frame angle to get a pixel-frame angle.

        Zero for north-up data; otherwise the rotation of the system's north
        (equatorial, or galactic/ecliptic) at the WCS reference pixel; ds9
        writes the same angle in image and fk5 files.
        """
        assert self.wcs is not None
        x, y = (float(v) for v in self.wcs.wcs.crpix)
        ra, dec = self.wcs.all_pix2world(np.array([x]), np.array([y]), 1)
        lon, lat = _from_icrs(float(ra[0]), float(dec[0]), system)
        eps = 1.0 / 3600.0
        up = lat < 89.0
        nx, ny = self.sky_to_physical(lon, lat + eps if up else lat - eps, system)
        ang = math.degrees(math.atan2(ny - y, nx - x))
        return (ang if up else ang + 180.0) - 90.0


_FRAMES = {"galactic": "galactic", "ecliptic": "geocentrictrueecliptic"}


def _to_icrs(lon: float, lat: float, system: System) -> tuple[float, float]:
    if system not in _FRAMES:
        return lon, lat
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(lon * u.deg, lat * u.deg, frame=_FRAMES[system]).icrs
    return float(c.ra.deg), float(c.dec.deg)


def _from_icrs(ra: float, dec: float, system: System) -> tuple[float, float]:
    if system not in _FRAMES:
        return ra, dec
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs").transform_to(_FRAMES[system])
    return float(c.spherical.lon.deg), float(c.spherical.lat.deg)


def parse_sexagesimal(text: str, *, hours: bool) -> float:
    """``12:26:51.2`` (hours when ``hours``) or ``-33:16:13`` -> degrees."""
    t = text.strip()
    sign = -1.0 if t.startswith("-") else 1.0
    t = t.lstrip("+-")
    parts = [
        float(p)
        for p in t.replace("h", ":")
        .replace("d", ":")
        .replace("m", ":")
        .replace("s", "")
        .split(":")
        if p != ""
    ]
    value = 0.0
    for i, p in enumerate(parts[:3]):
        value += p / (60.0**i)
    value *= sign
    return value * 15.0 if hours else value


def logical_map_from_header(header: Any) -> LogicalMap:
    """LTM1_1/LTM2_2/LTV1/LTV2 of an image header (identity when absent)."""
    return LogicalMap(
        ltm1=float(header.get("LTM1_1", 1.0)),
        ltm2=float(header.get("LTM2_2", 1.0)),
        ltv1=float(header.get("LTV1", 0.0)),
        ltv2=float(header.get("LTV2", 0.0)),
    )
