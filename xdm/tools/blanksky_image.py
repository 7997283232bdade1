"""``xdm blanksky_image bkgfile=F outroot=R imgfile=IMG``: the scaled background image.

As CIAO's blanksky_image: the image's grid (get_sky_limits of ``imgfile``) and
its own filters, read from its data subspace (``DSTYPn``/``DSVALn``, one
component per chip: ``ccd_id`` and the ``energy`` range, plus any other range
column and a ``sky`` region), are applied to the tailored background events of
``xdm blanksky``. Each chip's background image is multiplied by its
``BKGSCAL<n>`` (HRC ``BKGSCALE``) and the chips are summed:
``R_<method>_bgnd.img``. The background-subtracted image ``R_<method>_bkgsub.img``
(imgfile - background) is written too, as CIAO does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xdm.errors import XdmSemanticError
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

if TYPE_CHECKING:
    from xdm.io.hdus import Header
    from xdm.io.subspace import SubspaceEntry
    from xdm.lang import nodes

__all__ = ["TOOL", "BlankskyImageResult", "blanksky_image", "run"]

TOOL = Tool(
    "blanksky_image",
    "blank-sky background image on an observation's grid",
    (
        Param("bkgfile", "f", "", "blanksky background event file", required=True),
        Param("outroot", "f", "", "root of the output files", required=True),
        Param(
            "imgfile", "f", "", "reference image (its grid and filters)", required=True
        ),
        Param(
            "tmpdir", "s", "${ASCDS_WORK_PATH}", "CIAO's temporary directory; not used"
        ),
        CLOBBER,
        VERBOSE,
    ),
    positional=("bkgfile", "outroot", "imgfile"),
    notes=(
        "The reference image's grid and data-subspace filters (per chip: ccd_id, "
        "energy and other ranges, a sky region) are applied to the background "
        "events; each chip's image is scaled by BKGSCAL<n> (HRC BKGSCALE) and the "
        "chips summed into `<outroot>_<method>_bgnd.img`; `<outroot>_<method>_bkgsub.img` "
        "is the image minus that background."
    ),
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SKIP = ("time", "x", "y", "ccd_id", "chip_id")


@dataclass(frozen=True, slots=True)
class BlankskyImageResult:
    """The background image, the subtracted image and the per-chip numbers."""

    bgnd: str
    bkgsub: str
    method: str
    scales: dict[int, float]
    counts: dict[int, int]
    total: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "bgnd": self.bgnd,
            "bkgsub": self.bkgsub,
            "method": self.method,
            "scales": {str(k): v for k, v in self.scales.items()},
            "counts": {str(k): v for k, v in self.counts.items()},
            "total": self.total,
        }


def blanksky_image(**params: Any) -> BlankskyImageResult:
    """``xdm.tools.blanksky_image(bkgfile=..., outroot=..., imgfile=...)``."""
    return TOOL.call(run, params)


def _scales(header: Header, hrc: bool) -> dict[int, float]:
    if hrc:
        if "BKGSCALE" not in header:
            raise XdmSemanticError(
                "blanksky_image: the background file has no BKGSCALE",
                hint="make it with xdm blanksky",
            )
        return {0: float(header["BKGSCALE"])}
    out = {}
    for key in header:
        m = re.match(r"^BKGSCAL(\d)$", key)
        if m:
            out[int(m.group(1))] = float(header[key])
    if not out:
        raise XdmSemanticError(
            "blanksky_image: the background file has no BKGSCAL<n> keywords",
            hint="make it with xdm blanksky",
        )
    return out


def _integers(entry: SubspaceEntry | None) -> set[int] | None:
    if entry is None or entry.ranges is None:
        return None
    out: set[int] = set()
    for lo, hi in entry.ranges:
        if lo is None or hi is None:
            return None
        out.update(range(int(np.ceil(lo)), int(np.floor(hi)) + 1))
    return out


def component_filters(
    entries: tuple[SubspaceEntry, ...], columns: set[str]
) -> tuple[nodes.Qualifier, ...]:
    """An image subspace component -> filter qualifiers for the background events.

    Range entries of columns the events have (except time, x, y and the chip,
    which are handled apart) and a ``sky`` region. The text given to the parser
    is made of names checked to be identifiers and ranges re-formatted from
    numbers; region text is parsed by the region grammar.
    """
    from xdm.io.subspace import format_ranges
    from xdm.lang.parser import parse
    from xdm.progress import note

    parts: list[str] = []
    for e in entries:
        name = e.column.strip()
        low = name.lower()
        if low in _SKIP or not _NAME.match(name):
            continue
        if e.ranges is not None:
            if low not in columns:
                note(
                    f"blanksky_image: the events have no {name} column; filter skipped",
                    1,
                )
                continue
            parts.append(f"[{name}={format_ranges(e.ranges)}]")
        elif low == "sky" and e.value and e.value.strip().upper() != "TABLE":
            parts.append(f"[sky={e.value.strip()}]")
    if not parts:
        return ()
    return tuple(parse("events.fits" + "".join(parts)).qualifiers)


def run(p: Values) -> BlankskyImageResult:
    """Bin each chip of the background on the image's grid, scale, sum, write."""
    from dataclasses import replace

    from xdm.api import Image, read, scan
    from xdm.io.subspace import Subspace
    from xdm.lang.parser import parse
    from xdm.progress import get_verbosity, note
    from xdm.tools._images import read_grid_image, sky_grid, split_outroot, write_image
    from xdm.tools.fluximage import grid_text

    bvf = parse(p["bkgfile"])
    with scan(bvf) as rows:
        bheader = rows.header.copy()
        columns = {out.lower() for _, out in rows.columns}
    hrc = str(bheader.get("INSTRUME", "ACIS")).upper().startswith("HRC")
    chipcol = "chip_id" if hrc else "ccd_id"
    method = str(bheader.get("BKGMETH", "")).strip().lower()
    if not method:
        raise XdmSemanticError(
            "blanksky_image: the background file has no BKGMETH",
            hint="make it with xdm blanksky",
        )
    scales = _scales(bheader, hrc)
    img = read_grid_image(p["imgfile"], "imgfile")
    grid = sky_grid(img)
    subspace = Subspace.from_header(img.header)
    components = subspace.components or ((),)
    plan: dict[int, tuple[nodes.Qualifier, ...]] = {}
    for entries in components:
        chip_entry = next((e for e in entries if e.column.lower() == chipcol), None)
        chips = _integers(chip_entry)
        wanted = sorted(scales) if chips is None else sorted(chips & set(scales))
        filters = component_filters(entries, columns)
        for chip in wanted:
            plan.setdefault(chip, filters)
    if not plan:
        raise XdmSemanticError(
            f"blanksky_image: no chip of {p['imgfile']} has a background scale factor"
        )
    bin_q = parse(f"events.fits[bin {grid_text(grid)}]").qualifiers
    total = np.zeros(img.shape, dtype=np.float64)
    counts: dict[int, int] = {}
    for chip, filters in sorted(plan.items()):
        chip_q = () if hrc else parse(f"events.fits[{chipcol}={chip}]").qualifiers
        vf = replace(
            bvf,
            qualifiers=tuple(bvf.qualifiers) + tuple(chip_q) + filters + tuple(bin_q),
        )
        image = read(vf)
        assert isinstance(image, Image)
        data = np.asarray(image.data, dtype=np.float64)
        if data.shape != img.shape:
            raise XdmSemanticError(
                "blanksky_image: the binned background has another shape"
            )
        counts[chip] = int(data.sum())
        total += scales[chip] * data
        note(
            f"blanksky_image: {chipcol} {chip}: {counts[chip]} events x {scales[chip]:g}",
            2,
        )
    outdir, head = split_outroot(p["outroot"])
    bgnd = f"{outdir}{head}{method}_bgnd.img"
    bkgsub = f"{outdir}{head}{method}_bkgsub.img"
    header = img.header.copy()
    header["BUNIT"] = "count"
    header["BKGMETH"] = (method, "background scaling method")
    for chip in sorted(plan):
        key = "BKGSCALE" if hrc else f"BKGSCAL{chip}"
        header[key] = (scales[chip], "background scale factor")
    write_image(bgnd, total, header, clobber=p["clobber"], history=p.text())
    sub_header = img.header.copy()
    sub_header["BKGMETH"] = (method, "background scaling method")
    write_image(
        bkgsub,
        np.asarray(img.data, dtype=np.float64) - total,
        sub_header,
        clobber=p["clobber"],
        history=p.text(),
    )
    result = BlankskyImageResult(
        bgnd,
        bkgsub,
        method,
        {c: scales[c] for c in sorted(plan)},
        counts,
        float(total.sum()),
    )
    if get_verbosity() >= 1:
        print(
            f"blanksky_image: {result.total:.6g} background counts on the grid of "
            f"{p['imgfile']}"
        )
        print(f"    {bgnd}\n    {bkgsub}")
    return result
