"""BACKSCAL from region areas (workflows spec 0.3).

``BACKSCAL = area / ((TLMAX_x - TLMIN_x) * (TLMAX_y - TLMIN_y))``: the region
area (physical pixels², optionally clipped to a field of view) over the area of
the whole sky-pixel space; for ACIS that is ``area / 8192**2``.
"""

from __future__ import annotations

from xdm.regions.compound import Region

__all__ = ["ACIS_SKY_AREA", "backscal"]

ACIS_SKY_AREA = 8192.0 * 8192.0


def backscal(
    region: Region,
    *,
    x_limits: tuple[float, float] = (0.5, 8192.5),
    y_limits: tuple[float, float] = (0.5, 8192.5),
    field: Region | tuple[float, float, float, float] | None = None,
) -> float:
    """Region area over the sky-pixel space given by the columns' TLMIN/TLMAX."""
    total = (x_limits[1] - x_limits[0]) * (y_limits[1] - y_limits[0])
    return region.area(field=field) / total
