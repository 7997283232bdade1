"""Bin grids of ``[bin ...]`` on a table, checked against the header: the axis
columns, their ranges and the image's memory guard (dm-syntax 7.2-7.5).

Helpers of ``plan.check``: take the opened block's column metadata and the
compiled filter (whose extents narrow default ranges); return the axis columns
and their ``BinGrid`` grids, or refuse (``XdmSemanticError`` with a caret) a
column that cannot be binned, a range or bin size that gives no grid, or an
image that needs too much memory. The ``Histogram`` step is assembled from them
by ``plan.planner``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xdm import switches
from xdm.engine.binindex import accumulator_bytes
from xdm.engine.steps import BinGrid
from xdm.errors import XdmSemanticError
from xdm.lang import nodes as n

if TYPE_CHECKING:
    from xdm.engine.exprgen import CompiledFilter
    from xdm.errors import Span
    from xdm.io.blocks import Block
    from xdm.io.columns import ColumnMeta

__all__ = [
    "DEFAULT_MEM_MB",
    "MAX_BINS",
    "axis_grid",
    "bin_columns",
    "check_image_memory",
]

DEFAULT_MEM_MB = 1024
"""The virtual-image memory guard (dm-syntax 7.5; CIAO's own limit is not
documented): the histogram accumulator (``accumulator_bytes`` per bin) may not
exceed this many megabytes unless ``[opt mem=N]`` raises it. ``[bin sky=1]`` on
ACIS (8192 x 8192) needs 256."""

MAX_BINS = 2**53
"""No axis may have more bins than a float counts exactly (the memory budget
refuses far fewer; this keeps the size arithmetic finite)."""

TIME_COLUMNS = ("time",)


def bin_columns(
    block: Block, binq: n.BinQualifier, source: str | None
) -> list[tuple[ColumnMeta, Any]]:
    out: list[tuple[ColumnMeta, Any]] = []
    for axis in binq.axes:
        spec = axis.spec
        if spec is not None and not isinstance(spec, n.BinRange):
            raise XdmSemanticError(
                "region and stack bins are dmextract extensions, not virtual-file binning",
                source=source,
                span=axis.span,
            )
        target = axis.target
        cols: list[ColumnMeta]
        if isinstance(target, n.AxisNumber):
            raise XdmSemanticError(
                f"'#{target.number}' names an image axis; block {block.name} is a table",
                source=source,
                span=target.span,
            )
        if isinstance(target, n.ColumnPair):
            cols = []
            for part in (target.first, target.second):
                if isinstance(part, n.AxisNumber):
                    raise XdmSemanticError(
                        "'#n' names an image axis; this block is a table",
                        source=source,
                        span=part.span,
                    )
                cols.append(
                    block.require_column(part.name, source=source, span=part.span)
                )
        elif (
            block.column(target.name) is None and block.vector(target.name) is not None
        ):
            cols = list(block.vector(target.name))  # type: ignore[arg-type]
        else:
            cols = [block.require_column(target.name, source=source, span=target.span)]
        for col in cols:
            if col.kind not in ("int", "real") or col.width != 1:
                raise XdmSemanticError(
                    f"cannot bin column '{col.name}' ({col.tform}): not a numeric scalar",
                    source=source,
                    span=axis.span,
                )
            if any(c.name == col.name for c, _ in out):
                raise XdmSemanticError(
                    f"column '{col.name}' is binned twice",
                    source=source,
                    span=axis.span,
                )
            out.append((col, spec))
    if not out:
        raise XdmSemanticError("[bin] names no axis", source=source, span=binq.span)
    return out


def axis_grid(
    block: Block,
    col: ColumnMeta,
    spec: n.BinRange | None,
    compiled: CompiledFilter,
    *,
    full: bool,
    source: str | None,
) -> BinGrid:
    """One axis grid (dm-syntax 7.2-7.4).

    Integer columns bin on the half-integer grid (``pi=1:1024`` -> edges 0.5 ..
    1024.5); missing bounds come from the filter's extent (snapped to the TLMIN
    grid), else TLMIN/TLMAX, else TSTART/TSTOP for time, else the data.
    """
    spec = spec or n.BinRange()
    is_int = col.kind == "int"
    where = getattr(spec, "span", None)

    def edge(num: n.Number | None, upper: bool) -> float | None:
        if num is None:
            return None
        v = num.value
        if is_int and num.is_integer:
            return v + 0.5 if upper else v - 0.5
        return v

    lo = edge(spec.lo, False)
    hi = edge(spec.hi, True)
    origin = "given" if lo is not None and hi is not None else ""
    if lo is None or hi is None:
        d_lo, d_hi, origin = _default_range(block, col, compiled, full=full)
        lo = d_lo if lo is None else lo
        hi = d_hi if hi is None else hi
        if spec.lo is not None or spec.hi is not None:
            origin = f"given and {origin}"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise XdmSemanticError(
            f"bin range for '{col.name}' must be finite, got {lo:g}:{hi:g}",
            source=source,
            span=where,
        )
    if not hi > lo:
        raise XdmSemanticError(
            f"empty bin range for '{col.name}': {lo:g}:{hi:g}",
            source=source,
            span=where,
        )
    if spec.nbins is not None:
        if spec.nbins <= 0:
            raise XdmSemanticError(
                "#n needs a positive number of bins", source=source, span=where
            )
        step = (hi - lo) / spec.nbins
        nbins = spec.nbins
    else:
        step = spec.step.value if spec.step is not None else 1.0
        if not step > 0:
            raise XdmSemanticError(
                f"bin size must be positive, got {step:g}", source=source, span=where
            )
        count = (hi - lo) / step
        if not math.isfinite(count):
            raise XdmSemanticError(
                f"bin size {step:g} gives no finite number of bins over {lo:g}:{hi:g}",
                source=source,
                span=where,
            )
        nbins = max(1, math.ceil(count - 1e-9))
    if nbins > MAX_BINS:
        raise XdmSemanticError(
            f"{nbins:.3g} bins on '{col.name}' (more than {MAX_BINS:.3g} on one axis)",
            source=source,
            span=where,
            hint="use a larger bin size or a smaller range",
        )
    return BinGrid(
        column=col.name,
        var=compiled.variable(col.name) or col.key,
        lo=float(lo),
        step=float(step),
        nbins=int(nbins),
        origin=origin,
        unit=col.unit,
        integer=is_int,
    )


def _default_range(
    block: Block, col: ColumnMeta, compiled: CompiledFilter, *, full: bool
) -> tuple[float, float, str]:
    half = 0.5 if col.kind == "int" else 0.0
    extent, extent_origin = (
        (None, "") if full else _filtered_extent(block, col, compiled)
    )
    if col.tlmin is not None and col.tlmax is not None:
        lo, hi, origin = col.tlmin - half, col.tlmax + half, "TLMIN/TLMAX"
    elif col.key in TIME_COLUMNS and "TSTART" in block.cards and "TSTOP" in block.cards:
        lo, hi = float(block.cards["TSTART"]), float(block.cards["TSTOP"])
        origin = "TSTART/TSTOP"
    else:
        lo, hi, origin = _data_range(block, col)
        hi += half or 0.0
        lo -= half
        if not full and extent is None:
            return lo, hi, origin
    if extent is not None:
        f_lo, f_hi = extent
        if col.kind == "int":
            f_lo, f_hi = math.ceil(f_lo - 1e-9) - 0.5, math.floor(f_hi + 1e-9) + 0.5
        elif switches.current().snap_to_tlmin_grid and col.tlmin is not None:
            f_lo = col.tlmin + math.floor(f_lo - col.tlmin)
        new_lo, new_hi = max(lo, f_lo), min(hi, f_hi)
        if new_hi > new_lo:
            return new_lo, new_hi, extent_origin
    return lo, hi, origin


def _filtered_extent(
    block: Block, col: ColumnMeta, compiled: CompiledFilter
) -> tuple[tuple[float, float] | None, str]:
    """The column's filtered extent and where it came from: this file's filters
    within the input's subspace (dm-syntax 11.5: default bin ranges come from the
    data subspace)."""
    extent = compiled.extents.get(col.name)
    recorded = block.subspace.range_of(col.name)
    if recorded is None:
        return extent, "filter"
    lo, hi = recorded
    if extent is None:
        if lo is None or hi is None:
            return None, ""
        return (lo, hi), "subspace"
    return (
        extent[0] if lo is None else max(extent[0], lo),
        extent[1] if hi is None else min(extent[1], hi),
    ), "filter"


def _data_range(block: Block, col: ColumnMeta) -> tuple[float, float, str]:
    """Column min/max (dm-syntax 7.3, unconfirmed): one extra pass over one column."""
    import numpy as np

    from xdm.io.columns import column_values

    lo, hi = math.inf, -math.inf
    for _, records in block.iter_chunks():
        values = np.asarray(column_values(records, col), dtype=float)
        values = values[np.isfinite(values)]
        if len(values):
            lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    if not math.isfinite(lo):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + 1.0
    elif col.kind == "real":
        hi = float(
            np.nextafter(hi, math.inf)
        )  # the maximum must fall inside the last bin
    return lo, hi, "data"


def check_image_memory(
    grids: Sequence[BinGrid],
    nrows: int,
    *,
    weighted: bool,
    mem_mb: str | None,
    source: str | None,
    span: Span | None,
) -> None:
    """Refuse an image whose accumulator (``accumulator_bytes`` per bin) needs
    more than ``[opt mem=N]`` megabytes (default ``DEFAULT_MEM_MB``, dm-syntax
    7.5) or more than the memory budget (``xdm.budget``)."""
    size = 1
    for g in grids:
        size *= g.nbins
    limit_mb = float(mem_mb or DEFAULT_MEM_MB)
    need_mb = size * accumulator_bytes(nrows, weighted=weighted) / 2**20
    if need_mb > limit_mb:
        shape = " x ".join(str(g.nbins) for g in grids)
        raise XdmSemanticError(
            f"image of {shape} bins needs {need_mb:.0f} MB, above the {limit_mb:g} MB limit",
            source=source,
            span=span,
            hint=f"use a larger bin size or add [opt mem={math.ceil(need_mb)}]",
        )
    from xdm import budget

    shape = " x ".join(str(g.nbins) for g in grids)
    budget.check(
        need_mb * 2**20,
        f"image of {shape} bins",
        source=source,
        span=span,
        hint="use a larger bin size or a smaller range",
    )
