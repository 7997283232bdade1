"""deflare's plot: the light curve with its limits and excluded times, and rate histograms.

matplotlib is an optional extra (``pip install 'xdm[plot]'``), imported only
here and only when a plot is asked for; figures are drawn with the Agg canvas
(no window, no pyplot state) and written through a temporary file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from xdm.errors import XdmSemanticError

if TYPE_CHECKING:
    from xdm.tools._flares import FlareFilter
    from xdm.tools.deflare import LightCurve

__all__ = ["check_plot", "plot_flares", "require_matplotlib"]

_HATCH = {
    "solid": None,
    "nofill": "",
    "updiagonal": "///",
    "downdiagonal": "\\\\\\",
    "horizontal": "---",
    "vertical": "|||",
    "crisscross": "xxx",
    "grid": "+++",
    "polkadot": "...",
}
_FORMATS = ("png", "pdf", "svg", "ps", "eps")


def require_matplotlib() -> None:
    """Refuse, before any output is written, when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise XdmSemanticError(
            "deflare: plot=yes and save= need matplotlib, which is not installed",
            hint="pip install 'xdm[plot]' (or matplotlib), or use plot=no",
        ) from None


def check_plot(path: str, colors: tuple[str, ...], *, clobber: bool) -> str:
    """Before any output: matplotlib present, colours known, the plot file free.

    Returns the file name the plot will have (``.png`` added to a name without
    a known extension).
    """
    import os

    require_matplotlib()
    from matplotlib.colors import is_color_like

    for color in colors:
        if not is_color_like(color):
            raise XdmSemanticError(
                f"deflare: {color!r} is not a color matplotlib knows",
                hint="use a name (lime, red), a hex code (#00ff00) or a gray level",
            )
    path = _with_suffix(path)
    if os.path.exists(os.path.expanduser(path)) and not clobber:
        raise XdmSemanticError(
            f"deflare: plot file {path} exists", hint="add clobber=yes to replace it"
        )
    return path


def _with_suffix(path: str) -> str:
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return path if suffix in _FORMATS else path + ".png"


def plot_flares(
    path: str,
    lc: LightCurve,
    flares: FlareFilter,
    *,
    rateaxis: str = "y",
    pattern: str = "solid",
    good_color: str = "lime",
    exclude_color: str = "red",
    clobber: bool = False,
) -> str:
    """Draw the light curve and the rate histograms; returns the file written.

    Top: rate against time (ks from the first bin; axes swapped for
    ``rateaxis=x``), good bins in ``good_color``, the others as blue squares,
    the mean dotted, the limits dashed and the times outside the GTI filled
    with ``exclude_color``. Bottom: histograms of all and of the good rates.
    A name without a known extension gets ``.png``.
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from xdm.io.atomic import atomic_output
    from xdm.io.intervals import subtract

    path = _with_suffix(path)
    suffix = path.rsplit(".", 1)[-1].lower()
    t0 = float(lc.time_min[0])
    t = (lc.time - t0) / 1e3
    good = flares.good
    fig = Figure(figsize=(8, 7))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1)
    fig.subplots_adjust(hspace=0.35)
    x, y = (t, lc.rate) if rateaxis == "y" else (lc.rate, t)
    marks: dict[str, Any] = {"linestyle": "none"}
    if (~good).any():
        top.plot(x[~good], y[~good], "s", color="blue", markersize=3.5, **marks)
    top.plot(x[good], y[good], "o", color=good_color, markersize=5, **marks)
    line = top.axhline if rateaxis == "y" else top.axvline
    line(flares.mean, linestyle="dotted", color="black")
    for limit in (flares.min_rate, flares.max_rate):
        line(limit, linestyle="dashed", color="gray", linewidth=0.8)
    span = np.array([[float(lc.time_min.min()), float(lc.time_max.max())]])
    band = top.axvspan if rateaxis == "y" else top.axhspan
    hatch = _HATCH.get(pattern)
    for a, b in subtract(span, flares.intervals):
        lo, hi = (a - t0) / 1e3, (b - t0) / 1e3
        if hatch is None:
            band(lo, hi, color=exclude_color, alpha=0.35, zorder=0)
        else:
            band(
                lo, hi, facecolor="none", edgecolor=exclude_color, hatch=hatch, zorder=0
            )
    rate_label = "Count Rate [s$^{-1}$]"
    time_label = r"$\Delta$ Time [ks]"
    top.set_xlabel(time_label if rateaxis == "y" else rate_label)
    top.set_ylabel(rate_label if rateaxis == "y" else time_label)
    top.set_title(f"{flares.method}: mean rate={flares.mean:g} s$^{{-1}}$", fontsize=11)
    positive = lc.rate[lc.rate > 0]
    width = min(0.01, (flares.max_rate - flares.min_rate) / 5.0)
    lo_r, hi_r = float(positive.min()), float(positive.max())
    nbins = int(np.clip(np.ceil((hi_r - lo_r) / width) if width > 0 else 1, 1, 1000))
    edges = np.linspace(lo_r, hi_r if hi_r > lo_r else lo_r + 1.0, nbins + 1)
    bottom.hist(positive, bins=edges, histtype="step", color="blue", label="all")
    bottom.hist(
        lc.rate[good], bins=edges, histtype="step", color=good_color, label="good"
    )
    bottom.axvline(flares.mean, linestyle="dotted", color="black")
    bottom.set_xlabel(rate_label)
    bottom.set_ylabel("Number")
    bottom.legend(fontsize=8)
    fig.text(0.015, 0.01, lc.path.split("/")[-1], fontsize=8)
    with atomic_output(path, clobber=clobber) as tmp:
        fig.savefig(tmp, format=suffix)
    return path
