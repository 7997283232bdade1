"""Quick-looks: an image as a log-scaled PNG with WCS axes, and notebook HTML.

``write_png(data, header, out)`` draws ``log10(1 + counts)`` (north up, FITS
row 1 at the bottom) on RA/Dec axes when the header has a celestial WCS, and on
pixel axes otherwise; the file is written to a temporary name and renamed
(``atomic_output``). matplotlib is an optional extra (``pip install 'xdm[plot]'``),
imported only here, only when a PNG is asked for.

``html_image`` is the ``_repr_html_`` of ``xdm.api.Image`` (an inline PNG when
matplotlib is there); ``html_virtual_file`` the same view of a parsed virtual
file (canonical text and qualifiers). Every user string is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xdm.errors import XdmIOError, XdmSemanticError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["html_image", "html_virtual_file", "png_bytes", "pyplot", "write_png"]


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or a clear error when it is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise XdmIOError(
            "PNG quick-looks need matplotlib, which is not installed",
            hint="pip install 'xdm[plot]' (or pip install matplotlib)",
        ) from None
    return plt


def scaled(data: NDArray[Any]) -> NDArray[Any]:
    """``log10(1 + v)`` of the finite, non-negative pixel values (others 0)."""
    import numpy as np

    values = np.nan_to_num(np.asarray(data, dtype=np.float64), nan=0.0, posinf=0.0)
    return np.log10(1.0 + np.clip(values, 0.0, None))


def png_bytes(data: NDArray[Any], header: Any, *, title: str = "") -> bytes:
    """The quick-look PNG of a 2-D image as bytes."""
    import warnings

    import numpy as np

    array = np.asarray(data)
    if array.ndim != 2:
        raise XdmSemanticError(
            f"a PNG quick-look needs a 2-D image, not {array.ndim}-D",
            hint="bin two axes: [bin sky=8]",
        )
    plt = pyplot()
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header) if header is not None else None
    celestial = wcs is not None and wcs.has_celestial
    fig = plt.figure(figsize=(6, 6), dpi=100)
    try:
        if celestial and wcs is not None:
            ax = fig.add_subplot(projection=wcs.celestial)
            ax.set_xlabel("RA")
            ax.set_ylabel("Dec")
        else:
            ax = fig.add_subplot()
            ax.set_xlabel("x (logical pixel)")
            ax.set_ylabel("y (logical pixel)")
        shown = ax.imshow(scaled(array), origin="lower", cmap="afmhot")
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="log10(1 + counts)")
        if title:
            ax.set_title(title, fontsize=8)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def write_png(
    data: NDArray[Any],
    header: Any,
    out: str | os.PathLike[str],
    *,
    clobber: bool,
    title: str = "",
) -> Path:
    """Write the quick-look PNG to ``out`` (temporary file + rename)."""
    from xdm.io.atomic import atomic_output

    image = png_bytes(data, header, title=title)
    with atomic_output(out, clobber=clobber) as tmp:
        Path(tmp).write_bytes(image)
    return Path(out)


def png_of_fits(
    path: str | os.PathLike[str], out: str | os.PathLike[str], *, clobber: bool
) -> Path:
    """The PNG of the first image in a FITS product (``dmcopy ... --png``)."""
    from xdm.io.hdus import open_fits

    with open_fits(path) as hdul:
        for hdu in hdul:
            if hdu.is_image and int(hdu.header.get("NAXIS", 0)) == 2:
                return write_png(
                    hdu.data, hdu.header, out, clobber=clobber, title=str(path)
                )
    raise XdmSemanticError(
        f"{path} holds no image for a PNG",
        hint="bin the events: [bin sky=8]",
    )


def html_image(data: NDArray[Any], header: Any, name: str = "") -> str:
    """Notebook HTML for an image: shape, sum and an inline PNG if matplotlib is there."""
    import numpy as np

    array = np.asarray(data)
    shape = " x ".join(str(n) for n in array.shape[::-1])
    total = float(np.nansum(array)) if array.size else 0.0
    parts = [
        f"<div><b>{html.escape(name or 'image')}</b> {shape} pixels, "
        f"sum {total:,.6g}</div>"
    ]
    if array.ndim == 2 and array.size:
        try:
            encoded = base64.b64encode(png_bytes(array, header)).decode("ascii")
        except XdmIOError:
            parts.append("<div><i>install matplotlib for a preview</i></div>")
        else:
            parts.append(f'<img src="data:image/png;base64,{encoded}" width="360"/>')
    return "".join(parts)


def html_virtual_file(vf: Any) -> str:
    """Notebook HTML for a parsed virtual file: canonical text and its qualifiers."""
    from xdm.lang.unparse import unparse

    rows = "".join(
        f"<tr><td>{html.escape(type(q).__name__)}</td>"
        f"<td><code>{html.escape(unparse(q))}</code></td></tr>"
        for q in vf.qualifiers
    )
    return (
        f"<div><code>{html.escape(unparse(vf))}</code></div>"
        f"<table><tr><th>qualifier</th><th>text</th></tr>{rows}</table>"
    )
