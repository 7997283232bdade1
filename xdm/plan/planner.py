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
                        index (numpy, padded 1026 x 1026 grid): floor((x - 0.5) * 0.125),
                          floor((y - 0.5) * 0.125); out-of-range and dropped rows ...
                        x: 0.5:8192.5:8 (1024 bins, range from TLMIN/TLMAX)
                        y: 0.5:8192.5:8 (1024 bins, range from TLMIN/TLMAX)
      5. UpdateSubspace energy = 500:7000
      6. WriteImage     primary image EVENTS_IMAGE (i2), GTI blocks copied

The block is opened once, here; the columns and ``[cols]`` are resolved by
``plan.columns``, bin grids and the histogram by ``plan.grids``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xdm.engine.binindex import value_type
from xdm.engine.exprgen import compile_filters
from xdm.engine.steps import (
    FilterRows,
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
from xdm.plan.columns import read_columns, select_columns
from xdm.plan.grids import DEFAULT_MEM_MB, axis_grid, bin_columns, histogram

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

    from xdm.io.blocks import Block, HeaderCache
    from xdm.io.columns import ColumnMeta
    from xdm.io.hdus import Header

__all__ = [
    "DEFAULT_IMAGE_TYPE",
    "DEFAULT_MEM_MB",
    "evaluate_virtual_image",
    "plan",
]


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
        axis_columns = bin_columns(block, binq, source)
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
    read_cols = read_columns(compiled)
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
            axis_grid(block, col, spec, compiled, full=full, source=source)
            for col, spec in axis_columns
        )
        types = [value_type(col) for col, _ in axis_columns]
        hist = histogram(
            grids, types, weight, compiled, opts, source, binq, block.nrows
        )
        steps.append(hist)
    elif vf.cols:
        steps.append(SelectColumns(columns=select_columns(block, vf.cols, source)))
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


def _describe_time(selections: Sequence[Any]) -> str:
    parts = []
    for sel in selections:
        for chip, rows in sorted(
            sel.items(), key=lambda kv: -1 if kv[0] is None else kv[0]
        ):
            who = "all chips" if chip is None else f"ccd {chip}"
            parts.append(f"{len(rows)} interval(s) for {who}")
    return "intersect GTI blocks with " + "; ".join(parts) + ", recompute exposure keys"
