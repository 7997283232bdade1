"""Virtual files on IMAGE blocks: cut-outs, region masks, plane selection, rebinning.

Takes an image array and its header plus the virtual file's qualifiers and returns
the new array and header (dm-syntax 7.7, 7.8, 8, 9). Pixel centres are at integer
logical coordinates; every filter is decided at pixel centres. The header's
logical -> physical -> world transforms are moved with the pixels (``imagewcs``),
so the sky position of a pixel never changes. ``read_image`` is the thin file
front end used by ``xdm.api``.

Order: filters (all brackets, AND) -> crop to the selection (unless
``[opt full]``) -> null the unselected pixels -> ``[bin ...]`` (block sums,
axes not named are summed away) -> ``[opt type=]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError
from xdm.io.imagewcs import (
    _CELESTIAL,
    collapsed_header,
    physical_axis_names,
    physical_transform,
    physical_world_wcs,
    quiet_wcs,
    resampled_header,
)
from xdm.lang import nodes

if TYPE_CHECKING:
    from astropy.io.fits import Header

    from xdm.regions.coords import ImageReader

__all__ = [
    "IMAGE_TYPES",
    "PHYSICAL_UPPER_INCLUSIVE",
    "evaluate_image",
    "read_image",
]

# dm-syntax 3.3/8: physical coordinates are real values, so ``x=lo:hi`` keeps pixel
# centres with lo <= x < hi (unconfirmed for images); logical ``#1=lo:hi`` is
# inclusive at both ends (documented: #1=257:512 is 256 pixels).
PHYSICAL_UPPER_INCLUSIVE = False

IMAGE_TYPES: dict[str, np.dtype[Any]] = {
    "u1": np.dtype(np.uint8),
    "i2": np.dtype(np.int16),
    "i4": np.dtype(np.int32),
    "i8": np.dtype(np.int64),
    "r4": np.dtype(np.float32),
    "r8": np.dtype(np.float64),
}

Mask = NDArray[np.bool_]


# ---------------------------------------------------------------- the image's axes


@dataclass(frozen=True, slots=True)
class _Axis:
    """How a filter or bin names one logical axis (0-based ``index``)."""

    index: int
    kind: str  # "logical" | "physical" | "world"


class _Frame:
    """Names and transforms of an image's axes (logical axis 1 = last numpy axis)."""

    def __init__(self, header: Header, shape: tuple[int, ...]) -> None:
        self.header = header
        self.shape = shape
        self.naxis = len(shape)
        self.sizes = tuple(reversed(shape))  # per logical axis
        self.transform = physical_transform(header, self.naxis)
        self.physical = [n.lower() for n in physical_axis_names(header, self.naxis)]
        self.vectors = self._vectors()
        self.world = self._world_names()

    def _vectors(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for key in self.header:
            if not key.startswith("MTYPE"):
                continue
            form = str(self.header.get("MFORM" + key[5:], ""))
            parts = [p.strip().lower() for p in form.split(",")]
            if len(parts) == 2 and all(p in self.physical for p in parts):
                name = str(self.header[key]).strip().lower()
                out[name] = (
                    self.physical.index(parts[0]),
                    self.physical.index(parts[1]),
                )
        if self.naxis >= 2 and "sky" not in out:
            out["sky"] = (0, 1)  # CIAO's name for the image plane
        return out

    def _world_names(self) -> dict[str, int]:
        out = {}
        for i in range(self.naxis):
            ctype = str(self.header.get(f"CTYPE{i + 1}", "")).strip()
            if ctype:
                out[ctype.split("-")[0].lower()] = i
        return out

    # ------------------------------------------------------------ lookup
    def axis(self, target: nodes.ColumnName | nodes.AxisNumber) -> _Axis:
        if isinstance(target, nodes.AxisNumber):
            if not 1 <= target.number <= self.naxis:
                raise XdmSemanticError(
                    f"the image has {self.naxis} axes; there is no axis #{target.number}",
                    span=target.span,
                    expected=tuple(f"#{i}" for i in range(1, self.naxis + 1)),
                )
            return _Axis(target.number - 1, "logical")
        name = target.name.lower()
        if name in self.physical:
            return _Axis(self.physical.index(name), "physical")
        if name in self.world:
            return _Axis(self.world[name], "world")
        raise XdmSemanticError(
            f"unknown image axis '{target.name}'",
            span=target.span,
            expected=self._choices(),
            hint="image axes are #1, #2, ... or physical names such as x, y or sky",
        )

    def pair(self, target: nodes.Target) -> tuple[_Axis, _Axis, str]:
        """Two axes for a region or a vector bin, and the name recorded in the DSS."""
        if isinstance(target, nodes.ColumnPair):
            a = self.axis(target.first)
            b = self.axis(target.second)
            name = next(
                (v for v, ab in self.vectors.items() if ab == (a.index, b.index)),
                None,
            )
            if name is None or "logical" in (a.kind, b.kind):
                name = f"({_label(target.first)},{_label(target.second)})"
            return a, b, name
        if isinstance(target, nodes.ColumnName) and target.name.lower() in self.vectors:
            i, j = self.vectors[target.name.lower()]
            return _Axis(i, "physical"), _Axis(j, "physical"), target.name
        raise XdmSemanticError(
            f"'{_label(target)}' is not a pair of image axes",
            span=getattr(target, "span", None),
            expected=(*self.vectors, "(x,y)", "(#1,#2)"),
            hint="regions need two axes: sky, (x,y) or (#1,#2)",
        )

    def _choices(self) -> tuple[str, ...]:
        return (
            *(f"#{i}" for i in range(1, self.naxis + 1)),
            *self.physical,
            *self.vectors,
        )

    # ------------------------------------------------------------ coordinates
    def to_physical(self, i: int, logical: Any) -> Any:
        ltm, ltv = self.transform[i]
        return (np.asarray(logical, dtype=float) - ltv) / ltm

    def to_logical(self, i: int, physical: Any) -> Any:
        ltm, ltv = self.transform[i]
        return ltm * np.asarray(physical, dtype=float) + ltv

    def pixel_size(self, axis: _Axis) -> float:
        """Size of one pixel in the axis's units."""
        if axis.kind == "logical":
            return 1.0
        if axis.kind == "physical":
            return 1.0 / abs(self.transform[axis.index][0])
        world = self.world_line(axis.index, np.array([1.0, 2.0]))
        return abs(float(world[1] - world[0]))

    def world_line(self, i: int, logical: NDArray[np.float64]) -> NDArray[np.float64]:
        """World coordinate along a linear (non-celestial) axis."""

        ctype = str(self.header.get(f"CTYPE{i + 1}", "")).upper()
        if _CELESTIAL.match(ctype):
            raise XdmSemanticError(
                f"axis {i + 1} is celestial: filter it with a region",
                hint='e.g. [(x,y)=circle(11:03:28.4,-20:11:23.2,20")]',
            )
        w = quiet_wcs(self.header).sub([i + 1])
        return np.asarray(w.all_pix2world(logical, 1)[0], dtype=float)

    def coords(self, axis: _Axis, logical: NDArray[np.float64]) -> NDArray[np.float64]:
        """The axis's coordinate at the given logical pixel centres."""
        if axis.kind == "logical":
            return logical
        if axis.kind == "physical":
            physical: NDArray[np.float64] = self.to_physical(axis.index, logical)
            return physical
        return self.world_line(axis.index, logical)


def _label(target: Any) -> str:
    if isinstance(target, nodes.AxisNumber):
        return f"#{target.number}"
    return str(getattr(target, "name", "?"))


# ---------------------------------------------------------------- selections


@dataclass(slots=True)
class _Term:
    """A compiled filter clause.

    ``crop`` bounds the selected pixels per logical axis (1-based, inclusive);
    ``mask`` decides pixels inside the crop box (None: all of them).
    """

    crop: dict[int, tuple[int, int]] = field(default_factory=dict)
    mask: Callable[[_Grid], Mask] | None = None
    record: Callable[[Any], Any] | None = None  # Subspace -> Subspace
    region: Any = None  # the Region of a region clause (for exclude records)
    region_name: str | None = None


class _Grid:
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


def _value(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, nodes.Number):
        return v.value
    raise XdmSemanticError(
        f"image axes take numbers, not {getattr(v, 'text', v)!r}",
        span=getattr(v, "span", None),
    )


def _range_mask(
    values: NDArray[np.float64], ranges: Sequence[nodes.Range], kind: str, width: float
) -> Mask:
    """Which pixel centres (``values``) a range list selects."""
    out = np.zeros(values.shape, dtype=bool)
    for item in ranges:
        lo, hi = _value(item.lo), _value(item.hi)
        if lo is not None and (item.is_single or lo == hi):
            # a single value selects the pixel whose extent holds it
            out |= (values - width / 2 <= lo) & (lo < values + width / 2)
            continue
        sel = np.ones(values.shape, dtype=bool)
        if lo is not None:
            sel &= values >= lo
        if hi is not None:
            inclusive = kind == "logical" or PHYSICAL_UPPER_INCLUSIVE
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


def _axis_term(frame: _Frame, axis: _Axis, select: Callable[[Any], Mask]) -> _Term:
    """A one-axis filter: decided along the axis, crops to the selected span."""
    logical = np.arange(1, frame.sizes[axis.index] + 1, dtype=float)
    chosen = select(frame.coords(axis, logical))
    hits = np.flatnonzero(chosen)
    if hits.size == 0:
        crop = (1, 0)  # empty
    else:
        crop = (int(hits[0]) + 1, int(hits[-1]) + 1)
    contiguous = hits.size == 0 or hits.size == hits[-1] - hits[0] + 1

    def mask(grid: _Grid) -> Mask:
        c = grid.logical(axis.index).astype(int) - 1
        inside = (c >= 0) & (c < chosen.size)
        selected: Mask = inside & chosen[np.clip(c, 0, chosen.size - 1)]
        return selected

    return _Term(crop={axis.index: crop}, mask=None if contiguous else mask)


class _Compiler:
    def __init__(
        self,
        frame: _Frame,
        base_dir: str | None,
        image_reader: ImageReader | None = None,
    ) -> None:
        self.frame = frame
        self.base_dir = base_dir
        self.image_reader = image_reader

    def term(self, expr: nodes.FilterExpr) -> _Term:
        frame = self.frame
        match expr:
            case nodes.RangeFilter(
                column=nodes.ColumnName() | nodes.AxisNumber() as col
            ):
                axis = frame.axis(col)
                width = frame.pixel_size(axis)
                term = _axis_term(
                    frame, axis, lambda v: _range_mask(v, expr.ranges, axis.kind, width)
                )
                if axis.kind == "physical":
                    name = frame.physical[axis.index]
                    term.record = lambda ss: ss.narrowed(name, expr.ranges)
                return term
            case nodes.ComparisonFilter(
                column=nodes.ColumnName() | nodes.AxisNumber() as col
            ):
                axis = frame.axis(col)
                value = _value(expr.value)
                if value is None:
                    raise XdmSemanticError(
                        "a comparison on an image axis needs a number",
                        span=expr.span,
                    )
                threshold = value
                op = _OPS[expr.op]
                return _axis_term(frame, axis, lambda v: op(v, threshold))
            case nodes.RegionFilter():
                return self.region_term(expr)
            case nodes.AndFilter(terms=terms):
                return _and([self.term(t) for t in terms])
            case nodes.OrFilter(terms=terms):
                parts = [self.term(t) for t in terms]
                return _Term(mask=_or_mask(parts))
            case _:
                raise XdmSemanticError(
                    "this filter cannot be applied to an image",
                    span=getattr(expr, "span", None),
                    expected=("#n=lo:hi", "x=lo:hi", "sky=region(...)"),
                    hint="images take axis ranges and region filters",
                )

    def region_term(self, expr: nodes.RegionFilter) -> _Term:
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

        def mask(grid: _Grid) -> Mask:
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
        return _Term(
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


def _and(parts: Sequence[_Term]) -> _Term:
    crop: dict[int, tuple[int, int]] = {}
    for part in parts:
        for i, (lo, hi) in part.crop.items():
            old = crop.get(i)
            crop[i] = (lo, hi) if old is None else (max(lo, old[0]), min(hi, old[1]))
    masks = [p.mask for p in parts if p.mask is not None]

    def mask(grid: _Grid) -> Mask:
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
    return _Term(
        crop=crop, mask=mask if masks else None, record=record if records else None
    )


def _box_mask(term: _Term, grid: _Grid) -> Mask:
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
    sub = _Grid(first, sizes)
    index = tuple(
        slice(first[k] - grid.first[k], first[k] - grid.first[k] + sizes[k])
        for k in reversed(range(grid.ndim))
    )
    out[index] = True if term.mask is None else term.mask(sub)
    return out


def _or_mask(parts: Sequence[_Term]) -> Callable[[_Grid], Mask]:
    def mask(grid: _Grid) -> Mask:
        out = np.zeros(grid.shape, dtype=bool)
        for p in parts:
            out = out | _box_mask(p, grid)
        return out

    return mask


# ---------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class _Options:
    full: bool = False
    null: float | None = None
    dtype: np.dtype[Any] | None = None
    update: bool = True


def _options(items: Sequence[nodes.OptItem]) -> _Options:
    full, null, dtype, update = False, None, None, True
    for item in items:
        name = item.name.lower()
        if name == "full":
            full = True
        elif name == "null":
            try:
                null = float(item.value or "")
            except ValueError:
                raise XdmSemanticError(
                    f"null={item.value} is not a number",
                    span=item.span,
                    hint="e.g. [opt null=0] or [opt null=NaN,type=r4]",
                ) from None
        elif name == "type":
            key = (item.value or "").lower()
            if key not in IMAGE_TYPES:
                raise XdmSemanticError(
                    f"unknown image type '{item.value}'",
                    span=item.span,
                    expected=tuple(IMAGE_TYPES),
                )
            dtype = IMAGE_TYPES[key]
        elif name == "update":
            update = (item.value or "yes").lower() not in ("no", "n", "false", "0")
    return _Options(full=full, null=null, dtype=dtype, update=update)


# ---------------------------------------------------------------- binning


@dataclass(frozen=True, slots=True)
class _Rebin:
    """Per logical axis of the kept image: start pixel (1-based), factor, new size."""

    first: int
    factor: int
    nbins: int


def _rebin_plan(
    frame: _Frame,
    bin_q: nodes.BinQualifier,
    first: Sequence[int],
    sizes: Sequence[int],
) -> tuple[list[int], list[_Rebin]]:
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
    specs: list[tuple[_Axis, nodes.BinRange | None, nodes.BinAxis]] = []
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
        _Rebin(first=first[i], factor=sizes[i], nbins=1) for i in range(frame.naxis)
    ]
    for axis, spec, at in specs:
        plans[axis.index] = _axis_rebin(
            frame, axis, spec, at, first[axis.index], sizes[axis.index]
        )
    return order, plans


def _axis_rebin(
    frame: _Frame,
    axis: _Axis,
    spec: nodes.BinRange | None,
    at: nodes.BinAxis,
    first: int,
    size: int,
) -> _Rebin:
    """Blocks of one axis: ``lo:hi`` in the axis's units (default: the cut-out)."""
    pixel = frame.pixel_size(axis)
    lo = _value(spec.lo) if spec else None
    hi = _value(spec.hi) if spec else None
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
    return _Rebin(first=start, factor=factor, nbins=max(nbins, 0))


def _block_sum(
    array: NDArray[Any], plans: Sequence[_Rebin], dtype: np.dtype[Any]
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
    ``PHYSICAL_UPPER_INCLUSIVE``), linear world axes by CTYPE (``freq=...``),
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
    frame = _Frame(header, data.shape)
    compiler = _Compiler(frame, base_dir, image_reader)

    includes: list[_Term] = []
    excludes: list[_Term] = []
    for qualifier in vf.filters:
        term = compiler.term(qualifier.expr)
        (excludes if qualifier.exclude else includes).append(term)
    selection = _and(includes) if includes else _Term()

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
    grid = _Grid(first, sizes)
    index = tuple(
        slice(first[frame.naxis - 1 - k] - 1, last[frame.naxis - 1 - k])
        for k in range(frame.naxis)
    )
    cut = data[index]

    keep = np.ones(grid.shape, dtype=bool)
    if includes:
        keep &= _box_mask(selection, grid)
    for term in excludes:
        keep &= ~_box_mask(term, grid)
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
        order, axis_plans = _rebin_plan(frame, vf.bin, first, sizes)
        # blocks are relative to the cut-out
        local = [
            _Rebin(first=p.first - first[i] + 1, factor=p.factor, nbins=p.nbins)
            for i, p in enumerate(axis_plans)
        ]
        values = np.where(keep, cut, 0) if has_nulls else cut
        summed = _block_sum(values, local, wide)
        if has_nulls:
            counts = _block_sum(keep.astype(np.int64), local, np.dtype(np.int64))
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
    includes: Sequence[_Term],
    excludes: Sequence[_Term],
) -> None:
    from xdm.io.subspace import Subspace

    for key in ("BSCALE", "BZERO", "CHECKSUM", "DATASUM"):
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
    from xdm.io.fitsfile import open_vf_block

    if isinstance(vf, str):
        from xdm.lang.parser import parse

        vf = parse(vf)
    with open_vf_block(vf, base_dir=base_dir) as block:
        if not block.is_image:
            raise XdmSemanticError(
                f"block {block.name} of {vf.path} is not an image", span=vf.span
            )
        header = block.header.copy()
        if any(k in header for k in ("BSCALE", "BZERO", "BLANK")):
            from astropy.io import fits

            with fits.open(block.path, memmap=False) as hdul:
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
