"""``[bin ...]`` on an image: whole-pixel block sums along logical axes.

``rebin_plan`` turns the bin axes (``sky=4``, ``#1=::2``, ``x=lo:hi:step``,
``lo:hi:#n``) into one ``Rebin`` per logical axis of the cut-out (axes not named
become a single block: summed away); ``block_sum`` adds the blocks up, over a
reshaped view when they tile the array and over a zero-padded copy otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xdm.engine.image_axes import Axis, Frame
from xdm.engine.image_filters import number_value
from xdm.errors import XdmSemanticError
from xdm.lang import nodes

__all__ = ["Rebin", "block_sum", "rebin_plan"]


@dataclass(frozen=True, slots=True)
class Rebin:
    """Per logical axis of the kept image: start pixel (1-based), factor, new size."""

    first: int
    factor: int
    nbins: int


def rebin_plan(
    frame: Frame,
    bin_q: nodes.BinQualifier,
    first: Sequence[int],
    sizes: Sequence[int],
) -> tuple[list[int], list[Rebin]]:
    """Kept axes (in order) and a block plan per logical axis of the cut-out.

    Axes the bin does not name become one block over the kept range (summed
    away). ``first``/``sizes`` are the cut-out box, the default bin range.
    """
    if bin_q.weight is not None:
        raise XdmSemanticError(
            "an image cannot be rebinned with a weight column",
            span=bin_q.span,
            hint="remove ';" + bin_q.weight + "'",
        )
    if bin_q.modifier:
        raise XdmSemanticError(
            f"bin/{bin_q.modifier} is not supported",
            span=bin_q.span,
            hint="use [bin ...]",
        )
    specs: list[tuple[Axis, nodes.BinRange | None, nodes.BinAxis]] = []
    for bin_axis in bin_q.axes:
        spec = bin_axis.spec
        if spec is not None and not isinstance(spec, nodes.BinRange):
            raise XdmSemanticError(
                "region binning is a dmextract feature; images rebin with ranges",
                span=bin_axis.span,
                hint="e.g. [bin sky=4] or [bin #1=::2,#2=::2]",
            )
        target = bin_axis.target
        if isinstance(target, nodes.ColumnPair) or (
            isinstance(target, nodes.ColumnName)
            and target.name.lower() in frame.vectors
            and target.name.lower() not in frame.physical
        ):
            a, b, _ = frame.pair(target)
            specs += [(a, spec, bin_axis), (b, spec, bin_axis)]
        else:
            specs.append((frame.axis(target), spec, bin_axis))
    order = [axis.index for axis, _, _ in specs]
    if len(set(order)) != len(order):
        raise XdmSemanticError(
            "an image axis is named twice in [bin ...]", span=bin_q.span
        )
    if order != sorted(order):
        raise XdmSemanticError(
            "[bin ...] on an image must name its axes in order (no transposing)",
            span=bin_q.span,
            hint="e.g. [bin x,y], not [bin y,x]",
        )
    plans = [
        Rebin(first=first[i], factor=sizes[i], nbins=1) for i in range(frame.naxis)
    ]
    for axis, spec, at in specs:
        plans[axis.index] = _axis_rebin(
            frame, axis, spec, at, first[axis.index], sizes[axis.index]
        )
    return order, plans


def _axis_rebin(
    frame: Frame,
    axis: Axis,
    spec: nodes.BinRange | None,
    at: nodes.BinAxis,
    first: int,
    size: int,
) -> Rebin:
    """Blocks of one axis: ``lo:hi`` in the axis's units (default: the cut-out)."""
    pixel = frame.pixel_size(axis)
    lo = number_value(spec.lo) if spec else None
    hi = number_value(spec.hi) if spec else None
    default = (first - 0.5, first + size - 0.5)  # logical edges of the cut-out
    if lo is None and hi is None:
        edges = default
    elif axis.kind == "logical":
        # integer logical pixels are inclusive (#1=1:100 is 100 pixels)
        edges = (
            default[0] if lo is None else lo - 0.5,
            default[1] if hi is None else hi + 0.5,
        )
    elif axis.kind == "physical":
        ends = frame.to_physical(axis.index, np.array(default))
        ends = (
            float(min(ends)) if lo is None else lo,
            float(max(ends)) if hi is None else hi,
        )
        logical_edges = frame.to_logical(axis.index, np.array(ends))
        edges = (float(min(logical_edges)), float(max(logical_edges)))
    else:
        raise XdmSemanticError(
            "rebinning a world axis with a range is not supported",
            span=at.span,
            hint="use the physical axis name or #n",
        )
    if spec is not None and spec.nbins is not None:
        step = (edges[1] - edges[0]) / spec.nbins
    elif spec is not None and spec.step is not None:
        step = spec.step.value / pixel
    else:
        step = 1.0  # [bin x,y]: re-grid at the image's own pixels
    factor = round(step)
    if factor < 1 or not math.isclose(step, factor, rel_tol=1e-6):
        raise XdmSemanticError(
            f"rebinning by {step:g} pixels is not supported (whole pixels only)",
            span=at.span,
            hint=f"one pixel of this axis is {pixel:g}; use a multiple of it",
        )
    start = round(edges[0] + 0.5)  # snapped to the nearest pixel edge
    nbins = math.ceil((edges[1] - edges[0]) / factor - 1e-9)
    return Rebin(first=start, factor=factor, nbins=max(nbins, 0))


def block_sum(
    array: NDArray[Any], plans: Sequence[Rebin], dtype: np.dtype[Any]
) -> NDArray[Any]:
    """Sum ``factor``-pixel blocks per axis (logical order); outside pixels are 0.

    Sums a reshaped view when the blocks tile the array exactly; pads a copy
    with zeros otherwise.
    """
    ndim = array.ndim
    src = [slice(None)] * ndim
    dst = [slice(None)] * ndim
    padded_shape = []
    blocks = []
    exact = True
    for np_axis in range(ndim):
        plan = plans[ndim - 1 - np_axis]
        n = array.shape[np_axis]
        width = plan.nbins * plan.factor
        start = plan.first - 1
        s0, s1 = max(start, 0), max(min(start + width, n), max(start, 0))
        src[np_axis] = slice(s0, s1)
        dst[np_axis] = slice(s0 - start, s1 - start)
        exact = exact and start >= 0 and start + width <= n
        padded_shape.append(width)
        blocks += [plan.nbins, plan.factor]
    if exact:
        tiles = array[tuple(src)]
    else:
        tiles = np.zeros(padded_shape, dtype=dtype)
        tiles[tuple(dst)] = array[tuple(src)]
    summed: NDArray[Any] = tiles.reshape(blocks).sum(
        axis=tuple(range(1, 2 * ndim, 2)), dtype=dtype
    )
    return summed
