"""The aprates posterior (Kashyap et al. 2010): mode and credible interval of S.

Model (workflows.md 6.2): ``n ~ Poisson(f S + b)``, ``m ~ Poisson(g S + r b)``,
flat priors on ``S >= 0`` and ``b >= 0``, ``b`` marginalised:

    p(S) ∝ e^{-(f+g) S} ∫_0^∞ (f S + b)^n (g S + r b)^m e^{-(1+r) b} db

* ``g = 0``: the closed form single sum over k of C(n,k) (fS)^k Γ(n+m-k+1) /
  (1+r)^{n+m-k+1}, in log space (gammaln, logsumexp). The terms are
  log-concave in k, so for each S only a window of 10 standard
  deviations around the largest term is summed (everything outside is below
  e^-50 of the sum): cost grid x window, 1201 x 6300 for n = 10^5, m = 0.
* ``g > 0``: the b integral by Gauss-Legendre quadrature (24 panels x 16
  nodes) over the range where the log-concave integrand is within e^-40 of its
  maximum (found from the quadratic for its peak, then widened until the ends
  are 40 below it). Cost grid x 384 evaluations whatever n and m are; no
  n x m double sum.

The density is normalised on a grid (4001 points by default) that covers
every S within e^-40 of the peak. The mode is refined by parabolas
through the exact log density (grid stencil, then a 20x and 400x finer one); the interval is the continuous limit of
aprates' rule (grow from the mode one step at a time on the higher side,
i.e. the highest-density interval): the level whose interval holds ``conf``,
found with the grid CDF (trapezoid) and log-linear interpolation. When that
interval reaches S = 0 the lower edge is undefined (None, CIAO's INDEF) and
the upper edge is the ``conf`` quantile from 0.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Estimate", "estimate", "log_posterior", "significance"]

FloatArray = NDArray[np.float64]
_DROP = 40.0  # grid and quadrature ranges reach e^-40 of the peak
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
_PANELS = 24
_BLOCK = 256  # grid rows per block of the windowed sum (bounded memory)


@dataclass(frozen=True)
class Estimate:
    """One quantity's summary: mode, interval edges (None = INDEF), and the posterior."""

    mode: float
    lo: float | None
    hi: float | None
    conf: float
    signif: float | None
    grid: FloatArray
    density: FloatArray

    def as_dict(self) -> dict[str, Any]:
        """The numbers (no arrays), for JSON."""
        return {
            "mode": self.mode,
            "err_lo": self.lo,
            "err_up": self.hi,
            "conf": self.conf,
            "signif": self.signif,
        }


def _lse(a: FloatArray, axis: int) -> FloatArray:
    """log Σ exp(a) along ``axis`` (rows of -inf give -inf)."""
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - top), axis=axis)) + np.squeeze(top, axis=axis)
    return np.asarray(out, dtype=np.float64)


@functools.lru_cache(maxsize=256)
def _coefficients(n: int, m: int, r: float) -> FloatArray:
    """log C(n,k) Γ(n+m-k+1) / (1+r)^{n+m-k+1} for k = 0..n (the S-free part)."""
    from scipy.special import gammaln

    total = n + m
    k = np.arange(n + 1, dtype=np.float64)
    c = (
        gammaln(n + 1.0)
        - gammaln(k + 1.0)
        - gammaln(n - k + 1.0)
        + gammaln(total - k + 1.0)
        - (total - k + 1.0) * math.log1p(r)
    )
    c.setflags(write=False)
    return np.asarray(c, dtype=np.float64)


def _log_sum_g0(s: FloatArray, n: int, m: int, f: float, r: float) -> FloatArray:
    """log Σ_k C(n,k)(fS)^k Γ(n+m-k+1)/(1+r)^{n+m-k+1} for each S (g = 0)."""
    total = n + m
    c = _coefficients(n, m, r)
    out = np.empty(s.shape, dtype=np.float64)
    x = f * s
    with np.errstate(divide="ignore"):
        u = np.log(x)
    zero = x <= 0
    out[zero] = c[0]  # only k = 0 survives at S = 0
    if n == 0:
        out[:] = c[0]
        return out
    # the largest term: root of (n-k) x (1+r) = (k+1)(n+m-k), clipped to [0, n]
    q = x * (1.0 + r)
    b = total - 1.0 + q
    disc = np.maximum(b * b - 4.0 * (n * q - total), 0.0)
    kstar = np.clip(np.rint((b - np.sqrt(disc)) / 2.0), 0, n)
    curv = 1.0 / (kstar + 1.0) + 1.0 / (n - kstar + 1.0) - 1.0 / (total - kstar + 1.0)
    sd = 1.0 / np.sqrt(np.maximum(curv, 1e-300))
    half = int(min(n, math.ceil(10.0 * float(np.max(sd[~zero], initial=1.0)) + 12)))
    idx_all = np.flatnonzero(~zero)
    if 2 * half >= n:  # the window is the whole sum: one matrix, no gathering
        k = np.arange(n + 1, dtype=np.float64)
        block = max(1, 1_000_000 // (n + 1))
        for start in range(0, idx_all.size, block):
            rows = idx_all[start : start + block]
            out[rows] = _lse(c[None, :] + k[None, :] * u[rows, None], axis=1)
        return out
    offsets = np.arange(-half, half + 1)
    for start in range(0, idx_all.size, _BLOCK):
        rows = idx_all[start : start + _BLOCK]
        kk = kstar[rows, None].astype(np.int64) + offsets[None, :]
        # shift windows that run past 0 or n back inside, so none is cut short
        low = np.minimum(kk[:, :1], 0)
        high = np.maximum(kk[:, -1:] - n, 0)
        kk = kk - low - high
        inside = (kk >= 0) & (kk <= n)
        kc = np.clip(kk, 0, n)
        terms = np.where(inside, c[kc] + kc * u[rows, None], -np.inf)
        out[rows] = _lse(terms, axis=1)
    return out


def _b_range(
    s: FloatArray, n: int, m: int, f: float, g: float, r: float
) -> tuple[FloatArray, FloatArray]:
    """Where the b integrand is within e^-40 of its peak, per S."""
    a1 = f * s
    a2 = g * s / r
    lam = 1.0 + r
    bq = lam * (a1 + a2) - n - m
    cq = lam * a1 * a2 - n * a2 - m * a1
    disc = np.maximum(bq * bq - 4.0 * lam * cq, 0.0)
    bstar = np.maximum((-bq + np.sqrt(disc)) / (2.0 * lam), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h2 = n / np.square(bstar + a1) + m / np.square(bstar + a2)
    h2 = np.where(np.isfinite(h2) & (h2 > 0), h2, lam * lam)
    sig = 1.0 / np.sqrt(h2)
    lo = np.maximum(bstar - 12.0 * sig, 0.0)
    hi = bstar + 12.0 * sig + 60.0 / lam
    peak = _h(bstar, s, n, m, f, g, r)
    for _ in range(60):
        short = _h(hi, s, n, m, f, g, r) > peak - _DROP
        if not short.any():
            break
        hi = np.where(short, bstar + 2.0 * (hi - bstar), hi)
    for _ in range(60):
        short = (lo > 0) & (_h(lo, s, n, m, f, g, r) > peak - _DROP)
        if not short.any():
            break
        lo = np.where(short, np.maximum(bstar - 2.0 * (bstar - lo), 0.0), lo)
    return lo, hi


def _h(
    b: FloatArray, s: FloatArray, n: int, m: int, f: float, g: float, r: float
) -> FloatArray:
    """log of the b integrand (fS+b)^n (gS+rb)^m e^{-(1+r)b}."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = n * np.log(f * s + b) if n else np.zeros_like(b)
        t2 = m * np.log(g * s + r * b) if m else np.zeros_like(b)
    return np.asarray(t1 + t2 - (1.0 + r) * b, dtype=np.float64)


def _log_int_b(
    s: FloatArray, n: int, m: int, f: float, g: float, r: float
) -> FloatArray:
    """log ∫_0^∞ (fS+b)^n (gS+rb)^m e^{-(1+r)b} db per S, by panelled Gauss-Legendre."""
    lo, hi = _b_range(s, n, m, f, g, r)
    width = (hi - lo) / _PANELS
    # nodes: (S, panel, node)
    left = lo[:, None] + width[:, None] * np.arange(_PANELS)[None, :]
    nodes = (
        left[:, :, None] + width[:, None, None] * (_NODES[None, None, :] + 1.0) / 2.0
    )
    ss = np.broadcast_to(s[:, None, None], nodes.shape)
    logw = np.log(_WEIGHTS * 0.5)[None, None, :] + np.log(width)[:, None, None]
    vals = _h(nodes, ss, n, m, f, g, r) + logw
    flat = vals.reshape(vals.shape[0], -1)
    return _lse(flat, axis=1)


def log_posterior(
    s: FloatArray | float, n: int, m: int, f: float, g: float, r: float
) -> FloatArray:
    """The unnormalised log p(S | n, m) at the values ``s`` (S >= 0)."""
    arr = np.atleast_1d(np.asarray(s, dtype=np.float64))
    if g == 0.0:
        part = _log_sum_g0(arr, n, m, f, r)
    else:
        part = _log_int_b(arr, n, m, f, g, r)
    return np.asarray(part - (f + g) * arr, dtype=np.float64)


def _grid(
    n: int,
    m: int,
    f: float,
    g: float,
    r: float,
    points: int,
    step: float | None,
    top: float | None,
) -> FloatArray:
    """S values from where p falls below e^-40 of its peak to where it does again."""
    denom = r * f - g
    if denom > 0:
        centre = max(0.0, (r * n - m) / denom)
        sigma = math.sqrt(n + m / (r * r) + 1.0) * r / denom
    else:
        centre, sigma = n / f, math.sqrt(n + 1.0) / f
    lo = max(0.0, centre - 15.0 * sigma)
    hi = centre + 15.0 * sigma + 50.0 / (f + g)
    for _ in range(60):
        grid = np.linspace(lo, hi, 257)
        lp = log_posterior(grid, n, m, f, g, r)
        peak = float(np.max(lp))
        grow_hi = lp[-1] > peak - _DROP
        grow_lo = lo > 0 and lp[0] > peak - _DROP
        if not (grow_hi or grow_lo):
            break
        span = hi - lo
        if grow_hi:
            hi += span
        if grow_lo:
            lo = max(0.0, lo - span)
    if top is not None and top > 0:
        hi = min(hi, top)
        lo = min(lo, hi / 2.0)
    if step is not None and step > 0:
        count = math.ceil((hi - lo) / step) + 1
        if count > 2_000_001:
            from xdm.errors import XdmSemanticError

            raise XdmSemanticError(
                f"aprates: resolution={step:g} gives {count} grid points",
                hint="use a coarser resolution or leave it INDEF",
            )
        return lo + step * np.arange(count, dtype=np.float64)
    return np.linspace(lo, hi, points)


def significance(n: int, m: int, f: float, g: float, r: float) -> float | None:
    """The classical net S over its propagated error (informational, like aprates')."""
    denom = f - g / r
    var = n + m / (r * r)
    if denom <= 0 or var <= 0:
        return None
    return ((n - m / r) / denom) / (math.sqrt(var) / denom)


def estimate(
    n: int,
    m: int,
    f: float,
    g: float,
    r: float,
    conf: float,
    *,
    points: int | None = None,
    step: float | None = None,
    top: float | None = None,
) -> Estimate:
    """Mode and highest-density interval of S for counts n, m and responses f, g, r.

    ``points``: grid size (default 4001; 1201 for the g = 0 sum beyond 2000
    source counts, whose near-normal posterior needs no more for 1e-5 edges);
    ``step``: the grid step instead; ``top``: the grid's upper end in S
    (aprates' max_counts / f), cutting the automatic range.
    """
    if points is None:
        points = 1201 if (g == 0.0 and n > 2000) else 4001
    grid = _grid(n, m, f, g, r, points, step, top)
    lp = log_posterior(grid, n, m, f, g, r)
    top = float(np.max(lp))
    p = np.exp(lp - top)
    h = np.diff(grid)
    cells = 0.5 * (p[1:] + p[:-1]) * h
    cdf = np.concatenate([[0.0], np.cumsum(cells)])
    norm = float(cdf[-1])
    p = p / norm
    cdf = cdf / norm
    i = int(np.argmax(p))

    # the mode: parabolas through the exact log density, on the grid's three
    # points around its maximum and then on a 20x finer stencil
    if i == 0 and grid[0] == 0.0:
        mode = 0.0
    else:
        mode = float(grid[i])
        step = float(grid[min(i + 1, grid.size - 1)] - grid[max(i - 1, 0)]) / 2.0
        for _ in range(3):
            lo_x = max(mode - step, 0.0)
            xs = np.array([lo_x, lo_x + step, lo_x + 2.0 * step])
            ys = log_posterior(xs, n, m, f, g, r)
            denom = ys[0] - 2.0 * ys[1] + ys[2]
            if not denom < 0:
                break
            shift = 0.5 * step * (ys[0] - ys[2]) / denom
            mode = float(np.clip(xs[1] + shift, xs[0], xs[2]))
            step /= 20.0
        if (
            log_posterior(0.0, n, m, f, g, r)[0]
            >= log_posterior(mode, n, m, f, g, r)[0]
        ):
            mode = 0.0

    logp = np.log(np.maximum(p, 1e-300))
    # each side of the mode as log p rising towards it (made monotone): the
    # crossing of a level is log-linear interpolation inside a cell
    left_y = np.maximum.accumulate(logp[: i + 1])
    left_x = grid[: i + 1]
    right_y = np.maximum.accumulate(logp[i:][::-1])
    right_x = grid[i:][::-1]

    def cum(x: FloatArray) -> FloatArray:
        # CDF at x: trapezoid cells, the density linear inside a cell
        j = np.clip(np.searchsorted(grid, x) - 1, 0, grid.size - 2)
        t = x - grid[j]
        slope = (p[j + 1] - p[j]) / h[j]
        return np.asarray(cdf[j] + p[j] * t + 0.5 * slope * t * t)

    def edges(levels: FloatArray) -> tuple[FloatArray, FloatArray]:
        ll = np.log(levels)
        return np.interp(ll, left_y, left_x), np.interp(ll, right_y, right_x)

    def mass(levels: FloatArray) -> FloatArray:
        a, b = edges(levels)
        return cum(b) - cum(a)

    lo: float | None
    reaches_zero = grid[0] == 0.0 and (i == 0 or float(mass(p[:1])[0]) <= conf)
    if reaches_zero:
        lo = None
        k = int(np.clip(np.searchsorted(cdf, conf) - 1, 0, grid.size - 2))
        rest = conf - cdf[k]
        slope = (p[k + 1] - p[k]) / h[k]
        if abs(slope) * rest < 1e-12 * p[k] * p[k]:
            step = rest / p[k]
        else:
            step = (
                math.sqrt(max(p[k] * p[k] + 2.0 * slope * rest, 0.0)) - p[k]
            ) / slope
        hi = float(grid[k] + min(max(step, 0.0), h[k]))
        enclosed = float(cum(np.array([hi]))[0])
    else:
        # the level whose interval holds conf: a coarse then a fine log-spaced scan
        peak = float(p[i])
        span = (0.0, 70.0)
        for _ in range(2):
            drops = np.linspace(span[0], span[1], 200)
            got = mass(peak * np.exp(-drops))  # rises with the drop
            k = int(np.clip(np.searchsorted(got, conf), 1, drops.size - 1))
            span = (float(drops[k - 1]), float(drops[k]))
        g0, g1 = mass(peak * np.exp(-np.array(span)))
        frac = 0.0 if g1 == g0 else (conf - g0) / (g1 - g0)
        level = peak * math.exp(-(span[0] + frac * (span[1] - span[0])))
        a, b = edges(np.array([level]))
        lo, hi = float(a[0]), float(b[0])
        enclosed = float(cum(b)[0] - cum(a)[0])
    return Estimate(
        mode=mode,
        lo=lo,
        hi=hi,
        conf=float(enclosed),
        signif=significance(n, m, f, g, r),
        grid=grid,
        density=p,
    )
