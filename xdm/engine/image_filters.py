"""Image filters compiled to pixel selections, decided at pixel centres.

Each filter clause (``#n=lo:hi``, ``x=lo:hi``, a comparison, a ``sky=``,
``(x,y)=`` or ``(#1,#2)=`` region or mask, AND/OR of them) becomes a ``Term``: a
crop box per logical axis and, inside it, an optional mask over a ``Grid`` of
pixel centres. Masks are evaluated only inside the crop box (``box_mask``), so a
small region on a big image, ``[opt full]`` and excludes stay cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm import switches
from xdm.engine.image_axes import Axis, Frame
from xdm.errors import XdmSemanticError
from xdm.io.imagewcs import physical_world_wcs, quiet_wcs
from xdm.lang import nodes

if TYPE_CHECKING:
    from xdm.io.hdus import Header
    from xdm.regions.coords import ImageReader

__all__ = [
    "FilterCompiler",
    "Grid",
    "Mask",
    "Term",
    "and_terms",
    "box_mask",
    "number_value",
]

# dm-syntax 3.3/8: physical coordinates are real values, so ``x=lo:hi`` keeps pixel
# centres with lo <= x < hi (unconfirmed for images: ``xdm.switches``,
# ``physical_upper_inclusive``); logical ``#1=lo:hi`` is inclusive at both ends
# (documented: #1=257:512 is 256 pixels).

Mask = NDArray[np.bool_]


@dataclass(slots=True)
class Term:
    """A compiled filter clause.

    ``crop`` bounds the selected pixels per logical axis (1-based, inclusive);
    ``mask`` decides pixels inside the crop box (None: all of them).
    """

    crop: dict[int, tuple[int, int]] = field(default_factory=dict)
    mask: Callable[[Grid], Mask] | None = None
    record: Callable[[Any], Any] | None = None  # Subspace -> Subspace
    region: Any = None  # the Region of a region clause (for exclude records)
    region_name: str | None = None


class Grid:
    """Logical pixel centres of a box, shaped to broadcast against the array."""

    def __init__(self, first: Sequence[int], sizes: Sequence[int]) -> None:
        self.first = tuple(first)
        self.sizes = tuple(sizes)
        self.ndim = len(sizes)
        self.shape = tuple(reversed(self.sizes))

    def logical(self, i: int) -> NDArray[np.float64]:
        shape = [1] * self.ndim
        shape[self.ndim - 1 - i] = self.sizes[i]
        return np.arange(
            self.first[i], self.first[i] + self.sizes[i], dtype=float
        ).reshape(shape)


def number_value(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, nodes.Number):
        return v.value
    raise XdmSemanticError(
        f"image axes take numbers, not {getattr(v, 'text', v)!r}",
        span=getattr(v, "span", None),
    )


def range_mask(
    values: NDArray[np.float64], ranges: Sequence[nodes.Range], kind: str, width: float
) -> Mask:
    """Which pixel centres (``values``) a range list selects."""
    out = np.zeros(values.shape, dtype=bool)
    for item in ranges:
        lo, hi = number_value(item.lo), number_value(item.hi)
        if lo is not None and (item.is_single or lo == hi):
            # a single value selects the pixel whose extent holds it
            out |= (values - width / 2 <= lo) & (lo < values + width / 2)
            continue
        sel = np.ones(values.shape, dtype=bool)
        if lo is not None:
            sel &= values >= lo
        if hi is not None:
            inclusive = kind == "logical" or switches.current().physical_upper_inclusive
            sel &= values <= hi if inclusive else values < hi
        out |= sel
    return out


_OPS: dict[str, Callable[[Any, float], Any]] = {
    "<": lambda v, t: v < t,
    ">": lambda v, t: v > t,
    "<=": lambda v, t: v <= t,
    ">=": lambda v, t: v >= t,
    "==": lambda v, t: v == t,
    "!=": lambda v, t: v != t,
}


def axis_term(frame: Frame, axis: Axis, select: Callable[[Any], Mask]) -> Term:
    """A one-axis filter: decided along the axis, crops to the selected span."""
    logical = np.arange(1, frame.sizes[axis.index] + 1, dtype=float)
    chosen = select(frame.coords(axis, logical))
    hits = np.flatnonzero(chosen)
    if hits.size == 0:
        crop = (1, 0)  # empty
    else:
        crop = (int(hits[0]) + 1, int(hits[-1]) + 1)
    contiguous = hits.size == 0 or hits.size == hits[-1] - hits[0] + 1

    def mask(grid: Grid) -> Mask:
        c = grid.logical(axis.index).astype(int) - 1
        inside = (c >= 0) & (c < chosen.size)
        selected: Mask = inside & chosen[np.clip(c, 0, chosen.size - 1)]
        return selected

    return Term(crop={axis.index: crop}, mask=None if contiguous else mask)


class FilterCompiler:
    def __init__(
        self,
        frame: Frame,
        base_dir: str | None,
        image_reader: ImageReader | None = None,
    ) -> None:
        self.frame = frame
        self.base_dir = base_dir
        self.image_reader = image_reader

    def term(self, expr: nodes.FilterExpr) -> Term:
        frame = self.frame
        match expr:
            case nodes.RangeFilter(
                column=nodes.ColumnName() | nodes.AxisNumber() as col
            ):
                axis = frame.axis(col)
                width = frame.pixel_size(axis)
                term = axis_term(
                    frame, axis, lambda v: range_mask(v, expr.ranges, axis.kind, width)
                )
                if axis.kind == "physical":
                    name = frame.physical[axis.index]
                    term.record = lambda ss: ss.narrowed(name, expr.ranges)
                return term
            case nodes.ComparisonFilter(
                column=nodes.ColumnName() | nodes.AxisNumber() as col
            ):
                axis = frame.axis(col)
                value = number_value(expr.value)
                if value is None:
                    raise XdmSemanticError(
                        "a comparison on an image axis needs a number",
                        span=expr.span,
                    )
                threshold = value
                op = _OPS[expr.op]
                return axis_term(frame, axis, lambda v: op(v, threshold))
            case nodes.RegionFilter():
                return self.region_term(expr)
            case nodes.AndFilter(terms=terms):
                return and_terms([self.term(t) for t in terms])
            case nodes.OrFilter(terms=terms):
                parts = [self.term(t) for t in terms]
                return Term(mask=or_mask(parts))
            case _:
                raise XdmSemanticError(
                    "this filter cannot be applied to an image",
                    span=getattr(expr, "span", None),
                    expected=("#n=lo:hi", "x=lo:hi", "sky=region(...)"),
                    hint="images take axis ranges and region filters",
                )

    def region_term(self, expr: nodes.RegionFilter) -> Term:
        from xdm.regions.api import region
        from xdm.regions.coords import LogicalMap

        frame = self.frame
        a, b, name = frame.pair(expr.column)
        wcs = None
        logical_map = None
        if a.kind == b.kind == "physical":
            wcs = physical_world_wcs(frame.header, (a.index + 1, b.index + 1))
            (m1, v1), (m2, v2) = frame.transform[a.index], frame.transform[b.index]
            logical_map = LogicalMap(ltm1=m1, ltm2=m2, ltv1=v1, ltv2=v2)
        elif a.kind == b.kind == "logical":
            wcs = _logical_world_wcs(frame.header, (a.index + 1, b.index + 1))
        else:
            raise XdmSemanticError(
                "a region needs two physical axes or two logical axes",
                span=getattr(expr.column, "span", None),
                expected=("sky", "(x,y)", "(#1,#2)"),
            )
        shape = region(
            expr.region,
            wcs=wcs,
            base_dir=self.base_dir,
            logical=logical_map,
            image_reader=self.image_reader,
        )

        def mask(grid: Grid) -> Mask:
            x = frame.coords(a, grid.logical(a.index))
            y = frame.coords(b, grid.logical(b.index))
            return np.asarray(shape.contains(x, y), dtype=bool)

        crop: dict[int, tuple[int, int]] = {}
        bbox = shape.bbox
        if bbox is not None:
            for axis, lo, hi in ((a, bbox[0], bbox[1]), (b, bbox[2], bbox[3])):
                ends = (
                    frame.to_logical(axis.index, [lo, hi])
                    if axis.kind == "physical"
                    else (lo, hi)
                )
                lmin, lmax = float(min(ends)), float(max(ends))
                # pixels whose extent [l - 0.5, l + 0.5] overlaps the box
                crop[axis.index] = (
                    math.floor(lmin - 0.5) + 1,
                    math.ceil(lmax + 0.5) - 1,
                )

        def record(ss: Any, text: str = shape.canonical()) -> Any:
            return ss.with_region(name, text)

        physical = a.kind == "physical"
        return Term(
            crop=crop,
            mask=mask,
            record=record if physical else None,
            region=shape if physical else None,
            region_name=name,
        )


def _logical_world_wcs(header: Header, axes: tuple[int, int]) -> Any:
    """The image's own WCS on two axes (logical pixels -> sky), if celestial."""
    try:
        w = quiet_wcs(header).sub(list(axes))
    except Exception:
        return None
    return w if w.has_celestial else None


def and_terms(parts: Sequence[Term]) -> Term:
    crop: dict[int, tuple[int, int]] = {}
    for part in parts:
        for i, (lo, hi) in part.crop.items():
            old = crop.get(i)
            crop[i] = (lo, hi) if old is None else (max(lo, old[0]), min(hi, old[1]))
    masks = [p.mask for p in parts if p.mask is not None]

    def mask(grid: Grid) -> Mask:
        out = np.ones(grid.shape, dtype=bool)
        for m in masks:
            out = out & m(grid)
        return out

    records = [p.record for p in parts if p.record is not None]

    def record(ss: Any) -> Any:
        for r in records:
            ss = r(ss)
        return ss

    # an AND's crop is also a mask when the crop of one part must hold inside another's
    return Term(
        crop=crop, mask=mask if masks else None, record=record if records else None
    )


def box_mask(term: Term, grid: Grid) -> Mask:
    """Pixels of the grid inside a term: its crop box and, within it, its mask.

    The mask is evaluated only inside the crop box (a region outside its bounding
    box holds nothing), which keeps ``[opt full]`` and excludes cheap.
    """
    out = np.zeros(grid.shape, dtype=bool)
    first, sizes = list(grid.first), list(grid.sizes)
    for i, (lo, hi) in term.crop.items():
        a = max(lo, grid.first[i])
        b = min(hi, grid.first[i] + grid.sizes[i] - 1)
        if b < a:
            return out
        first[i], sizes[i] = a, b - a + 1
    sub = Grid(first, sizes)
    index = tuple(
        slice(first[k] - grid.first[k], first[k] - grid.first[k] + sizes[k])
        for k in reversed(range(grid.ndim))
    )
    out[index] = True if term.mask is None else term.mask(sub)
    return out


def or_mask(parts: Sequence[Term]) -> Callable[[Grid], Mask]:
    def mask(grid: Grid) -> Mask:
        out = np.zeros(grid.shape, dtype=bool)
        for p in parts:
            out = out | box_mask(p, grid)
        return out

    return mask
