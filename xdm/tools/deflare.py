"""``xdm deflare infile outfile [method=clean|sigma]``: remove background flares.

The talk's flare step (CIAO's deflare script, workflows spec 3): read a light
curve of a source-free region, find the quiescent rate with ``lc_clean``
(Markevitch's blank-sky recipe: +-20% about the clipped mean) or
``lc_sigma_clip`` (iterative nsigma clipping, runs of ``minlength`` bins),
print CIAO's report and write the good time intervals as a GTI file for
``evt.fits[@clean.gti]``. ``plot=yes`` / ``save=FILE.png`` draw the light
curve with the limits and the excluded times (matplotlib, optional).

Any table with TIME and COUNT_RATE (or RATE) works: ``dmextract opt=ltc1``
output (TIME_MIN/TIME_MAX/EXPOSURE), CIAO's, or a HEASoft lcurve file (RATE,
TIMEDEL, TIMEZERO).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError
from xdm.tools._flares import FlareFilter, as_plain, bin_edges, lc_clean, lc_sigma_clip
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

if TYPE_CHECKING:
    from xdm.io.hdus import Header

__all__ = [
    "TOOL",
    "DeflareResult",
    "LightCurve",
    "deflare",
    "lc_clean",
    "lc_sigma_clip",
    "read_light_curve",
    "run",
]

PATTERNS = (
    "nofill",
    "solid",
    "updiagonal",
    "downdiagonal",
    "horizontal",
    "vertical",
    "crisscross",
    "grid",
    "polkadot",
)

TOOL = Tool(
    "deflare",
    "find background flares in a light curve and write good time intervals",
    (
        Param("infile", "f", "", "input light curve file", required=True),
        Param("outfile", "f", "", "output GTI file (none: report only)"),
        Param(
            "method", "s", "clean", "flare-cleaning method", choices=("clean", "sigma")
        ),
        Param(
            "nsigma",
            "r",
            3.0,
            "method=clean 'clip', method=sigma: no. of sigma about the mean to clip",
        ),
        Param("plot", "b", False, "plot the light curve and histograms of its rates"),
        Param(
            "save", "f", "", "file to save the plot as (.png, .pdf, .svg, .ps, .eps)"
        ),
        Param(
            "rateaxis",
            "s",
            "y",
            "count rate on the y or x axis of the top plot",
            choices=("x", "y"),
        ),
        Param(
            "pattern",
            "s",
            "solid",
            "fill of the excluded time intervals",
            choices=PATTERNS,
        ),
        Param("good_color", "s", "lime", "color of the 'good' data points"),
        Param("exclude_color", "s", "red", "color of the excluded time intervals"),
        Param(
            "minlength",
            "r",
            3.0,
            "lc_sigma_clip: min. no. of consecutive time bins which must pass",
        ),
        Param("mean", "r", 0.0, "lc_clean: mean count rate (ct/s); 0 computes it"),
        Param("stddev", "r", 0.0, "lc_clean 'sigma': standard deviation; 0 uses scale"),
        Param("scale", "r", 1.2, "lc_clean: scale factor about the mean rate"),
        Param("minfrac", "r", 0.1, "lc_clean: minimum fraction of good bins"),
        CLOBBER,
        VERBOSE,
    ),
    positional=("infile", "outfile", "method"),
    notes=(
        "Follows ciao_contrib's lightcurves.py (lc_clean, lc_sigma_clip): population "
        "standard deviation, strict limits, bins with rate <= 0 never good. xdm "
        "differences: `clobber` (CIAO's deflare always overwrites); a light curve "
        "without TIME_MIN/TIME_MAX uses TIME - TIMEPIXR x TIMEDEL for the bin edges "
        "when TIMEDEL is known (CIAO's runs use TIME); `plot=yes` without `save` "
        "writes OUTFILE.png (xdm draws no window); TIMEZERO is added to the times."
    ),
)


@dataclass(frozen=True, eq=False)
class LightCurve:
    """The columns of a light curve that flare cleaning uses (times with TIMEZERO)."""

    path: str
    time: NDArray[np.float64]
    rate: NDArray[np.float64]
    ratename: str
    exposure: NDArray[np.float64] | None
    time_min: NDArray[np.float64]
    time_max: NDArray[np.float64]
    header: Header
    has_edges: bool = True

    @property
    def dtcor(self) -> float | None:
        """The header's DTCOR, if any."""
        value = self.header.get("DTCOR")
        return float(value) if isinstance(value, int | float) else None

    @property
    def total_time(self) -> float:
        """Good time the light curve covers: summed EXPOSURE, else bin widths x DTCOR."""
        if self.exposure is not None:
            return float(np.nansum(self.exposure))
        return float(np.sum(self.time_max - self.time_min)) * (self.dtcor or 1.0)


@dataclass(frozen=True, eq=False)
class DeflareResult:
    """What deflare found and wrote: limits, intervals and the good time kept."""

    method: str
    outfile: str | None
    flares: FlareFilter
    ratename: str
    total_time: float
    plotfile: str | None = None
    intervals: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "intervals", self.flares.intervals)

    @property
    def mean(self) -> float:
        """Mean rate of the good bins (ct/s)."""
        return self.flares.mean

    @property
    def min_rate(self) -> float:
        """Lower rate limit (ct/s)."""
        return self.flares.min_rate

    @property
    def max_rate(self) -> float:
        """Upper rate limit (ct/s)."""
        return self.flares.max_rate

    @property
    def good_time(self) -> float:
        """Exposure of the good intervals [s]."""
        return self.flares.good_time

    @property
    def fraction(self) -> float:
        """Good time kept as a fraction of the light curve's."""
        return self.good_time / self.total_time if self.total_time > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The result as plain values (``--json``)."""
        f = self.flares
        return {
            "method": self.method,
            "routine": f.method,
            "outfile": self.outfile,
            "mean": f.mean,
            "min_rate": f.min_rate,
            "max_rate": f.max_rate,
            "initial_mean": f.initial_mean,
            "iterations": f.iterations if f.passes else None,
            "userlimit": f.userlimit(self.ratename),
            "by_rate": f.by_rate,
            "bins": f.n_bins,
            "nonzero_bins": f.n_positive,
            "good_bins": int(f.good.sum()),
            "intervals": as_plain(f.intervals),
            "interval_exposure": as_plain(f.exposure),
            "ontime": f.ontime,
            "good_time": self.good_time,
            "total_time": self.total_time,
            "fraction": self.fraction,
            "plotfile": self.plotfile,
        }


def deflare(**params: Any) -> DeflareResult:
    """``xdm.tools.deflare(infile=..., outfile=..., method=...)``: limits and good times."""
    return TOOL.call(run, params)


def read_light_curve(infile: str) -> LightCurve:
    """TIME, COUNT_RATE (or RATE), EXPOSURE and bin edges of a light-curve table."""
    import xdm
    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse

    table = xdm.read(infile)
    if not hasattr(table, "colnames"):
        raise XdmSemanticError(
            f"deflare: {infile} is an image, not a light curve",
            hint="give the light-curve table (dmextract opt=ltc1 output)",
        )
    with open_vf_block(parse(infile)) as block:
        header = block.header.copy()
    names = {n.lower(): n for n in table.colnames}

    def column(name: str) -> NDArray[np.float64] | None:
        if name not in names:
            return None
        return np.asarray(table[names[name]], dtype=np.float64)

    ratename = "count_rate" if "count_rate" in names else "rate"
    time, rate = column("time"), column(ratename)
    if time is None or rate is None:
        missing = "TIME" if time is None else "COUNT_RATE or RATE"
        raise XdmSemanticError(
            f"deflare: no {missing} column in {infile}",
            expected=tuple(table.colnames),
            hint="a light curve has TIME and COUNT_RATE (dmextract opt=ltc1) or RATE",
        )
    zero = header.get("TIMEZERO", 0.0)
    zero = float(zero) if isinstance(zero, int | float) else 0.0
    timedel: Any = column("timedel")
    if timedel is None and isinstance(header.get("TIMEDEL"), int | float):
        timedel = float(header["TIMEDEL"])
    pixr = header.get("TIMEPIXR", 0.5)
    pixr = float(pixr) if isinstance(pixr, int | float) else 0.5
    tmin, tmax = column("time_min"), column("time_max")
    has_edges = (tmin is not None and tmax is not None) or timedel is not None
    lo, hi = bin_edges(time, tmin, tmax, timedel, pixr)
    return LightCurve(
        path=infile,
        time=time + zero,
        rate=rate,
        ratename=ratename,
        exposure=column("exposure"),
        time_min=lo + zero,
        time_max=hi + zero,
        header=header,
        has_edges=has_edges,
    )


def run(p: Values) -> DeflareResult:
    """Clean the light curve, print the report, write the GTI (and the plot)."""
    from xdm.progress import get_verbosity

    out = str(p["outfile"]).strip()
    outfile = None if out == "" or out.lower() == "none" else out
    save = str(p["save"]).strip() or None
    plotfile = save
    if p["plot"] and plotfile is None:
        if outfile is None:
            raise XdmSemanticError(
                "deflare: plot=yes needs outfile= or save=FILE.png",
                hint="xdm draws no window; the plot is written to a file",
            )
        plotfile = outfile + ".png"
    if plotfile is not None:
        from xdm.tools._flareplot import check_plot

        colors = (str(p["good_color"]), str(p["exclude_color"]))
        plotfile = check_plot(plotfile, colors, clobber=p["clobber"])
    if outfile is not None and not p["clobber"] and _exists(outfile):
        raise XdmSemanticError(
            f"deflare: output file {outfile} exists",
            hint="add clobber=yes to replace it",
        )
    loud = get_verbosity() >= 1
    if loud:
        _print_parameters(p, outfile, plotfile)
    lc = read_light_curve(str(p["infile"]))
    if loud:
        _print_light_curve(lc)
    flares = _clean(p, lc)
    result = DeflareResult(
        method=p["method"],
        outfile=outfile,
        flares=flares,
        ratename=lc.ratename,
        total_time=lc.total_time,
        plotfile=plotfile,
    )
    if loud:
        _print_filter(result, lc, p)
    if outfile is not None:
        from xdm.tools.dmgti import write_gti

        if loud:
            print("\nCreating GTI file")
        write_gti(
            outfile,
            flares.intervals,
            header=lc.header,
            history=p.text(),
            clobber=p["clobber"],
            creator="xdm deflare",
        )
        if loud:
            print(f"Created: {outfile}")
    if loud:
        print(f"Light curve cleaned using the {flares.method} routine.")
    if plotfile is not None:
        from xdm.tools._flareplot import plot_flares

        written = plot_flares(
            plotfile,
            lc,
            flares,
            rateaxis=p["rateaxis"],
            pattern=p["pattern"],
            good_color=p["good_color"],
            exclude_color=p["exclude_color"],
            clobber=p["clobber"],
        )
        result = DeflareResult(
            method=result.method,
            outfile=outfile,
            flares=flares,
            ratename=lc.ratename,
            total_time=lc.total_time,
            plotfile=written,
        )
        if loud:
            print(f"Created: {written}")
    return result


def _exists(path: str) -> bool:
    import os

    return os.path.exists(os.path.expanduser(os.path.expandvars(path)))


def _clean(p: Values, lc: LightCurve) -> FlareFilter:
    edges = (lc.time_min, lc.time_max) if lc.has_edges else (None, None)
    if p["method"] == "clean":
        if lc.exposure is None:
            raise XdmSemanticError(
                f"deflare: the light curve {lc.path} has no EXPOSURE column",
                hint="method=clean needs EXPOSURE (dmextract opt=ltc1); "
                "method=sigma works without",
            )
        return lc_clean(
            lc.time,
            lc.rate,
            lc.exposure,
            *edges,
            mean=p["mean"] or None,
            clip=float(p["nsigma"]),
            sigma=p["stddev"] or None,
            scale=float(p["scale"]),
            minfrac=float(p["minfrac"]),
        )
    return lc_sigma_clip(
        lc.time,
        lc.rate,
        lc.exposure,
        *edges,
        sigma=float(p["nsigma"]),
        minlength=float(p["minlength"]),
        dtcor=lc.dtcor,
    )


# ---------------------------------------------------------------- CIAO's report


def _print_parameters(p: Values, outfile: str | None, plotfile: str | None) -> None:
    print("Parameters used to clean the lightcurve are:")
    if p["method"] == "clean":
        print(f"  mean           = {p['mean'] or None}")
        print(f"  clip           = {p['nsigma']:g}")
        if p["stddev"]:
            print(f"  sigma          = {p['stddev']:g}")
        else:
            print(f"  scale          = {p['scale']:g}")
        print(f"  minfrac        = {p['minfrac']:g}")
    else:
        print("  clipping       = symmetric")
        print(f"  sigma          = {p['nsigma']:g}")
        print(f"  minlength      = {int(p['minlength']):d}")
    if outfile is not None:
        print(f"  outfile        = {outfile}")
    print(f"  plot           = {plotfile is not None}")
    if plotfile is not None:
        print(f"  rateaxis       = {p['rateaxis']}")
        print(f"  color          = {p['good_color']}")
        if outfile is not None:
            print(f"  pattern        = {p['pattern']}")
            if p["pattern"] != "nofill":
                print(f"  pattern color  = {p['exclude_color']}")
    print("")


def _print_light_curve(lc: LightCurve) -> None:
    print(f"Total number of bins in lightcurve   = {lc.time.size:d}")
    if lc.exposure is not None and lc.exposure.size:
        width = float(np.nanmax(lc.exposure))
        smaller = int(np.sum((lc.exposure < width) & (lc.exposure > 0)))
        print(f"Max length of one bin                = {width:g} s")
        print(f"Num. bins with a smaller exp. time   = {smaller:d}")
        print(
            f"Num. bins with exp. time = 0         = {int(np.sum(lc.exposure <= 0)):d}"
        )
    zero = int(np.sum(~(lc.rate > 0)))
    if zero:
        print(f"Number of bins with a rate of 0 ct/s = {zero}\n")


def _print_filter(result: DeflareResult, lc: LightCurve, p: Values) -> None:
    f = result.flares
    name = result.ratename
    if f.method == "lc_clean":
        if f.initial_mean is not None:
            print(
                f"Calculated an initial mean (sigma-clipped) rate of {f.initial_mean:g} ct/s"
            )
        else:
            print(
                "Warning: the mean value should be set very carefully (approx. the "
                "mean count-rate of the input light curve)."
            )
            print(f"Using a fixed mean rate of {f.level:g} ct/s")
        if p["stddev"]:
            print(
                f"Lightcurve limits clipped using {p['stddev']:g} sigma's about this mean"
            )
        else:
            print(
                f"Lightcurve limits use a scale factor of {p['scale']:g} about this mean"
            )
        print(
            f"Filtering lightcurve between rates of {f.min_rate:g} and {f.max_rate:g} ct/s"
        )
        print(f"Number of good time bins = {int(f.good.sum())}")
    else:
        print(f"Sigma clipping converged after {f.iterations} iteration(s)")
    print(f"Rate filter:  {f.min_rate!s} <= {name} < {f.max_rate!s}")
    print(f"Mean level of filtered lightcurve = {f.mean!s} ct/s\n")
    if f.by_rate:
        print(
            f"GTI limits calculated using a count-rate filter:\n  {f.userlimit(name)}\n"
        )
        print("The corresponding times are:")
    else:
        print("GTI limits calculated using a time filter:")
    for k, ((a, b), exp) in enumerate(
        zip(f.intervals, f.exposure, strict=True), start=1
    ):
        print(f"  ((time >= {a!s}) && (time < {b!s})) ; {exp / 1e3:.2f} ksec, bin {k}")
    print("")
    exposure = lc.header.get("EXPOSURE")
    if isinstance(exposure, int | float):
        print(f"  Exposure time of lightcurve = {exposure / 1000.0:.2f} ks")
    print(f"  Filtered exposure time      = {f.good_time / 1e3:.2f} ks")
    if lc.dtcor is not None:
        print(f"  DTCOR value                 = {lc.dtcor:g}")
    print(f"  Number of good intervals    = {len(f.intervals)}")
    print(
        f"  Good time kept              = {f.good_time:.1f} s of "
        f"{result.total_time:.1f} s ({100 * result.fraction:.1f}%)"
    )
