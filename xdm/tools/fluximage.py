"""``xdm fluximage infile outroot [bands=] [binsize=|xygrid=] [expmapfile=|arffile=|units=time]``.

The calibration-free fluximage of workflows.md 5. Per band: the counts image
(the engine's ``evt[filters][energy=lo:hi][bin x=...,y=...]``, so exactly what
``xdm dmcopy`` bins on the same grid), an exposure map (the user's, resampled
onto the grid when needed; a flat ARF x EXPOSURE map; or EXPOSURE only with
``units=time``), both thresholded at ``expmapthresh`` (pixels with exposure
below the cut set to 0, as dmimgthresh does) and the fluxed image
``counts / exposure`` with 0 where the exposure is 0. File names follow CIAO:
``outroot=out/a`` gives ``out/a_broad_thresh.img``, ``out/a_broad_thresh.expmap``,
``out/a_broad_flux.img`` (and with ``cleanup=no`` also ``out/a_broad.img`` and
``out/a_broad.expmap``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from xdm.errors import XdmSemanticError
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from xdm.io.hdus import Header
    from xdm.lang import nodes
    from xdm.tools._bands import Band

__all__ = ["TOOL", "FluxImageResult", "fluximage", "run"]

_UNUSED = "CIAO's; not used (xdm has no calibration database)"

TOOL = Tool(
    "fluximage",
    "counts, exposure and fluxed images per energy band",
    (
        Param("infile", "s", "", "input event file (virtual file)", required=True),
        Param("outroot", "f", "", "root of the output files (dir/head)", required=True),
        Param(
            "bands",
            "s",
            "default",
            "energy bands: names, csc, or lo:hi:eff in keV, comma separated",
            choices=(
                "default",
                "broad",
                "soft",
                "medium",
                "hard",
                "ultrasoft",
                "wide",
                "csc",
                "...",
            ),
        ),
        Param(
            "xygrid", "s", "", "output grid x0:x1:dx,y0:y1:dy (or #n), or an image file"
        ),
        Param(
            "binsize",
            "r",
            None,
            "bin size in sky pixels (INDEF: 8 ACIS, 32 HRC)",
            minimum=0,
        ),
        Param(
            "expmapfile", "s", "", "exposure map(s): a file, a,b,... or @list (summed)"
        ),
        Param("arffile", "f", "", "ARF for a flat exposure map A(E_eff) x EXPOSURE"),
        Param(
            "weights", "f", "", "spectral weights (energy_keV weight lines) for the ARF"
        ),
        Param(
            "fovfile",
            "s",
            "",
            "field-of-view region for flat maps (1 inside, 0 outside)",
        ),
        Param("asolfile", "f", "", _UNUSED),
        Param("badpixfile", "f", "", _UNUSED),
        Param("maskfile", "f", "", _UNUSED),
        Param("dtffile", "f", "", _UNUSED),
        Param(
            "units",
            "s",
            "default",
            "exposure map units: cm**2 s, cm**2 or s",
            choices=("default", "area", "time"),
        ),
        Param(
            "expmapthresh",
            "s",
            "1.5%",
            "exposure cut: N% of the maximum or an absolute value; none = off",
        ),
        Param(
            "background",
            "s",
            "default",
            _UNUSED,
            choices=("default", "time", "particle", "none"),
        ),
        Param("bkgparams", "s", "[pi=300:500]", _UNUSED),
        Param("psfecf", "r", None, _UNUSED, minimum=0, maximum=1),
        Param("random", "i", 0, _UNUSED, minimum=0),
        Param("parallel", "b", True, _UNUSED),
        Param("nproc", "i", None, _UNUSED),
        Param("tmpdir", "s", "${ASCDS_WORK_PATH}", _UNUSED),
        Param("cleanup", "b", True, "delete the unthresholded images"),
        CLOBBER,
        VERBOSE,
    ),
    positional=("infile", "outroot"),
    notes=(
        "Calibration-free (workflows.md 5): the exposure map is the user's "
        "(`expmapfile=`, resampled onto the counts grid if needed, a list summed), "
        "a flat `arffile=` map A(E_eff) x EXPOSURE x mask (`weights=` for a "
        "spectrum-weighted area), or `units=time` (EXPOSURE x mask, count-rate "
        "images); flat maps ignore vignetting and QE non-uniformity and say so in "
        "their headers. The counts image is what `xdm dmcopy "
        '"evt[energy=lo:hi][bin x=x0:x1:dx,y=y0:y1:dy]"` writes for the same grid. '
        "Without `xygrid=` the grid covers the events at `binsize`. Pixels with "
        "exposure below `expmapthresh` are 0 in the thresholded image and map; the "
        "fluxed image is 0 where the exposure is 0."
    ),
)


@dataclass(frozen=True, slots=True)
class BandProducts:
    """One band's outputs and numbers."""

    band: str
    counts: int
    cut: float
    max_exposure: float
    files: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FluxImageResult:
    """What fluximage made: the grid and, per band, the files written."""

    grid: str
    shape: tuple[int, int]
    bands: tuple[BandProducts, ...] = field(default_factory=tuple)

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(f for b in self.bands for f in b.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "grid": self.grid,
            "shape": list(self.shape),
            "bands": [
                {
                    "band": b.band,
                    "counts": b.counts,
                    "cut": b.cut,
                    "max_exposure": b.max_exposure,
                    "files": list(b.files),
                }
                for b in self.bands
            ],
        }


def fluximage(**params: Any) -> FluxImageResult:
    """``xdm.tools.fluximage(infile=..., outroot=..., ...)``: the per-band images."""
    return TOOL.call(run, params)


# ---------------------------------------------------------------- grid


def num(value: float) -> str:
    """A number as virtual-file text (no exponent)."""
    return str(np.format_float_positional(float(value), trim="-"))


def _data_grid(
    vf: nodes.VirtualFile, binsize: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The events' bounding box at ``binsize``: one streaming pass over x, y."""
    import math

    from xdm.api import scan

    lo = [math.inf, math.inf]
    hi = [-math.inf, -math.inf]
    with scan(vf) as rows:
        for records, kept in rows.chunks:
            if not kept.any():
                continue
            for i, name in enumerate(("x", "y")):
                values = np.asarray(records[name][kept], dtype=np.float64)
                lo[i] = min(lo[i], float(values.min()))
                hi[i] = max(hi[i], float(values.max()))
    if not math.isfinite(lo[0]):
        raise XdmSemanticError(f"fluximage: no events in {vf.path} after the filters")
    axes = []
    for i in range(2):
        start = math.floor(lo[i] - 0.5) + 0.5  # a pixel edge below the first event
        n = max(1, math.floor((hi[i] - start) / binsize) + 1)  # last event inside
        axes.append((start, start + n * binsize, binsize))
    return axes[0], axes[1]


def band_virtual_file(
    vf: nodes.VirtualFile,
    band: Band,
    grid: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> nodes.VirtualFile:
    """``vf`` + ``[energy=lo:hi]`` + ``[bin x=...,y=...]``, built from numbers only."""
    from xdm.lang.parser import parse

    (x0, x1, dx), (y0, y1, dy) = grid
    text = "events.fits"
    window = band.energy_filter
    if window is not None:
        text += f"[energy={num(window[0])}:{num(window[1])}]"
    text += f"[bin x={num(x0)}:{num(x1)}:{num(dx)},y={num(y0)}:{num(y1)}:{num(dy)}]"
    extra = parse(text).qualifiers
    if vf.bin is not None:
        raise XdmSemanticError(
            "fluximage: infile is already binned; give the event file",
            hint="fluximage bins the events itself (binsize= or xygrid=)",
        )
    return replace(vf, qualifiers=tuple(vf.qualifiers) + tuple(extra))


def grid_text(
    grid: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> str:
    (x0, x1, dx), (y0, y1, dy) = grid
    return f"x={num(x0)}:{num(x1)}:{num(dx)},y={num(y0)}:{num(y1)}:{num(dy)}"


# ---------------------------------------------------------------- run


def run(p: Values) -> FluxImageResult:
    """Bin, build or resample the exposure maps, threshold, divide, write."""
    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse
    from xdm.progress import get_verbosity, note
    from xdm.tools._bands import band_label, parse_bands
    from xdm.tools._images import parse_threshold, parse_xygrid, split_outroot

    vf = parse(p["infile"])
    with open_vf_block(vf) as block:
        instrument = str(block.header.get("INSTRUME", "ACIS"))
    for key in ("asolfile", "badpixfile", "maskfile", "dtffile"):
        if str(p[key]).strip():
            note(f"fluximage: {key}={p[key]} is not used (no calibration database)", 1)
    bands = parse_bands(p["bands"], instrument)
    threshold = parse_threshold(p["expmapthresh"])
    if p["xygrid"].strip():
        grid = parse_xygrid(p["xygrid"], "fluximage")
    else:
        binsize = p["binsize"]
        if binsize is None:
            binsize = 32.0 if instrument.upper().startswith("HRC") else 8.0
        if binsize <= 0:
            raise XdmSemanticError("fluximage: binsize must be greater than 0")
        grid = _data_grid(vf, float(binsize))
    outdir, head = split_outroot(p["outroot"])
    if outdir and not os.path.isdir(os.path.expanduser(outdir)):
        os.makedirs(os.path.expanduser(outdir), exist_ok=True)  # CIAO creates it
    names = {
        b.label: _names(outdir + head, band_label(b), threshold, p["cleanup"])
        for b in bands
    }
    _check_clobber(
        [f for files in names.values() for f in files.values()], p["clobber"]
    )
    note(f"fluximage: grid {grid_text(grid)}", level=2)
    products = []
    shape = (0, 0)
    for band in bands:
        made = _one_band(p, vf, band, grid, threshold, names[band.label])
        shape = made[1]
        products.append(made[0])
    result = FluxImageResult(grid_text(grid), shape, tuple(products))
    if get_verbosity() >= 1:
        ny, nx = shape
        print(f"fluximage: {nx} x {ny} pixels covering {result.grid}")
        for b in result.bands:
            print(
                f"  {b.band}: {b.counts} counts; exposure cut {b.cut:g} "
                f"(maximum {b.max_exposure:g})"
            )
            for f in b.files:
                print(f"    {f}")
        if not p["expmapfile"].strip():
            from xdm.tools._images_expmap import IGNORED

            print(f"fluximage: note: {IGNORED}")
    return result


def _names(root: str, label: str, threshold: Any, cleanup: bool) -> dict[str, str]:
    out = {"flux": f"{root}{label}_flux.img"}
    if threshold is not None:
        out["thresh_img"] = f"{root}{label}_thresh.img"
        out["thresh_exp"] = f"{root}{label}_thresh.expmap"
    if threshold is None or not cleanup:
        out["img"] = f"{root}{label}.img"
        out["exp"] = f"{root}{label}.expmap"
    return out


def _check_clobber(files: list[str], clobber: bool) -> None:
    from xdm.errors import XdmIOError

    if clobber:
        return
    for f in files:
        if os.path.exists(os.path.expanduser(f)):
            raise XdmIOError(
                f"output file {f} exists", hint="add clobber=yes to replace it"
            )


def _one_band(
    p: Values,
    vf: nodes.VirtualFile,
    band: Band,
    grid: tuple[tuple[float, float, float], tuple[float, float, float]],
    threshold: tuple[float, bool] | None,
    names: dict[str, str],
) -> tuple[BandProducts, tuple[int, int]]:
    from xdm.api import Image, read
    from xdm.progress import note
    from xdm.tools._images import threshold_cut, write_image

    image = read(band_virtual_file(vf, band, grid))
    assert isinstance(image, Image)
    counts = np.asarray(image.data)
    header = image.header.copy()
    _band_keys(header, band)
    shape = (int(counts.shape[0]), int(counts.shape[1]))
    emap = _exposure_map(p, band, header, shape)
    cut = 0.0
    low = np.zeros(shape, dtype=bool)
    if threshold is not None:
        cut = threshold_cut(emap.data, threshold)
        low = emap.data < cut
    t_img = np.where(low, 0, counts).astype(counts.dtype)
    t_exp = np.where(low, 0.0, emap.data)
    with np.errstate(divide="ignore", invalid="ignore"):
        flux = np.where(t_exp > 0, t_img / np.where(t_exp > 0, t_exp, 1.0), 0.0)
    history = p.text()
    exp_header = _map_header(header, emap, cut, threshold, p)
    flux_header = exp_header.copy()
    flux_header["BUNIT"] = _flux_unit(emap.unit)
    for key in ("EMAPCUT",):
        flux_header.remove(key, ignore_missing=True)
    written = []
    outputs: list[tuple[str, NDArray[Any], Header, str | None]] = []
    if "img" in names:
        outputs += [
            ("img", counts, header, None),
            ("exp", emap.data, exp_header, "EXPMAP"),
        ]
    if "thresh_img" in names:
        outputs += [
            ("thresh_img", t_img, header, None),
            ("thresh_exp", t_exp, exp_header, "EXPMAP"),
        ]
    outputs.append(("flux", flux, flux_header, "PFLUX_IMAGE"))
    for key, data, hdr, extname in outputs:
        path = names[key]
        write_image(
            path, data, hdr, clobber=p["clobber"], extname=extname, history=history
        )
        note(f"fluximage: wrote {path}", level=2)
        written.append(path)
    n = int(counts.sum())
    return BandProducts(
        band.label, n, cut, float(emap.data.max(initial=0.0)), tuple(written)
    ), shape


def _band_keys(header: Header, band: Band) -> None:
    """Band keys, and no time subspace: the images carry no GTI blocks (CIAO's
    fluximage copies them with ``[subspace -time]``)."""
    from xdm.io.subspace import Subspace

    Subspace.from_header(header).removed(["time"]).write(header)
    if band.filtered:
        header["ENERGYLO"] = (band.emin, "[keV] Min photon energy in the image")
        header["ENERGYHI"] = (band.emax, "[keV] Max photon energy in the image")
    header["BANDNAME"] = (band.label, "energy band")
    header["BANDEFF"] = (band.eff, "[keV] effective energy of the band")


def _exposure_map(p: Values, band: Band, header: Header, shape: tuple[int, int]) -> Any:
    from xdm.tools._images import image_list
    from xdm.tools._images_expmap import flat_map, fov_mask, user_map

    if p["expmapfile"].strip():
        return user_map(
            image_list(p["expmapfile"], "fluximage expmapfile"), header, shape
        )
    exposure = header.get("EXPOSURE", header.get("LIVETIME"))
    if exposure is None:
        raise XdmSemanticError(
            f"fluximage: {p['infile']} has no EXPOSURE or LIVETIME keyword",
            hint="flat exposure maps need the exposure time",
        )
    return flat_map(
        band=band,
        exposure=float(exposure),
        units=p["units"],
        arffile=p["arffile"],
        weights=p["weights"],
        mask=fov_mask(p["fovfile"], header, shape),
    )


def _map_header(
    header: Header, emap: Any, cut: float, threshold: Any, p: Values
) -> Header:
    out = header.copy()
    out["BUNIT"] = emap.unit
    out["CONTENT"] = "EXPMAP"
    for key, value, comment in emap.cards:
        out[key] = (value, comment)
    if threshold is not None:
        out["EMAPCUT"] = (cut, f"exposure cut ({p['expmapthresh']})")
    for line in emap.comments:
        out.add_comment(line)
    return out


def _flux_unit(unit: str) -> str:
    """OGIP-style unit of counts divided by the map's unit."""
    u = unit.strip()
    if u in ("cm**2 s", "cm**2 sec", "s cm**2"):
        return "photon/cm**2/s"
    if u == "cm**2":
        return "photon/cm**2"
    if u in ("s", "sec"):
        return "count/s"
    return f"count/({u})" if u else "count"
