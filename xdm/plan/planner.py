"""Virtual file -> Plan: one fused pass over one block.

Takes a parsed ``VirtualFile`` (or its text) and the opened block's column
metadata; returns a frozen ``Plan`` of steps. Knows the CIAO meaning of blocks,
``[cols]``, ``[bin]`` and ``[opt]`` (filters are compiled by ``exprgen``); runs
nothing. For example ``xdm explain "chandra_test.fits[energy=500:7000][bin sky=8]"``::

    plan for chandra_test.fits[energy=500:7000][bin sky=8]
      1. OpenBlock      chandra_test.fits block 2 EVENTS (4612 rows)
      2. ReadColumns    energy, x, y  [chunks of 2000000 rows, memory-mapped]
      3. FilterRows     numexpr: ((energy >= 500) & (energy < 7000))
      4. Histogram      np.bincount over 1024 x 1024 bins -> i2
                        index: where(((energy >= 500) & (energy < 7000)) & (x >= 0.5)
                          & ..., minimum(floor((x - 0.5) / 8), 1023) + 1024 * ..., 1048576)
                        x: 0.5:8192.5:8 (1024 bins, range from TLMIN/TLMAX)
                        y: 0.5:8192.5:8 (1024 bins, range from TLMIN/TLMAX)
      5. UpdateSubspace energy = 500:7000
      6. WriteImage     primary image EVENTS_IMAGE (i2), GTI blocks copied
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xdm import switches
from xdm.engine.binindex import (
    KEEP,
    accumulator_bytes,
    histogram_expression,
    padded_axes,
    step_operands,
    value_type,
)
from xdm.engine.exprgen import CompiledFilter, compile_filters
from xdm.engine.steps import (
    BinGrid,
    FilterRows,
    Histogram,
    OpenBlock,
    Plan,
    ReadColumns,
    SelectColumns,
    Step,
    UpdateGti,
    UpdateSubspace,
    WriteEvents,
    WriteImage,
)
from xdm.errors import XdmSemanticError
from xdm.io.blocks import DEFAULT_CHUNK_ROWS, open_vf_block
from xdm.lang import nodes as n
from xdm.lang.options import DEFAULT_IMAGE_TYPE, check_options

if TYPE_CHECKING:
    from pathlib import Path

    from astropy.io.fits import Header
    from numpy.typing import NDArray

    from xdm.io.blocks import Block, HeaderCache
    from xdm.io.columns import ColumnMeta

__all__ = [
    "DEFAULT_IMAGE_TYPE",
    "DEFAULT_MEM_MB",
    "evaluate_virtual_image",
    "plan",
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


def plan(
    vf_or_text: n.VirtualFile | str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    source: str | None = None,
    cache: HeaderCache | None = None,
) -> Plan:
    """Plan the evaluation of a virtual file.

    Parameters
    ----------
    vf_or_text
        A parsed virtual file or its text (parsed with ``xdm.lang.parser.parse``).
    base_dir
        Directory that relative file names (``@gti``, ``region(...)``) are read from.
    chunk_rows
        Rows per chunk of the streaming pass.
    cache
        Headers of files opened before (``xdm.io.blocks.HeaderCache``), for a
        caller that plans the same files again and again.

    The block is opened once, here: the plan's ``OpenBlock`` step carries its
    handle, from which each run maps the rows.

    Raises
    ------
    XdmSyntaxError, XdmSemanticError, XdmIOError, XdmRegionError
        Bad text, meaning, files or regions; nothing is read beyond headers.
    """
    if isinstance(vf_or_text, str):
        from xdm.lang.parser import parse

        source = vf_or_text
        vf = parse(vf_or_text)
    else:
        vf = vf_or_text
        if source is None:
            try:
                from xdm.lang.unparse import unparse

                source = unparse(vf)
            except Exception:  # unparse is a convenience for messages only
                source = vf.path
    base = None if base_dir is None else str(base_dir)
    with _open(vf, base, source, cache) as block:
        return _plan_block(vf, block, base, source, chunk_rows)


def evaluate_virtual_image(
    vf: n.VirtualFile, base_dir: Path | None
) -> tuple[NDArray[Any], Header]:
    """The image (pixels, header) a virtual file gives: ``[bin ...]`` of a table
    or a filtered image block, planned and run like ``xdm.read``.

    This is how ``mask(evt2.fits[bin sky=4])`` is made: the regions cannot
    import the engine (it imports them), so the planner hands this function down
    to them (``xdm.regions.coords.ImageReader``).
    """
    from xdm.engine.executor import ImageResult, evaluate

    p = plan(vf, base_dir=base_dir)
    first = p.steps[0]
    if isinstance(first, OpenBlock) and first.kind == "image":
        from xdm.engine import images

        base = None if base_dir is None else str(base_dir)
        return images.read_image(vf, base_dir=base, image_reader=evaluate_virtual_image)
    result = evaluate(p)
    if not isinstance(result, ImageResult):
        raise XdmSemanticError(
            f"{vf.path}: the virtual file gives a table, not an image",
            source=p.source,
            span=vf.span,
            hint="bin it into an image: [bin sky=4]",
        )
    return result.data, result.header


def _open(
    vf: n.VirtualFile,
    base_dir: str | None,
    source: str | None,
    cache: HeaderCache | None,
) -> Block:
    if vf.is_stack:
        raise XdmSemanticError(
            "a stack (@list) holds several virtual files; open them one at a time",
            source=source,
            span=vf.span,
        )
    span = _path_span(vf)
    return open_vf_block(vf, base_dir=base_dir, source=source, span=span, cache=cache)


def _path_span(vf: n.VirtualFile) -> Any:
    from xdm.errors import Span

    return Span(0, len(vf.path)) if vf.path else None


def _plan_block(
    vf: n.VirtualFile,
    block: Block,
    base_dir: str | None,
    source: str | None,
    chunk_rows: int,
) -> Plan:
    opts = check_options(
        vf.options, block="table" if block.is_table else "image", source=source
    )
    open_step = OpenBlock(
        path=vf.path,
        number=block.ciao_number,
        name=block.name,
        nrows=block.nrows,
        kind="table" if block.is_table else "image",
        handle=block.handle,
    )
    if not block.is_table:
        # image blocks are evaluated by xdm.engine.images; the plan only names the block
        return Plan(
            source=source or vf.path,
            steps=(open_step,),
            base_dir=base_dir,
            options=tuple(opts.items()),
        )
    binq = vf.bin
    bins = [q for q in vf.qualifiers if isinstance(q, n.BinQualifier)]
    if len(bins) > 1:
        raise XdmSemanticError(
            "a virtual file takes one [bin ...] group", source=source, span=bins[1].span
        )
    if binq is not None and vf.cols:
        raise XdmSemanticError(
            "[bin] and [cols] are alternatives: a binned image has no columns",
            source=source,
            span=vf.cols[0].span,
        )
    extra: list[str] = []
    axis_columns: list[tuple[ColumnMeta, Any]] = []
    weight = None
    if binq is not None:
        if binq.modifier:
            raise XdmSemanticError(
                f"[bin/{binq.modifier}] is not supported (its meaning is unconfirmed)",
                source=source,
                span=binq.span,
            )
        axis_columns = _bin_columns(block, binq, source)
        extra = [c.name for c, _ in axis_columns]
        if binq.weight:
            weight = block.require_column(binq.weight, source=source, span=binq.span)
            if weight.kind not in ("int", "real") or weight.width != 1:
                raise XdmSemanticError(
                    f"weight column '{weight.name}' is not a numeric scalar",
                    source=source,
                    span=binq.span,
                )
            extra.append(weight.name)
    compiled = compile_filters(
        block,
        vf.filters,
        source=source,
        base_dir=base_dir,
        extra_columns=extra,
        image_reader=evaluate_virtual_image,
    )
    steps: list[Step] = [open_step]
    read_cols = _read_columns(compiled)
    steps.append(ReadColumns(columns=read_cols, chunk_rows=chunk_rows))
    steps.append(
        FilterRows(
            predicate=compiled.predicate,
            expression=compiled.expression,
            operands=compiled.operands,
            tests=compiled.tests,
            terms=compiled.terms,
        )
    )
    if binq is not None:
        full = "full" in opts
        grids = tuple(
            _grid(block, col, spec, compiled, full=full, source=source)
            for col, spec in axis_columns
        )
        types = [value_type(col) for col, _ in axis_columns]
        hist = _histogram(
            grids, types, weight, compiled, opts, source, binq, block.nrows
        )
        steps.append(hist)
    elif vf.cols:
        steps.append(SelectColumns(columns=_select_columns(block, vf.cols, source)))
    if compiled.time_selections:
        steps.append(
            UpdateGti(
                summary=_describe_time(compiled.time_selections),
                intervals=compiled.time_selections,
            )
        )
    if opts.get("update", "yes") != "no":
        steps.append(
            UpdateSubspace(
                entries=compiled.subspace,
                removed=tuple(item.name for item in vf.subspace),
            )
        )
    if binq is not None:
        name = vf.output_name or f"{block.name}_IMAGE"
        steps.append(WriteImage(name=name, dtype=hist.dtype))
    else:
        steps.append(WriteEvents(name=vf.output_name or block.name))
    return Plan(
        source=source or vf.path,
        steps=tuple(steps),
        base_dir=base_dir,
        options=tuple(opts.items()),
    )


# ---------------------------------------------------------------- columns


def _read_columns(compiled: CompiledFilter) -> tuple[str, ...]:
    seen: list[str] = []
    for op in compiled.operands:
        if op.how != "row" and op.column not in seen:
            seen.append(op.column)
    for t in compiled.tests:
        for c in (*t.columns, t.chip_column):
            if c is not None and c not in seen:
                seen.append(c)
    return tuple(seen)


def _select_columns(
    block: Block, quals: Sequence[n.ColsQualifier], source: str | None
) -> tuple[tuple[str, str], ...]:
    """``[cols]`` items -> (old, new) pairs in output order; brackets apply in turn."""
    current: list[tuple[str, str]] = [(c.name, c.name) for c in block.columns]

    def find(name: str, node: Any) -> list[tuple[str, str]]:
        key = name.lower()
        hit = [p for p in current if p[1].lower() == key]
        if hit:
            return hit
        vec = block.vectors.get(key)
        if vec is not None:
            parts = [p for p in current if p[1].lower() in vec]
            if len(parts) == 2:
                return sorted(parts, key=lambda p: vec.index(p[1].lower()))
        import difflib

        names = [p[1] for p in current]
        near = difflib.get_close_matches(key, [x.lower() for x in names], 1)
        raise XdmSemanticError(
            f"unknown column '{name}' in [cols]"
            + (f" (did you mean '{near[0]}'?)" if near else ""),
            source=source,
            span=getattr(node, "span", None),
            expected=tuple(names),
        )

    for q in quals:
        drops = [i for i in q.items if isinstance(i, n.ColumnDrop)]
        if drops and len(drops) != len(q.items):
            raise XdmSemanticError(
                "[cols] mixes kept and dropped columns; use one kind per bracket",
                source=source,
                span=q.span,
            )
        if drops:
            gone = {p for d in drops for p in find(d.name, d)}
            current = [p for p in current if p not in gone]
            continue
        out: list[tuple[str, str]] = []
        for item in q.items:
            match item:
                case n.ColumnSelect():
                    picked = find(item.name, item)
                case n.ColumnRename():
                    old = find(item.old, item)
                    if len(old) != 1:
                        raise XdmSemanticError(
                            f"cannot rename vector '{item.old}'; rename its components",
                            source=source,
                            span=item.span,
                        )
                    picked = [(old[0][0], item.new)]
                case n.ColumnNumber():
                    groups = _dm_columns(block, current)
                    if not 1 <= item.number <= len(groups):
                        raise XdmSemanticError(
                            f"no column #{item.number} (there are {len(groups)})",
                            source=source,
                            span=item.span,
                        )
                    picked = groups[item.number - 1]
                case n.ColumnStar():
                    taken = {p[0] for p in out}
                    picked = [p for p in current if p[0] not in taken]
                case _:
                    raise XdmSemanticError("unsupported [cols] item", source=source)
            for p in picked:
                if all(p[0] != o[0] for o in out):
                    out.append(p)
        current = out
    if not current:
        raise XdmSemanticError(
            "[cols] leaves no columns", source=source, span=quals[-1].span
        )
    return tuple(current)


def _dm_columns(
    block: Block, current: list[tuple[str, str]]
) -> list[list[tuple[str, str]]]:
    """Columns as the DM counts them for ``#n``: a vector (adjacent components
    named by the header's MTYPE/MFORM) is one column (dm-syntax 6)."""
    pairs = {}
    for key in block.header:
        if key.startswith("MTYPE") and key[5:].isdigit():
            parts = str(block.header.get("MFORM" + key[5:], "")).lower().split(",")
            if len(parts) == 2:
                pairs[parts[0].strip()] = parts[1].strip()
    groups: list[list[tuple[str, str]]] = []
    i = 0
    while i < len(current):
        here = current[i]
        after = current[i + 1] if i + 1 < len(current) else None
        if after is not None and pairs.get(here[1].lower()) == after[1].lower():
            groups.append([here, after])
            i += 2
        else:
            groups.append([here])
            i += 1
    return groups


# ---------------------------------------------------------------- binning


def _bin_columns(
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


def _grid(
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
    extent, extent_origin = (None, "") if full else _extent(block, col, compiled)
    if col.tlmin is not None and col.tlmax is not None:
        lo, hi, origin = col.tlmin - half, col.tlmax + half, "TLMIN/TLMAX"
    elif (
        col.key in TIME_COLUMNS and "TSTART" in block.header and "TSTOP" in block.header
    ):
        lo, hi = float(block.header["TSTART"]), float(block.header["TSTOP"])
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


def _extent(
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


def _histogram(
    grids: tuple[BinGrid, ...],
    value_types: Sequence[str],
    weight: ColumnMeta | None,
    compiled: CompiledFilter,
    opts: dict[str, str | None],
    source: str | None,
    binq: n.BinQualifier,
    nrows: int,
) -> Histogram:
    explicit = opts.get("type")
    weighted = switches.current().weighted_image_type
    dtype = explicit or (weighted if weight is not None else DEFAULT_IMAGE_TYPE)
    size = 1
    for g in grids:
        size *= g.nbins
    limit_mb = float(opts.get("mem") or DEFAULT_MEM_MB)
    need_mb = size * accumulator_bytes(nrows, weighted=weight is not None) / 2**20
    if need_mb > limit_mb:
        shape = " x ".join(str(g.nbins) for g in grids)
        raise XdmSemanticError(
            f"image of {shape} bins needs {need_mb:.0f} MB, above the {limit_mb:g} MB limit",
            source=source,
            span=binq.span,
            hint=f"use a larger bin size or add [opt mem={math.ceil(need_mb)}]",
        )
    from xdm import budget

    shape = " x ".join(str(g.nbins) for g in grids)
    budget.check(
        need_mb * 2**20,
        f"image of {shape} bins",
        source=source,
        span=binq.span,
        hint="use a larger bin size or a smaller range",
    )
    index = histogram_expression(compiled.expression, grids)
    return Histogram(
        axes=grids,
        index_expression=str(index),
        index=index,
        index_of_kept=str(histogram_expression(KEEP, grids)),
        step_operands=tuple(step_operands(grids).items()),
        weight=weight.name if weight is not None else None,
        weight_var=compiled.variable(weight.name) if weight is not None else None,
        dtype=dtype,
        dtype_explicit=explicit is not None,
        accumulator=(
            "float64"
            if weight is not None
            else "int64"
            if nrows >= 2**31 - 1
            else "int32"
        ),
        padded=padded_axes(grids, value_types),
    )


def _describe_time(selections: Sequence[Any]) -> str:
    parts = []
    for sel in selections:
        for chip, rows in sorted(
            sel.items(), key=lambda kv: -1 if kv[0] is None else kv[0]
        ):
            who = "all chips" if chip is None else f"ccd {chip}"
            parts.append(f"{len(rows)} interval(s) for {who}")
    return "intersect GTI blocks with " + "; ".join(parts) + ", recompute exposure keys"
