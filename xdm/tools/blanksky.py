"""``xdm blanksky evtfile=OBS blankfile=BG outfile=F [weight_method=] [bkgparams=]``.

CIAO's blanksky tailors the CALDB blank-sky files to an observation; xdm has
no CALDB, so the user brings the blank-sky event file(s) (``blankfile=``: one
file, ``a,b`` or ``@list``, same column layout). What is done (workflows.md 4,
calibration-free version):

1. the observation's filters (the ``evtfile`` virtual file's) are applied to
   the blank-sky events too, and only the chips with observed events are kept;
2. background events are reprojected onto the observation's sky frame through
   RA/Dec (astropy.wcs tangent-plane reprojection) when the blank-sky file has
   another tangent point; events that land outside the sky range are dropped.
   A static projection: dither is not re-simulated and times are kept;
3. per chip the scale factor ``BKGSCAL<n>`` (HRC: ``BKGSCALE``) by
   ``weight_method`` (particle: ratio of counts in ``bkgparams``; time: ratio of
   LIVTIMEn; particle-rate: their ratio), with ``BKGMETH`` and ``BKGPARAM``;
4. the output carries the observation's pointing (``RA_NOM``...) and exposure
   keys (``ONTIME``, ``LIVETIME``, ``EXPOSURE``, per chip), so that a background
   spectrum with ``AREASCAL = 1/BKGSCALn`` is scaled by BKGSCALn x BACKSCAL
   ratio; the blank-sky file's own exposure is kept in ``BSKYEXP``/``BSKYLIV``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from xdm.errors import XdmSemanticError
from xdm.io import keywords
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

if TYPE_CHECKING:
    from xdm.io.hdus import Header
    from xdm.lang import nodes

__all__ = ["TOOL", "BlankskyResult", "blanksky", "run"]

TOOL = Tool(
    "blanksky",
    "blank-sky background events scaled to an observation",
    (
        Param(
            "evtfile", "f", "", "observation event file (virtual file)", required=True
        ),
        Param(
            "blankfile",
            "f",
            "",
            "blank-sky event file(s): a file, a,b or @list",
            required=True,
        ),
        Param("outfile", "f", "", "output background event file", required=True),
        Param(
            "asolfile", "f", "", "CIAO's aspect solutions; not used (static projection)"
        ),
        Param("stowedbg", "b", False, "CIAO's stowed-background switch; not used"),
        Param(
            "weight_method",
            "s",
            "particle",
            "how the scale factor is computed",
            choices=("particle", "time", "particle-rate"),
        ),
        Param(
            "bkgparams",
            "s",
            "default",
            "band of the particle scaling (default: [energy=9000:12000] ACIS, "
            "[pi=300:500] HRC)",
        ),
        Param(
            "tmpdir", "s", "${ASCDS_WORK_PATH}", "CIAO's temporary directory; not used"
        ),
        Param(
            "random",
            "i",
            0,
            "CIAO's random seed; not used (no re-dithering)",
            minimum=0,
        ),
        CLOBBER,
        VERBOSE,
    ),
    positional=("evtfile", "outfile"),
    notes=(
        "`blankfile=` is xdm's addition (no CALDB): the blank-sky events the user "
        "brings. They get the observation's filters, chips and sky frame (reprojected "
        "through RA/Dec when their tangent point differs; static, no dither), the "
        "header keys BKGMETH, BKGPARAM and BKGSCAL<ccd> (HRC: BKGSCALE), and the "
        "observation's pointing and exposure keys (their own exposure is kept in "
        "BSKYEXP, BSKYLIV). Zero observation counts in the bkgparams band is an error."
    ),
)

_EXPOSURE = re.compile(
    rf"^(ONTIME|LIVETIME|EXPOSURE|DTCOR|LIVETIM\d|{keywords.CHIP_TIMES.pattern})$"
)


@dataclass(frozen=True, slots=True)
class BlankskyResult:
    """The tailored background file and its scale factors."""

    outfile: str
    method: str
    bkgparam: str
    scales: dict[int, float]
    events: int
    reprojected: bool
    obs_band: dict[int, int] = field(default_factory=dict)
    bkg_band: dict[int, int] = field(default_factory=dict)
    hrc: bool = False

    def keyword(self, chip: int) -> str:
        """The header key of a chip's factor (``BKGSCAL7``, HRC ``BKGSCALE``)."""
        return "BKGSCALE" if self.hrc else f"BKGSCAL{chip}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "outfile": self.outfile,
            "weight_method": self.method,
            "bkgparams": self.bkgparam,
            "scales": {self.keyword(c): k for c, k in self.scales.items()},
            "events": self.events,
            "reprojected": self.reprojected,
            "obs_band_counts": {str(c): n for c, n in self.obs_band.items()},
            "bkg_band_counts": {str(c): n for c, n in self.bkg_band.items()},
        }


def blanksky(**params: Any) -> BlankskyResult:
    """``xdm.tools.blanksky(evtfile=..., blankfile=..., outfile=...)``."""
    return TOOL.call(run, params)


def _filters(vf: nodes.VirtualFile) -> tuple[nodes.Qualifier, ...]:
    from xdm.lang import nodes

    return tuple(q for q in vf.qualifiers if isinstance(q, nodes.FilterQualifier))


def _header(vf: nodes.VirtualFile) -> Header:
    from xdm.api import scan

    with scan(vf) as rows:
        return rows.header.copy()


def _merge(counts: dict[int, int], hrc: bool) -> dict[int, int]:
    return {0: sum(counts.values())} if hrc and counts else counts


def run(p: Values) -> BlankskyResult:
    """Count, reproject and write the background events, then the scale keys."""
    from xdm.lang.parser import parse
    from xdm.progress import get_verbosity, note
    from xdm.tools._blanksky import (
        chip_counts,
        default_band,
        filter_qualifiers,
        with_qualifiers,
    )
    from xdm.tools._images import image_list

    vf = parse(p["evtfile"])
    obs_header = _header(vf)
    instrument = str(obs_header.get("INSTRUME", "ACIS")).strip()
    hrc = instrument.upper().startswith("HRC")
    chipcol = "chip_id" if hrc else "ccd_id"
    method = p["weight_method"]
    band_text = p["bkgparams"].strip()
    if band_text.lower() in ("", "default"):
        band_text = default_band(instrument)
    band = filter_qualifiers(band_text, "bkgparams")
    if not re.search(r"\b(energy|pi)\b", band_text, re.IGNORECASE):
        raise XdmSemanticError(
            "bkgparams needs an energy or pi filter",
            hint="for example [energy=9000:12000]",
        )
    obs_chips = chip_counts(vf, chipcol)
    if not obs_chips:
        raise XdmSemanticError(
            f"blanksky: no events in {p['evtfile']} after its filters"
        )
    obs_band: dict[int, int] = {}
    if method != "time":
        obs_band = _merge(chip_counts(with_qualifiers(vf, band), chipcol), hrc)
        if sum(obs_band.values()) == 0:
            raise XdmSemanticError(
                f"blanksky: {p['evtfile']} has zero counts in {band_text}, so the "
                "particle background cannot be scaled",
                hint="use weight_method=time, or a bkgparams band with counts",
            )
    chips = sorted(obs_chips)
    note(f"blanksky: observation {chipcol}s {chips}", level=2)
    names = image_list(p["blankfile"], "blanksky blankfile")
    chip_filter = parse(
        f"events.fits[{chipcol}={','.join(str(c) for c in chips)}]"
    ).qualifiers
    bkg_vfs = [
        with_qualifiers(parse(n), _filters(vf) + tuple(chip_filter)) for n in names
    ]
    result = _write(
        p, obs_header, bkg_vfs, chips, chipcol, method, band_text, hrc, obs_band
    )
    if get_verbosity() >= 1:
        plural = "s" if len(result.scales) != 1 else ""
        print(f"Calculated scale factor{plural} for 'weight_method={method}':")
        for chip, k in result.scales.items():
            label = "HRC" if hrc else f"{'ACIS':>8}-{chip}"
            print(
                f"{label}: {k:.8g} written to the '{result.keyword(chip)}' header keyword."
            )
    return result


def _write(
    p: Values,
    obs_header: Header,
    bkg_vfs: list[nodes.VirtualFile],
    chips: list[int],
    chipcol: str,
    method: str,
    band_text: str,
    hrc: bool,
    obs_band: dict[int, int],
) -> BlankskyResult:
    from xdm.api import scan
    from xdm.io.atomic import atomic_output
    from xdm.io.hdus import primary_hdu
    from xdm.io.writer import EventWriter, hdu_bytes
    from xdm.lang import nodes
    from xdm.progress import note
    from xdm.tools._blanksky import chip_counts, filter_qualifiers, scale_factors
    from xdm.tools._reproject import column_wcs, same_tangent_plane

    obs_wcs = column_wcs(obs_header)
    xlim = _limits(obs_header, "x")
    ylim = _limits(obs_header, "y")
    bkg_header0 = _header(bkg_vfs[0])
    found: set[int] = set()
    chip_headers: dict[int, Header] = {}
    for bvf in bkg_vfs:
        has = set(chip_counts(bvf, chipcol))
        found |= has
        bhead = bkg_header0 if bvf is bkg_vfs[0] else _header(bvf)
        for chip in has:
            chip_headers.setdefault(0 if hrc else chip, bhead)
    missing = [c for c in chips if c not in found]
    if missing:
        note(f"blanksky: no blank-sky events on {chipcol} {missing}: dropped", 1)
    chips = [c for c in chips if c in found]
    if not chips:
        raise XdmSemanticError(
            "blanksky: the blank-sky events cover none of the observation's chips"
        )
    keys = [0] if hrc else chips
    header = _output_header(bkg_header0, obs_header, keys, method, band_text, hrc, p)
    reprojected = False
    total = 0
    with (
        atomic_output(p["outfile"], clobber=p["clobber"]) as tmp,
        open(tmp, "w+b") as fh,
    ):
        primary = primary_hdu()
        keywords.carry(header, primary.header, keywords.IDENTITY, comments=False)
        fh.write(hdu_bytes(primary, primary=True))
        start = fh.tell()
        writer: EventWriter | None = None
        for bvf in bkg_vfs:
            with scan(bvf) as rows:
                bkg_wcs = column_wcs(rows.header)
                moved = not same_tangent_plane(bkg_wcs, obs_wcs)
                reprojected = reprojected or moved
                raw = {out.lower(): r for r, out in rows.columns}
                for records, kept in rows.chunks:
                    rec = np.array(records[kept])
                    if writer is None:
                        writer = EventWriter(fh, header, rec.dtype)
                    elif rec.dtype != writer.dtype:
                        raise XdmSemanticError(
                            f"blanksky: {bvf.path} has another column layout than "
                            f"{bkg_vfs[0].path}"
                        )
                    if moved and len(rec):
                        rec = _reprojected(
                            rec, raw["x"], raw["y"], bkg_wcs, obs_wcs, xlim, ylim
                        )
                    writer.append(rec)
                    total += len(rec)
        if writer is None:
            raise XdmSemanticError("blanksky: no blank-sky events were read")
        final = writer.close()
        fh.flush()
        bkg_band: dict[int, int] = {}
        if method != "time":
            band = filter_qualifiers(band_text, "bkgparams")
            counts = chip_counts(
                nodes.VirtualFile(path=str(tmp), qualifiers=band), chipcol
            )
            bkg_band = {0: sum(counts.values())} if hrc else counts
        scales = scale_factors(
            method,
            keys,
            obs_band=obs_band,
            bkg_band=bkg_band,
            obs_header=obs_header,
            bkg_headers=chip_headers,
            hrc=hrc,
        )
        for chip, k in scales.items():
            final["BKGSCALE" if hrc else f"BKGSCAL{chip}"] = float(k)
        text = final.tostring().encode("ascii")
        fh.seek(start)
        old = fh.read(len(text))
        if len(old) != len(text) or not old.startswith(b"XTENSION"):
            raise AssertionError("header size changed")
        fh.seek(start)
        fh.write(text)
    return BlankskyResult(
        p["outfile"],
        method,
        "" if method == "time" else band_text,
        scales,
        total,
        reprojected,
        obs_band,
        bkg_band,
        hrc,
    )


def _limits(header: Header, name: str) -> tuple[float, float]:
    for key in header:
        if key.startswith("TTYPE") and str(header[key]).strip().lower() == name:
            n = key[5:]
            return float(header.get(f"TLMIN{n}", -np.inf)), float(
                header.get(f"TLMAX{n}", np.inf)
            )
    return -np.inf, np.inf


def _reprojected(
    rec: Any,
    xname: str,
    yname: str,
    src: Any,
    dst: Any,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> Any:
    from xdm.tools._reproject import reproject_events

    nx, ny = reproject_events(rec[xname], rec[yname], src, dst)
    inside = (nx >= xlim[0]) & (nx <= xlim[1]) & (ny >= ylim[0]) & (ny <= ylim[1])
    rec[xname] = nx
    rec[yname] = ny
    return rec[inside]


def _output_header(
    bkg: Header,
    obs: Header,
    keys: list[int],
    method: str,
    band_text: str,
    hrc: bool,
    p: Values,
) -> Header:
    from xdm.io.subspace import Subspace

    out = bkg.copy()
    # no GTI blocks are written (the blank-sky times are not the observation's):
    # drop the time ranges that pointed at them
    Subspace.from_header(out).removed(["time"]).write(out)
    _copy_sky_columns(out, obs)
    keywords.carry(obs, out, keywords.POINTING)
    bsky_exp, bsky_live = bkg.get("EXPOSURE"), bkg.get("LIVETIME")
    for key in [k for k in out if _EXPOSURE.match(k)]:
        out.remove(key, remove_all=True)
    for key in obs:
        if _EXPOSURE.match(key):
            out[key] = (obs[key], obs.comments[key])
    if isinstance(bsky_exp, int | float):
        out["BSKYEXP"] = (float(bsky_exp), "[s] EXPOSURE of the blank-sky file")
    if isinstance(bsky_live, int | float):
        out["BSKYLIV"] = (float(bsky_live), "[s] LIVETIME of the blank-sky file")
    out["BSKYFILE"] = (os.path.basename(str(p["blankfile"]))[:68], "blank-sky input")
    if method != "time":
        out["BKGPARAM"] = (band_text, "band of the particle scaling")
    out["BKGMETH"] = (method, "background scaling method")
    for chip in keys:
        out["BKGSCALE" if hrc else f"BKGSCAL{chip}"] = (0.0, "background scale factor")
    out.add_history(p.text()[:2000])
    return out


def _copy_sky_columns(out: Header, obs: Header) -> None:
    """The observation's TCTYP/TCRVL/TCRPX/TCDLT/TCUNI of x and y, by column name."""

    def index(header: Header) -> dict[str, str]:
        return {
            str(header[k]).strip().lower(): k[5:]
            for k in header
            if k.startswith("TTYPE")
        }

    oi, bi = index(obs), index(out)
    for name in ("x", "y"):
        if name not in oi or name not in bi:
            continue
        for key in ("TCTYP", "TCRVL", "TCRPX", "TCDLT", "TCUNI"):
            src, dst = f"{key}{oi[name]}", f"{key}{bi[name]}"
            if src in obs:
                out[dst] = (obs[src], obs.comments[src])
