"""The Python facade: open a virtual file as a table or an image, or copy it.

``read("evt2.fits[energy=500:7000]")`` gives an astropy Table;
``read("evt2.fits[bin sky=8]")`` an ``Image`` (data, header, wcs);
``copy(vf, "out.fits", clobber=True)`` writes what ``xdm copy`` writes. Chains
parser -> planner -> executor and nothing more.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xdm.errors import XdmSemanticError

if TYPE_CHECKING:
    import numpy as np
    from astropy.table import Table
    from astropy.wcs import WCS
    from numpy.typing import NDArray

    from xdm.engine.steps import Plan
    from xdm.io.hdus import Header
    from xdm.lang.nodes import RegionExpr, VirtualFile
    from xdm.regions.compound import Region
    from xdm.regions.coords import LogicalMap

__all__ = ["Image", "Scan", "copy", "read", "region", "scan", "select"]


@dataclass(frozen=True, slots=True)
class Image:
    """A binned or filtered image: numpy data (last axis first), header, sky WCS."""

    data: NDArray[Any]
    header: Header
    name: str = ""

    @property
    def wcs(self) -> WCS:
        """The header's primary (celestial, when present) WCS."""
        import warnings

        from astropy.wcs import WCS, FITSFixedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)  # date-key fix-ups
            return WCS(self.header)

    def _repr_html_(self) -> str:
        """Notebook view: shape, sum and a log-scaled preview (``xdm.quicklook``)."""
        from xdm.quicklook import html_image

        return html_image(self.data, self.header, self.name)


def region(
    text_or_node: str | RegionExpr,
    *,
    wcs: Any = None,
    base_dir: str | os.PathLike[str] | None = None,
    logical: LogicalMap | None = None,
) -> Region:
    """``xdm.region``: ``xdm.regions.api.region`` with the engine's image reader,
    so ``mask(evt2.fits[bin sky=16])`` is made from the virtual file."""
    from xdm.plan.planner import evaluate_virtual_image
    from xdm.regions.api import region as build_region

    return build_region(
        text_or_node,
        wcs=wcs,
        base_dir=None if base_dir is None else os.fspath(base_dir),
        logical=logical,
        image_reader=evaluate_virtual_image,
    )


def _plan(
    vf: VirtualFile | str | os.PathLike[str], base_dir: str | os.PathLike[str] | None
) -> Plan:
    from xdm.plan.planner import plan

    return plan(os.fspath(vf) if isinstance(vf, os.PathLike) else vf, base_dir=base_dir)


def read(
    vf: VirtualFile | str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    plan: Plan | None = None,
) -> Table | Image:
    """Evaluate a virtual file in memory.

    Returns an astropy ``Table`` for a filtered or column-selected table block,
    and an ``Image`` for ``[bin ...]`` or an image block. ``plan``: the plan of
    ``vf`` a caller already made (to learn what it gives), run as it is.
    """
    from xdm.engine.executor import ImageResult, evaluate
    from xdm.io.hdus import records_table

    vf = os.fspath(vf) if isinstance(vf, os.PathLike) else vf
    p = _plan(vf, base_dir) if plan is None else plan
    if p.image_block:
        return _read_image_block(vf, base_dir if plan is None else plan.base_dir)
    result = evaluate(p)
    if isinstance(result, ImageResult):
        return Image(data=result.data, header=result.header, name=result.name)
    return records_table(result.records, result.header)


def select(
    vf: VirtualFile | str, *, base_dir: str | os.PathLike[str] | None = None
) -> NDArray[Any]:
    """The rows a virtual file keeps, as a boolean mask over the block's rows."""
    from xdm.engine.executor import select as run_select

    p = _plan(vf, base_dir)
    if p.image_block:
        raise XdmSemanticError("select() needs a table block", source=p.source)
    return run_select(p)


@dataclass(frozen=True, slots=True)
class Scan:
    """A table virtual file as a stream of chunks (what ``scan`` yields).

    Each chunk is ``(records, kept)``: the block's raw FITS records for a slice of
    rows (unscaled, big-endian; an astropy ``FITS_rec`` for heap tables, which is
    already scaled) and the boolean mask of the rows the virtual file keeps.
    ``columns`` pairs each output column's name in ``records`` with its output
    name (``[cols]`` selects and renames); ``header`` is the output block's header
    (column keywords renumbered, exposure keywords updated by time filters) and
    ``gti_blocks`` the file's GTI blocks after the time filters.
    """

    header: Header
    total_rows: int
    columns: tuple[tuple[str, str], ...]
    gti_blocks: tuple[Any, ...]
    chunks: Iterator[tuple[NDArray[Any], NDArray[np.bool_]]]


@contextlib.contextmanager
def scan(
    vf: VirtualFile | str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    chunk_rows: int | None = None,
) -> Iterator[Scan]:
    """Stream the rows a table virtual file keeps, one chunk at a time.

    The same single pass (fused predicate, memory-mapped chunks) as ``read``, but
    nothing is gathered: memory stays at one chunk whatever the file's size, so a
    reducer (row counts, column ranges) scales to any number of rows. Images (an
    image block or ``[bin ...]``) are not streamed.
    """
    from xdm.engine.executor import scan as run_scan
    from xdm.io.blocks import DEFAULT_CHUNK_ROWS
    from xdm.plan.planner import plan

    text = os.fspath(vf) if isinstance(vf, os.PathLike) else vf
    p = plan(text, base_dir=base_dir, chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS)
    if p.gives_image:
        raise XdmSemanticError("scan() needs a table, not an image", source=p.source)
    with run_scan(p) as stream:
        yield Scan(
            header=stream.header,
            total_rows=stream.total_rows,
            columns=stream.columns,
            gti_blocks=stream.gti_blocks,
            chunks=stream.chunks,
        )


def copy(
    vf: VirtualFile | str,
    out: str | os.PathLike[str],
    *,
    clobber: bool = False,
    history: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the virtual file to ``out`` like CIAO ``dmcopy``.

    A filtered table keeps every other block of the file (GTIs updated); a binned
    table becomes the primary HDU followed by the GTI blocks; a filtered or
    rebinned image block is written in its place among the file's other blocks. The product is
    written to a temporary file and renamed; an existing ``out`` needs ``clobber``.
    """
    from xdm.engine.executor import write

    if "[" in os.fspath(out):
        raise XdmSemanticError(
            f"output {os.fspath(out)!r} has qualifiers; xdm writes plain FITS files",
            hint="drop the [...] part of the output name",
        )
    vf = os.fspath(vf) if isinstance(vf, os.PathLike) else vf
    if os.fspath(out).lower().endswith(".png"):  # a quick-look of the image
        return _copy_png(vf, out, clobber=clobber, base_dir=base_dir)
    p = _plan(vf, base_dir)
    if p.image_block:
        return _copy_image_block(
            vf, out, clobber=clobber, history=history, base_dir=base_dir
        )
    return write(p, os.fspath(out), clobber=clobber, history=history)


def _copy_png(vf: VirtualFile | str, out: Any, *, clobber: bool, base_dir: Any) -> Path:
    """``copy(vf, "img.png")``: the image as a log-scaled PNG with WCS axes."""
    from xdm.lang.unparse import unparse
    from xdm.quicklook import write_png

    image = read(vf, base_dir=base_dir)
    if not isinstance(image, Image):
        raise XdmSemanticError(
            f"a PNG needs an image; {out} was asked of a table",
            hint="bin the events: add [bin sky=8]",
        )
    title = vf if isinstance(vf, str) else unparse(vf)
    return write_png(image.data, image.header, out, clobber=clobber, title=title)


# Image blocks are evaluated by xdm.engine.images (another module's job); one place each.
def _read_image_block(vf: VirtualFile | str, base_dir: Any) -> Image:
    from xdm.engine import images
    from xdm.plan.planner import evaluate_virtual_image

    base = None if base_dir is None else os.fspath(base_dir)
    data, header = images.read_image(
        vf, base_dir=base, image_reader=evaluate_virtual_image
    )
    return Image(data=data, header=header, name=str(header.get("HDUNAME", "")))


def _copy_image_block(
    vf: VirtualFile | str,
    out: Any,
    *,
    clobber: bool,
    history: str | None,
    base_dir: Any,
) -> Path:
    """The evaluated image in place of its block; every other block of the file
    copied as it is (CIAO dmcopy keeps them, as for filtered tables)."""
    from xdm.io.atomic import atomic_output
    from xdm.io.blocks import open_vf_block
    from xdm.io.hdus import image_hdu
    from xdm.io.writer import hdu_bytes

    if isinstance(vf, str):
        from xdm.lang.parser import parse

        vf = parse(vf)
    image = _read_image_block(vf, base_dir)
    header = image.header.copy()
    if history:
        header.add_history(history)
    with (
        atomic_output(out, clobber=clobber) as tmp,
        open_vf_block(vf, base_dir=base_dir) as block,
        open(tmp, "wb") as fh,
    ):
        for i, hdu in enumerate(block.hdul):
            if i != block.index:
                fh.write(hdu_bytes(hdu, primary=i == 0))
            elif i == 0:
                primary = image_hdu(image.data, header, primary=True)
                if len(block.hdul) > 1:
                    primary.header["EXTEND"] = True
                fh.write(hdu_bytes(primary, primary=True))
            else:
                ext = image_hdu(image.data, header, primary=False)
                fh.write(hdu_bytes(ext, primary=False))
    return Path(out)
