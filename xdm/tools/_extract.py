"""Shared pieces of dmextract and specextract (workflows spec 0 and 2).

* ``split_infile``: CIAO's dmextract infile carries its binning,
  ``evt.fits[sky=region(src.reg)][bin pi]``: the filter part becomes a virtual
  file streamed by ``xdm.scan``; the ``[bin ...]`` axis is read here from the
  syntax tree (the planner refuses region bins for plain opening).
* ``describe``: the block's header, columns, sky columns and the region the
  filters select (for AREA and BACKSCAL, spec 0.3).
* ``stream``: one pass over the kept events, handing each chunk's columns to a
  reducer; counts events per CCD on the way (the CCDs the region lies on).
* ``chip_gti``: the good time of those CCDs (spec 2.2).
* ``Product``: an astropy Table that is also the tool's ``--json`` result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError

if TYPE_CHECKING:
    from xdm.io.columns import ColumnMeta
    from xdm.io.hdus import Header
    from xdm.lang import nodes
    from xdm.regions.compound import Region

__all__ = [
    "MAX_BINS",
    "Events",
    "Infile",
    "Pass",
    "bin_index",
    "carry_header",
    "chip_gti",
    "describe",
    "error_of",
    "gti_hdus",
    "sky_wcs",
    "split_infile",
    "stream",
    "table_product",
]

MAX_BINS = 10_000_000
"""More bins than this in one product is refused (issue 13, item 4)."""


# ---------------------------------------------------------------- the infile


@dataclass(frozen=True)
class Infile:
    """A dmextract infile split into the events it keeps and its bin axis."""

    text: str
    vf: nodes.VirtualFile
    events: str
    """The infile without its ``[bin ...]``: the events streamed."""
    axis: nodes.BinAxis | None

    @property
    def column(self) -> str | None:
        """The binned column's name as written (``pi``, ``time``, ``sky``)."""
        from xdm.lang import nodes

        if self.axis is None:
            return None
        target = self.axis.target
        if isinstance(target, nodes.ColumnName):
            return target.name
        if isinstance(target, nodes.ColumnPair):
            return "sky"
        return None


def split_infile(text: str, what: str = "dmextract infile") -> Infile:
    """Parse ``text``; the filter part as text, the one bin axis as a node."""
    from xdm.lang import nodes
    from xdm.lang.parser import parse
    from xdm.lang.unparse import unparse

    if not str(text).strip():
        raise XdmSemanticError(f"{what} is empty", hint="give evt.fits[...][bin pi]")
    vf = parse(str(text))
    kept = tuple(q for q in vf.qualifiers if not isinstance(q, nodes.BinQualifier))
    events = unparse(replace(vf, qualifiers=kept))
    axis = None
    if vf.bin is not None:
        if vf.bin.weight is not None:
            raise XdmSemanticError(
                f"{what}: weighted bins ([bin ...;{vf.bin.weight}]) are not supported "
                "by dmextract",
                source=text,
                span=vf.bin.span,
            )
        if len(vf.bin.axes) != 1:
            raise XdmSemanticError(
                f"{what}: dmextract bins one column, not {len(vf.bin.axes)}",
                source=text,
                span=vf.bin.span,
                hint="use [bin pi], [bin time=::200] or [bin sky=annulus(x,y,0:100:10)]",
            )
        axis = vf.bin.axes[0]
    return Infile(str(text), vf, events, axis)


# ---------------------------------------------------------------- the events


@dataclass(frozen=True)
class Events:
    """What the header says about the events a virtual file keeps."""

    text: str
    header: Header
    block: str
    columns: dict[str, ColumnMeta]
    sky: tuple[ColumnMeta, ColumnMeta] | None
    region: Region | None
    """The region the filters select on sky (and-terms), or None."""
    sky_box: tuple[float, float, float, float]
    """TLMIN/TLMAX of the sky columns: (xlo, xhi, ylo, yhi)."""

    @property
    def sky_area(self) -> float:
        """Area of the whole sky-pixel space (BACKSCAL's denominator)."""
        x0, x1, y0, y1 = self.sky_box
        return (x1 - x0) * (y1 - y0)

    def area(self, extra: Region | None = None) -> float:
        """Exact area of the filter region (and ``extra``), clipped to the sky range."""
        region = self.region
        if extra is not None and (
            region is None or region.canonical() != extra.canonical()
        ):
            region = extra if region is None else region & extra
        if region is None:
            return self.sky_area
        b, box = region.bbox, self.sky_box
        if (
            b is not None
            and b[0] >= box[0]
            and b[1] <= box[1]
            and b[2] >= box[2]
            and b[3] <= box[3]
        ):
            return float(region.area())  # inside the sky range: exact where it can be
        return float(region.area(field=box))

    def column(self, name: str, what: str) -> ColumnMeta:
        """A column of the events, or a clean error naming those there are."""
        col = self.columns.get(name.lower())
        if col is None:
            raise XdmSemanticError(
                f"{what}: {self.text} has no '{name}' column in block {self.block}",
                expected=tuple(c.name for c in self.columns.values()),
                hint="columns: " + ", ".join(c.name for c in self.columns.values()),
            )
        return col

    def region_of(self, node: nodes.RegionExpr) -> Region:
        """A region node in this file's frame (sky WCS for celestial coordinates,
        built only when the region has some: astropy.wcs is slow to import)."""
        from xdm.regions.api import region

        return region(node, wcs=_sky_wcs(self.sky) if _celestial(node) else None)


def describe(text: str, what: str = "dmextract") -> Events:
    """Open the block of ``text`` (header only) and collect its filter region."""
    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse

    vf = parse(text)
    with open_vf_block(vf, source=text) as block:
        header = block.header.copy()
        columns = {c.key: c for c in block.columns}
        sky = block.vector("sky")
        name = block.name
        if not block.is_table:
            raise XdmSemanticError(
                f"{what}: {text} is an image; dmextract needs an event table",
                hint="give the events block, e.g. evt2.fits[EVENTS]",
            )
    if sky is None and "x" in columns and "y" in columns:
        sky = (columns["x"], columns["y"])
    box = (0.5, 8192.5, 0.5, 8192.5)
    if sky is not None and None not in (
        sky[0].tlmin,
        sky[0].tlmax,
        sky[1].tlmin,
        sky[1].tlmax,
    ):
        box = (
            float(sky[0].tlmin or 0.0),
            float(sky[0].tlmax or 0.0),
            float(sky[1].tlmin or 0.0),
            float(sky[1].tlmax or 0.0),
        )
    events = Events(text, header, name, columns, sky, None, box)
    region = _filter_region(vf, events)
    return replace(events, region=region)


def _celestial(node: Any) -> bool:
    """Whether a region node may need the sky WCS: a coordinate with a unit
    (degrees, arcsec, sexagesimal) or a region file (which may be in fk5)."""
    import dataclasses

    from xdm.lang import nodes

    if isinstance(node, nodes.Coordinate):
        return node.unit is not None
    if isinstance(node, nodes.RegionFileRef | nodes.MaskRef | nodes.StackRef):
        return True
    if isinstance(node, tuple):
        return any(_celestial(n) for n in node)
    if dataclasses.is_dataclass(node):
        return any(
            _celestial(getattr(node, f.name))
            for f in dataclasses.fields(node)
            if f.name != "span"
        )
    return False


def sky_wcs(events: Events) -> Any:
    """The sky WCS of the events (None without sky column WCS keys)."""
    return _sky_wcs(events.sky)


def _sky_wcs(sky: tuple[ColumnMeta, ColumnMeta] | None) -> Any:
    """An astropy WCS from the sky columns' TCTYP/TCRVL/TCRPX/TCDLT, or None."""
    if sky is None or sky[0].wcs is None or sky[1].wcs is None:
        return None
    from astropy.wcs import WCS

    xw, yw = sky[0].wcs, sky[1].wcs
    w = WCS(naxis=2)
    w.wcs.ctype = [xw.ctype, yw.ctype]
    w.wcs.crval = [xw.crval, yw.crval]
    w.wcs.crpix = [xw.crpix, yw.crpix]
    w.wcs.cdelt = [xw.cdelt, yw.cdelt]
    w.wcs.cunit = [xw.cunit or "deg", yw.cunit or "deg"]
    w.wcs.set()
    return w


def _is_sky(target: Any, events: Events) -> bool:
    from xdm.lang import nodes

    if isinstance(target, nodes.ColumnName):
        return target.name.lower() in ("sky", "pos")
    if isinstance(target, nodes.ColumnPair):
        names = (getattr(target.first, "name", ""), getattr(target.second, "name", ""))
        return tuple(n.lower() for n in names) == ("x", "y")
    return False


def _filter_region(vf: nodes.VirtualFile, events: Events) -> Region | None:
    """The sky region the filters require (and-terms; exclusions subtract)."""
    from xdm.lang import nodes

    found: Region | None = None

    def terms(expr: nodes.FilterExpr) -> Iterable[nodes.FilterExpr]:
        if isinstance(expr, nodes.AndFilter):
            for t in expr.terms:
                yield from terms(t)
        else:
            yield expr

    for q in vf.filters:
        for term in terms(q.expr):
            if isinstance(term, nodes.RegionFilter) and _is_sky(term.column, events):
                r = events.region_of(term.region)
                if q.exclude:
                    r = ~r
                found = r if found is None else found & r
    return found


# ---------------------------------------------------------------- one pass


@dataclass
class Pass:
    """What one pass over the kept events leaves beside the reducer's sums."""

    header: Any = None
    gti: list[Any] | None = None
    rows: int = 0
    kept: int = 0
    ccd_counts: NDArray[np.int64] | None = None

    def ccds(self) -> list[int]:
        """The CCDs holding kept events, most events first."""
        if self.ccd_counts is None:
            return []
        order = np.argsort(-self.ccd_counts, kind="stable")
        return [int(c) for c in order if self.ccd_counts[c] > 0]


def _values(records: Any, meta: ColumnMeta) -> NDArray[Any]:
    from xdm.io.columns import column_values
    from xdm.io.hdus import is_scaled_records

    if is_scaled_records(records):  # heap tables come scaled
        return np.asarray(records[meta.name])
    return np.asarray(column_values(records, meta))


def _detached(hdu: Any) -> Any:
    """A copy of a GTI block that outlives the file it was read from."""
    from xdm.io.hdus import records_hdu

    data = None if hdu.data is None else hdu.data.copy()
    return records_hdu(data, hdu.header)


def stream(
    events: Events,
    names: Sequence[str],
    reduce: Callable[[dict[str, NDArray[Any]], NDArray[np.bool_] | None], None],
    *,
    chips: bool = False,
) -> Pass:
    """One pass over ``events``: ``reduce(values, keep)`` per chunk.

    ``values`` are the chunk's columns (every row of the chunk, straight from
    the memory map) and ``keep`` the rows the virtual file keeps, or None when
    it keeps them all (reducers that bin through ``kernels.padded_index`` need
    no compress). ``chips``: also count the kept events per CCD (the CCDs the
    region lies on), one comparison per CCD with a GTI block.
    """
    from xdm.api import scan
    from xdm.io import gti
    from xdm.progress import note

    metas = [events.columns[n.lower()] for n in names]
    ccd = events.columns.get("ccd_id") or events.columns.get("chip_id")
    ccd = ccd if chips else None
    out = Pass()
    counts = np.zeros(16, dtype=np.int64)
    note(f"dmextract: streaming {events.text}", level=3)
    with scan(events.text) as rows:
        out.header = rows.header
        out.gti = [_detached(hdu) for hdu in rows.gti_blocks]
        out.rows = rows.total_rows
        refs = gti.subspace_refs(rows.header)
        known = {gti.gti_ccd(h.header, refs) for h in out.gti}
        candidates = sorted(c for c in known if c is not None and 0 <= c < 16)
        for records, mask in rows.chunks:
            n = int(np.count_nonzero(mask))
            if n == 0:
                continue
            out.kept += n
            keep = None if n == len(mask) else mask
            values = {
                name: _values(records, meta)
                for name, meta in zip(names, metas, strict=True)
            }
            if ccd is not None:
                c = _values(records, ccd)
                _count_chips(c if keep is None else c[keep], candidates, counts)
            reduce(values, keep)
    if ccd is not None:
        out.ccd_counts = counts
    note(f"dmextract: {out.kept} of {out.rows} rows kept", level=2)
    return out


def _count_chips(
    c: NDArray[Any], candidates: list[int], counts: NDArray[np.int64]
) -> None:
    """Events per CCD: one comparison per known chip, a bincount if others appear."""
    small = c.dtype.kind in "iu" and c.dtype.itemsize <= 2
    c = np.ascontiguousarray(c, dtype=np.int16 if small else np.int64)
    found = [int(np.count_nonzero(c == k)) for k in candidates]  # native, contiguous
    if sum(found) == len(c):
        for k, m in zip(candidates, found, strict=True):
            counts[k] += m
        return
    v = np.asarray(c, dtype=np.int64)
    counts += np.bincount(v[(v >= 0) & (v < 16)], minlength=16)[:16]


def bin_index(
    v: NDArray[Any],
    keep: NDArray[np.bool_] | None,
    lo: float,
    step: float,
    n: int,
    first: int | None = None,
) -> NDArray[np.int64]:
    """Counts of ``v`` in ``n`` bins ``[lo + i*step, lo + (i+1)*step)`` (rows in
    ``keep``): the engine's padded index (``floor((v - lo) / step)``, or
    ``v - first`` for unit bins of integers) and one ``np.bincount``."""
    from xdm.engine.kernels import padded_index

    out = np.empty(len(v), dtype=np.intp)
    padded_index([v], ((lo, 1.0 / step, n, first),), keep, out)
    return np.bincount(out, minlength=n + 2)[1 : n + 1].astype(np.int64)


# ---------------------------------------------------------------- good time


def chip_gti(result: Pass, header: Header) -> tuple[NDArray[np.float64], str]:
    """Good time of the CCD(s) holding the kept events (spec 2.2), and which.

    One CCD: its GTI block. Several: the union of theirs (a bin counts as
    exposed while any chip under the region is live). No CCD column: the file's
    GTI blocks combined as the switch ``multi_block_combine`` says. No GTI block:
    [TSTART, TSTOP).
    """
    from xdm.io import gti
    from xdm.io.intervals import union

    blocks: dict[int | None, NDArray[np.float64]] = {}
    refs = gti.subspace_refs(header)
    for hdu in result.gti or ():
        chip = gti.gti_ccd(hdu.header, refs)
        rows = gti.gti_intervals(hdu)
        blocks[chip] = union(blocks[chip], rows) if chip in blocks else rows
    if not blocks:
        t0, t1 = header.get("TSTART"), header.get("TSTOP")
        if isinstance(t0, int | float) and isinstance(t1, int | float):
            return np.array([[float(t0), float(t1)]]), "TSTART:TSTOP"
        return np.empty((0, 2)), "none"
    ccds = [c for c in result.ccds() if c in blocks]
    if ccds:
        out = blocks[ccds[0]]
        for c in ccds[1:]:
            out = union(out, blocks[c])
        return out, "GTI of ccd_id " + ",".join(str(c) for c in ccds)
    values = list(blocks.values())
    out = values[0]
    for v in values[1:]:
        out = gti.combine_blocks(out, v)
    return out, "GTI blocks of the file"


def gti_hdus(result: Pass) -> list[Any]:
    """Copies of the (time-filtered) GTI blocks of the events, for a product."""
    from xdm.io.hdus import records_hdu

    return [records_hdu(hdu.data, hdu.header) for hdu in result.gti or ()]


# ---------------------------------------------------------------- products


def carry_header(source: Header, target: Header) -> None:
    """Copy the observation's keywords (``keywords.PRODUCT``, spec 2.1) and
    per-chip times."""
    from xdm.io import keywords

    keywords.carry(source, target, keywords.PRODUCT, chip_times=True)


def error_of(counts: NDArray[Any], method: str) -> NDArray[np.float64]:
    """Statistical error of counts: gaussian sqrt(N), gehrels 1 + sqrt(N + 0.75)."""
    n = np.asarray(counts, dtype=np.float64)
    if method == "gehrels":
        return np.asarray(1.0 + np.sqrt(n + 0.75))
    return np.asarray(np.sqrt(n))


def ratio(a: NDArray[Any], b: NDArray[Any] | float) -> NDArray[np.float64]:
    """a / b with 0 where b is 0 (a rate in a bin without exposure is 0)."""
    num = np.asarray(a, dtype=np.float64)
    den = np.broadcast_to(np.asarray(b, dtype=np.float64), num.shape)
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def table_product(hdu: Any, outfile: str | None) -> Any:
    """The product as an astropy Table (header in ``meta``) with ``as_dict``."""
    from astropy.table import Table

    class Product(Table):  # type: ignore[misc]
        """A dmextract product: the table written, and ``--json`` output."""

        def as_dict(self) -> dict[str, Any]:
            cols: dict[str, Any] = {}
            for name in self.colnames:
                cols[name] = np.asarray(self[name]).tolist()
            return {
                "outfile": self.meta.get("OUTFILE"),
                "extname": self.meta.get("EXTNAME"),
                "rows": len(self),
                "columns": cols,
            }

    if isinstance(hdu, Table):
        table = Product(hdu)
    else:
        from xdm.io.hdus import read_table

        table = Product(read_table(hdu), copy=False)
    table.meta["OUTFILE"] = outfile
    return table


def positive_area(area: float, what: str, text: str) -> float:
    """Refuse a region without area (nothing to scale a background by)."""
    if not (area > 0 and math.isfinite(area)):
        raise XdmSemanticError(
            f"{what}: the region of {text} has {'no' if area == 0 else 'no finite'} area",
            hint="a region for a spectrum, light curve or profile needs an area > 0 "
            "(check its radii and its overlap with the sky range)",
        )
    return area
