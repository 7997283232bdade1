"""Virtual file -> Plan: one fused pass over one block.

Takes a parsed ``VirtualFile`` (or its text); returns a frozen ``Plan`` of
steps and runs nothing. Three stages, each once:

1. **open**: ``xdm.io.blocks.open_vf_block`` opens the block the virtual file
   names (headers and column metadata; the rows are memory-mapped by the run);
2. **check**: ``plan.check.check`` resolves every qualifier against that
   header (options, filters compiled by ``exprgen``, ``[bin]`` grids by
   ``plan.grids``, ``[cols]`` by ``plan.columns``) and raises every user error;
3. **plan**: ``_assemble`` turns the ``CheckedFile`` into steps, asking no
   more questions and refusing nothing.

For example ``xdm explain "chandra_test.fits[energy=500:7000][bin sky=8]"``::

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
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xdm.engine.binindex import (
    KEEP,
    histogram_expression,
    padded_axes,
    step_operands,
    value_type,
)
from xdm.engine.steps import (
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
from xdm.lang.options import DEFAULT_IMAGE_TYPE
from xdm.plan.check import check
from xdm.plan.columns import read_columns
from xdm.plan.grids import DEFAULT_MEM_MB

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

    from xdm.engine.exprgen import CompiledFilter
    from xdm.io.blocks import Block, HeaderCache
    from xdm.io.hdus import Header
    from xdm.plan.check import Binning, CheckedFile

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

    The block is opened once and checked once (``plan.check.check``); the
    plan's ``OpenBlock`` step carries its handle, from which each run maps the
    rows.

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
        checked = check(
            vf,
            block,
            source=source,
            base_dir=base,
            image_reader=evaluate_virtual_image,
        )
    return _assemble(checked, source=source, base_dir=base, chunk_rows=chunk_rows)


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


def _assemble(
    checked: CheckedFile,
    *,
    source: str | None,
    base_dir: str | None,
    chunk_rows: int,
) -> Plan:
    """The steps of a checked virtual file, in run order (refuses nothing)."""
    open_step = OpenBlock(
        path=checked.path,
        number=checked.number,
        name=checked.name,
        nrows=checked.nrows,
        kind=checked.kind,
        handle=checked.handle,
    )
    compiled = checked.filters
    if compiled is None:
        # image blocks are evaluated by xdm.engine.images; the plan only names the block
        return Plan(
            source=source or checked.path,
            steps=(open_step,),
            base_dir=base_dir,
            options=checked.options,
        )
    steps: list[Step] = [
        open_step,
        ReadColumns(columns=read_columns(compiled), chunk_rows=chunk_rows),
        FilterRows(
            predicate=compiled.predicate,
            expression=compiled.expression,
            operands=compiled.operands,
            tests=compiled.tests,
            terms=compiled.terms,
        ),
    ]
    binning = checked.binning
    if binning is not None:
        steps.append(_histogram(binning, compiled, checked.nrows))
    elif checked.columns is not None:
        steps.append(SelectColumns(columns=checked.columns))
    if compiled.time_selections:
        steps.append(
            UpdateGti(
                summary=_describe_time(compiled.time_selections),
                intervals=compiled.time_selections,
            )
        )
    if checked.update_subspace:
        steps.append(
            UpdateSubspace(entries=compiled.subspace, removed=checked.removed_subspace)
        )
    if binning is not None:
        steps.append(WriteImage(name=checked.output_name, dtype=binning.dtype))
    else:
        steps.append(WriteEvents(name=checked.output_name))
    return Plan(
        source=source or checked.path,
        steps=tuple(steps),
        base_dir=base_dir,
        options=checked.options,
    )


def _histogram(binning: Binning, compiled: CompiledFilter, nrows: int) -> Histogram:
    """The ``Histogram`` step: the fused bin-index tree, the padded-grid axes
    when numpy provably gives the same bins, and the accumulator's type."""
    grids = tuple(a.grid for a in binning.axes)
    weight = binning.weight
    index = histogram_expression(compiled.expression, grids)
    return Histogram(
        axes=grids,
        index_expression=str(index),
        index=index,
        index_of_kept=histogram_expression(KEEP, grids),
        step_operands=tuple(step_operands(grids).items()),
        weight=weight.name if weight is not None else None,
        weight_var=compiled.variable(weight.name) if weight is not None else None,
        dtype=binning.dtype,
        dtype_explicit=binning.dtype_explicit,
        accumulator=(
            "float64"
            if weight is not None
            else "int64"
            if nrows >= 2**31 - 1
            else "int32"
        ),
        padded=padded_axes(grids, [value_type(a.column) for a in binning.axes]),
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
