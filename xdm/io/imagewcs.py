"""Image coordinate headers: binned-image WCS, and crop/rebin/collapse of a WCS.

Three transforms meet in an image header (dm-syntax 7.5, workflows 1):
logical pixel (1-based, centres at integers) -> physical (event-column units:
``LTVn``/``LTMn_n`` and the alternate WCS ``P``) -> world (the primary WCS, e.g.
``RA---TAN`` derived from the event columns' ``TCTYP``/``TCRVL``/``TCRPX``/``TCDLT``).
Pure header arithmetic; astropy is used for Header/WCS objects only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xdm.io.cards import Cards

if TYPE_CHECKING:
    from astropy.io.fits import Header
    from astropy.wcs import WCS

    from xdm.io.columns import ColumnMeta

__all__ = [
    "AxisGrid",
    "binned_image_header",
    "collapsed_header",
    "column_wcs",
    "is_plain_celestial_pair",
    "physical_axis_names",
    "physical_transform",
    "physical_world_wcs",
    "quiet_wcs",
    "resampled_header",
    "wcs_from_columns",
    "wcs_from_event_columns",
    "wcs_from_image",
]

_ALTS = ("", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CELESTIAL = re.compile(r"^(RA--|DEC-|GLON|GLAT|ELON|ELAT|[A-Z]{2}LN|[A-Z]{2}LT)-?")


@dataclass(frozen=True, slots=True, kw_only=True)
class AxisGrid:
    """One binned axis: bin i (0-based) covers ``[lo + i*step, lo + (i+1)*step)``.

    ``unit`` is the column's ``TUNIT`` (physical unit); ``ctype`` ... ``cunit`` are
    the column's world transform ``TCTYP``/``TCRVL``/``TCRPX``/``TCDLT``/``TCUNI``
    (None when the column has none).
    """

    name: str
    lo: float
    step: float
    nbins: int
    unit: str | None = None
    ctype: str | None = None
    crval: float | None = None
    crpix: float | None = None
    cdelt: float | None = None
    cunit: str | None = None

    @classmethod
    def from_column(
        cls, header: Header, number: int, *, lo: float, step: float, nbins: int
    ) -> AxisGrid:
        """The grid of table column ``number`` (1-based), with its TUNIT/TC* keys."""

        def text(key: str) -> str | None:
            value = header.get(f"{key}{number}")
            return str(value).strip() if value is not None else None

        def real(key: str) -> float | None:
            value = header.get(f"{key}{number}")
            return float(value) if isinstance(value, int | float) else None

        return cls(
            name=text("TTYPE") or f"col{number}",
            lo=lo,
            step=step,
            nbins=nbins,
            unit=text("TUNIT"),
            ctype=text("TCTYP"),
            crval=real("TCRVL"),
            crpix=real("TCRPX"),
            cdelt=real("TCDLT"),
            cunit=text("TCUNI"),
        )

    @property
    def has_world(self) -> bool:
        return None not in (self.ctype, self.crval, self.crpix, self.cdelt)

    def to_logical(self, value: Any) -> Any:
        """Physical value -> logical pixel (1-based, centres at integers)."""
        return (np.asarray(value) - self.lo) / self.step + 0.5


def binned_image_header(
    axes: Sequence[AxisGrid],
    column_wcs: bool = True,
    *,
    event_header: Header | None = None,
    vector: str | None = None,
) -> Header:
    """Coordinate keywords of the image made by binning ``axes`` (axis 1 first).

    Physical: ``LTVn = 0.5 - lo/step``, ``LTMn_n = 1/step`` and the alternate WCS
    ``P`` (``WCSNAMEP='PHYSICAL'``, ``CTYPEnP`` = column name, ``CRPIXnP = 0.5``,
    ``CRVALnP = lo``, ``CDELTnP = step``, ``CUNITnP`` = TUNIT).

    World (primary WCS), when ``column_wcs`` and the columns have TC* keys:
    ``CRPIXn = (TCRPX - lo)/step + 0.5``, ``CDELTn = TCDLT*step``,
    ``CRVALn = TCRVL``, ``CTYPEn = TCTYP``, plus ``RADESYS``/``EQUINOX`` from
    ``event_header``. Axes without a world transform get the physical transform as
    their primary WCS (so a cube ``x,y,time`` has RA, Dec and time); if the world
    keys do not form a valid WCS (one celestial axis of a pair) every axis falls
    back to physical.

    ``vector`` names the pair (``sky``) as ``MTYPE1``/``MFORM1``, as CIAO does,
    so that ``img[sky=...]`` and ``[bin sky=4]`` work on the image.

    The keywords come as lean ``Cards`` when ``event_header`` is ``Cards`` (a
    plain file read without astropy), else as an astropy ``Header``.
    """
    header: Any
    if isinstance(event_header, Cards):
        header = Cards()
    else:
        from astropy.io import fits

        header = fits.Header()
    use_world = column_wcs and any(a.has_world for a in axes)
    world = [a.has_world and use_world for a in axes]
    if use_world and not _valid_world(axes, world, event_header):
        world = [False] * len(axes)
    for i, axis in enumerate(axes, start=1):
        if world[i - 1]:
            assert axis.crpix is not None and axis.cdelt is not None
            header[f"CTYPE{i}"] = axis.ctype
            header[f"CRVAL{i}"] = axis.crval
            header[f"CRPIX{i}"] = (axis.crpix - axis.lo) / axis.step + 0.5
            header[f"CDELT{i}"] = axis.cdelt * axis.step
            header[f"CUNIT{i}"] = axis.cunit or "deg"
        else:
            header[f"CTYPE{i}"] = axis.name
            header[f"CRVAL{i}"] = axis.lo
            header[f"CRPIX{i}"] = 0.5
            header[f"CDELT{i}"] = axis.step
            if axis.unit:
                header[f"CUNIT{i}"] = axis.unit
    if any(world) and event_header is not None:
        for key in ("RADESYS", "EQUINOX"):
            if key in event_header:
                header[key] = event_header[key]
    header["WCSNAMEP"] = "PHYSICAL"
    for i, axis in enumerate(axes, start=1):
        header[f"WCSTY{i}P"] = "PHYSICAL"
        header[f"CTYPE{i}P"] = axis.name
        header[f"CRVAL{i}P"] = axis.lo
        header[f"CRPIX{i}P"] = 0.5
        header[f"CDELT{i}P"] = axis.step
        if axis.unit:
            header[f"CUNIT{i}P"] = axis.unit
    for i, axis in enumerate(axes, start=1):
        header[f"LTV{i}"] = 0.5 - axis.lo / axis.step
        header[f"LTM{i}_{i}"] = 1.0 / axis.step
    if vector and len(axes) >= 2:
        header["MTYPE1"] = vector
        header["MFORM1"] = f"{axes[0].name},{axes[1].name}"
        if world[0] and world[1]:
            header["MTYPE2"] = "EQPOS"
            header["MFORM2"] = "RA,DEC"
    return header


def _valid_world(
    axes: Sequence[AxisGrid], world: Sequence[bool], event_header: Header | None
) -> bool:
    """Whether the world keys make a WCS astropy accepts (pairs complete)."""
    celestial = [
        bool(_CELESTIAL.match((a.ctype or "").upper()))
        for a, w in zip(axes, world)
        if w
    ]
    if sum(celestial) % 2:
        return False
    used = [(a.ctype or "").upper() for a, w in zip(axes, world) if w]
    if is_plain_celestial_pair(used):
        return True  # what wcslib accepts, without importing astropy.wcs (0.3 s)
    from astropy.wcs import WCS

    try:
        w = WCS(naxis=len(axes))
        w.wcs.ctype = [
            (a.ctype or "") if use else a.name for a, use in zip(axes, world)
        ]
        w.wcs.set()
    except Exception:  # wcslib rejects the combination: fall back to physical
        return False
    return True


_PAIRS = {("RA--", "DEC-"), ("GLON", "GLAT"), ("ELON", "ELAT")}
PARAMETER_FREE_PROJECTIONS = frozenset(
    ("TAN", "SIN", "ARC", "STG", "ZEA", "CAR", "AIT", "MOL", "MER", "SFL")
)
"""Projections wcslib sets up without PVi_m keywords (checked against wcslib in
tests/test_imagewcs.py)."""


def is_plain_celestial_pair(ctypes: Sequence[str]) -> bool:
    """Exactly a longitude/latitude pair with one parameter-free projection
    (``RA---TAN``/``DEC--TAN``, Chandra's sky columns): such a pair's world
    coordinates are computed without astropy's WCS (``PARAMETER_FREE_PROJECTIONS``)."""
    if len(ctypes) != 2 or any(len(c) != 8 or c[4] != "-" for c in ctypes):
        return False
    a, b = ctypes
    return (
        ((a[:4], b[:4]) in _PAIRS or (b[:4], a[:4]) in _PAIRS)
        and a[5:] == b[5:]
        and a[5:] in PARAMETER_FREE_PROJECTIONS
    )


def wcs_from_image(header: Header) -> WCS:
    """WCS mapping *physical* pixels of an image to the sky.

    The image WCS maps logical pixels; composing with ``logical = M phys + v``
    gives ``crpix' = M^-1 (crpix - v)`` and a linear part ``L M``.
    """
    from astropy.wcs import WCS

    w = WCS(header, naxis=2)
    m = np.diag([float(header.get("LTM1_1", 1.0)), float(header.get("LTM2_2", 1.0))])
    v = np.array([float(header.get("LTV1", 0.0)), float(header.get("LTV2", 0.0))])
    w.wcs.crpix = np.linalg.solve(m, np.asarray(w.wcs.crpix) - v)
    if w.wcs.has_cd():
        w.wcs.cd = np.asarray(w.wcs.cd) @ m
    else:
        w.wcs.pc = np.asarray(w.wcs.get_pc()) @ m
    w.wcs.set()
    return w


def wcs_from_columns(header: Header, xcol: str | int, ycol: str | int) -> WCS:
    """WCS of an event list's x/y columns (TCTYPn/TCRVLn/TCRPXn/TCDLTn keys).

    Columns are given by name (``TTYPEn``) or 1-based number.
    """
    from astropy.wcs import WCS

    def number(col: str | int) -> int:
        if isinstance(col, int):
            return col
        for key, value in header.items():
            if key.startswith("TTYPE") and str(value).strip().lower() == col.lower():
                return int(key[5:])
        raise KeyError(col)

    nx, ny = number(xcol), number(ycol)
    w = WCS(naxis=2)
    w.wcs.ctype = [header.get(f"TCTYP{n}", "") for n in (nx, ny)]
    w.wcs.crval = [float(header.get(f"TCRVL{n}", 0.0)) for n in (nx, ny)]
    w.wcs.crpix = [float(header.get(f"TCRPX{n}", 0.0)) for n in (nx, ny)]
    w.wcs.cdelt = [float(header.get(f"TCDLT{n}", 1.0)) for n in (nx, ny)]
    w.wcs.cunit = [header.get(f"TCUNI{n}", "deg") or "deg" for n in (nx, ny)]
    for key in ("RADESYS", "RADECSYS"):
        if key in header:
            w.wcs.radesys = str(header[key]).strip()
            break
    if "EQUINOX" in header:
        w.wcs.equinox = float(header["EQUINOX"])
    w.wcs.set()
    return w


def wcs_from_event_columns(header: Header, xcol_index: int, ycol_index: int) -> WCS:
    """Astropy WCS of an event list's x/y columns: physical (origin 1) -> RA/Dec.

    ``xcol_index``/``ycol_index`` are 1-based column numbers (names also work).
    """
    return wcs_from_columns(header, xcol_index, ycol_index)


# ---------------------------------------------------------------- reading images


def quiet_wcs(header: Header, key: str = " ") -> WCS:
    """``astropy.wcs.WCS(header)`` without the FITSFixedWarning chatter.

    Event-derived headers carry MJDREF/DATE-END, which wcslib "fixes" noisily.
    """
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header, key=key)


def physical_transform(header: Header, naxis: int) -> list[tuple[float, float]]:
    """Per axis ``(ltm, ltv)`` with ``logical = ltm * physical + ltv``.

    From ``LTMn_n``/``LTVn`` when present, else from the alternate WCS ``P``
    (``physical = CRVALnP + CDELTnP (logical - CRPIXnP)``), else identity.
    Off-diagonal LTM terms are not supported (CIAO writes none).
    """
    out = []
    for i in range(1, naxis + 1):
        if f"LTM{i}_{i}" in header or f"LTV{i}" in header:
            out.append(
                (
                    float(header.get(f"LTM{i}_{i}", 1.0)),
                    float(header.get(f"LTV{i}", 0.0)),
                )
            )
        elif f"CDELT{i}P" in header or f"CRVAL{i}P" in header:
            cdelt = float(header.get(f"CDELT{i}P", 1.0))
            crval = float(header.get(f"CRVAL{i}P", 0.0))
            crpix = float(header.get(f"CRPIX{i}P", 0.0))
            out.append((1.0 / cdelt, crpix - crval / cdelt))
        else:
            out.append((1.0, 0.0))
    return out


def physical_axis_names(header: Header, naxis: int) -> list[str]:
    """Physical names of the axes: ``CTYPEnP`` (``x``, ``y``), else x, y, z, ..."""
    defaults = ["x", "y", "z"]
    names = []
    for i in range(1, naxis + 1):
        name = header.get(f"CTYPE{i}P")
        if isinstance(name, str) and name.strip():
            names.append(name.strip())
        else:
            names.append(defaults[i - 1] if i <= len(defaults) else f"axis{i}")
    return names


def physical_world_wcs(header: Header, axes: tuple[int, int] = (1, 2)) -> WCS | None:
    """WCS mapping physical pixels of two image axes to world (``all_pix2world(x, y, 1)``).

    The primary WCS maps logical pixels; composing with ``logical = ltm * phys + ltv``
    gives ``crpix' = (crpix - ltv)/ltm`` and the linear part times ``diag(ltm)``.
    None when the image has no celestial world transform on those axes.
    """
    try:
        full = quiet_wcs(header)
    except Exception:
        return None
    if full.naxis < max(axes):
        return None
    w = full.sub([axes[0], axes[1]])
    if not w.has_celestial:
        return None
    transform = physical_transform(header, max(axes))
    ltm = np.array([transform[a - 1][0] for a in axes])
    ltv = np.array([transform[a - 1][1] for a in axes])
    w.wcs.crpix = (np.asarray(w.wcs.crpix) - ltv) / ltm
    if w.wcs.has_cd():
        w.wcs.cd = np.asarray(w.wcs.cd) @ np.diag(ltm)
    else:
        w.wcs.pc = np.asarray(w.wcs.get_pc()) @ np.diag(ltm)
    w.wcs.set()
    return w


# ---------------------------------------------------------------- editing images

_ONE = re.compile(
    r"^(CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA|CRDER|CSYER|CNAME)(\d+)([A-Z]?)$"
)
_WCSTY = re.compile(r"^WCSTY(\d+)([A-Z]?)$")
_TWO = re.compile(r"^(PC|CD|PV|PS)(\d+)_(\d+)([A-Z]?)$")
_LTV = re.compile(r"^LTV(\d+)$")
_LTM = re.compile(r"^LTM(\d+)_(\d+)$")


def resampled_header(
    header: Header, offsets: Sequence[int], factors: Sequence[int]
) -> Header:
    """Header of a crop then block-sum: axis i drops ``offsets[i]`` pixels, then
    sums ``factors[i]`` pixels into one.

    New pixel k covers old pixels ``o + (k-1) f + 1 .. o + k f``, so an old logical
    coordinate ``l`` becomes ``(l - o - 0.5)/f + 0.5``. Applied to ``CRPIXn`` of
    every WCS (primary, ``P``, any alternate) and to ``LTVn``; the linear part
    scales by ``f`` per pixel axis (``CDELTn``, or the ``PC``/``CD`` columns when
    they mix axes) and ``LTMi_j`` by ``1/f_i``. An image with no physical transform
    gets ``LTV``/``LTM`` so physical = the old logical pixels. World and physical
    coordinates of every point are unchanged.
    """
    out = header.copy()
    n = len(offsets)
    off = np.asarray(offsets, dtype=float)
    fac = np.asarray(factors, dtype=float)

    def moved(value: float, i: int) -> float:
        return float((value - off[i - 1] - 0.5) / fac[i - 1] + 0.5)

    had_physical = any(_LTV.match(k) or _LTM.match(k) for k in header) or any(
        k.endswith("P") and _ONE.match(k) for k in header
    )
    for alt in _ALTS:
        for i in range(1, n + 1):
            key = f"CRPIX{i}{alt}"
            if key in out:
                out[key] = moved(float(out[key]), i)
        _scale_linear(out, alt, fac)
    if not had_physical:
        for i in range(1, n + 1):
            out[f"LTV{i}"] = 0.0
            out[f"LTM{i}_{i}"] = 1.0
    for key in list(out):
        if m := _LTV.match(key):
            i = int(m.group(1))
            if i <= n:
                out[key] = moved(float(out[key]), i)
        elif m := _LTM.match(key):
            i = int(m.group(1))
            if i <= n:
                out[key] = float(out[key]) / fac[i - 1]
    return out


def _scale_linear(header: Header, alt: str, fac: np.ndarray) -> None:
    """Scale pixel axis j of one WCS's linear part by ``fac[j]``."""
    n = len(fac)
    cd = [
        (i, j)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if f"CD{i}_{j}{alt}" in header
    ]
    pc = {
        (i, j): float(header[f"PC{i}_{j}{alt}"])
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if f"PC{i}_{j}{alt}" in header
    }
    if cd:
        for i, j in cd:
            header[f"CD{i}_{j}{alt}"] = float(header[f"CD{i}_{j}{alt}"]) * fac[j - 1]
        return
    if any(v != 0.0 for (i, j), v in pc.items() if i != j):
        for (i, j), v in pc.items():
            header[f"PC{i}_{j}{alt}"] = v * fac[j - 1]
        return
    has_wcs = any(
        f"{k}{i}{alt}" in header
        for k in ("CTYPE", "CRPIX", "CDELT")
        for i in range(1, n + 1)
    )
    if not has_wcs:
        return
    for j in range(1, n + 1):
        key = f"CDELT{j}{alt}"
        header[key] = float(header.get(key, 1.0)) * fac[j - 1]


def collapsed_header(header: Header, keep: Sequence[int]) -> Header:
    """Header after summing away every logical axis not in ``keep`` (1-based, kept order).

    Axis keywords are renumbered (``keep=[2, 3]``: axis 2 -> 1, 3 -> 2); those of
    dropped axes are removed, and so are matrix terms linking kept and dropped axes.
    A celestial axis whose partner was dropped loses its world keywords in that WCS.
    """
    from astropy.io import fits

    new_number = {old: new for new, old in enumerate(keep, start=1)}
    out = fits.Header()
    for card in header.cards:
        key = card.keyword
        renamed: str | None = key
        if m := _ONE.match(key):
            i = new_number.get(int(m.group(2)))
            renamed = None if i is None else f"{m.group(1)}{i}{m.group(3)}"
        elif m := _WCSTY.match(key):
            i = new_number.get(int(m.group(1)))
            renamed = None if i is None else f"WCSTY{i}{m.group(2)}"
        elif m := _TWO.match(key):
            i = new_number.get(int(m.group(2)))
            second = int(m.group(3))
            if m.group(1) in ("PC", "CD"):
                j = new_number.get(second)
                renamed = (
                    None
                    if i is None or j is None
                    else f"{m.group(1)}{i}_{j}{m.group(4)}"
                )
            else:
                renamed = None if i is None else f"{m.group(1)}{i}_{second}{m.group(4)}"
        elif m := _LTV.match(key):
            i = new_number.get(int(m.group(1)))
            renamed = None if i is None else f"LTV{i}"
        elif m := _LTM.match(key):
            i, j = new_number.get(int(m.group(1))), new_number.get(int(m.group(2)))
            renamed = None if i is None or j is None else f"LTM{i}_{j}"
        elif re.match(r"^NAXIS\d+$", key):
            renamed = None
        elif re.match(r"^WCSAXES[A-Z]?$", key):
            out[key] = len(keep)
            continue
        if renamed is None:
            continue
        if renamed == key:
            out.append(card, end=True)
        else:
            out.append(fits.Card(renamed, card.value, card.comment), end=True)
    for alt in _ALTS:
        celestial = [
            i
            for i in range(1, len(keep) + 1)
            if _CELESTIAL.match(str(out.get(f"CTYPE{i}{alt}", "")).upper())
        ]
        if len(celestial) == 1:
            i = celestial[0]
            for key in [
                k
                for k in out
                if (m := _ONE.match(k)) and int(m.group(2)) == i and m.group(3) == alt
            ]:
                del out[key]
    return out


def column_wcs(xcol: ColumnMeta, ycol: ColumnMeta) -> Any:
    """The world transform of event columns x, y for region code (None if they have none).

    Built on first use (``_LazyWcs``): a region in physical pixels never touches
    it, and importing astropy.wcs costs ~0.4 s of a fresh process. The engine's
    region filters and the advice's region bounds both use it.
    """
    if xcol.wcs is None or ycol.wcs is None:
        return None
    return _LazyWcs(xcol, ycol)


class _LazyWcs:
    """Stands in for an astropy WCS; builds it when an attribute is first read."""

    __slots__ = ("_columns", "_wcs")

    def __init__(self, xcol: ColumnMeta, ycol: ColumnMeta) -> None:
        self._columns = (xcol, ycol)
        self._wcs: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._wcs is None:
            self._wcs = _build_column_wcs(*self._columns)
        return getattr(self._wcs, name)


def _build_column_wcs(xcol: ColumnMeta, ycol: ColumnMeta) -> Any:
    """An astropy WCS mapping physical (x, y) with origin 1 to world."""
    assert xcol.wcs is not None and ycol.wcs is not None
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = [xcol.wcs.ctype, ycol.wcs.ctype]
    w.wcs.crval = [xcol.wcs.crval, ycol.wcs.crval]
    w.wcs.crpix = [xcol.wcs.crpix, ycol.wcs.crpix]
    w.wcs.cdelt = [xcol.wcs.cdelt, ycol.wcs.cdelt]
    w.wcs.cunit = [xcol.wcs.cunit or "deg", ycol.wcs.cunit or "deg"]
    w.wcs.set()
    return w
