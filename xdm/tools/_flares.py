"""Background-flare filters on light-curve arrays: CIAO's lc_clean and lc_sigma_clip.

The numerics of ``xdm deflare`` (workflows spec 3), kept apart from files so
they can be called on any arrays and tested against plain loops:

* ``lc_sigma_clip``: iterative clipping about the mean with the population
  standard deviation (ddof 0), ``|rate - mean| / sd > sigma`` clipped (strict),
  until a pass clips nothing; the GTI is the rate filter ``lo < rate < hi``
  unless some run of surviving bins is shorter than ``minlength``, in which case
  it is one interval per run of at least ``minlength`` bins.
* ``lc_clean``: Markevitch's recipe: one clipped pass for the quiescent mean
  (sigma of a rate = ``sqrt(mean / bin_width)``, ``bin_width = max(EXPOSURE)``),
  limits ``mean / scale .. mean * scale`` (or ``mean -+ sigma * sqrt(mean /
  bin_width)``), the GTI the rate filter, refused when fewer than ``minfrac``
  of the non-zero bins pass.

Bins with a rate <= 0 (empty or zero-exposure bins) never enter a mean and are
never good time. Keyword names follow ciao_contrib's ``lightcurves.py``.

>>> t = np.arange(10.0)
>>> r = np.array([1.0, 1.1, 0.9, 1.0, 9.0, 1.05, 0.95, 1.0, 1.02, 0.98])
>>> f = lc_sigma_clip(t + 0.5, r, time_min=t, time_max=t + 1, sigma=2.0, minlength=1)
>>> f.iterations, f.intervals.tolist()
(2, [[0.0, 4.0], [5.0, 10.0]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xdm.errors import XdmSemanticError

__all__ = [
    "FlareFilter",
    "as_plain",
    "bin_edges",
    "good_intervals",
    "lc_clean",
    "lc_sigma_clip",
    "runs",
]

Floats = NDArray[np.float64]
Mask = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class FlareFilter:
    """What a flare filter found: limits, the good bins and the good time intervals.

    ``good`` marks the bins the method keeps (lc_clean: inside the limits;
    lc_sigma_clip: the bins that survived clipping). ``intervals`` are the
    ``[START, STOP)`` rows of the GTI, ``exposure`` the good time of each
    (summed EXPOSURE of its bins, or ``(STOP - START) x DTCOR`` without an
    EXPOSURE column). ``level`` is the mean the limits are built about.
    ``by_rate`` says the GTI is the rate filter
    ``min_rate < rate < max_rate``; otherwise it is runs of at least
    ``minlength`` bins. ``passes`` holds ``(mean, sd, clipped)`` for each
    lc_sigma_clip pass.
    """

    method: str
    mean: float
    min_rate: float
    max_rate: float
    good: Mask
    intervals: Floats
    exposure: Floats
    by_rate: bool
    n_bins: int
    n_positive: int
    level: float = 0.0
    bin_width: float | None = None
    initial_mean: float | None = None
    passes: tuple[tuple[float, float, int], ...] = ()

    @property
    def iterations(self) -> int:
        """lc_sigma_clip passes, the last one (which clipped nothing) included."""
        return len(self.passes)

    @property
    def ontime(self) -> float:
        """Summed length of the good time intervals."""
        return float(np.sum(self.intervals[:, 1] - self.intervals[:, 0]))

    @property
    def good_time(self) -> float:
        """Summed exposure of the good time intervals."""
        return float(np.sum(self.exposure))

    def userlimit(self, ratename: str = "count_rate") -> str:
        """The dmgti row filter CIAO would use, in CIAO's spelling."""
        if self.by_rate:
            return f"({ratename}>{self.min_rate!r} && {ratename}<{self.max_rate!r})"
        terms = [f"((time>={a!r})&&(time<{b!r}))" for a, b in self.intervals]
        return terms[0] if len(terms) == 1 else "(" + "||".join(terms) + ")"


def bin_edges(
    time: ArrayLike,
    time_min: ArrayLike | None = None,
    time_max: ArrayLike | None = None,
    timedel: ArrayLike | None = None,
    timepixr: float = 0.5,
) -> tuple[Floats, Floats]:
    """Each bin's ``[start, stop)``: TIME_MIN/TIME_MAX, else TIME and TIMEDEL
    (``start = TIME - TIMEPIXR x TIMEDEL``), else TIME itself (CIAO's fallback).

    >>> [e.tolist() for e in bin_edges([5.0, 15.0], timedel=10.0)]
    [[0.0, 10.0], [10.0, 20.0]]
    """
    t = np.asarray(time, dtype=np.float64)
    if time_min is not None and time_max is not None:
        lo = np.asarray(time_min, dtype=np.float64)
        hi = np.asarray(time_max, dtype=np.float64)
        return np.broadcast_to(lo, t.shape).copy(), np.broadcast_to(hi, t.shape).copy()
    if timedel is not None:
        width = np.broadcast_to(np.asarray(timedel, dtype=np.float64), t.shape)
        lo = t - timepixr * width
        return lo, lo + width
    return t.copy(), t.copy()


def runs(mask: ArrayLike) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """First index and one-past-last index of each run of True values.

    >>> [a.tolist() for a in runs([0, 1, 1, 0, 1])]
    [[1, 4], [3, 5]]
    """
    m = np.asarray(mask, dtype=np.int8)
    step = np.diff(np.concatenate(([0], m, [0])))
    return np.flatnonzero(step == 1), np.flatnonzero(step == -1)


def good_intervals(
    tlo: ArrayLike,
    thi: ArrayLike,
    good: ArrayLike,
    exposure: ArrayLike | None = None,
    dtcor: float | None = None,
) -> tuple[Floats, Floats]:
    """The union of the good bins' ``[tlo, thi)`` and the good time of each interval.

    Good time is the summed ``exposure`` of the bins in an interval, or the
    interval's length times ``dtcor`` (1 when not given) without an exposure.
    """
    from xdm.io.intervals import normalise

    lo = np.asarray(tlo, dtype=np.float64)
    hi = np.asarray(thi, dtype=np.float64)
    m = np.asarray(good, dtype=bool)
    intervals = normalise(np.column_stack((lo[m], hi[m])))
    if exposure is None:
        factor = 1.0 if dtcor is None else float(dtcor)
        return intervals, (intervals[:, 1] - intervals[:, 0]) * factor
    exp = np.asarray(exposure, dtype=np.float64)[m]
    starts = lo[m]
    which = np.searchsorted(intervals[:, 0], starts, side="right") - 1
    inside = which >= 0
    inside[inside] &= starts[inside] < intervals[which[inside], 1]
    per = np.bincount(which[inside], weights=exp[inside], minlength=len(intervals))
    return intervals, per.astype(np.float64)


def _checked(time: ArrayLike, rate: ArrayLike) -> tuple[Floats, Floats, Mask]:
    t = np.asarray(time, dtype=np.float64).ravel()
    r = np.asarray(rate, dtype=np.float64).ravel()
    if t.shape != r.shape:
        raise XdmSemanticError(
            f"the light curve has {t.size} times but {r.size} rates",
            hint="time and rate must be columns of the same table",
        )
    if t.size < 1:
        raise XdmSemanticError(
            "the light curve is empty (no rows)",
            hint="check the time range and filters used to make it",
        )
    if t.size < 2:
        raise XdmSemanticError(
            "only 1 time bin in the light curve",
            hint="use a smaller bin size (dmextract [bin time=::DT])",
        )
    positive = r > 0.0  # NaN rates are not > 0
    if not positive.any():
        raise XdmSemanticError(
            "no rows with a count rate > 0 in the light curve",
            hint="the light curve is empty of counts: check its region and band",
        )
    return t, r, positive


def _positive_option(value: float | None, name: str) -> float | None:
    """CIAO's "0 or None means not set"; negative values are refused."""
    if value is None or value == 0:
        return None
    if not value > 0:
        raise XdmSemanticError(f"{name} must be > 0 (or 0 for not set), not {value:g}")
    return float(value)


def lc_sigma_clip(
    time: ArrayLike,
    rate: ArrayLike,
    exposure: ArrayLike | None = None,
    time_min: ArrayLike | None = None,
    time_max: ArrayLike | None = None,
    *,
    sigma: float = 3.0,
    minlength: float = 3,
    timedel: ArrayLike | None = None,
    dtcor: float | None = None,
) -> FlareFilter:
    """Iterative sigma clipping of a light curve (CIAO ``lc_sigma_clip``).

    Each pass takes the mean and population standard deviation of the
    surviving bins and clips those with ``|rate - mean| / sd > sigma``; it stops
    at the first pass that clips nothing, whose ``mean -+ sigma x sd`` are the
    limits. ``minlength`` (truncated to an integer, as CIAO does) is the
    shortest run of consecutive surviving bins that counts as good time.
    """
    if not sigma > 0:
        raise XdmSemanticError(f"sigma must be > 0, not {sigma:g}")
    length = int(minlength)
    if length < 1:
        raise XdmSemanticError(f"minlength must be >= 1, not {minlength:g}")
    t, r, positive = _checked(time, rate)
    tlo, thi = bin_edges(t, time_min, time_max, timedel)
    keep = positive.copy()
    passes: list[tuple[float, float, int]] = []
    while True:
        values = r[keep]
        if values.size == 0:
            raise XdmSemanticError(
                "no bins pass the sigma clipping",
                hint=f"sigma={sigma:g} clips every bin; use a larger nsigma",
            )
        mean = float(values.mean())
        sd = float(values.std())
        if not sd > 0:
            raise XdmSemanticError(
                f"the light curve is constant ({values.size} bins at rate {mean:g}):"
                " no scatter to clip about",
                hint="method=clean uses limits about the mean instead",
            )
        clipped = keep & (np.abs(r - mean) / sd > sigma)
        n_clipped = int(clipped.sum())
        passes.append((mean, sd, n_clipped))
        if n_clipped == 0:
            break
        keep &= ~clipped
    lo, hi = mean - sigma * sd, mean + sigma * sd
    first, end = runs(keep)
    long_enough = (end - first) >= length
    if not long_enough.any():
        raise XdmSemanticError(
            f"no period of {length} consecutive good bins (minlength={length})",
            hint="use a smaller minlength or longer bins",
        )
    exp = None if exposure is None else np.asarray(exposure, dtype=np.float64)
    if length == 1 or long_enough.all():
        in_limits = positive & (r > lo) & (r < hi)
        intervals, good_time = good_intervals(tlo, thi, in_limits, exp, dtcor)
        by_rate = True
    else:
        a, b = first[long_enough], end[long_enough] - 1
        intervals = np.column_stack((tlo[a], thi[b]))
        if exp is None:
            factor = 1.0 if dtcor is None else float(dtcor)
            good_time = (intervals[:, 1] - intervals[:, 0]) * factor
        else:
            sums = np.concatenate(([0.0], np.cumsum(exp)))
            good_time = sums[b + 1] - sums[a]
        by_rate = False
    _need_time(intervals, by_rate)
    return FlareFilter(
        method="lc_sigma_clip",
        mean=float(r[keep].mean()),
        min_rate=lo,
        max_rate=hi,
        good=keep,
        intervals=intervals,
        exposure=np.asarray(good_time, dtype=np.float64),
        by_rate=by_rate,
        n_bins=int(r.size),
        n_positive=int(positive.sum()),
        level=mean,
        passes=tuple(passes),
    )


def lc_clean(
    time: ArrayLike,
    rate: ArrayLike,
    exposure: ArrayLike,
    time_min: ArrayLike | None = None,
    time_max: ArrayLike | None = None,
    *,
    mean: float | None = None,
    clip: float = 3.0,
    sigma: float | None = None,
    scale: float = 1.2,
    minfrac: float = 0.1,
    timedel: ArrayLike | None = None,
) -> FlareFilter:
    """The ACIS blank-sky cleaning of a light curve (CIAO ``lc_clean``).

    Without ``mean``, one pass (not iterated) keeps the bins within ``clip``
    Poisson sigmas of the mean of the non-zero bins and takes their mean. The
    limits are ``mean / scale .. mean * scale``, or ``mean -+ sigma x
    sqrt(mean / bin_width)`` when ``sigma`` is set. Fails when no bin passes or
    fewer than ``minfrac`` of the non-zero bins do.
    """
    if exposure is None:
        raise XdmSemanticError(
            "lc_clean needs an EXPOSURE column in the light curve",
            hint="dmextract opt=ltc1 writes one; method=sigma works without",
        )
    if not clip > 0:
        raise XdmSemanticError(f"clip (nsigma) must be > 0, not {clip:g}")
    fixed_mean = _positive_option(mean, "mean")
    width_sigma = _positive_option(sigma, "sigma (stddev)")
    if width_sigma is None and not scale >= 1.0:
        raise XdmSemanticError(f"scale must be >= 1, not {scale:g}")
    t, r, positive = _checked(time, rate)
    exp = np.asarray(exposure, dtype=np.float64).ravel()
    if exp.shape != r.shape:
        raise XdmSemanticError(f"{exp.size} exposures for {r.size} rates")
    bin_width = float(np.nanmax(exp))
    if not bin_width > 0:
        raise XdmSemanticError(
            "every bin of the light curve has zero exposure",
            hint="the light curve's bins lie outside the good time intervals",
        )
    tlo, thi = bin_edges(t, time_min, time_max, timedel)
    initial: float | None = None
    if fixed_mean is None:
        m0 = float(r[positive].mean())
        s0 = math.sqrt(m0 / bin_width)
        near = (r > m0 - clip * s0) & (r < m0 + clip * s0)
        if not near.any():
            raise XdmSemanticError(
                "unable to find an initial mean rate by sigma clipping; the "
                f"unclipped count rate is {m0:g} +/- {clip * s0:g} ct/s",
                hint="give the quiescent rate with mean=...",
            )
        fixed_mean = initial = float(r[near].mean())
    if width_sigma is None:
        lo, hi = fixed_mean / scale, fixed_mean * scale
    else:
        s = math.sqrt(fixed_mean / bin_width)
        lo, hi = fixed_mean - width_sigma * s, fixed_mean + width_sigma * s
    good = positive & (r > lo) & (r < hi)
    n_good, n_positive = int(good.sum()), int(positive.sum())
    if n_good == 0:
        raise XdmSemanticError(
            f"no bins match rate={lo:g} to {hi:g} (data range is "
            f"{float(r[positive].min()):g} to {float(np.nanmax(r)):g})",
            hint="check mean=, scale= or stddev=",
        )
    fraction = n_good / n_positive
    if fraction < minfrac:
        raise XdmSemanticError(
            f"fraction of bins that are good ({fraction:g}, {n_good} of "
            f"{n_positive}) is below the limit of {minfrac:g}",
            hint="the light curve is mostly flare: inspect it (plot=yes) or "
            "lower minfrac",
        )
    intervals, good_time = good_intervals(tlo, thi, good, exp)
    _need_time(intervals, True)
    return FlareFilter(
        method="lc_clean",
        mean=float(r[good].mean()),
        min_rate=lo,
        max_rate=hi,
        good=good,
        intervals=intervals,
        exposure=good_time,
        by_rate=True,
        n_bins=int(r.size),
        n_positive=n_positive,
        level=fixed_mean,
        bin_width=bin_width,
        initial_mean=initial,
    )


def _need_time(intervals: Floats, by_rate: bool) -> None:
    if len(intervals) == 0 or not np.any(intervals[:, 1] > intervals[:, 0]):
        why = "bins have no width" if by_rate else "runs have no length"
        raise XdmSemanticError(
            f"the good bins make no good time ({why})",
            hint="the light curve needs TIME_MIN/TIME_MAX columns or a TIMEDEL key",
        )


def as_plain(value: Any) -> Any:
    """Arrays and numpy scalars as lists and floats (for ``as_dict``)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
