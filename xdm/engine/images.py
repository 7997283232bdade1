"""Virtual files on IMAGE blocks: cut-outs, region masks, plane selection, rebinning.

Takes an image array and its header plus the virtual file's qualifiers and returns
the new array and header (dm-syntax 7.7, 7.8, 8, 9). Pixel centres are at integer
logical coordinates; every filter is decided at pixel centres. The header's
logical -> physical -> world transforms are moved with the pixels (``imagewcs``),
so the sky position of a pixel never changes. ``read_image`` is the thin file
front end used by ``xdm.api``.

Order: filters (all brackets, AND; ``image_filters``) -> crop to the selection
(unless ``[opt full]``) -> null the unselected pixels -> ``[bin ...]`` (block
sums, axes not named are summed away; ``image_bin``) -> ``[opt type=]``. The
image's axes are named by ``image_axes``; the options and types by
``xdm.lang.options``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.engine.image_axes import Frame
from xdm.engine.image_bin import Rebin, block_sum, rebin_plan
from xdm.engine.image_filters import (
    FilterCompiler,
    Grid,
    Term,
    and_terms,
    box_mask,
)
from xdm.errors import XdmSemanticError
from xdm.io.imagewcs import collapsed_header, resampled_header
from xdm.io.keywords import CHECKSUMS, SCALE, SCALING
from xdm.lang import nodes, options

if TYPE_CHECKING:
    from xdm.io.hdus import Header
    from xdm.regions.coords import ImageReader

__all__ = [
    "IMAGE_TYPES",
    "evaluate_image",
    "read_image",
]

IMAGE_TYPES: dict[str, np.dtype[Any]] = {
    t.name: np.dtype(t.dtype) for t in options.IMAGE_TYPES
}
"""``[opt type=]`` names -> numpy types (the table is ``xdm.lang.options``)."""


# ---------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class _Options:
    full: bool = False
    null: float | None = None
    dtype: np.dtype[Any] | None = None
    update: bool = True


def _options(items: Sequence[nodes.OptItem]) -> _Options:
    """The options of an image block, checked against ``xdm.lang.options``."""
    opts = options.check_options(items, block="image")
    null, kind = opts.get("null"), opts.get("type")
    return _Options(
        full="full" in opts,
        null=None if null is None else float(null),
        dtype=None if kind is None else IMAGE_TYPES[kind],
        update=opts.get("update", "yes") != "no",
    )


# ---------------------------------------------------------------- evaluation


def _reject_table_qualifiers(vf: nodes.VirtualFile) -> None:
    if vf.cols:
        raise XdmSemanticError(
            "[cols ...] selects table columns; this block is an image",
            span=vf.cols[0].span,
        )


def _null_value(opts: _Options, header: Header, dtype: np.dtype[Any]) -> float:
    if opts.null is not None:
        return opts.null
    blank = header.get("BLANK")
    if dtype.kind in "iu" and isinstance(blank, int):
        return float(blank)
    return 0.0


def _fits_type(values: NDArray[Any], dtype: np.dtype[Any]) -> bool:
    if dtype.kind == "f":
        return True
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        return False
    if values.size == 0:
        return True
    info = np.iinfo(dtype)
    return bool(values.min() >= info.min and values.max() <= info.max)


def evaluate_image(
    vf: nodes.VirtualFile,
    data: NDArray[Any],
    header: Header,
    *,
    base_dir: str | None = None,
    image_reader: ImageReader | None = None,
) -> tuple[NDArray[Any], Header]:
    """Apply the virtual file's filters, ``[bin]`` and ``[opt]`` to an image.

    Parameters
    ----------
    vf
        The parsed virtual file; its block qualifier is ignored (already chosen).
    data
        Pixel values (physical values: any BSCALE/BZERO already applied), numpy
        order ``(..., axis2, axis1)``.
    header
        The image header; not modified.
    base_dir
        Directory for relative region/mask file names.
    image_reader
        Makes the image of a virtual ``mask(vf)`` (``xdm.regions.coords.ImageReader``).

    Returns
    -------
    The new array and header. Filters: ``#n=lo:hi`` (logical, inclusive),
    ``x=lo:hi`` (physical, via LTV/LTM or the ``P`` WCS; see
    ``switches.physical_upper_inclusive``), linear world axes by CTYPE (``freq=...``),
    comparisons, ``sky=``/``(x,y)=``/``(#1,#2)=`` regions and masks (pixel centres),
    ``[exclude ...]`` (null inside). Unselected pixels get ``[opt null=v]``, else
    BLANK (integer images), else 0; the image is cropped to the selection (range
    span or region bounding box) unless ``[opt full]``. ``[bin ...]`` sums whole-pixel
    blocks (``sky=4``, ``#1=::2``, ``x=lo:hi:step``); axes it does not name are
    summed away (``cube[#3=10][bin x,y]``); a block is null only if none of its
    pixels was selected. Integer sums never wrap: without ``[opt type=]`` the type
    widens when needed. The data subspace records physical ranges and regions
    unless ``[opt update=no]``.

    Raises
    ------
    XdmSemanticError
        Unknown axis, filter kinds that do not apply to images, non-integer rebin
        factors, a selection with no pixels, values that do not fit ``type=``.
    """
    _reject_table_qualifiers(vf)
    opts = _options(vf.options)
    data = np.asarray(data)
    if data.ndim == 0:
        raise XdmSemanticError(f"block of {vf.path} holds no image data", span=vf.span)
    frame = Frame(header, data.shape)
    compiler = FilterCompiler(frame, base_dir, image_reader)

    includes: list[Term] = []
    excludes: list[Term] = []
    for qualifier in vf.filters:
        term = compiler.term(qualifier.expr)
        (excludes if qualifier.exclude else includes).append(term)
    selection = and_terms(includes) if includes else Term()

    # crop box: the selection's span, unless [opt full]
    first = [1] * frame.naxis
    last = list(frame.sizes)
    if not opts.full:
        for i, (lo, hi) in selection.crop.items():
            first[i], last[i] = max(first[i], lo), min(last[i], hi)
    sizes = [hi - lo + 1 for lo, hi in zip(first, last)]
    if any(s <= 0 for s in sizes) and not opts.full:
        raise XdmSemanticError(
            "the filter selects no pixels of the image",
            span=vf.span,
            hint="check the ranges against the image size and its physical axes",
        )
    grid = Grid(first, sizes)
    index = tuple(
        slice(first[frame.naxis - 1 - k] - 1, last[frame.naxis - 1 - k])
        for k in range(frame.naxis)
    )
    cut = data[index]

    keep = np.ones(grid.shape, dtype=bool)
    if includes:
        keep &= box_mask(selection, grid)
    for term in excludes:
        keep &= ~box_mask(term, grid)
    has_nulls = not bool(keep.all())

    out_header = header.copy()
    offsets = [f - 1 for f in first]
    factors = [1] * frame.naxis
    kept_axes = list(range(1, frame.naxis + 1))

    in_dtype = data.dtype.newbyteorder("=")
    wide = np.dtype(np.float64) if in_dtype.kind == "f" else np.dtype(np.int64)
    target = opts.dtype or in_dtype
    null = _null_value(opts, header, target)
    if math.isnan(null) and target.kind != "f":
        raise XdmSemanticError(
            "null=NaN needs a real image type",
            span=vf.span,
            hint="add type=r4 or type=r8 to [opt ...]",
        )

    if vf.bin is not None:
        order, axis_plans = rebin_plan(frame, vf.bin, first, sizes)
        # blocks are relative to the cut-out
        local = [
            Rebin(first=p.first - first[i] + 1, factor=p.factor, nbins=p.nbins)
            for i, p in enumerate(axis_plans)
        ]
        values = np.where(keep, cut, 0) if has_nulls else cut
        summed = block_sum(values, local, wide)
        if has_nulls:
            counts = block_sum(keep.astype(np.int64), local, np.dtype(np.int64))
            empty = counts == 0
        offsets = [p.first - 1 for p in axis_plans]
        factors = [p.factor for p in axis_plans]
        kept_axes = [i + 1 for i in order]
        drop = tuple(frame.naxis - 1 - i for i in range(frame.naxis) if i not in order)
        summed = summed.reshape(
            [s for k, s in enumerate(summed.shape) if k not in drop]
        )
        if has_nulls:
            empty = empty.reshape(summed.shape)
            summed = np.where(empty, null, summed)
        result = summed
        if (
            opts.dtype is None
            and in_dtype.kind in "iu"
            and not _fits_type(result, in_dtype)
        ):
            target = next(
                t
                for t in (np.dtype(np.int32), np.dtype(np.int64))
                if _fits_type(result, t)
            )
    else:
        result = np.where(keep, cut, null) if has_nulls else np.array(cut)

    if not _fits_type(result, target):
        raise XdmSemanticError(
            f"pixel values do not fit the image type {target.name}",
            span=vf.span,
            hint="choose a wider [opt type=...] (i4, r4, r8)",
        )
    result = np.ascontiguousarray(result.astype(target, copy=False))

    out_header = resampled_header(out_header, offsets, factors)
    if kept_axes != list(range(1, frame.naxis + 1)):
        out_header = collapsed_header(out_header, kept_axes)
    _finish_header(out_header, result, vf, opts, includes, excludes)
    return result, out_header


def _finish_header(
    header: Header,
    result: NDArray[Any],
    vf: nodes.VirtualFile,
    opts: _Options,
    includes: Sequence[Term],
    excludes: Sequence[Term],
) -> None:
    from xdm.io.subspace import Subspace

    for key in (*SCALE, *CHECKSUMS):
        header.remove(key, ignore_missing=True)
    if result.dtype.kind == "f":
        header.remove("BLANK", ignore_missing=True)
    for key in [k for k in header if k.startswith("NAXIS")]:
        header.remove(key)
    header["NAXIS"] = result.ndim
    for i, n in enumerate(reversed(result.shape), start=1):
        header[f"NAXIS{i}"] = n
    header["BITPIX"] = {"f": -8 * result.dtype.itemsize}.get(
        result.dtype.kind, 8 * result.dtype.itemsize
    )
    ss = Subspace.from_header(header)
    changed = False
    if opts.update:
        for term in includes:
            if term.record is not None:
                ss, changed = term.record(ss), True
        for term in excludes:
            if term.region is not None and term.region_name is not None:
                ss = ss.with_region(term.region_name, (~term.region).canonical())
                changed = True
    if vf.subspace:
        ss, changed = ss.removed(item.name for item in vf.subspace), True
    if changed:
        ss.write(header)
    if vf.output_name:
        header["HDUNAME"] = vf.output_name


# ---------------------------------------------------------------- file front end


def read_image(
    vf: nodes.VirtualFile | str,
    *,
    base_dir: str | None = None,
    image_reader: ImageReader | None = None,
) -> tuple[NDArray[Any], Header]:
    """Open the image block named by ``vf`` and evaluate it (``evaluate_image``).

    ``vf`` may be text (parsed with ``xdm.lang.parser.parse``). Scaled images
    (BSCALE/BZERO/BLANK) are read without memory mapping, as astropy requires.
    """
    from xdm.io.blocks import open_vf_block

    if isinstance(vf, str):
        from xdm.lang.parser import parse

        vf = parse(vf)
    with open_vf_block(vf, base_dir=base_dir) as block:
        if not block.is_image:
            raise XdmSemanticError(
                f"block {block.name} of {vf.path} is not an image", span=vf.span
            )
        header = block.header.copy()
        if any(k in header for k in SCALING):
            from xdm.io.hdus import open_fits

            with open_fits(block.path, memmap=False) as hdul:
                data = np.array(hdul[block.index].data)
        else:
            data = np.asarray(block.hdul[block.index].data)
        result, out_header = evaluate_image(
            vf,
            data,
            header,
            base_dir=None if base_dir is None else str(base_dir),
            image_reader=image_reader,
        )
        return np.array(result), out_header
