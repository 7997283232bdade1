"""srcflux counts: every source, every band, in one pass over the events.

Sources are put in a grid of square cells (side half the typical outer radius,
so the pairs tried are about twice the pairs inside the circles); each source is
listed in every cell its outer circle's bounding square touches. For a
chunk of events, each event's cell gives the sources near it (a sorted-key
lookup, vectorised), so the work is proportional to the events near sources,
not to events x sources. Per (event, source) pair the distance decides the
default regions (circle r; annulus 1.7r-5r without any source's circle, as
CIAO's simple regions exclude overlapping sources); user regions are tested
with their own ``contains`` on the pairs of that source. Sums per source are
``np.bincount``s. Memory is one chunk of events and its pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xdm.tools._bands import Band

__all__ = ["BandSums", "Sources", "Tally", "count_events"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_OFF = 1 << 20  # cell indices are shifted positive before packing into one key


@dataclass
class Sources:
    """Source centres (sky pixels) and regions: default circles or user regions."""

    x: FloatArray
    y: FloatArray
    r: FloatArray
    """Default source circle radius (pixels); NaN for user regions."""
    r_in: FloatArray
    r_out: FloatArray
    reach: FloatArray
    """Radius around the centre that holds both regions."""
    src_regions: list[Any] | None = None
    bkg_regions: list[Any] | None = None

    @property
    def size(self) -> int:
        """The number of sources."""
        return int(self.x.size)


@dataclass
class BandSums:
    """Per-source sums in one band."""

    counts: FloatArray
    bg_counts: FloatArray
    flux: FloatArray
    bg_flux: FloatArray
    phot: FloatArray
    bg_phot: FloatArray
    no_area: int = 0
    """Events in either region whose energy has no ARF area (left out of fluxes)."""


@dataclass
class Tally:
    """Everything one pass gives: per band sums, chips, and events near each source."""

    bands: dict[str, BandSums]
    chip_hist: IntArray
    chipx: FloatArray
    chipy: FloatArray
    chip_n: FloatArray
    near: FloatArray
    rows: int = 0
    header: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def _cells(src: Sources, size: float) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """(sorted unique cell keys, start, end, source per listed cell)."""
    cx0 = np.floor((src.x - src.reach) / size).astype(np.int64)
    cx1 = np.floor((src.x + src.reach) / size).astype(np.int64)
    cy0 = np.floor((src.y - src.reach) / size).astype(np.int64)
    cy1 = np.floor((src.y + src.reach) / size).astype(np.int64)
    nx, ny = cx1 - cx0 + 1, cy1 - cy0 + 1
    k = nx * ny
    owner = np.repeat(np.arange(src.size, dtype=np.int64), k)
    local = np.arange(int(k.sum()), dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
    cx = np.repeat(cx0, k) + local // np.repeat(ny, k)
    cy = np.repeat(cy0, k) + local % np.repeat(ny, k)
    key = ((cx + _OFF) << 21) | (cy + _OFF)
    order = np.argsort(key, kind="stable")
    key, owner = key[order], owner[order]
    ukeys, starts = np.unique(key, return_index=True)
    ends = np.append(starts[1:], key.size)
    return ukeys, starts.astype(np.int64), ends.astype(np.int64), owner


def _pairs(
    ex: FloatArray,
    ey: FloatArray,
    size: float,
    table: tuple[IntArray, IntArray, IntArray, IntArray],
    box: tuple[float, float, float, float],
) -> tuple[IntArray, IntArray]:
    """(event index, source index) for every event in a cell a source touches."""
    ukeys, starts, ends, owner = table
    # events inside the box of all cells listed (NaN fails the comparisons)
    lo_x, hi_x, lo_y, hi_y = box
    idx = np.flatnonzero((ex >= lo_x) & (ex < hi_x) & (ey >= lo_y) & (ey < hi_y))
    if idx.size == 0 or ukeys.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    cx = np.floor(ex[idx] / size).astype(np.int64)
    cy = np.floor(ey[idx] / size).astype(np.int64)
    key = ((cx + _OFF) << 21) | (cy + _OFF)
    pos = np.searchsorted(ukeys, key)
    pos_c = np.minimum(pos, ukeys.size - 1)
    hit = (pos < ukeys.size) & (ukeys[pos_c] == key)
    idx, pos_c = idx[hit], pos_c[hit]
    cnt = ends[pos_c] - starts[pos_c]
    event = np.repeat(idx, cnt)
    first = np.repeat(starts[pos_c], cnt)
    local = np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(cnt) - cnt, cnt
    )
    return event, owner[first + local]


def _column(
    records: Any, names: dict[str, str], header: Any, name: str, rows: IntArray | None
) -> FloatArray | None:
    """Column ``name`` of the raw chunk at ``rows``, as float64 (TSCAL/TZERO applied)."""
    key = names.get(name)
    if key is None:
        return None
    raw = np.asarray(records[key])
    values = (raw if rows is None else raw[rows]).astype(np.float64)
    number = None
    for k, v in header.items():
        if k.startswith("TTYPE") and str(v).strip().lower() == name:
            number = k[5:]
            break
    if number is not None:
        scale = float(header.get(f"TSCAL{number}", 1.0))
        zero = float(header.get(f"TZERO{number}", 0.0))
        if scale != 1.0 or zero != 0.0:
            values = values * scale + zero
    return values


def count_events(
    infile: str,
    sources: Sources,
    bands: list[Band],
    *,
    flux_weight: Callable[[FloatArray], FloatArray] | None = None,
    photon_weight: Callable[[FloatArray, FloatArray], FloatArray] | None = None,
    chunk_rows: int | None = None,
) -> Tally:
    """One pass over ``infile``: counts and weighted sums per source and band.

    ``flux_weight(energy_eV)`` gives each event's energy flux times exposure
    (erg/cm^2: E / A(E)); ``photon_weight(x, y)`` its 1/exposure-map value.
    """
    from xdm.api import scan
    from xdm.progress import note

    n = sources.size

    def zeros() -> FloatArray:
        return np.zeros(n, dtype=np.float64)

    sums = {
        b.label: BandSums(zeros(), zeros(), zeros(), zeros(), zeros(), zeros())
        for b in bands
    }
    chip_hist = np.zeros((2, n * 10), dtype=np.int64)
    chipxy = np.zeros((2, 3, n), dtype=np.float64)  # [src|bkg][x, y, n]
    near = zeros()
    reach = sources.reach[np.isfinite(sources.reach)]
    size = max(4.0, 0.5 * float(np.median(reach))) if reach.size else 4.0
    table = _cells(sources, size)
    box = (
        float(np.min(sources.x - sources.reach)) - size,
        float(np.max(sources.x + sources.reach)) + size,
        float(np.min(sources.y - sources.reach)) - size,
        float(np.max(sources.y + sources.reach)) + size,
    )
    user = sources.src_regions is not None
    rows = 0
    with scan(infile, chunk_rows=chunk_rows) as stream:
        header = stream.header
        for records, kept in stream.chunks:
            names = {str(nm).lower(): nm for nm in records.dtype.names or ()}
            idx = np.flatnonzero(kept)
            rows += int(idx.size)
            if idx.size == 0:
                continue
            every = idx.size == kept.size
            ex = _column(records, names, header, "x", None if every else idx)
            ey = _column(records, names, header, "y", None if every else idx)
            if ex is None or ey is None:
                from xdm.errors import XdmSemanticError

                raise XdmSemanticError(
                    f"srcflux: {infile} has no x and y sky columns",
                    hint="srcflux needs an event list",
                )
            ev, sv = _pairs(ex, ey, size, table, box)
            if ev.size == 0:
                continue
            dx = ex[ev] - sources.x[sv]
            dy = ey[ev] - sources.y[sv]
            d = np.sqrt(dx * dx + dy * dy)
            inner = d <= sources.reach[sv]
            ev, sv, d = ev[inner], sv[inner], d[inner]
            # the other columns only for events near a source, one value per pair
            rows_p = idx[ev]
            energy = _column(records, names, header, "energy", rows_p)
            chip = _column(records, names, header, "ccd_id", rows_p)
            if chip is None:
                chip = _column(records, names, header, "chip_id", rows_p)
            cxs = _column(records, names, header, "chipx", rows_p)
            cys = _column(records, names, header, "chipy", rows_p)
            near += np.bincount(sv, minlength=n)
            if user:
                in_src, in_bkg = _user_masks(sources, ex, ey, ev, sv)
            else:
                in_src = d <= sources.r[sv]
                holder = np.bincount(ev[in_src], minlength=ex.size)
                in_bkg = (
                    (d >= sources.r_in[sv])
                    & (d <= sources.r_out[sv])
                    & (holder[ev] == 0)
                )
            if chip is not None:
                cid = np.clip(chip.astype(np.int64), 0, 9)
                for k, mask in enumerate((in_src, in_bkg)):
                    chip_hist[k] += np.bincount(
                        sv[mask] * 10 + cid[mask], minlength=n * 10
                    )
                    if cxs is not None and cys is not None:
                        chipxy[k, 0] += np.bincount(sv[mask], cxs[mask], n)
                        chipxy[k, 1] += np.bincount(sv[mask], cys[mask], n)
                        chipxy[k, 2] += np.bincount(sv[mask], minlength=n)
            fw = None
            if flux_weight is not None and energy is not None:
                fw = flux_weight(energy)
            pw = photon_weight(ex[ev], ey[ev]) if photon_weight is not None else None
            for band in bands:
                s = sums[band.label]
                lim = band.energy_filter
                if lim is None or energy is None:
                    ok = np.ones(ev.size, dtype=bool)
                else:
                    e = energy
                    ok = (e >= lim[0]) & (e <= lim[1])
                ms, mb = in_src & ok, in_bkg & ok
                s.counts += np.bincount(sv[ms], minlength=n)
                s.bg_counts += np.bincount(sv[mb], minlength=n)
                if fw is not None:
                    s.flux += np.bincount(sv[ms], fw[ms], n)
                    s.bg_flux += np.bincount(sv[mb], fw[mb], n)
                    s.no_area += int(np.count_nonzero((ms | mb) & (fw == 0)))
                if pw is not None:
                    s.phot += np.bincount(sv[ms], pw[ms], n)
                    s.bg_phot += np.bincount(sv[mb], pw[mb], n)
            note(f"srcflux: {rows} events read, {ev.size} near sources", level=4)
    # chip of each source: the most common among its source events, else background's
    use = chipxy[0, 2] > 0
    hist = np.where(
        use[:, None], chip_hist[0].reshape(n, 10), chip_hist[1].reshape(n, 10)
    )
    pick = np.where(use, 0, 1)
    sel = np.arange(n)
    count = chipxy[pick, 2, sel]
    with np.errstate(invalid="ignore", divide="ignore"):
        cx_mean = np.where(count > 0, chipxy[pick, 0, sel] / count, math.nan)
        cy_mean = np.where(count > 0, chipxy[pick, 1, sel] / count, math.nan)
    return Tally(
        bands=sums,
        chip_hist=hist,
        chipx=cx_mean,
        chipy=cy_mean,
        chip_n=count,
        near=near,
        rows=rows,
        header=header,
    )


def _user_masks(
    sources: Sources, ex: FloatArray, ey: FloatArray, ev: IntArray, sv: IntArray
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Source/background membership of each pair from the user's regions."""
    assert sources.src_regions is not None and sources.bkg_regions is not None
    in_src = np.zeros(ev.size, dtype=bool)
    in_bkg = np.zeros(ev.size, dtype=bool)
    order = np.argsort(sv, kind="stable")
    bounds = np.searchsorted(sv[order], np.arange(sources.size + 1))
    for s in np.flatnonzero(np.diff(bounds)):
        take = order[bounds[s] : bounds[s + 1]]
        px, py = ex[ev[take]], ey[ev[take]]
        in_src[take] = sources.src_regions[s].contains(px, py)
        in_bkg[take] = sources.bkg_regions[s].contains(px, py)
    return in_src, in_bkg
