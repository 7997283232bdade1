"""merge_obs inputs and outputs: file lists, observations, names, thresholds, FITS.

Names follow CIAO (tool-params.md "File names"): ``outroot`` splits into a
directory and a head, which gets a trailing ``_`` unless empty or already
ending in one; merged files are ``<head><band>_thresh.img``,
``_thresh.expmap``, ``_flux.img`` and each observation's are prefixed with its
OBS_ID (``<head><obsid>_<band>.img``, ...), as fluximage names them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmIOError, XdmSemanticError
from xdm.io import keywords
from xdm.tools._bands import Band
from xdm.tools._images_expmap import arf_area
from xdm.tools._merge_grid import Frame, Grid, frame_of_columns, parse_refcoord
from xdm.tools._merge_work import Counts, Exposure, exposure

if TYPE_CHECKING:
    from xdm.io.hdus import Header
    from xdm.tools.merge_obs import MergeResult
    from xdm.tools.params import Values

COPIED: Final = (
    keywords.IDENTITY,
    keywords.DETECTOR,
    keywords.DATES,
    keywords.TIME_SYSTEM,
)
"""The keyword groups an image carries from its observation's events: which
observation, detector and dates, and how to read its TSTART/TSTOP (OBS_ID,
TSTART, TSTOP and EXPOSURE are then set by the merge)."""

MERGED: Final = {"DATE-OBS": min, "DATE-END": max, "TIERRELA": max, "TIERABSO": max}
"""The carried keys a merged image takes over all observations, as CIAO's
merge_obs does (fluximage_header_lookup.txt: dates calcForce, errors Max); the
others are the first observation's."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One input: its virtual file, OBS_ID, instrument, sky plane and exposure (s)."""

    vf: str
    obsid: str
    instrument: str
    frame: Frame
    exposure: float | None
    has_energy: bool
    tstart: float | None
    tstop: float | None
    cards: tuple[tuple[str, Any], ...]


def file_list(text: str, what: str) -> list[str]:
    """``a,b,c`` / ``a b c`` / ``@list`` (names relative to the list; ``@-`` as written).

    Commas inside a virtual file's brackets do not split it.
    """
    words = _split(text)
    out: list[str] = []
    for w in words:
        if not w.startswith("@"):
            out.append(w)
            continue
        keep = w.startswith("@-")
        path = Path(w[2:] if keep else w[1:])
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise XdmIOError(
                f"{what}: cannot read the list {path}: {exc.strerror}"
            ) from None
        for line in lines:
            for name in _split(line.split("#", 1)[0]):
                if keep or os.path.isabs(name):
                    out.append(name)
                else:
                    out.append(str(path.parent / name))
    return out


def _split(text: str) -> list[str]:
    words, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth = max(0, depth - 1)
        if depth == 0 and (ch == "," or ch.isspace()):
            if cur:
                words.append(cur)
            cur = ""
            continue
        cur += ch
    if cur:
        words.append(cur)
    return words


def observation(vf: str, base_dir: str | None = None) -> Observation:
    """Read what merging needs from an event file's header (after its filters).

    ``base_dir`` resolves a relative name (a worker elsewhere reads the file).
    """
    from xdm.api import scan
    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse

    with open_vf_block(parse(vf), base_dir=base_dir) as block:
        if not block.is_table:
            raise XdmSemanticError(f"merge_obs: {vf} is not an event table")
        xcol, ycol = block.column("x"), block.column("y")
        if xcol is None or ycol is None:
            raise XdmSemanticError(
                f"merge_obs: {vf} has no x, y columns",
                hint="merge_obs merges event files with sky columns x and y",
            )
        frame = frame_of_columns(block.header, xcol.number, ycol.number)
        has_energy = block.column("energy") is not None
    with scan(vf, base_dir=base_dir) as rows:  # the header after the filters
        header = rows.header

    def real(key: str) -> float | None:
        value = header.get(key)
        return float(value) if isinstance(value, int | float) else None

    exposure = next(
        (v for k in ("EXPOSURE", "LIVETIME", "ONTIME") if (v := real(k))), None
    )
    obsid = str(header.get("OBS_ID", "")).strip() or Path(vf.split("[", 1)[0]).stem
    copied: dict[str, Any] = {}
    keywords.carry(header, copied, *COPIED, comments=False)
    cards = tuple(copied.items())
    return Observation(
        vf,
        obsid,
        str(header.get("INSTRUME", "ACIS")).strip() or "ACIS",
        frame,
        exposure,
        has_energy,
        real("TSTART"),
        real("TSTOP"),
        cards,
    )


def prefixes(obsids: list[str]) -> list[str]:
    """Per-observation file prefixes: the OBS_ID, ``_2``, ``_3`` ... for repeats."""
    seen: dict[str, int] = {}
    out = []
    for o in obsids:
        seen[o] = seen.get(o, 0) + 1
        out.append(o if seen[o] == 1 else f"{o}_{seen[o]}")
    return out


def common_frame(refcoord: str, first: Frame) -> Frame:
    """The merged plane: the first observation's, moved to ``refcoord`` if given."""
    text = refcoord.strip()
    path = text.split("[", 1)[0]
    if text and os.path.isfile(path):
        ref = observation(text).frame
        return first.moved_to(ref.ra0, ref.dec0)
    radec = parse_refcoord(text)
    return first if radec is None else first.moved_to(*radec)


def user_grid(text: str, frame: Frame) -> Grid:
    """``xygrid=``: CIAO's text form, or an image whose physical grid is reused."""
    from xdm.tools._merge_grid import xygrid_grid

    path = text.split("[", 1)[0]
    if not os.path.isfile(path):
        return xygrid_grid(text)
    from xdm.io.hdus import read_header

    header = read_header(path)
    if int(header.get("NAXIS", 0)) != 2 or "LTM1_1" not in header:
        raise XdmSemanticError(
            f"merge_obs: xygrid={text} is not a binned sky image (no LTM1_1)"
        )
    step = 1.0 / float(header["LTM1_1"])
    xlo = (0.5 - float(header["LTV1"])) * step
    ylo = (0.5 - float(header.get("LTV2", 0.0))) * step
    crval = (header.get("CRVAL1"), header.get("CRVAL2"))
    if None not in crval and not np.allclose(crval, (frame.ra0, frame.dec0), atol=1e-7):
        raise XdmSemanticError(
            f"merge_obs: the image {path} has its tangent point at "
            f"{crval[0]:.6f} {crval[1]:.6f}, not the merge's {frame.ra0:.6f} {frame.dec0:.6f}",
            hint=f'add refcoord="{crval[0]} {crval[1]}"',
        )
    return Grid(xlo, ylo, step, int(header["NAXIS1"]), int(header["NAXIS2"]))


def thresholded(p: Values) -> bool:
    """Is an exposure threshold asked for (names get ``_thresh``)?"""
    return threshold_text(str(p["expmapthresh"])) is not None


def threshold_text(text: str) -> tuple[float, bool] | None:
    """``1.5%`` -> (1.5, percent); ``200`` -> (200, absolute); 0/none -> None."""
    from xdm.tools._images import parse_threshold

    return parse_threshold(text)


def apply_threshold(
    images: NDArray[np.int64],
    maps: NDArray[np.float64],
    thresh: tuple[float, bool] | None,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Set bins whose exposure is below the threshold to 0 in both (dmimgthresh)."""
    from xdm.tools._images import threshold_cut

    if thresh is None:
        return images, maps
    img = images.copy()
    emap = maps.copy()
    for b in range(len(maps)):
        low = maps[b] < threshold_cut(maps[b], thresh)
        img[b][low] = 0
        emap[b][low] = 0.0
    return img, emap


def exposures(p: Values, obs: list[Observation], bands: list[Band]) -> list[Exposure]:
    """How each observation's exposure map is made (see ``Exposure``)."""
    maps = file_list(str(p["expmapfiles"]), "expmapfiles")
    arfs = file_list(str(p["arffiles"]), "arffiles")
    n, nb = len(obs), len(bands)
    units = str(p["units"])
    if maps:
        if len(maps) == n:
            per = [tuple([m] * nb) for m in maps]
        elif len(maps) == n * nb:
            per = [tuple(maps[k * nb : (k + 1) * nb]) for k in range(n)]
        else:
            raise XdmSemanticError(
                f"merge_obs: {len(maps)} expmapfiles for {n} observations and {nb} bands",
                hint="give one exposure map per observation, or one per observation and band",
            )
        for m in maps:
            if not os.path.isfile(m):
                raise XdmIOError(f"merge_obs: exposure map {m} not found")
        units_of = {m: _map_unit(m) for m in maps}
        per = [tuple(os.path.abspath(m) for m in ms) for ms in per]
        units_of |= {os.path.abspath(m): u for m, u in units_of.items()}
        return [Exposure("maps", maps=m, unit=units_of[m[0]]) for m in per]
    for o in obs:
        if o.exposure is None:
            raise XdmSemanticError(
                f"merge_obs: {o.vf} has no EXPOSURE, LIVETIME or ONTIME"
            )
    if arfs and units != "time":
        if len(arfs) != n:
            raise XdmSemanticError(
                f"merge_obs: {len(arfs)} arffiles for {n} observations"
            )
        out = []
        for o, arf in zip(obs, arfs, strict=True):
            area = [arf_area(arf, b.eff) for b in bands]
            assert o.exposure is not None
            scale = area if units == "area" else [a * o.exposure for a in area]
            out.append(
                Exposure(
                    "footprint",
                    tuple(scale),
                    unit="cm**2" if units == "area" else "cm**2 s",
                )
            )
        return out
    if units != "time":
        raise XdmSemanticError(
            f"merge_obs: units={units} needs exposure maps (expmapfiles=) or ARFs (arffiles=)",
            hint="units=time makes EXPOSURE x footprint maps (count-rate images) without them",
        )
    return [
        Exposure("footprint", tuple([float(o.exposure or 0.0)] * nb), unit="s")
        for o in obs
    ]


def _map_unit(path: str) -> str:
    """The exposure map's BUNIT; refuses a file without a 2-D image."""
    from xdm.io.hdus import open_fits

    try:
        with open_fits(path) as hdul:
            hdu = next((h for h in hdul if h.is_image and h.header["NAXIS"] == 2), None)
            if hdu is None:
                raise XdmSemanticError(
                    f"merge_obs: exposure map {path} is not a 2-D image",
                    hint="expmapfiles= takes images with a sky WCS (fluximage .expmap)",
                )
            return str(hdu.header.get("BUNIT", "cm**2 s")).strip() or "cm**2 s"
    except XdmIOError as exc:
        raise XdmIOError(
            f"merge_obs: cannot read the exposure map {path}: {exc.message}"
        ) from None
    except OSError as exc:
        raise XdmIOError(
            f"merge_obs: cannot read the exposure map {path}: {exc}"
        ) from None


@dataclass(frozen=True, slots=True)
class Names:
    """Output file names (CIAO's spelling)."""

    root: str
    prefixes: tuple[str, ...]
    bands: tuple[str, ...]
    thresh: bool

    def merged(self, band: str) -> dict[str, str]:
        img = "_thresh.img" if self.thresh else ".img"
        emap = "_thresh.expmap" if self.thresh else ".expmap"
        head = f"{self.root}{band}"
        return {"img": head + img, "expmap": head + emap, "flux": head + "_flux.img"}

    def observation(self, k: int, band: str) -> dict[str, str]:
        head = f"{self.root}{self.prefixes[k]}_{band}"
        names = {"rawimg": head + ".img", "rawexpmap": head + ".expmap"}
        if self.thresh:
            names |= {"img": head + "_thresh.img", "expmap": head + "_thresh.expmap"}
        return names | {"flux": head + "_flux.img"}

    def absolute(self) -> Names:
        """The same names from the current directory (for workers elsewhere)."""
        folder, head = os.path.split(self.root)
        root = os.path.join(os.path.abspath(folder or "."), head)
        return Names(root, self.prefixes, self.bands, self.thresh)

    def all(self) -> list[str]:
        out: list[str] = []
        for b in self.bands:
            for k in range(len(self.prefixes)):
                out += self.observation(k, b).values()
            out += self.merged(b).values()
        return out


def output_names(
    outroot: str, prefixes: list[str], bands: list[Band], thresh: bool
) -> Names:
    """``outroot`` -> directory + head (``out/`` -> ``out/``; ``out/a`` -> ``out/a_``)."""
    root = os.path.expanduser(outroot.strip())
    if not root:
        raise XdmSemanticError("merge_obs: outroot= is empty")
    from xdm.tools._images import split_outroot

    folder, head = split_outroot(root)
    return Names(folder + head, tuple(prefixes), tuple(b.label for b in bands), thresh)


def _header(
    frame: Frame, grid: Grid, band: Band, cards: list[tuple[str, Any]], p: Values
) -> Header:
    from xdm.tools._merge_grid import grid_header

    h = grid_header(frame, grid)
    for key, value in cards:
        h[key] = value
    h["ENERG_LO"] = (band.emin, "[keV] band low energy")
    h["ENERG_HI"] = (band.emax, "[keV] band high energy")
    h["ENERGY"] = (band.eff, "[keV] band effective (mono) energy")
    h["BAND"] = band.label
    h["CREATOR"] = "xdm merge_obs"
    h.add_history(p.text())
    return h


def _write(
    path: str,
    data: NDArray[Any],
    header: Header,
    extname: str,
    bunit: str,
    clobber: bool,
) -> str:
    from xdm.io.hdus import image_hdu, write_fits

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    h = header.copy()
    h["EXTNAME"] = extname
    h["HDUNAME"] = extname
    h["BUNIT"] = bunit
    write_fits(path, [image_hdu(data, h, primary=True)], clobber=clobber)
    return path


def _flux(counts: NDArray[Any], emap: NDArray[np.float64]) -> NDArray[np.float32]:
    out = np.zeros(emap.shape, dtype=np.float64)
    np.divide(counts, emap, out=out, where=emap > 0)
    return out.astype(np.float32)


def _flux_unit(unit: str) -> str:
    return {"s": "count/s", "cm**2": "photon/cm**2"}.get(unit, "photon/cm**2/s")


@dataclass(frozen=True, slots=True)
class Products:
    """An observation's thresholded counts and exposure per band (summed to merge)."""

    images: NDArray[np.int64]
    maps: NDArray[np.float64]


def add_products(a: Products, b: Products) -> Products:
    """The sum of two (partial) merges."""
    return Products(a.images + b.images, a.maps + b.maps)


def observation_products(
    p: Values,
    names: Names,
    k: int,
    o: Observation,
    bands: list[Band],
    frame: Frame,
    grid: Grid,
    counts: Counts,
    how: Exposure,
    thresh: tuple[float, bool] | None,
) -> Products:
    """One observation's exposure map, thresholds and files (a worker's task)."""
    maps = exposure(how, counts, frame, grid)
    img, emap = apply_threshold(counts.images, maps, thresh)
    write_observation(
        p, names, k, o, bands, frame, grid, counts.images, maps, img, emap, how.unit
    )
    return Products(img, emap)


def write_observation(
    p: Values,
    names: Names,
    k: int,
    o: Observation,
    bands: list[Band],
    frame: Frame,
    grid: Grid,
    raw: NDArray[np.int64],
    maps: NDArray[np.float64],
    img: NDArray[np.int64],
    emap: NDArray[np.float64],
    unit: str,
) -> list[str]:
    """One observation's images, exposure maps and flux image per band."""
    cards = [*o.cards, ("OBS_ID", o.obsid)]
    for key, value in (
        ("TSTART", o.tstart),
        ("TSTOP", o.tstop),
        ("EXPOSURE", o.exposure),
    ):
        if value is not None:
            cards.append((key, value))
    files = []
    for b, band in enumerate(bands):
        h = _header(frame, grid, band, cards, p)
        n = names.observation(k, band.label)
        c = bool(p["clobber"])
        files.append(
            _write(n["rawimg"], raw[b].astype(np.int32), h, "EVENTS_IMAGE", "count", c)
        )
        files.append(
            _write(n["rawexpmap"], maps[b].astype(np.float32), h, "EXPMAP", unit, c)
        )
        if "img" in n:
            files.append(
                _write(n["img"], img[b].astype(np.int32), h, "EVENTS_IMAGE", "count", c)
            )
            files.append(
                _write(n["expmap"], emap[b].astype(np.float32), h, "EXPMAP", unit, c)
            )
        files.append(
            _write(
                n["flux"], _flux(img[b], emap[b]), h, "PFLUX_IMAGE", _flux_unit(unit), c
            )
        )
    return files


def merged_cards(obs: list[Observation]) -> list[tuple[str, Any]]:
    """The first observation's carried cards, with the ``MERGED`` keys taken over
    all observations (when every one has the key, of one type)."""
    cards = dict(obs[0].cards)
    for key, pick in MERGED.items():
        values: list[Any] = [dict(o.cards).get(key) for o in obs]
        if len({type(v) for v in values}) == 1 and type(values[0]) in (str, int, float):
            cards[key] = pick(values)
    return list(cards.items())


def write_merged(
    p: Values,
    names: Names,
    obs: list[Observation],
    bands: list[Band],
    frame: Frame,
    grid: Grid,
    counts: NDArray[np.int64],
    emaps: NDArray[np.float64],
    unit: str,
) -> list[str]:
    """The merged image, exposure map and flux image per band."""
    cards = [*merged_cards(obs), ("OBS_ID", "MERGED")]
    starts = [o.tstart for o in obs if o.tstart is not None]
    stops = [o.tstop for o in obs if o.tstop is not None]
    if starts:
        cards.append(("TSTART", min(starts)))
    if stops:
        cards.append(("TSTOP", max(stops)))
    cards.append(("EXPOSURE", float(sum(o.exposure or 0.0 for o in obs))))
    cards.append(("NUM_OBS", len(obs)))
    files = []
    c = bool(p["clobber"])
    for b, band in enumerate(bands):
        h = _header(frame, grid, band, cards, p)
        for o in obs:
            h.add_history(f"merged: {o.vf} (OBS_ID {o.obsid})")
        n = names.merged(band.label)
        files.append(
            _write(n["img"], counts[b].astype(np.int32), h, "EVENTS_IMAGE", "count", c)
        )
        files.append(
            _write(n["expmap"], emaps[b].astype(np.float32), h, "EXPMAP", unit, c)
        )
        files.append(
            _write(
                n["flux"],
                _flux(counts[b], emaps[b]),
                h,
                "PFLUX_IMAGE",
                _flux_unit(unit),
                c,
            )
        )
    return files


def report(result: MergeResult, obs: list[Observation], prefixes: list[str]) -> str:
    """What merge_obs prints at verbose=1."""
    lines = [
        f"merge_obs: {len(obs)} observations onto the tangent point "
        f"RA={result.tangent[0]:.6f} Dec={result.tangent[1]:.6f} ({result.executor})",
        f"  grid {result.grid} (binsize {result.binsize:g})",
    ]
    for o, pre in zip(obs, prefixes, strict=True):
        exp = "" if o.exposure is None else f", {o.exposure / 1000:.1f} ks"
        lines.append(f"  {pre}: {o.vf}{exp}")
    for band, n in zip(result.bands, result.counts, strict=True):
        lines.append(f"  {band}: {n:,} counts in the merged thresholded image")
    lines.append(f"  wrote {len(result.files)} files, merged:")
    lines += [f"    {f}" for f in result.merged]
    return "\n".join(lines)
