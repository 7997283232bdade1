"""``xdm.region(text)``: a region expression or node -> ``Region``.

>>> r = region("circle(10,10,5)-box(10,10,2,2)")
>>> r.canonical()
'Circle(10,10,5)&!Box(10,10,2,2)'
>>> r.contains([10, 13], [10, 10]).tolist()
[False, True]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from xdm.regions.build import build
from xdm.regions.compound import Region
from xdm.regions.coords import Frame, ImageReader, LogicalMap
from xdm.regions.regfile import load

if TYPE_CHECKING:
    from xdm.lang import nodes

__all__ = ["Region", "region"]


def region(
    text_or_node: str | nodes.RegionExpr,
    *,
    wcs: Any = None,
    base_dir: str | Path | None = None,
    logical: LogicalMap | None = None,
    image_reader: ImageReader | None = None,
) -> Region:
    """Build a region from CIAO region text or a parsed ``RegionExpr``.

    ``wcs`` maps physical pixels to the sky (``wcs.all_pix2world(x, y, 1)``) and
    is needed for sky coordinates; ``base_dir`` resolves relative file names in
    ``region(file)`` and ``mask(file)``; ``logical`` (image LTM/LTV) lets ds9
    files in ``image`` coordinates be read; ``image_reader`` evaluates the
    virtual file of ``mask(evt2.fits[bin sky=4])`` (``xdm.region`` gives the
    engine's; without one such a mask is an error).
    """
    source = None
    if isinstance(text_or_node, str):
        from xdm.lang.parser import parse_region

        source = text_or_node
        node = parse_region(text_or_node)
    else:
        node = text_or_node
    frame = Frame(
        wcs=wcs,
        logical=logical,
        base_dir=Path(base_dir) if base_dir is not None else None,
        image_reader=image_reader,
    )
    return build(node, frame, source=source, files=load)
