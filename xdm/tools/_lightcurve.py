"""Light curves (dmextract ``opt=ltc1``; workflows spec 2.2).

Counts per time bin are one ``np.bincount`` of the time index per chunk of
kept events. The exposure of bin i is ``DTCOR x`` the overlap of
``[TIME_MIN[i], TIME_MAX[i])`` with the good time of the CCD(s) the region lies
on (``xdm.io.intervals.overlap``, vectorised over bins), so a bin outside every GTI has
EXPOSURE 0 and COUNT_RATE 0, and a bin cut by a GTI edge has less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError
from xdm.io import keywords
from xdm.tools._extract import (
    MAX_BINS,
    Events,
    Infile,
    Pass,
    bin_index,
    carry_header,
    chip_gti,
    error_of,
    positive_area,
    ratio,
    stream,
)

if TYPE_CHECKING:
    from xdm.io.hdus import Header

__all__ = ["Curve", "TimeGrid", "curve", "light_curve_hdus", "time_grid"]

CHIPS = 16
"""Chip ids 0..15 are counted in the light curve's pass (ACIS 0-9, HRC 0-3)."""
JOINT_CELLS = 1 << 21
"""Largest chip x time grid counted in one pass (a bincount of this size per chunk)."""


@dataclass(frozen=True)
class TimeGrid:
    """Bin i covers ``[lo + i*dt, lo + (i+1)*dt)``; the last ends at ``hi``."""

    lo: float
    dt: float
    n: int
    hi: float

    def edges(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """TIME_MIN and TIME_MAX of every bin (the last one clipped at ``hi``)."""
        i = np.arange(self.n, dtype=np.float64)
        lo = self.lo + i * self.dt
        hi = np.minimum(self.lo + (i + 1) * self.dt, self.hi)
        return lo, hi


def time_grid(source: Infile, events: Events, what: str = "dmextract") -> TimeGrid:
    """The ``[bin time=lo:hi:dt]`` grid; lo/hi default to TSTART/TSTOP."""
    from xdm.lang import nodes

    spec = source.axis.spec if source.axis is not None else None
    if spec is not None and not isinstance(spec, nodes.BinRange):
        raise XdmSemanticError(
            f"{what}: [bin time=...] takes lo:hi:dt in seconds, not a region",
            source=source.text,
        )
    h = events.header

    def key(name: str) -> float:
        v = h.get(name)
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise XdmSemanticError(
                f"{what}: {source.events} has no {name} keyword for the time range",
                source=source.text,
                hint="give the range: [bin time=lo:hi:dt]",
            )
        return float(v)

    lo = spec.lo.value if spec is not None and spec.lo is not None else key("TSTART")
    hi = spec.hi.value if spec is not None and spec.hi is not None else key("TSTOP")
    if not (math.isfinite(lo) and math.isfinite(hi)) or not hi > lo:
        raise XdmSemanticError(
            f"{what}: empty time range {lo:.10g}:{hi:.10g}",
            source=source.text,
            span=getattr(spec, "span", None),
        )
    if spec is not None and spec.nbins is not None:
        if spec.nbins <= 0:
            raise XdmSemanticError(
                f"{what}: #n needs a positive number of time bins", source=source.text
            )
        n, dt = int(spec.nbins), (hi - lo) / spec.nbins
    else:
        dt = spec.step.value if spec is not None and spec.step is not None else 1.0
        if not (dt > 0 and math.isfinite(dt)):
            raise XdmSemanticError(
                f"{what}: time bins of width {dt:g} s: the width must be positive",
                source=source.text,
                span=getattr(spec, "span", None),
                hint="e.g. [bin time=::200] for 200 s bins",
            )
        count = (hi - lo) / dt
        n = (
            MAX_BINS + 1
            if not math.isfinite(count)
            else max(1, math.ceil(count - 1e-9))
        )
    if n > MAX_BINS:
        raise XdmSemanticError(
            f"{what}: {n:.3g} time bins (more than {MAX_BINS:.0e})",
            source=source.text,
            span=getattr(spec, "span", None),
            hint="use wider bins or a shorter range",
        )
    from xdm.budget import check

    # about 16 float64 columns per bin with a background, plus the chip x time counts
    check(n * 16 * 8 * 2, f"light curve of {n} time bins", source=source.text,
          span=getattr(spec, "span", None), hint="use wider bins or a shorter range")  # fmt: skip
    return TimeGrid(float(lo), float(dt), int(n), float(hi))


@dataclass(frozen=True, eq=False)
class Curve:
    """Counts and live exposure per time bin of one region."""

    grid: TimeGrid
    counts: NDArray[np.int64]
    exposure: NDArray[np.float64]
    area: float
    gti: NDArray[np.float64]
    gti_origin: str
    dtcor: float
    header: Header
    scan: Pass


def curve(
    source: Infile, events: Events, grid: TimeGrid, what: str = "dmextract"
) -> Curve:
    """Counts per bin (one pass) and EXPOSURE per bin from the region's CCD GTIs."""
    from xdm.io.intervals import overlap
    from xdm.progress import note

    events.column("time", what)
    area = positive_area(events.area(), what, source.events)
    counts = np.zeros(grid.n, dtype=np.int64)
    lo, n = grid.lo, grid.n
    short = grid.hi < lo + n * grid.dt  # the last bin stops early at hi
    chip = events.columns.get("ccd_id") or events.columns.get("chip_id")
    # with a chip column and a modest grid, chip x time in the same kernel pass:
    # the light curve is the sum over chips, the chips holding events its margin
    joint = (
        chip is not None
        and chip.kind == "int"
        and not short
        and (CHIPS + 2) * (n + 2) <= JOINT_CELLS
    )
    by_chip = np.zeros((CHIPS + 2, n + 2), dtype=np.int64) if joint else None
    names = ["time", chip.name] if joint and chip is not None else ["time"]

    def add(values: dict[str, NDArray[Any]], keep: NDArray[np.bool_] | None) -> None:
        t = values["time"]
        if short:
            before = np.asarray(t < grid.hi)
            keep = before if keep is None else keep & before
        if by_chip is None:
            counts[:] += bin_index(t, keep, lo, grid.dt, n)
            return
        from xdm.engine.kernels import padded_index

        out = np.empty(len(t), dtype=np.intp)
        axes = ((lo, 1.0 / grid.dt, n, None), (-0.5, 1.0, CHIPS, 0))
        padded_index([t, values[names[1]]], axes, keep, out)
        by_chip.ravel()[:] += np.bincount(out, minlength=by_chip.size)

    result = stream(events, names, add, chips=not joint)
    if by_chip is not None:
        counts[:] = by_chip[:, 1 : n + 1].sum(axis=0)
        # every kept event, inside the time range or not: the region's chips
        result.ccd_counts = by_chip[1 : CHIPS + 1, :].sum(axis=1)
    header = result.header
    good, origin = chip_gti(result, header)
    dtcor = header.get("DTCOR", 1.0)
    dtcor = float(dtcor) if isinstance(dtcor, int | float) else 1.0
    tmin, tmax = grid.edges()
    exposure = dtcor * overlap(good, tmin, tmax)
    note(f"dmextract: exposure per bin from the {origin} x DTCOR {dtcor:.6g}", level=2)
    return Curve(grid, counts, exposure, area, good, origin, dtcor, header, result)


def light_curve_hdus(
    src: Curve,
    bkg: Curve | None = None,
    *,
    error: str = "gaussian",
    bkgerror: str = "gaussian",
    bkgnorm: float = 1.0,
    history: str | None = None,
) -> list[Any]:
    """Primary, ``LIGHTCURVE`` (spec 2.2 columns, BG_*/NET_* with a background), GTI."""
    from xdm.io.hdus import ColumnSpec, primary_hdu, table_hdu

    tmin, tmax = src.grid.edges()
    err = error_of(src.counts, error)
    cols = [
        ColumnSpec(
            name="TIME_BIN",
            format="1J",
            array=np.arange(1, src.grid.n + 1, dtype=np.int32),
        ),
        ColumnSpec(name="TIME_MIN", format="1D", unit="s", array=tmin),
        ColumnSpec(name="TIME", format="1D", unit="s", array=0.5 * (tmin + tmax)),
        ColumnSpec(name="TIME_MAX", format="1D", unit="s", array=tmax),
        ColumnSpec(
            name="COUNTS", format="1J", unit="count", array=src.counts.astype(np.int32)
        ),
        ColumnSpec(name="STAT_ERR", format="1D", unit="count", array=err),
        ColumnSpec(
            name="AREA",
            format="1D",
            unit="pixel**2",
            array=np.full(src.grid.n, src.area),
        ),
        ColumnSpec(name="EXPOSURE", format="1D", unit="s", array=src.exposure),
        ColumnSpec(
            name="COUNT_RATE",
            format="1D",
            unit="count/s",
            array=ratio(src.counts, src.exposure),
        ),
        ColumnSpec(
            name="COUNT_RATE_ERR",
            format="1D",
            unit="count/s",
            array=ratio(err, src.exposure),
        ),
    ]
    if bkg is not None:
        cols += background_columns(
            src.counts,
            err,
            src.area,
            src.exposure,
            bkg.counts,
            bkg.area,
            bkg.exposure,
            bkgerror=bkgerror,
            bkgnorm=bkgnorm,
        )
    hdu = table_hdu(cols, name="LIGHTCURVE")
    h = hdu.header
    h["HDUNAME"] = ("LIGHTCURVE", "ASCDM block name")
    carry_header(src.header, h)
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    h["HDUCLAS1"] = ("LIGHTCURVE", "light curve dataset (OGIP/93-003)")
    h["HDUCLAS2"] = ("TOTAL", "gross counts (NET_* columns with a background)")
    h["HDUCLAS3"] = ("COUNT", "data stored as counts")
    on = float(np.sum(src.exposure) / src.dtcor) if src.dtcor else 0.0
    h["TSTART"] = (src.grid.lo, "[s] start of the binned range")
    h["TSTOP"] = (src.grid.hi, "[s] end of the binned range")
    h["TIMEDEL"] = (src.grid.dt, "[s] bin width")
    h["TIMEPIXR"] = (0.5, "TIME is the bin centre")
    h["ONTIME"] = (on, "[s] good time inside the binned range")
    h["LIVETIME"] = (float(np.sum(src.exposure)), "[s] ONTIME x DTCOR")
    h["EXPOSURE"] = (float(np.sum(src.exposure)), "[s] summed bin exposure")
    h["DTCOR"] = (src.dtcor, "dead time correction")
    h["ORIGIN"] = ("xdm", "Source of FITS file")
    h["CREATOR"] = ("xdm dmextract", "tool that created this output")
    if history:
        h.add_history(history)
    h.add_comment(f"EXPOSURE per bin = DTCOR x overlap with the {src.gti_origin}")
    primary = primary_hdu()
    keywords.carry(src.header, primary.header, keywords.IDENTITY, comments=False)
    return [primary, hdu, _gti_hdu(src)]


def background_columns(
    counts: NDArray[Any],
    err: NDArray[np.float64],
    area: float | NDArray[np.float64],
    exposure: float | NDArray[np.float64],
    bg_counts: NDArray[Any],
    bg_area: float | NDArray[np.float64],
    bg_exposure: float | NDArray[np.float64],
    *,
    bkgerror: str,
    bkgnorm: float,
) -> list[Any]:
    """BG_* and NET_* columns (spec 2.2): net = counts - bkgnorm x bg x area and
    exposure ratios; errors in quadrature with the same scaling."""
    from xdm.io.hdus import ColumnSpec

    n = len(counts)
    a = np.broadcast_to(np.asarray(area, dtype=np.float64), (n,))
    e = np.broadcast_to(np.asarray(exposure, dtype=np.float64), (n,))
    be = np.broadcast_to(np.asarray(bg_exposure, dtype=np.float64), (n,))
    ba = np.broadcast_to(np.asarray(bg_area, dtype=np.float64), (n,))
    bg_err = error_of(bg_counts, bkgerror)
    scale = bkgnorm * (a / ba) * ratio(e, be)
    net = np.asarray(counts, dtype=np.float64) - scale * bg_counts
    net_err = np.sqrt(err**2 + (scale * bg_err) ** 2)
    return [
        ColumnSpec(
            name="BG_COUNTS",
            format="1D",
            unit="count",
            array=np.asarray(bg_counts, dtype=np.float64),
        ),
        ColumnSpec(name="BG_ERR", format="1D", unit="count", array=bg_err),
        ColumnSpec(name="BG_AREA", format="1D", unit="pixel**2", array=np.array(ba)),
        ColumnSpec(name="BG_EXPOSURE", format="1D", unit="s", array=np.array(be)),
        ColumnSpec(
            name="BG_RATE", format="1D", unit="count/s", array=ratio(bg_counts, be)
        ),
        ColumnSpec(name="NET_COUNTS", format="1D", unit="count", array=net),
        ColumnSpec(name="NET_ERR", format="1D", unit="count", array=net_err),
        ColumnSpec(name="NET_RATE", format="1D", unit="count/s", array=ratio(net, e)),
        ColumnSpec(
            name="ERR_RATE", format="1D", unit="count/s", array=ratio(net_err, e)
        ),
    ]


def _gti_hdu(src: Curve) -> Any:
    """The good time used for EXPOSURE, within the binned range, as block GTI."""
    from xdm.io import gti
    from xdm.io.intervals import intersect
    from xdm.io.keywords import TIME_REFERENCE

    return gti.gti_block(
        intersect(src.gti, [[src.grid.lo, src.grid.hi]]),
        header=src.header,
        keys=TIME_REFERENCE,
        tstart=src.grid.lo,
        tstop=src.grid.hi,
    )
