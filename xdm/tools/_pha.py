"""OGIP PHA type I spectra (workflows spec 2.1) and dmgroup-style grouping.

``spectrum`` histograms the ``pi`` (or ``pha``) column of the kept events over
the channel range (TLMIN..TLMAX unless ``[bin pi=lo:hi]`` says otherwise) in one
streaming pass (``np.bincount`` per chunk); ``pha_hdus`` lays it out as CIAO's
dmextract does: an empty primary, block ``SPECTRUM`` (CHANNEL, PI, COUNTS,
COUNT_RATE; STAT_ERR only for ``error=gehrels``, else ``POISSERR=T``), the
OGIP keywords and the GTI blocks. ``group_num_counts`` is dmgroup's NUM_CTS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError
from xdm.io import keywords
from xdm.tools._extract import (
    Events,
    Infile,
    Pass,
    bin_index,
    carry_header,
    error_of,
    gti_hdus,
    positive_area,
    ratio,
    stream,
)

if TYPE_CHECKING:
    from xdm.io.hdus import Header

__all__ = [
    "Spectrum",
    "group_bin_width",
    "group_num_counts",
    "pha_hdus",
    "spectrum",
]

CHANNEL_COLUMNS = ("pi", "pha")


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Counts per channel of the events a region and filters keep."""

    column: str
    """``PI`` or ``PHA`` (CHANTYPE)."""
    channels: NDArray[np.int64]
    counts: NDArray[np.int64]
    exposure: float
    area: float
    backscal: float
    header: Header
    """The (filtered) events header the keywords come from."""
    scan: Pass


def spectrum(
    source: Infile, events: Events, what: str = "dmextract", *, chips: bool = False
) -> Spectrum:
    """Histogram the channel column of the kept events in one pass
    (``chips``: also count the events per CCD, for blanksky's BKGSCALn)."""
    from xdm.lang import nodes

    name = (source.column or "").lower()
    if name not in CHANNEL_COLUMNS:
        raise XdmSemanticError(
            f"{what}: opt=pha1 needs a [bin pi] (or [bin pha]) spec in infile, "
            + (f"not [bin {source.column}]" if source.column else "and it has none"),
            source=source.text,
            hint=f"e.g. infile='{source.events}[bin pi]'; light curves are opt=ltc1 "
            "with [bin time=::200], radial profiles opt=generic",
        )
    col = events.column(name, what)
    spec = source.axis.spec if source.axis is not None else None
    if spec is not None and not isinstance(spec, nodes.BinRange):
        raise XdmSemanticError(
            f"{what}: [bin {name}=...] takes lo:hi channels, not a region",
            source=source.text,
        )
    lo_default = col.tlmin if col.tlmin is not None else 1
    hi_default = col.tlmax if col.tlmax is not None else 1024
    lo = int(spec.lo.value) if spec is not None and spec.lo is not None else lo_default
    hi = int(spec.hi.value) if spec is not None and spec.hi is not None else hi_default
    if spec is not None and (
        spec.nbins is not None or (spec.step and spec.step.value != 1)
    ):
        raise XdmSemanticError(
            f"{what}: a PHA spectrum has one channel per bin ([bin {name}=lo:hi:1])",
            source=source.text,
            hint="group channels afterwards: xdm specextract grouptype=NUM_CTS binspec=15",
        )
    lo, hi = int(lo), int(hi)
    if hi < lo:
        raise XdmSemanticError(
            f"{what}: empty channel range {lo}:{hi}", source=source.text
        )
    n = hi - lo + 1
    counts = np.zeros(n, dtype=np.int64)

    integer = col.kind == "int"

    def add(values: dict[str, NDArray[Any]], keep: NDArray[np.bool_] | None) -> None:
        v = values[name]
        if integer:
            counts[:] += bin_index(v, keep, lo - 0.5, 1.0, n, first=lo)
        else:  # a real-valued channel column: channel c covers [c - 0.5, c + 0.5)
            counts[:] += bin_index(v, keep, lo - 0.5, 1.0, n)

    area = positive_area(events.area(), what, source.events)
    result = stream(events, [name], add, chips=chips)
    header = result.header
    exposure = float(header.get("EXPOSURE", header.get("LIVETIME", 0.0)) or 0.0)
    return Spectrum(
        column=name.upper(),
        channels=np.arange(lo, hi + 1, dtype=np.int64),
        counts=counts,
        exposure=exposure,
        area=area,
        backscal=area / events.sky_area,
        header=header,
        scan=result,
    )


def pha_hdus(
    s: Spectrum,
    *,
    error: str = "gaussian",
    sys_err: float = 0.0,
    hduclas2: str = "TOTAL",
    backfile: str = "none",
    respfile: str = "none",
    ancrfile: str = "none",
    areascal: float = 1.0,
    grouping: tuple[NDArray[np.int16], NDArray[np.int16]] | None = None,
    history: str | None = None,
    creator: str = "xdm dmextract",
) -> list[Any]:
    """The HDUs of a type I PHA file: primary, SPECTRUM, the GTI blocks."""
    from xdm.io.hdus import ColumnSpec, primary_hdu, table_hdu

    cols = [
        ColumnSpec(name="CHANNEL", format="1J", array=s.channels.astype(np.int32)),
        ColumnSpec(name=s.column, format="1J", array=s.channels.astype(np.int32)),
        ColumnSpec(
            name="COUNTS", format="1J", unit="count", array=s.counts.astype(np.int32)
        ),
    ]
    poisson = error != "gehrels"
    if not poisson:
        cols.append(
            ColumnSpec(
                name="STAT_ERR",
                format="1E",
                unit="count",
                array=error_of(s.counts, error).astype(np.float32),
            )
        )
    if sys_err:
        cols.append(
            ColumnSpec(
                name="SYS_ERR",
                format="1E",
                array=np.full(len(s.counts), sys_err, dtype=np.float32),
            )
        )
    cols.append(
        ColumnSpec(
            name="COUNT_RATE",
            format="1D",
            unit="count/s",
            array=ratio(s.counts, s.exposure),
        )
    )
    if grouping is not None:
        cols.append(ColumnSpec(name="GROUPING", format="1I", array=grouping[0]))
        cols.append(ColumnSpec(name="QUALITY", format="1I", array=grouping[1]))
    hdu = table_hdu(cols, name="SPECTRUM")
    h = hdu.header
    lo, hi = int(s.channels[0]), int(s.channels[-1])
    for i in (1, 2):
        h[f"TLMIN{i}"] = (lo, "Lowest legal channel number")
        h[f"TLMAX{i}"] = (hi, "Highest legal channel number")
    h["HDUNAME"] = ("SPECTRUM", "ASCDM block name")
    carry_header(s.header, h)
    _spectrum_keys(h, s, hduclas2, poisson)
    h["BACKFILE"] = (backfile, "background file")
    h["RESPFILE"] = (respfile, "redistribution matrix file (RMF)")
    h["ANCRFILE"] = (ancrfile, "ancillary response file (ARF)")
    h["AREASCAL"] = (float(areascal), "area scaling factor")
    if not sys_err:
        h["SYS_ERR"] = (0.0, "fractional systematic error")
    h["ORIGIN"] = ("xdm", "Source of FITS file")
    h["CREATOR"] = (creator, "tool that created this output")
    if grouping is not None:
        h["GROUPING"] = (0, "grouping is in the GROUPING column")
        h["QUALITY"] = (0, "quality is in the QUALITY column")
    if history:
        h.add_history(history)
    primary = primary_hdu()
    keywords.carry(s.header, primary.header, keywords.IDENTITY, comments=False)
    primary.header["CREATOR"] = creator
    return [primary, hdu, *gti_hdus(s.scan)]


def _spectrum_keys(h: Header, s: Spectrum, hduclas2: str, poisson: bool) -> None:
    """The OGIP PHA keywords (OGIP/92-007; spec 2.1)."""
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    h["HDUCLAS1"] = ("SPECTRUM", "PHA dataset (OGIP memo OGIP-92-007)")
    h["HDUCLAS2"] = (hduclas2, "TOTAL (source) or BKG (background) spectrum")
    h["HDUCLAS3"] = ("COUNT", "PHA data stored as counts")
    h["HDUCLAS4"] = ("TYPE:I", "single spectrum")
    h["HDUVERS"] = ("1.2.1", "version of the format")
    h["CHANTYPE"] = (s.column, "channel type (PHA or PI)")
    h["DETCHANS"] = (len(s.channels), "total number of detector channels")
    h["EXPOSURE"] = (s.exposure, "[s] exposure time")
    h["BACKSCAL"] = (s.backscal, "region area / sky area (spec 0.3)")
    h["CORRSCAL"] = (0.0, "correction scaling factor")
    h["CORRFILE"] = ("none", "correction file")
    h["POISSERR"] = (poisson, "Poisson errors (no STAT_ERR column)")
    h["TOTCTS"] = (int(s.counts.sum()), "total counts in the spectrum")
    h["AREA"] = (s.area, "[pixel**2] exact region area")


# ---------------------------------------------------------------- grouping


def group_num_counts(
    counts: NDArray[Any], minimum: float
) -> tuple[NDArray[np.int16], NDArray[np.int16]]:
    """dmgroup NUM_CTS: consecutive channels until a group holds >= ``minimum``.

    GROUPING is 1 at the first channel of a group and -1 in the rest; a last
    group that does not reach ``minimum`` keeps its channels together with
    QUALITY 2 (dmgroup's "incomplete group"), all others QUALITY 0. A loop over
    channels (1024 of them), not events.
    """
    if not minimum > 0:
        raise XdmSemanticError(
            f"NUM_CTS grouping needs a positive number of counts, not {minimum:g}"
        )
    c = np.asarray(counts, dtype=np.float64)
    group = np.zeros(len(c), dtype=np.int16)
    quality = np.zeros(len(c), dtype=np.int16)
    total = 0.0
    first = 0
    start = True
    for i, v in enumerate(c.tolist()):
        if start:
            group[i], first, total, start = 1, i, 0.0, False
        else:
            group[i] = -1
        total += v
        if total >= minimum:
            start = True
    if not start:  # the last group is incomplete
        quality[first:] = 2
    return group, quality


def group_bin_width(n: int, width: int) -> tuple[NDArray[np.int16], NDArray[np.int16]]:
    """dmgroup BIN_WIDTH: groups of ``width`` channels; a short last group QUALITY 2."""
    if width < 1:
        raise XdmSemanticError(f"BIN_WIDTH grouping needs a width >= 1, not {width}")
    i = np.arange(n)
    group = np.where(i % width == 0, 1, -1).astype(np.int16)
    quality = np.zeros(n, dtype=np.int16)
    tail = n % width
    if tail:
        quality[n - tail :] = 2
    return group, quality
