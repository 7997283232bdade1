"""Image helpers shared by fluximage, dmimgcalc, dmregrid and blanksky_image.

An image's grid is its shape plus two transforms per axis: logical pixel
(1-based, centres at integers) <-> physical (sky pixels; ``LTMn_n``/``LTVn``)
and physical -> world (the celestial WCS). Two images are "on the same grid"
when shapes, physical transforms and celestial WCS agree. Also here: reading an
image virtual file, writing a primary-HDU image through ``atomic_output``,
CIAO's ``outroot`` rule and the ``expmapthresh`` value.

>>> split_outroot("out/a")
('out/', 'a_')
>>> parse_threshold("1.5%"), parse_threshold("200"), parse_threshold("none")
((1.5, True), (200.0, False), None)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmIOError, XdmSemanticError

if TYPE_CHECKING:
    from astropy.wcs import WCS

    from xdm.io.hdus import Header

__all__ = [
    "GridImage",
    "check_same_grid",
    "image_list",
    "parse_threshold",
    "parse_xygrid",
    "read_grid_image",
    "same_grid",
    "sky_grid",
    "split_outroot",
    "write_image",
]

_GRID_KEYS = ("CTYPE", "CRVAL", "CRPIX", "CDELT")


@dataclass(frozen=True, slots=True)
class GridImage:
    """A 2-D image with its header; ``name`` is the text the user gave."""

    data: NDArray[Any]
    header: Header
    name: str

    @property
    def shape(self) -> tuple[int, int]:
        ny, nx = self.data.shape
        return int(ny), int(nx)

    def physical(self) -> list[tuple[float, float]]:
        """Per axis ``(ltm, ltv)``: ``logical = ltm * physical + ltv``."""
        from xdm.io.imagewcs import physical_transform

        return physical_transform(self.header, 2)

    def sky_wcs(self) -> WCS | None:
        """WCS from physical pixels (origin 1) to RA/Dec, or None."""
        from xdm.io.imagewcs import physical_world_wcs

        return physical_world_wcs(self.header)


def read_grid_image(text: str, what: str = "image") -> GridImage:
    """Read a 2-D image virtual file (``img.fits``, ``img.fits[EXPMAP]``)."""
    from xdm.api import Image, read

    try:
        result = read(text)
    except FileNotFoundError:
        raise XdmIOError(f"{what} {text} not found") from None
    if not isinstance(result, Image):
        raise XdmSemanticError(
            f"{what} {text} is a table, not an image",
            hint="give an image file (or bin the table with [bin x=...,y=...])",
        )
    data = np.asarray(result.data)
    if data.ndim != 2:
        raise XdmSemanticError(
            f"{what} {text} has {data.ndim} axes; a 2-D image is needed"
        )
    return GridImage(data, result.header, text)


def sky_grid(
    img: GridImage,
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The physical ``(lo, hi, step)`` per axis that an image covers (get_sky_limits)."""
    (mx, vx), (my, vy) = img.physical()
    ny, nx = img.shape
    out = []
    for m, v, n in ((mx, vx, nx), (my, vy, ny)):
        lo = (0.5 - v) / m
        hi = (n + 0.5 - v) / m
        out.append((min(lo, hi), max(lo, hi), abs(1.0 / m)))
    return out[0], out[1]


Axis = tuple[float, float, float]
"""One axis of a sky grid: ``(lo, hi, step)`` in sky pixels."""


def parse_xygrid(text: str, tool: str) -> tuple[Axis, Axis]:
    """CIAO's ``xygrid``: ``x0:x1:dx,y0:y1:dy`` (``#n`` for n bins), or an image's grid.

    ``x=``/``y=`` before an axis are allowed; an existing file is an image whose
    physical range is reused (``sky_grid``). Used by fluximage and merge_obs.
    """
    value = text.strip()
    path = os.path.expanduser(value.split("[", 1)[0])
    if os.path.isfile(path):
        return sky_grid(read_grid_image(value, "xygrid image"))
    pieces = value.replace("x=", "").replace("y=", "").split(",")
    try:
        if len(pieces) != 2:
            raise ValueError(value)
        return _xygrid_axis(pieces[0]), _xygrid_axis(pieces[1])
    except ValueError:
        raise XdmSemanticError(
            f"{tool}: xygrid={text!r} is not x0:x1:dx,y0:y1:dy or an image file",
            hint="for example xygrid=3900:4300:4,3900:4300:4 or "
            "3000.5:5000.5:#250,3000.5:5000.5:#250 (sky pixels)",
        ) from None


def _xygrid_axis(text: str) -> Axis:
    """``lo:hi:step`` or ``lo:hi:#n`` -> ``(lo, hi, step)``; ValueError if not."""
    parts = [t.strip() for t in text.split(":")]
    if len(parts) != 3 or "" in parts:
        raise ValueError(text)
    lo, hi = float(parts[0]), float(parts[1])
    if parts[2].startswith("#"):
        n = int(parts[2][1:])
        if n <= 0:
            raise ValueError(text)
        step = (hi - lo) / n
    else:
        step = float(parts[2])
    if not step > 0 or not hi > lo:
        raise ValueError(text)
    return lo, hi, step


def same_grid(a: Header, b: Header, shape_a: Any, shape_b: Any) -> str | None:
    """None when two images share a grid, else a sentence saying what differs."""
    from xdm.io.imagewcs import physical_transform

    if tuple(shape_a) != tuple(shape_b):
        return f"shapes differ ({_shape(shape_a)} and {_shape(shape_b)} pixels)"
    for i, (ta, tb) in enumerate(
        zip(physical_transform(a, 2), physical_transform(b, 2)), start=1
    ):
        if not all(
            math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-9) for u, v in zip(ta, tb)
        ):
            return f"physical grids differ on axis {i} (LTM/LTV {ta} and {tb})"
    for i in (1, 2):
        for key in _GRID_KEYS:
            va, vb = a.get(f"{key}{i}"), b.get(f"{key}{i}")
            if va is None or vb is None:
                continue
            if isinstance(va, str) or isinstance(vb, str):
                same = str(va).strip() == str(vb).strip()
            else:
                same = math.isclose(float(va), float(vb), rel_tol=1e-9, abs_tol=1e-12)
            if not same:
                return f"world coordinates differ ({key}{i} = {va} and {vb})"
    return None


def check_same_grid(first: GridImage, other: GridImage, tool: str) -> None:
    """Raise a clear error when ``other`` is not on ``first``'s grid."""
    why = same_grid(first.header, other.header, first.shape, other.shape)
    if why is not None:
        raise XdmSemanticError(
            f"{tool}: {other.name} is not on the grid of {first.name}: {why}",
            hint="put the images on one grid first (xdm dmregrid)",
        )


def _shape(shape: Any) -> str:
    ny, nx = tuple(shape)
    return f"{nx} x {ny}"


def image_list(text: str, what: str) -> list[str]:
    """``a.fits,b.fits`` or a CIAO stack ``@list.lis`` (``xdm.stacks``)."""
    text = text.strip()
    if not text:
        raise XdmSemanticError(f"{what}: no file given")
    if text.startswith("@"):  # CIAO stack: relative to the list, @- as written
        from xdm.stacks import read_stack

        names = read_stack(text)
        if not names:
            raise XdmSemanticError(f"{what}: list {text[1:]} names no file")
        return names
    return [_strip(t) for t in _top_level_split(text) if _strip(t)]


def _strip(text: str) -> str:
    return text.strip()


def _top_level_split(text: str) -> list[str]:
    """Split on commas outside brackets (``a.fits[x=1:2,y=3:4],b.fits``)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


def split_outroot(outroot: str) -> tuple[str, str]:
    """CIAO's rule: ``out/a`` -> (``out/``, ``a_``); ``out/`` -> (``out/``, ``""``)."""
    dirname, head = os.path.split(outroot)
    outdir = dirname + "/" if dirname else ""
    if head and not head.endswith("_"):
        head += "_"
    return outdir, head


def parse_threshold(text: str) -> tuple[float, bool] | None:
    """``expmapthresh``: ``1.5%`` -> (1.5, percent), ``200`` -> absolute, off -> None.

    ``""``, ``none``, ``0``, ``0%`` and ``:`` switch the threshold off (CIAO's
    ``thresh_is_set``).
    """
    value = str(text).strip()
    if value.lower() in ("", "none", "0", "0%", ":"):
        return None
    percent = value.endswith("%")
    number = value[:-1] if percent else value
    try:
        cut = float(number)
    except ValueError:
        raise XdmSemanticError(
            f"expmapthresh={text!r} is not a number or a percentage",
            hint="for example expmapthresh=1.5% (of the maximum) or expmapthresh=200",
        ) from None
    if not math.isfinite(cut) or cut < 0:
        raise XdmSemanticError(f"expmapthresh={text!r} must be a positive number")
    return cut, percent


def threshold_cut(expmap: NDArray[Any], threshold: tuple[float, bool]) -> float:
    """The exposure below which pixels are set to 0 (dmimgthresh ``cut``)."""
    cut, percent = threshold
    if percent:
        top = float(np.max(expmap)) if expmap.size else 0.0
        return cut / 100.0 * top
    return cut


def write_image(
    path: str | os.PathLike[str],
    data: NDArray[Any],
    header: Header,
    *,
    clobber: bool,
    extname: str | None = None,
    history: str | None = None,
) -> Path:
    """Write ``data`` as the primary HDU with ``header``'s keywords (atomic)."""
    from xdm.io.hdus import image_hdu, write_fits
    from xdm.io.keywords import EXTENSION_ONLY, SCALING

    hdr = header.copy()
    for key in (*EXTENSION_ONLY, *SCALING):
        hdr.remove(key, ignore_missing=True, remove_all=True)
    if extname:
        hdr["EXTNAME"] = extname
        hdr["HDUNAME"] = extname
    if history:
        hdr.add_history(history)
    hdu = image_hdu(np.ascontiguousarray(data), hdr, primary=True)
    return write_fits(path, [hdu], clobber=clobber, fix=True)
