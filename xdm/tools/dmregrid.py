"""``xdm dmregrid infile=@maps.lis outfile= bin=x0:x1:dx,y0:y1:dy``: sum images on one grid.

The output grid is given in the first image's coordinates: logical pixels by
default (``coord_sys=logical``; ``x0``, ``x1`` are the centres of the first and
last pixels taken, so ``bin=1:1024:1,1:1024:1`` keeps a 1024 x 1024 image as
it is and ``dx=2`` sums 2 x 2 blocks), or physical sky pixels
(``coord_sys=physical``: bins ``[x0 + i dx, x0 + (i+1) dx)`` as ``dmcopy``'s
``[bin x=x0:x1:dx]``). Every input is put on that grid through its own
physical transform, and through RA/Dec when its tangent plane differs, then
the images are summed.

Method (counts are conserved): with ``npts=0`` and aligned pixels on one
tangent plane each output pixel takes each input pixel in proportion to their
exact overlap (CIAO's polygon method, exact for aligned rectangles); otherwise
``npts x npts`` points per output pixel (10 x 10 for ``npts=0``) each take the
value of the input pixel they fall in, times the output/input pixel-area ratio
(CIAO's approximate method). ``rotangle``/``rotxcenter``/``rotycenter`` and
``xoffset``/``yoffset`` rotate and shift every input (in its logical pixels)
before regridding; the output WCS is the unrotated grid's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xdm.errors import XdmSemanticError
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

if TYPE_CHECKING:
    from xdm.io.hdus import Header

__all__ = ["STACK_INPUT", "TOOL", "RegridResult", "dmregrid", "regrid_header", "run"]

STACK_INPUT = True
"""``infile=@list`` is one run over the whole stack (this tool sums), not one per member."""

TOOL = Tool(
    "dmregrid",
    "sum images onto one grid",
    (
        Param(
            "infile", "f", "", "input images: a file, a,b,... or @list", required=True
        ),
        Param("outfile", "f", "", "output image", required=True),
        Param("bin", "s", "", "output grid x0:x1:dx,y0:y1:dy", required=True),
        Param(
            "rotangle", "r", 0.0, "rotation of the inputs (degrees, counter-clockwise)"
        ),
        Param("rotxcenter", "r", 0.0, "x of the rotation centre (logical pixels)"),
        Param("rotycenter", "r", 0.0, "y of the rotation centre (logical pixels)"),
        Param("xoffset", "r", 0.0, "x shift of the inputs (logical pixels)"),
        Param("yoffset", "r", 0.0, "y shift of the inputs (logical pixels)"),
        Param("npts", "i", 0, "points per pixel axis (0: exact overlaps)", minimum=0),
        Param(
            "coord_sys",
            "s",
            "logical",
            "coordinates of bin=",
            choices=("logical", "physical"),
        ),
        CLOBBER,
        VERBOSE,
    ),
    positional=("infile", "outfile", "bin"),
    notes=(
        "Counts-conserving: exact pixel overlaps (npts=0, aligned pixels on one "
        "tangent plane) or npts x npts samples per output pixel (rotations, other "
        "tangent planes: through RA/Dec). `bin=` is in the first image's logical "
        "pixels (first and last pixel centres) or, with `coord_sys=physical`, sky "
        "pixels as dmcopy bins them. The output WCS is the unrotated grid's."
    ),
)


@dataclass(frozen=True, slots=True)
class RegridResult:
    """The image written: grid size and the summed total."""

    outfile: str
    shape: tuple[int, int]
    inputs: int
    total: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "outfile": self.outfile,
            "shape": list(self.shape),
            "inputs": self.inputs,
            "total": self.total,
        }


def dmregrid(**params: Any) -> RegridResult:
    """``xdm.tools.dmregrid(infile=..., outfile=..., bin=...)``."""
    return TOOL.call(run, params)


def _axes(text: str) -> list[tuple[float, float, float]]:
    value = re.sub(r"\b[xy]\s*=", "", text.strip())
    out: list[tuple[float, float, float]] = []
    for piece in value.split(","):
        parts = [t.strip() for t in piece.split(":")]
        try:
            if len(parts) != 3:
                raise ValueError(piece)
            lo, hi, step = (float(t) for t in parts)
        except ValueError:
            out = []
            break
        if not (step > 0 and hi >= lo and all(map(math.isfinite, (lo, hi, step)))):
            out = []
            break
        out.append((lo, hi, step))
    if len(out) != 2:
        raise XdmSemanticError(
            f"dmregrid: bin={text!r} is not x0:x1:dx,y0:y1:dy",
            hint="for example bin=1:1024:1,1:1024:1 (logical pixels of the first image)",
        )
    return out


def regrid_header(
    header: Header, axes: list[tuple[float, float, float]], coord_sys: str
) -> tuple[Header, tuple[int, int]]:
    """The first image's header for the new grid, and the grid's shape ``(ny, nx)``.

    Output pixel k (1-based) covers first-image logical ``[e + (k-1) d, e + k d)``,
    so every transform from logical pixels changes by ``k = (l - e)/d + 0.5``.
    """
    from xdm.io.imagewcs import physical_transform

    out = header.copy()
    transform = physical_transform(header, 2)
    sizes = []
    for i, ((lo, hi, step), (ltm, ltv)) in enumerate(zip(axes, transform), start=1):
        if coord_sys == "physical":  # sky pixels -> logical edges of the first image
            e = ltm * lo + ltv
            d = abs(ltm) * step
            n = max(1, math.ceil((hi - lo) / step - 1e-9))
        else:
            e, d = lo - 0.5, step
            n = math.floor((hi - lo) / step + 1e-9) + 1
        sizes.append(n)
        out[f"LTM{i}_{i}"] = ltm / d
        out[f"LTV{i}"] = (ltv - e) / d + 0.5
        for key in list(out.keys()):
            m = re.fullmatch(rf"CRPIX{i}([A-Z]?)", key)
            if m:
                out[key] = (float(out[key]) - e) / d + 0.5
            m = re.fullmatch(rf"CDELT{i}([A-Z]?)", key)
            if m:
                out[key] = float(out[key]) * d
            m = re.fullmatch(rf"CD(\d)_{i}([A-Z]?)", key)
            if m:
                out[key] = float(out[key]) * d
    out["NAXIS1"], out["NAXIS2"] = sizes[0], sizes[1]
    return out, (sizes[1], sizes[0])


def run(p: Values) -> RegridResult:
    """Read every image, put it on the grid, sum, write."""
    from xdm.progress import get_verbosity, note
    from xdm.tools._images import image_list, read_grid_image, write_image
    from xdm.tools._reproject import Rotation, resample

    names = image_list(p["infile"], "dmregrid infile")
    first = read_grid_image(names[0], "dmregrid image")
    header, shape = regrid_header(first.header, _axes(p["bin"]), p["coord_sys"])
    rotation = Rotation(
        p["rotangle"], p["rotxcenter"], p["rotycenter"], p["xoffset"], p["yoffset"]
    )
    total = np.zeros(shape, dtype=np.float64)
    for i, name in enumerate(names):
        img = first if i == 0 else read_grid_image(name, "dmregrid image")
        if not np.all(np.isfinite(img.data)):
            raise XdmSemanticError(f"dmregrid: {name} has NaN or infinite pixels")
        total += resample(
            img.data,
            img.header,
            header,
            shape,
            mode="sum",
            npts=int(p["npts"]),
            rotation=rotation,
        )
        note(f"dmregrid: added {name}", level=2)
    write_image(p["outfile"], total, header, clobber=p["clobber"], history=p.text())
    result = RegridResult(p["outfile"], shape, len(names), float(total.sum()))
    if get_verbosity() >= 1:
        print(
            f"dmregrid: {len(names)} image(s) summed on {shape[1]} x {shape[0]} "
            f"pixels -> {p['outfile']}"
        )
    return result
