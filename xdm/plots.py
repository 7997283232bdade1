"""Quick-look plots of one-dimensional products: light curves, spectra, profiles.

``curve(path)`` picks what to draw from a product's first table, by the columns
CIAO's dmextract writes: a light curve (``TIME``, ``COUNT_RATE``), a spectrum
(``CHANNEL``, ``COUNTS``) or a radial profile (``RMID``, ``SUR_BRI``; log axes).
``write_curve_png(path, out)`` draws it with matplotlib (an optional extra,
imported only here) and writes the PNG through ``atomic_output``.
``xdm TOOL ... --png`` uses these for table outputs and ``xdm.quicklook`` for
images.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xdm.errors import XdmSemanticError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["Curve", "curve", "png_name", "png_of_product", "write_curve_png"]

# columns that name a product -> (x, y, y error, x label, y label, log axes)
KINDS = (
    ("TIME", "COUNT_RATE", "COUNT_RATE_ERR", "time (s)", "count rate (count/s)", False),
    ("CHANNEL", "COUNTS", "", "channel", "counts", False),
    ("RMID", "SUR_BRI", "SUR_BRI_ERR", "radius (pixel)", "counts / pixel**2", True),
)


@dataclass(frozen=True)
class Curve:
    """What a quick-look draws: x, y (and y errors), labels, and log axes or not."""

    x: NDArray[Any]
    y: NDArray[Any]
    yerr: NDArray[Any] | None
    xlabel: str
    ylabel: str
    log: bool
    title: str


def curve(path: str | os.PathLike[str]) -> Curve:
    """The curve of a product's first table that has a known pair of columns."""
    import numpy as np

    from xdm.io.hdus import is_bintable, open_fits

    with open_fits(path) as hdul:
        for hdu in hdul:
            if not is_bintable(hdu):
                continue
            names = {n.upper(): n for n in hdu.columns.names}
            for x, y, err, xlabel, ylabel, log in KINDS:
                if x in names and y in names:
                    data = hdu.data
                    yerr = np.asarray(data[names[err]], float) if err in names else None
                    return Curve(
                        np.asarray(data[names[x]], float),
                        np.asarray(data[names[y]], float),
                        yerr,
                        xlabel,
                        ylabel,
                        log,
                        f"{Path(path).name}[{hdu.name}]",
                    )
    raise XdmSemanticError(
        f"{path} holds no light curve, spectrum or profile to plot",
        hint="--png draws dmextract's LIGHTCURVE, SPECTRUM and profile tables",
    )


def write_curve_png(
    path: str | os.PathLike[str], out: str | os.PathLike[str], *, clobber: bool
) -> Path:
    """Draw ``curve(path)`` into the PNG ``out`` (temporary file + rename)."""
    from xdm.io.atomic import atomic_output
    from xdm.quicklook import pyplot

    shown = curve(path)
    plt = pyplot()
    fig = plt.figure(figsize=(7, 4), dpi=100)
    try:
        ax = fig.add_subplot()
        if shown.yerr is not None:
            ax.errorbar(shown.x, shown.y, yerr=shown.yerr, fmt=".", ms=3, lw=0.6)
        else:
            ax.step(shown.x, shown.y, where="mid", lw=0.8)
        if shown.log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(shown.xlabel)
        ax.set_ylabel(shown.ylabel)
        ax.set_title(shown.title, fontsize=8)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    with atomic_output(out, clobber=clobber) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())
    return Path(out)


def png_name(out: str | os.PathLike[str]) -> str:
    """``lc.fits`` -> ``lc.png``, ``lc.fits.gz`` -> ``lc.png`` (beside the product)."""
    path = Path(out)
    stem = path.name.removesuffix(".gz")
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return str(path.with_name(stem + ".png"))


def png_of_product(
    path: str | os.PathLike[str], out: str | os.PathLike[str], *, clobber: bool
) -> Path:
    """The quick-look of a product: its 2-D image if it has one, else its curve."""
    from xdm.io.hdus import open_fits

    with open_fits(path) as hdul:
        image = any(h.is_image and h.header.get("NAXIS", 0) == 2 for h in hdul)
    if image:
        from xdm.quicklook import png_of_fits

        return png_of_fits(path, out, clobber=clobber)
    return write_curve_png(path, out, clobber=clobber)
