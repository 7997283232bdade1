"""The common tangent plane of merge_obs: frames, grids, reprojection, resampling.

An observation's sky pixels ``x, y`` are a tangent-plane projection about its
own tangent point (the TCRVL of the ``x``/``y`` columns). Merging reprojects
every event onto one common plane (``Frame``, a ``Tangent`` for
``xdm.tools._reproject.reproject_tan``): pixel -> (RA, Dec) with the
observation's column WCS, (RA, Dec) -> pixel with the common one, as CIAO's
reproject_events does. A ``Grid`` bins the common plane: bin ``i`` of an axis
covers ``[lo + i*step, lo + (i+1)*step)`` in common sky pixels.

>>> from xdm.tools._reproject import reproject_tan
>>> f = Frame(150.0, 2.0, (4096.5, 4096.5), (-0.492 / 3600, 0.492 / 3600))
>>> x, y = reproject_tan(np.array([4096.5]), np.array([4096.5]), f, f)
>>> float(x[0]), float(y[0])
(4096.5, 4096.5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError

if TYPE_CHECKING:
    from astropy.wcs import WCS

    from xdm.io.hdus import Header

__all__ = [
    "Frame",
    "Grid",
    "auto_grid",
    "grid_header",
    "parse_refcoord",
    "xygrid_grid",
]


@dataclass(frozen=True, slots=True)
class Frame:
    """A sky-pixel tangent plane: tangent point (deg), reference pixel, pixel size (deg)."""

    ra0: float
    dec0: float
    crpix: tuple[float, float]
    cdelt: tuple[float, float]
    radesys: str = "ICRS"
    equinox: float = 2000.0

    def wcs(self) -> WCS:
        """The astropy WCS: sky pixels (origin 1) <-> RA/Dec (TAN)."""
        from astropy.wcs import WCS

        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [self.ra0, self.dec0]
        w.wcs.crpix = list(self.crpix)
        w.wcs.cdelt = list(self.cdelt)
        w.wcs.cunit = ["deg", "deg"]
        w.wcs.radesys = self.radesys
        w.wcs.equinox = self.equinox
        w.wcs.set()
        return w

    @property
    def matrix(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Pixel offsets -> degrees (diagonal: no rotation), as ``Tangent`` has it."""
        return ((self.cdelt[0], 0.0), (0.0, self.cdelt[1]))

    def moved_to(self, ra0: float, dec0: float) -> Frame:
        """The same plane (pixel size, reference pixel) about another tangent point."""
        return Frame(ra0, dec0, self.crpix, self.cdelt, self.radesys, self.equinox)


@dataclass(frozen=True, slots=True)
class Grid:
    """Bins of the common plane: ``nx`` x ``ny`` bins of ``step`` pixels from ``xlo, ylo``."""

    xlo: float
    ylo: float
    step: float
    nx: int
    ny: int

    @property
    def shape(self) -> tuple[int, int]:
        """The image shape ``(ny, nx)``."""
        return (self.ny, self.nx)

    def centres(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Sky-pixel centres of every bin, as two ``(ny, nx)`` arrays."""
        xs = self.xlo + (np.arange(self.nx) + 0.5) * self.step
        ys = self.ylo + (np.arange(self.ny) + 0.5) * self.step
        gx, gy = np.meshgrid(xs, ys)
        return gx, gy

    def text(self) -> str:
        """CIAO's xygrid spelling ``xlo:xhi:#nx,ylo:yhi:#ny``."""
        xhi = self.xlo + self.nx * self.step
        yhi = self.ylo + self.ny * self.step
        return f"{self.xlo:g}:{xhi:g}:#{self.nx},{self.ylo:g}:{yhi:g}:#{self.ny}"


def frame_of_columns(header: Header, xcol: int, ycol: int) -> Frame:
    """The tangent plane of an event list's ``x``/``y`` columns (TCRVL/TCRPX/TCDLT)."""

    def real(key: str, n: int) -> float:
        value = header.get(f"{key}{n}")
        if not isinstance(value, int | float):
            raise XdmSemanticError(
                f"merge_obs: column {n} has no {key}{n}: the events carry no sky WCS",
                hint="merge_obs needs event files with TCRVL/TCRPX/TCDLT on x and y",
            )
        return float(value)

    for n, want in ((xcol, "RA---TAN"), (ycol, "DEC--TAN")):
        ctype = str(header.get(f"TCTYP{n}", "")).strip().upper()
        if ctype != want:
            raise XdmSemanticError(
                f"merge_obs: column {n} has TCTYP{n}={ctype or 'none'!r}, not {want!r}",
                hint="merge_obs needs sky columns x, y with a TAN projection",
            )
    radesys = str(header.get("RADESYS", header.get("RADECSYS", "ICRS"))).strip()
    equinox = header.get("EQUINOX", 2000.0)
    return Frame(
        real("TCRVL", xcol),
        real("TCRVL", ycol),
        (real("TCRPX", xcol), real("TCRPX", ycol)),
        (real("TCDLT", xcol), real("TCDLT", ycol)),
        radesys or "ICRS",
        float(equinox) if isinstance(equinox, int | float) else 2000.0,
    )


def parse_refcoord(text: str) -> tuple[float, float] | None:
    """``refcoord="RA DEC"`` (degrees or sexagesimal) -> degrees; empty -> None."""
    words = text.replace(",", " ").split()
    if not words:
        return None
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    hint = 'refcoord="RA DEC" in degrees ("150.12 2.21") or "10:00:28.6 +02:12:21"'
    if len(words) == 6:
        words = [":".join(words[:3]), ":".join(words[3:])]
    if len(words) != 2:
        raise XdmSemanticError(f"merge_obs: refcoord={text!r} is not RA Dec", hint=hint)
    try:
        if ":" in words[0]:
            c = SkyCoord(words[0], words[1], unit=(u.hourangle, u.deg))
        else:
            c = SkyCoord(float(words[0]), float(words[1]), unit="deg")
    except ValueError:
        raise XdmSemanticError(
            f"merge_obs: refcoord={text!r} is not RA Dec", hint=hint
        ) from None
    return float(c.ra.deg), float(c.dec.deg)


def xygrid_grid(text: str) -> Grid:
    """CIAO's ``xlo:xhi:#nx,ylo:yhi:#ny`` (or ``xlo:xhi:step,...``) -> Grid.

    The text is read by ``parse_xygrid`` (shared with fluximage); merge_obs
    makes square pixels and at least one bin per axis.
    """
    from xdm.tools._images import parse_xygrid

    hint = "xygrid=xlo:xhi:#nx,ylo:yhi:#ny (sky pixels), e.g. 3000.5:5000.5:#250,..."
    axes = parse_xygrid(text, "merge_obs")
    (xlo, xhi, xstep), (ylo, yhi, ystep) = axes
    nx, ny = round((xhi - xlo) / xstep), round((yhi - ylo) / ystep)
    if nx < 1 or ny < 1:
        raise XdmSemanticError(
            f"merge_obs: xygrid={text!r} has an axis of no whole bin", hint=hint
        )
    if not math.isclose(xstep, ystep, rel_tol=1e-9):
        raise XdmSemanticError(
            f"merge_obs: xygrid={text!r} has pixels {xstep:g} x {ystep:g}; "
            "merge_obs makes square pixels",
            hint=hint,
        )
    return Grid(xlo, ylo, xstep, nx, ny)


def auto_grid(
    bounds: list[tuple[float, float, float, float]],
    step: float,
    maxsize: int | None,
) -> Grid:
    """The grid covering every box ``(xmin, xmax, ymin, ymax)`` (common pixels).

    Edges sit on ``0.5 + k*step`` as CIAO's sky grids do; ``maxsize`` caps the
    width and height in bins by coarsening the bins (whole sky pixels).
    """
    xmin = min(b[0] for b in bounds)
    xmax = max(b[1] for b in bounds)
    ymin = min(b[2] for b in bounds)
    ymax = max(b[3] for b in bounds)
    if maxsize is not None:
        widest = max(xmax - xmin, ymax - ymin)
        step = max(step, float(math.ceil(widest / maxsize)))
    while True:
        xlo = 0.5 + math.floor((xmin - 0.5) / step) * step
        ylo = 0.5 + math.floor((ymin - 0.5) / step) * step
        nx = max(1, math.floor((xmax - xlo) / step) + 1)
        ny = max(1, math.floor((ymax - ylo) / step) + 1)
        if maxsize is None or max(nx, ny) <= maxsize:
            return Grid(xlo, ylo, step, nx, ny)
        step += 1.0


def grid_header(frame: Frame, grid: Grid) -> Header:
    """Sky (RA---TAN/DEC--TAN) and physical (x, y) keywords of a merged image."""
    from xdm.io.imagewcs import AxisGrid, binned_image_header

    axes = [
        AxisGrid(
            name=name,
            lo=lo,
            step=grid.step,
            nbins=n,
            unit="pixel",
            ctype=ctype,
            crval=crval,
            crpix=crpix,
            cdelt=cdelt,
            cunit="deg",
        )
        for name, lo, n, ctype, crval, crpix, cdelt in (
            (
                "x",
                grid.xlo,
                grid.nx,
                "RA---TAN",
                frame.ra0,
                frame.crpix[0],
                frame.cdelt[0],
            ),
            (
                "y",
                grid.ylo,
                grid.ny,
                "DEC--TAN",
                frame.dec0,
                frame.crpix[1],
                frame.cdelt[1],
            ),
        )
    ]
    from xdm.io.hdus import new_header

    event = new_header([("RADESYS", frame.radesys), ("EQUINOX", frame.equinox)])
    return binned_image_header(axes, event_header=event, vector="sky")
