"""Interval algebra for good times: ``(n, 2)`` float64 arrays of half-open
``[START, STOP)`` rows, and time filters keyed by chip.

Pure numpy. A time filter is a ``dict[int | None, ndarray]`` keyed by ACIS
``CCD_ID``; ``None`` applies to every chip. ``intervals_for(keep, ccd)`` is the
one rule both the row filter and the GTI rewrite use to pick a chip's intervals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Intervals",
    "TimeFilter",
    "filter_intersect",
    "filter_union",
    "intersect",
    "intervals_for",
    "normalise",
    "overlap",
    "subtract",
    "total",
    "union",
]

Intervals = NDArray[np.float64]
TimeFilter = dict[int | None, Intervals]

_EMPTY = np.empty((0, 2), dtype=np.float64)


def normalise(gti: ArrayLike) -> Intervals:
    """Sort, drop empty rows (STOP <= START) and merge overlapping or touching rows.

    >>> normalise([[5, 7], [1, 3], [2, 4], [4, 4.5], [9, 9]]).tolist()
    [[1.0, 4.5], [5.0, 7.0]]
    """
    g = np.asarray(gti, dtype=np.float64).reshape(-1, 2)
    g = g[g[:, 1] > g[:, 0]]
    if len(g) < 2:
        return g.copy()
    g = g[np.argsort(g[:, 0], kind="stable")]
    # a row starts a new interval when it begins after every earlier row ended
    ends = np.maximum.accumulate(g[:, 1])
    starts_new = np.empty(len(g), dtype=bool)
    starts_new[0] = True
    starts_new[1:] = g[1:, 0] > ends[:-1]
    first = np.flatnonzero(starts_new)
    last = np.append(first[1:], len(g)) - 1
    return np.column_stack((g[first, 0], ends[last]))


def intersect(a: ArrayLike, b: ArrayLike) -> Intervals:
    """Times good in both ``a`` and ``b``.

    >>> intersect([[0, 10], [20, 30]], [[5, 25]]).tolist()
    [[5.0, 10.0], [20.0, 25.0]]
    """
    a, b = normalise(a), normalise(b)
    if not len(a) or not len(b):
        return _EMPTY.copy()
    # every candidate row is max(start) .. min(stop) of a pair that can overlap;
    # for each row of a, only the rows of b between these two indices can.
    lo = np.searchsorted(b[:, 1], a[:, 0], side="right")
    hi = np.searchsorted(b[:, 0], a[:, 1], side="left")
    counts = np.maximum(hi - lo, 0)
    ia = np.repeat(np.arange(len(a)), counts)
    ib = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ib = ib + np.repeat(lo, counts)
    out = np.column_stack(
        (np.maximum(a[ia, 0], b[ib, 0]), np.minimum(a[ia, 1], b[ib, 1]))
    )
    return out[out[:, 1] > out[:, 0]]


def union(a: ArrayLike, b: ArrayLike) -> Intervals:
    """Times good in ``a`` or ``b``."""
    return normalise(
        np.concatenate([np.reshape(a, (-1, 2)), np.reshape(b, (-1, 2))]).astype(
            np.float64
        )
    )


def subtract(a: ArrayLike, b: ArrayLike) -> Intervals:
    """Times good in ``a`` but not in ``b`` (``[exclude time=...]``)."""
    b = normalise(b)
    gaps = np.column_stack((np.append(-np.inf, b[:, 1]), np.append(b[:, 0], np.inf)))
    return intersect(a, gaps)


def total(gti: ArrayLike) -> float:
    """Summed length of the intervals, overlaps counted once."""
    g = normalise(gti)
    return float(np.sum(g[:, 1] - g[:, 0]))


def overlap(gti: ArrayLike, tlo: ArrayLike, thi: ArrayLike) -> NDArray[np.float64]:
    """Good time inside each bin ``[tlo, thi)``, vectorised over bins.

    Uses the cumulative good time ``F(t)``: the overlap of a bin is
    ``F(thi) - F(tlo)``.

    >>> overlap([[0, 10], [20, 30]], [0, 5, 8], [5, 25, 40]).tolist()
    [5.0, 10.0, 12.0]
    """
    lo = np.asarray(tlo, dtype=np.float64)
    hi = np.asarray(thi, dtype=np.float64)
    g = normalise(gti)
    if lo.size and len(g):
        # clip to the span of the bins so open-ended GTIs stay finite
        g = intersect(g, [[np.min(lo), np.max(hi)]])
    return np.maximum(_cumulative(g, hi) - _cumulative(g, lo), 0.0)


def _cumulative(g: Intervals, t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Good time before ``t`` for normalised intervals ``g``."""
    if not len(g):
        return np.zeros_like(t)
    length = g[:, 1] - g[:, 0]
    before = np.concatenate(([0.0], np.cumsum(length)))
    i = np.searchsorted(g[:, 0], t, side="right") - 1
    inside = np.clip(t - g[np.maximum(i, 0), 0], 0.0, length[np.maximum(i, 0)])
    return np.where(i >= 0, before[np.maximum(i, 0)] + inside, 0.0)


def intervals_for(keep: Mapping[int | None, Intervals], ccd: int | None) -> Intervals:
    """The intervals a time filter gives chip ``ccd``.

    ``keep[ccd]`` if present, else ``keep[None]``; a table with no chip column
    (``ccd is None``) gets the union of every entry; a chip with no entry has no
    good time (an ``flt1`` file without a block for that chip).
    """
    if ccd is not None and ccd in keep:
        return normalise(keep[ccd])
    if None in keep:
        return normalise(keep[None])
    if ccd is None:
        out = _EMPTY.copy()
        for g in keep.values():
            out = union(out, g)
        return out
    return _EMPTY.copy()


def _chip_rows(keep: Mapping[int | None, Intervals], chip: int | None) -> Intervals:
    """A filter's intervals for ``chip`` (``None``: chips it does not name)."""
    if chip in keep:
        return normalise(keep[chip])
    if None in keep:
        return normalise(keep[None])
    return _EMPTY.copy()


def _combine_filters(a: TimeFilter, b: TimeFilter, op: Any) -> TimeFilter:
    keys = set(a) | set(b)
    out: TimeFilter = {
        k: op(_chip_rows(a, k), _chip_rows(b, k)) for k in keys if k is not None
    }
    if None in a or None in b:
        out[None] = op(_chip_rows(a, None), _chip_rows(b, None))
    return out


def filter_union(a: TimeFilter, b: TimeFilter) -> TimeFilter:
    """Times (per chip) good in either time filter: ``(time=a)||(time=b)``."""
    return _combine_filters(a, b, union)


def filter_intersect(a: TimeFilter, b: TimeFilter) -> TimeFilter:
    """Times (per chip) good in both time filters: ``time=a && @gti``."""
    return _combine_filters(a, b, intersect)
