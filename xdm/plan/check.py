"""A virtual file checked against its opened block's header, once.

The middle of the planner's three stages, open -> check -> plan: the planner
opens the block (``xdm.io.blocks.open_vf_block``), ``check`` asks the header
every question the qualifiers raise and refuses what the block cannot give
(``XdmSemanticError`` and friends, each with a caret under the user's text),
and the planner assembles the ``Plan`` from the ``CheckedFile`` without asking
the header again or raising any user error. What is resolved here:

* ``[opt]``: the options in effect (``xdm.lang.options.check_options``);
* the block: its CIAO number, name, rows, kind and reopening handle;
* filters: compiled into one predicate (``xdm.engine.exprgen.compile_filters``),
  with the time selections and subspace they imply;
* ``[bin]``: one group, no ``[cols]`` beside it, no ``/modifier``; its axis
  columns and grids (``plan.grids``: TLMIN/TLMAX, the filter's extent, the
  subspace), its weight column, its image type and its memory guard;
* ``[cols]``: the ``(old, new)`` columns written (``plan.columns``);
* the output block's name and whether the subspace is updated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from xdm import switches
from xdm.engine.exprgen import compile_filters
from xdm.errors import XdmSemanticError
from xdm.lang import nodes as n
from xdm.lang.options import DEFAULT_IMAGE_TYPE, check_options
from xdm.plan.columns import select_columns
from xdm.plan.grids import axis_grid, bin_columns, check_image_memory

if TYPE_CHECKING:
    from xdm.engine.exprgen import CompiledFilter
    from xdm.engine.steps import BinGrid
    from xdm.io.blocks import Block, BlockHandle
    from xdm.io.columns import ColumnMeta
    from xdm.regions.coords import ImageReader

__all__ = ["BinAxis", "Binning", "CheckedFile", "check"]


@dataclass(frozen=True)
class BinAxis:
    """One ``[bin]`` axis: the table column binned and its grid."""

    column: ColumnMeta
    grid: BinGrid


@dataclass(frozen=True)
class Binning:
    """``[bin ...]`` of a table, checked: its axes (axis 1 first), the weight
    column (None: count rows) and the image type (``dtype_explicit``: given by
    ``[opt type=...]``). The image fits the memory limit and budget."""

    axes: tuple[BinAxis, ...]
    weight: ColumnMeta | None
    dtype: str
    dtype_explicit: bool


@dataclass(frozen=True)
class CheckedFile:
    """What a virtual file means for its block, resolved against the header.

    ``filters``, ``binning`` and ``columns`` are None for an image block
    (``xdm.engine.images`` evaluates its qualifiers on the pixels); ``binning``
    is None without ``[bin]``, ``columns`` None without ``[cols]`` (every column
    is written).
    """

    path: str
    """The file as written in the virtual file."""
    number: int
    """The block's CIAO number (1-based, counting the primary)."""
    name: str
    nrows: int
    kind: Literal["table", "image"]
    options: tuple[tuple[str, str | None], ...]
    """The ``[opt]`` values in effect, checked and normalised, in order."""
    filters: CompiledFilter | None = None
    binning: Binning | None = None
    columns: tuple[tuple[str, str], ...] | None = None
    """``[cols]`` as ``(old, new)`` pairs in output order."""
    output_name: str = ""
    """The name of the block written: ``[bin]`` makes ``NAME_IMAGE``."""
    update_subspace: bool = True
    """Write the data subspace keywords (``[opt update=no]`` turns them off)."""
    removed_subspace: tuple[str, ...] = ()
    """Subspace entries the virtual file removes (``[subspace -name]``)."""
    handle: BlockHandle | None = field(default=None, compare=False, repr=False)
    """The opened block, for the run to map its rows again."""


def check(
    vf: n.VirtualFile,
    block: Block,
    *,
    source: str | None,
    base_dir: str | None,
    image_reader: ImageReader | None,
) -> CheckedFile:
    """Check ``vf``'s qualifiers against ``block`` (opened from ``vf``), once.

    ``base_dir`` is where relative region and GTI files are read from;
    ``image_reader`` makes the image of a virtual ``mask(vf)`` (the planner
    hands in its ``evaluate_virtual_image``). Reads headers only, but for one
    pass over a column when neither the header nor the filters give the range
    of a ``[bin]`` axis.

    Raises
    ------
    XdmSemanticError, XdmIOError, XdmRegionError
        Options, names, bins, columns, filters or files that the block cannot
        give; ``source`` and the nodes' spans put the caret under the text.
    """
    kind: Literal["table", "image"] = "table" if block.is_table else "image"
    opts = check_options(vf.options, block=kind, source=source)
    facts = CheckedFile(
        path=vf.path,
        number=block.ciao_number,
        name=block.name,
        nrows=block.nrows,
        kind=kind,
        options=tuple(opts.items()),
        handle=block.handle,
        output_name=vf.output_name or block.name,
    )
    if kind == "image":
        return facts
    binq = _one_bin(vf, source)
    extra: list[str] = []
    axis_columns: list[tuple[ColumnMeta, n.BinRange | None]] = []
    weight = None
    if binq is not None:
        axis_columns = bin_columns(block, binq, source)
        extra = [c.name for c, _ in axis_columns]
        weight = _weight(block, binq, source)
        if weight is not None:
            extra.append(weight.name)
    compiled = compile_filters(
        block,
        vf.filters,
        source=source,
        base_dir=base_dir,
        extra_columns=extra,
        image_reader=image_reader,
    )
    binning = None
    columns = None
    if binq is not None:
        binning = _binning(block, binq, axis_columns, weight, compiled, opts, source)
    elif vf.cols:
        columns = select_columns(block, vf.cols, source)
    return replace(
        facts,
        filters=compiled,
        binning=binning,
        columns=columns,
        output_name=vf.output_name
        or (f"{block.name}_IMAGE" if binq is not None else block.name),
        update_subspace=opts.get("update", "yes") != "no",
        removed_subspace=tuple(item.name for item in vf.subspace),
    )


def _one_bin(vf: n.VirtualFile, source: str | None) -> n.BinQualifier | None:
    """The one ``[bin]`` group of a table, if any: not two, not beside
    ``[cols]``, no ``/modifier``."""
    bins = [q for q in vf.qualifiers if isinstance(q, n.BinQualifier)]
    if len(bins) > 1:
        raise XdmSemanticError(
            "a virtual file takes one [bin ...] group", source=source, span=bins[1].span
        )
    binq = vf.bin
    if binq is not None and vf.cols:
        raise XdmSemanticError(
            "[bin] and [cols] are alternatives: a binned image has no columns",
            source=source,
            span=vf.cols[0].span,
        )
    if binq is not None and binq.modifier:
        raise XdmSemanticError(
            f"[bin/{binq.modifier}] is not supported (its meaning is unconfirmed)",
            source=source,
            span=binq.span,
        )
    return binq


def _binning(
    block: Block,
    binq: n.BinQualifier,
    axis_columns: list[tuple[ColumnMeta, n.BinRange | None]],
    weight: ColumnMeta | None,
    compiled: CompiledFilter,
    opts: dict[str, str | None],
    source: str | None,
) -> Binning:
    """The grids of the axes (the filters' extents narrow default ranges), the
    memory guard and the image type."""
    full = "full" in opts
    axes = tuple(
        BinAxis(col, axis_grid(block, col, spec, compiled, full=full, source=source))
        for col, spec in axis_columns
    )
    check_image_memory(
        [a.grid for a in axes],
        block.nrows,
        weighted=weight is not None,
        mem_mb=opts.get("mem"),
        source=source,
        span=binq.span,
    )
    explicit = opts.get("type")
    weighted_type = switches.current().weighted_image_type
    default = weighted_type if weight is not None else DEFAULT_IMAGE_TYPE
    return Binning(
        axes=axes,
        weight=weight,
        dtype=explicit or default,
        dtype_explicit=explicit is not None,
    )


def _weight(
    block: Block, binq: n.BinQualifier, source: str | None
) -> ColumnMeta | None:
    """The ``[bin ...;column]`` weight: a numeric scalar column of the block."""
    if not binq.weight:
        return None
    weight = block.require_column(binq.weight, source=source, span=binq.span)
    if weight.kind not in ("int", "real") or weight.width != 1:
        raise XdmSemanticError(
            f"weight column '{weight.name}' is not a numeric scalar",
            source=source,
            span=binq.span,
        )
    return weight
