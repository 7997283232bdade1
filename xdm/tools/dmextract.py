"""``xdm dmextract infile outfile [opt=pha1|ltc1|generic]``: one-dimensional products.

CIAO's dmextract: the infile carries the bin spec, and ``opt`` says what to
make of it (workflows spec 2):

* ``opt=pha1``, ``evt.fits[sky=region(src.reg)][bin pi]``: an OGIP type I PHA
  spectrum (block SPECTRUM; EXPOSURE from the events, BACKSCAL = exact region
  area / sky range area);
* ``opt=ltc1``, ``evt.fits[sky=circle(...)][bin time=::200]``: a light curve
  (block LIGHTCURVE; per-bin EXPOSURE = DTCOR x overlap with the GTI of the
  region's CCDs; BG_* and NET_* columns with ``bkg=``);
* ``opt=generic``, ``evt.fits[bin sky=annulus(x,y,0:100:10)]`` (or
  ``[bin sky=@list]``, ``[bin sky=region(file)]``): counts, exact areas and
  surface brightness per region: the radial profile.

Every product is one streaming pass over the events (``xdm.scan``), written
to a temporary file and renamed.
"""

from __future__ import annotations

from typing import Any

from xdm.errors import XdmSemanticError
from xdm.tools.params import CLOBBER, Param, Tool, Values

__all__ = ["TOOL", "dmextract", "run"]

ERRORS = ("gaussian", "gehrels")

TOOL = Tool(
    "dmextract",
    "one-dimensional products: PHA spectra, light curves, radial profiles",
    (
        Param(
            "infile",
            "f",
            "",
            "events with the bin spec: evt.fits[sky=region(src.reg)][bin pi]",
            required=True,
        ),
        Param("outfile", "f", "", "output file", required=True),
        Param("bkg", "f", "", "background events (light curves and profiles)"),
        Param("error", "s", "gaussian", "error on counts", choices=ERRORS),
        Param(
            "bkgerror", "s", "gaussian", "error on background counts", choices=ERRORS
        ),
        Param("bkgnorm", "r", 1.0, "background normalisation factor"),
        Param("exp", "f", "", "exposure map (not supported yet)"),
        Param("bkgexp", "f", "", "background exposure map (not supported yet)"),
        Param("sys_err", "r", 0.0, "fractional systematic error (PHA SYS_ERR column)"),
        Param(
            "opt",
            "s",
            "pha1",
            "product type",
            choices=("pha1", "pha2", "ltc1", "ltc2", "generic", "generic2"),
        ),
        Param("defaults", "f", "", "CIAO's column defaults file (not used)"),
        Param("wmap", "s", "", "weighted map for responses (not supported yet)"),
        CLOBBER,
        Param("verbose", "i", 0, "0 quiet ... 5 tells each step", minimum=0, maximum=5),
    ),
    positional=("infile", "outfile"),
    notes=(
        "opt=pha1 needs `[bin pi]` (or `[bin pha]`); channels run TLMIN..TLMAX of "
        "the column unless `[bin pi=lo:hi]` says otherwise. Errors: `gaussian` "
        "writes POISSERR=T and no STAT_ERR (the spectrum is Poisson), `gehrels` a "
        "STAT_ERR column of 1+sqrt(N+0.75). AREA and BACKSCAL use the exact area "
        "of the `sky=` region of the infile (analytic for single shapes, a fine "
        "grid for compound ones) clipped to the sky range TLMIN/TLMAX; no field of "
        "view is applied. opt=ltc1: `[bin time=lo:hi:dt]`, lo/hi default to "
        "TSTART/TSTOP; EXPOSURE per bin = DTCOR x overlap of the bin with the GTI "
        "of the CCD(s) holding the region's events (their union if several). "
        "opt=generic: `[bin sky=annulus(x,y,r0:r1:dr)]` rings (R, RMID), "
        "`[bin sky=@file.lis]` one region per line, `[bin sky=region(f.reg)]` one "
        "row per shape; SUR_BRI = NET_COUNTS/AREA. `bkg=` (ltc1, generic) is a "
        "virtual file of background events with their region; for pha1 use "
        "`xdm specextract`. Not supported yet: opt=pha2/ltc2/generic2, exp=, "
        "bkgexp=, wmap= (clear errors). verbose defaults to 0 as in CIAO."
    ),
)


def dmextract(**params: Any) -> Any:
    """``xdm.tools.dmextract(infile=..., outfile=..., opt=...)``: the product as a Table."""
    return TOOL.call(run, params)


def _unsupported(p: Values) -> None:
    opt = str(p["opt"])
    if opt in ("pha2", "ltc2", "generic2"):
        raise XdmSemanticError(
            f"dmextract: opt={opt} is not supported yet",
            hint="xdm makes opt=pha1 (spectra), ltc1 (light curves) and generic "
            "(region bins)",
        )
    for key in ("exp", "bkgexp", "wmap"):
        value = str(p[key]).strip()
        if value and value.lower() != "none":
            raise XdmSemanticError(
                f"dmextract: {key}= is not supported yet ({key}={value})",
                hint="leave it empty; xdm does not apply exposure maps in dmextract",
            )


def run(p: Values) -> Any:
    """Split the infile, make the product ``opt`` asks for, write it."""
    from xdm.io.hdus import write_fits
    from xdm.progress import get_verbosity, note
    from xdm.tools._extract import describe, split_infile, table_product

    _unsupported(p)
    out = str(p["outfile"]).strip()
    if not out or "[" in out:
        raise XdmSemanticError(
            f"dmextract: bad outfile {out!r}", hint="give a plain output file name"
        )
    _check_output(out, bool(p["clobber"]))
    source = split_infile(str(p["infile"]))
    events = describe(source.events)
    opt = str(p["opt"])
    note(f"dmextract: opt={opt} on {source.events}", level=2)
    bkg = str(p["bkg"]).strip()
    bkg = "" if bkg.lower() == "none" else bkg
    if opt == "pha1":
        hdus, summary = _pha1(p, source, events, bkg)
    elif opt == "ltc1":
        hdus, summary = _ltc1(p, source, events, bkg)
    else:
        hdus, summary = _generic(p, source, events, bkg)
    write_fits(out, hdus, clobber=bool(p["clobber"]))
    if get_verbosity() >= 1:
        print(f"dmextract: {summary}; wrote {out}")
    return table_product(hdus[1], out)


def _check_output(out: str, clobber: bool) -> None:
    """Refuse an existing outfile before the pass, not after it."""
    import os

    from xdm.errors import XdmIOError

    path = os.path.expanduser(os.path.expandvars(out))
    if os.path.exists(path) and not clobber:
        raise XdmIOError(
            f"output file {out} exists", hint="add clobber=yes to replace it"
        )


def _pha1(p: Values, source: Any, events: Any, bkg: str) -> tuple[list[Any], str]:
    from xdm.tools._pha import pha_hdus, spectrum

    if bkg and (source.column or "").lower() in ("pi", "pha"):
        raise XdmSemanticError(
            "dmextract: bkg= with opt=pha1 is not supported; extract the background "
            "spectrum on its own",
            hint="xdm specextract infile=... bkgfile=... writes the source and "
            "background spectra with BACKFILE set",
        )
    s = spectrum(source, events)
    hdus = pha_hdus(
        s, error=str(p["error"]), sys_err=float(p["sys_err"]), history=p.text()
    )
    summary = (
        f"{int(s.counts.sum())} counts in {len(s.channels)} {s.column} channels, "
        f"EXPOSURE {s.exposure:.1f} s, BACKSCAL {s.backscal:.6g}"
    )
    return hdus, summary


def _ltc1(p: Values, source: Any, events: Any, bkg: str) -> tuple[list[Any], str]:
    from xdm.tools._extract import describe, split_infile
    from xdm.tools._lightcurve import curve, light_curve_hdus, time_grid

    if (source.column or "").lower() != "time":
        raise XdmSemanticError(
            "dmextract: opt=ltc1 needs a [bin time=lo:hi:dt] spec in infile",
            source=source.text,
            hint=f"e.g. infile='{source.events}[bin time=::200]'",
        )
    grid = time_grid(source, events)
    src = curve(source, events, grid)
    back = None
    if bkg:
        b_source = split_infile(bkg, "dmextract bkg")
        back = curve(b_source, describe(b_source.events), grid)
    hdus = light_curve_hdus(
        src,
        back,
        error=str(p["error"]),
        bkgerror=str(p["bkgerror"]),
        bkgnorm=float(p["bkgnorm"]),
        history=p.text(),
    )
    summary = (
        f"{int(src.counts.sum())} counts in {grid.n} bins of {grid.dt:g} s, "
        f"{float(src.exposure.sum()):.1f} s exposure"
    )
    return hdus, summary


def _generic(p: Values, source: Any, events: Any, bkg: str) -> tuple[list[Any], str]:
    from xdm.tools._extract import describe, split_infile
    from xdm.tools._profile import profile, profile_hdus, region_rows

    if (source.column or "").lower() not in ("sky", "pos"):
        raise XdmSemanticError(
            "dmextract: opt=generic bins sky by regions: "
            "[bin sky=annulus(x,y,r0:r1:dr)], [bin sky=@regions.lis] or "
            "[bin sky=region(file.reg)]",
            source=source.text,
            hint="spectra are opt=pha1 with [bin pi], light curves opt=ltc1",
        )
    prof = profile(source, events)
    back = None
    if bkg:
        b_source = split_infile(bkg, "dmextract bkg")
        b_events = describe(b_source.events)
        if b_source.axis is None:
            from xdm.regions.compound import Region

            whole = b_events.region
            if whole is None:
                raise XdmSemanticError(
                    "dmextract: bkg= needs a region: bkg.fits[sky=region(bkg.reg)]",
                    source=bkg,
                )
            rows = [whole if len(whole.components) else Region(())]
            back = profile(b_source, b_events, rows, what="dmextract bkg")
        else:
            rows = region_rows(b_source, b_events, "dmextract bkg")
            if len(rows) not in (1, len(prof.counts)):
                raise XdmSemanticError(
                    f"dmextract: bkg= has {len(rows)} regions for {len(prof.counts)} "
                    "source regions (give one, or one per source region)",
                    source=bkg,
                )
            back = profile(b_source, b_events, rows, what="dmextract bkg")
    hdus = profile_hdus(
        prof,
        back,
        events.header,
        error=str(p["error"]),
        bkgerror=str(p["bkgerror"]),
        bkgnorm=float(p["bkgnorm"]),
        history=p.text(),
    )
    summary = f"{int(prof.counts.sum())} counts in {len(prof.counts)} regions"
    return hdus, summary
