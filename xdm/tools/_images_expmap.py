"""Calibration-free exposure maps for fluximage (workflows.md 5).

Three routes, as the spec offers them:

* a user map (``expmapfile=``): one image on the counts grid, one on another
  grid (resampled as an intensive quantity), or ``@maps.lis`` (per-chip maps
  resampled and summed, as dmregrid does);
* a flat map from an ARF (``arffile=``): ``A_eff x EXPOSURE x mask`` with
  ``A_eff = SPECRESP`` of the ARF bin holding the band's effective energy, or
  ``sum w_i SPECRESP(E_i) / sum w_i`` with spectral weights (``weights=``);
* a time-only map (``units=time``): ``EXPOSURE x mask`` (count-rate images).

The ARF and time maps ignore vignetting and QE non-uniformity; their headers
say so. ``mask`` is 1 at pixel centres inside ``fovfile=`` (a region), or 1
everywhere when no region is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmIOError, XdmSemanticError
from xdm.tools._bands import Band

if TYPE_CHECKING:
    from xdm.io.hdus import Header

__all__ = [
    "ExposureMap",
    "arf_area",
    "flat_map",
    "fov_mask",
    "read_weights",
    "user_map",
]

IGNORED = "vignetting and QE non-uniformity are ignored (flat map)"


@dataclass(frozen=True, slots=True)
class ExposureMap:
    """An exposure map on the counts grid, its unit and the header cards to record."""

    data: NDArray[np.float64]
    unit: str
    cards: tuple[tuple[str, Any, str], ...]
    comments: tuple[str, ...] = ()


def user_map(
    names: list[str], grid_header: Header, shape: tuple[int, int]
) -> ExposureMap:
    """The user's map(s) on the counts grid: same grid as is, else resampled and summed."""
    from xdm.progress import note
    from xdm.tools._images import read_grid_image, same_grid
    from xdm.tools._reproject import resample

    total = np.zeros(shape, dtype=np.float64)
    unit = ""
    for name in names:
        img = read_grid_image(name, "exposure map")
        if not np.all(np.isfinite(img.data)):
            raise XdmSemanticError(
                f"fluximage: exposure map {name} has NaN or infinite pixels",
                hint="replace them by 0 first (xdm dmimgcalc)",
            )
        unit = unit or str(img.header.get("BUNIT", "")).strip()
        if same_grid(img.header, grid_header, img.shape, shape) is None:
            total += img.data
            note(f"fluximage: {name} is on the counts grid", level=3)
        else:
            note(f"fluximage: resampling {name} onto the counts grid", level=2)
            total += resample(img.data, img.header, grid_header, shape, mode="mean")
    cards = (
        (
            "EXPMAPIN",
            ",".join(os.path.basename(n) for n in names)[:68],
            "user exposure map(s)",
        ),
    )
    return ExposureMap(total, unit or "cm**2 s", cards)


def arf_area(path: str, energy_kev: float) -> float:
    """SPECRESP of the ARF bin with ENERG_LO <= E < ENERG_HI (cm**2)."""
    lo, hi, resp = _arf(path)
    inside = np.nonzero((lo <= energy_kev) & (energy_kev < hi))[0]
    if inside.size == 0:
        raise XdmSemanticError(
            f"fluximage: energy {energy_kev:g} keV is outside the ARF {path} "
            f"({lo.min():g} to {hi.max():g} keV)"
        )
    return float(resp[inside[0]])


def _arf(path: str) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    from xdm.io.hdus import open_fits

    real = os.path.expanduser(path)
    if not os.path.exists(real):
        raise XdmIOError(f"fluximage: ARF {path} not found")
    try:
        hdul = open_fits(real)
    except XdmIOError as err:
        raise XdmIOError(f"fluximage: cannot read ARF {path}: {err.message}") from None
    try:
        with hdul:
            for hdu in hdul[1:]:
                names = [
                    n.upper()
                    for n in (hdu.columns.names if hasattr(hdu, "columns") else [])
                ]
                if {"ENERG_LO", "ENERG_HI", "SPECRESP"} <= set(names):
                    d = hdu.data
                    return (
                        np.asarray(d["ENERG_LO"], dtype=float),
                        np.asarray(d["ENERG_HI"], dtype=float),
                        np.asarray(d["SPECRESP"], dtype=float),
                    )
    except OSError as err:  # a block that cannot be read
        raise XdmIOError(f"fluximage: cannot read ARF {path}: {err}") from None
    raise XdmSemanticError(
        f"fluximage: {path} has no SPECRESP table (ENERG_LO, ENERG_HI, SPECRESP)"
    )


def read_weights(path: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A weights file (make_instmap_weights): lines ``energy_keV weight``, ``#`` comments."""
    try:
        with open(os.path.expanduser(path)) as fh:
            rows = [line.split("#", 1)[0].split() for line in fh]
    except OSError as err:
        raise XdmIOError(
            f"fluximage: cannot read weights {path}: {err.strerror}"
        ) from None
    rows = [r for r in rows if r]
    try:
        table = np.array([[float(r[0]), float(r[1])] for r in rows])
    except (ValueError, IndexError):
        raise XdmSemanticError(
            f"fluximage: weights file {path} must hold lines 'energy_keV weight'"
        ) from None
    if table.size == 0 or np.any(table[:, 1] < 0) or table[:, 1].sum() <= 0:
        raise XdmSemanticError(f"fluximage: weights in {path} must be >= 0, not all 0")
    return table[:, 0], table[:, 1]


def flat_map(
    *,
    band: Band,
    exposure: float,
    units: str,
    arffile: str,
    weights: str,
    mask: NDArray[np.bool_],
) -> ExposureMap:
    """``A_eff x EXPOSURE x mask`` (cm**2 s), ``A_eff x mask`` (units=area) or
    ``EXPOSURE x mask`` (units=time, s)."""
    cards: list[tuple[str, Any, str]] = [
        ("ENERG_LO", band.emin, "[keV] band minimum"),
        ("ENERG_HI", band.emax, "[keV] band maximum"),
    ]
    if units == "time":
        cards.append(("EMAPTYPE", "TIME", "exposure time x mask, no area"))
        return ExposureMap(
            _scaled(mask, float(exposure)), "s", tuple(cards), (IGNORED,)
        )
    if not arffile:
        raise XdmSemanticError(
            "fluximage: no exposure map: give expmapfile= (a map), arffile= (an ARF) "
            "or units=time",
            hint="xdm has no calibration database to build instrument maps",
        )
    if weights:
        energies, w = read_weights(weights)
        areas = np.array([arf_area(arffile, e) for e in energies])
        area = float(np.sum(w * areas) / np.sum(w))
        cards += [
            ("SPECTRUM", "WEIGHTED", ""),
            ("WGTFILE", os.path.basename(weights), ""),
        ]
    else:
        area = arf_area(arffile, band.eff)
        cards += [("MONOENER", band.eff, "[keV] energy of the effective area")]
    cards += [
        ("EMAPTYPE", "ARF", "flat map: ARF area x exposure x mask"),
        ("ARFFILE", os.path.basename(arffile), "ARF used"),
        ("AEFF", area, "[cm**2] effective area used"),
    ]
    if units == "area":
        return ExposureMap(_scaled(mask, area), "cm**2", tuple(cards), (IGNORED,))
    return ExposureMap(
        _scaled(mask, area * float(exposure)), "cm**2 s", tuple(cards), (IGNORED,)
    )


def _scaled(mask: NDArray[np.bool_], value: float) -> NDArray[np.float64]:
    return np.where(mask, value, 0.0).astype(np.float64)


def fov_mask(fovfile: str, header: Header, shape: tuple[int, int]) -> NDArray[np.bool_]:
    """Pixel centres inside the region ``fovfile`` (text or ``region(file)``), or all."""
    if not fovfile.strip():
        return np.ones(shape, dtype=bool)
    from xdm.io.imagewcs import physical_transform, physical_world_wcs
    from xdm.regions.api import region

    text = fovfile.strip()
    if os.path.exists(os.path.expanduser(text)):
        text = f"region({os.path.expanduser(text)})"
    reg = region(text, wcs=physical_world_wcs(header))
    (mx, vx), (my, vy) = physical_transform(header, 2)
    ny, nx = shape
    gy, gx = np.mgrid[1 : ny + 1, 1 : nx + 1].astype(np.float64)
    inside = reg.contains(((gx - vx) / mx).ravel(), ((gy - vy) / my).ravel())
    return np.asarray(inside, dtype=bool).reshape(shape)
