"""Region sources: CIAO and ds9 text files, FITS region tables, mask images.

Text files are read line by line: the ds9 header, ``global`` lines, ``#``
comments and properties, ``||`` composite marks and ``;`` separators are
dropped, coordinate-system lines (``physical``, ``image``, ``fk5``, ``icrs``,
``galactic``...) set how the following numbers are read, and every shape text
goes to ``xdm.lang.parser.parse_region``. Included lines are OR'ed; a line starting
with ``-`` or ``!`` is an exclusion AND'ed with all of them (``EXCLUDE_RULE``).

FITS region tables (CXC REGION layout: SHAPE, X, Y, R, ROTANG, COMPONENT) are
read with astropy; shapes sharing a COMPONENT are AND'ed, components OR'ed. A
virtual file (``reg3.fits[bkgreg]``, ``src.fits[#row=2]``, ``[component=5]``)
picks the block and filters rows with numpy.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from xdm.errors import XdmError, XdmIOError, XdmRegionError
from xdm.lang import nodes as n
from xdm.lang.shapes import ANGLE, BY_NAME, LENGTH, POSITION, ShapeSpec
from xdm.regions import shapes as s
from xdm.regions.build import build, shape_from_values
from xdm.regions.compound import Region
from xdm.regions.coords import Frame, LogicalMap, System, logical_map_from_header

__all__ = ["EXCLUDE_RULE", "Mask", "load", "read_fits_regions", "read_text_regions"]

EXCLUDE_RULE = "all"
"""How an exclusion line combines: ``"all"`` = AND'ed with every included line
(ds9's rule, and the spec's reading of CIAO files)."""

_SYSTEMS: dict[str, System] = {
    "physical": "physical",
    "image": "image",
    "fk5": "world",
    "fk4": "world",
    "icrs": "world",
    "j2000": "world",
    "b1950": "world",
    "wcs": "world",
    "galactic": "galactic",
    "ecliptic": "ecliptic",
}
_SKIP_SHAPES = {
    "line",
    "vector",
    "text",
    "ruler",
    "compass",
    "projection",
    "segment",
    "composite",
    "tile",
    "global",
}
_UNSUPPORTED_SYSTEMS = {"linear", "amplifier", "detector", "tile"}


def _resolve(path: str, frame: Frame) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(path)))
    if not p.is_absolute() and frame.base_dir is not None:
        p = frame.base_dir / p
    return p


def load(ref: n.RegionFileRef | n.MaskRef, frame: Frame) -> Region:
    """``region(file)`` or ``mask(file)`` -> Region."""
    vf = ref.file
    path = _resolve(vf.path, frame)
    what = "mask" if isinstance(ref, n.MaskRef) else "region"
    if not path.is_file():
        raise XdmRegionError(
            f"{what}({vf.path}): cannot read the file: no such file",
            span=ref.span,
            hint=f"looked for {path}",
        )
    if isinstance(ref, n.MaskRef):
        return Region.of(read_mask(path, vf, frame))
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError as exc:
        raise XdmRegionError(
            f"region({vf.path}): cannot read the file: {exc}"
        ) from None
    if head.startswith(b"SIMPLE  =") or path.suffix.lower() in (".fits", ".fit", ".gz"):
        return read_fits_regions(path, vf, frame)
    if vf.qualifiers:
        raise XdmRegionError(
            f"region({vf.path}): a text region file takes no [...] qualifiers",
            span=ref.span,
        )
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise XdmRegionError(
            f"region({vf.path}): cannot read the file: {exc}"
        ) from None
    return read_text_regions(text, frame, name=str(vf.path))


# ---------------------------------------------------------------- text files


def _strip_properties(line: str) -> str:
    """Drop ds9 properties (``# color=red``) and composite marks (``||``)."""
    depth = 0
    for i, ch in enumerate(line):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "#" and depth <= 0:
            line = line[:i]
            break
    return line.replace("||", " ").strip().rstrip("|").strip()


def _split_statements(line: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(line):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == ";" and depth <= 0:
            out.append(line[start:i])
            start = i + 1
    out.append(line[start:])
    return [p.strip() for p in out if p.strip()]


def read_text_regions(text: str, frame: Frame, *, name: str = "<region>") -> Region:
    """A CIAO or ds9 region file's text -> Region (see module docstring)."""
    system = frame.system
    includes: list[Region] = []
    excludes: list[Region] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for stmt in _split_statements(_strip_properties(line)):
            word = stmt.lower()
            if word in _SYSTEMS:
                system = _SYSTEMS[word]
                continue
            if word in _UNSUPPORTED_SYSTEMS or word.startswith("global"):
                if word in _UNSUPPORTED_SYSTEMS:
                    raise XdmRegionError(
                        f"{name}:{lineno}: ds9 coordinate system {stmt!r} is not supported",
                        hint="save the regions in physical, image or fk5 coordinates",
                    )
                continue
            exclude = stmt[0] in "-!"
            body = stmt[1:].strip() if stmt[0] in "-+!" else stmt
            shape_name = body.split("(", 1)[0].strip().lower()
            if shape_name in _SKIP_SHAPES or "(" not in body:
                continue
            try:
                node = _ds9_node(body)
                region = build(node, replace(frame, system=system), files=load)
            except XdmError as exc:
                raise XdmRegionError(
                    f"{name}:{lineno}: {exc.message}",
                    source=body,
                    span=exc.span,
                    hint=exc.hint,
                ) from None
            (excludes if exclude else includes).append(region)
    result = Region.union(includes) if includes else Region.of(s.Field())
    if not includes and not excludes:
        return Region(())
    for ex in excludes:
        result = result & ~ex
    return result.simplified()


def _ds9_node(body: str) -> n.RegionExpr:
    """Parse one shape; ds9's multi-radius forms become CIAO algebra first.

    ``annulus(x,y,r1,r2,r3)`` -> annuli r1-r2 and r2-r3; elliptical and box
    annuli ``ellipse(x,y,a1,b1,a2,b2,angle)`` -> ``ellipse(a2,b2)-ellipse(a1,b1)``;
    ``panda(x,y,a1,a2,na,r1,r2,nr)`` -> ``pie(x,y,r1,r2,a1,a2)``.
    """
    from xdm.lang.parser import parse_region

    head, _, rest = body.partition("(")
    name = head.strip().lower()
    args = [a.strip() for a in rest.rsplit(")", 1)[0].split(",")]
    pieces: list[tuple[str, str | None]] = []
    if name == "annulus" and len(args) > 4:
        x, y, radii = args[0], args[1], args[2:]
        pieces = [
            (f"annulus({x},{y},{a},{b})", None) for a, b in itertools.pairwise(radii)
        ]
    elif name in ("ellipse", "box") and len(args) >= 7 and len(args) % 2 == 1:
        x, y, angle, radii = args[0], args[1], args[-1], args[2:-1]
        pairs = [radii[i : i + 2] for i in range(0, len(radii), 2)]
        pieces = [
            (
                f"{name}({x},{y},{o[0]},{o[1]},{angle})",
                f"{name}({x},{y},{i[0]},{i[1]},{angle})",
            )
            for i, o in itertools.pairwise(pairs)
        ]
    elif name == "panda" and len(args) == 8:
        # panda(x,y,a1,a2,n_angles,r_in,r_out,n_radii): its area is one pie
        x, y, a1, a2, _, r0, r1, _ = args
        pieces = [(f"pie({x},{y},{r0},{r1},{a1},{a2})", None)]
    if not pieces:
        return parse_region(body)
    parts: list[n.RegionExpr] = []
    for outer, inner in pieces:
        node = parse_region(outer)
        if inner is not None:
            node = n.RegionAnd(
                operands=(node, n.RegionNot(operand=parse_region(inner)))
            )
        parts.append(node)
    return parts[0] if len(parts) == 1 else n.RegionOr(operands=tuple(parts))


# ---------------------------------------------------------------- FITS tables


def _hdu_for(hdul: Any, vf: n.VirtualFile, *, want_table: bool) -> Any:
    block = vf.block
    if block is not None:
        if block.number is not None:
            if not 1 <= block.number <= len(hdul):
                raise XdmRegionError(f"{vf.path}: no block number {block.number}")
            return hdul[block.number - 1]
        for hdu in hdul:
            names = {
                str(hdu.header.get(k, "")).strip().lower()
                for k in ("EXTNAME", "HDUNAME")
            }
            if block.name is not None and block.name.lower() in names:
                return hdu
        raise XdmRegionError(f"{vf.path}: no block named {block.name!r}")
    for hdu in hdul:
        if want_table and hdu.is_image:
            continue
        if want_table and "SHAPE" in [c.upper() for c in hdu.columns.names]:
            return hdu
        if (
            not want_table
            and hdu.is_image
            and hdu.data is not None
            and hdu.data.ndim == 2
        ):
            return hdu
    kind = "region table (SHAPE column)" if want_table else "2-D image"
    raise XdmRegionError(f"{vf.path}: no {kind} found")


def _value(v: Any) -> Any:
    match v:
        case n.Number():
            return v.value
        case n.StringValue():
            return v.text
        case n.BoolValue():
            return v.value
    return None


def _range_mask(col: np.ndarray, ranges: tuple[n.Range, ...]) -> np.ndarray:
    mask = np.zeros(len(col), dtype=bool)
    strings = col.dtype.kind in "US"
    if strings:
        col = np.char.strip(np.char.lower(col.astype(str)))
    for rng in ranges:
        lo, hi = _value(rng.lo), _value(rng.hi)
        if strings:
            mask |= col == str(lo).strip().lower()
            continue
        m = np.ones(len(col), dtype=bool)
        if lo is not None:
            m &= col >= lo
        if hi is not None:
            m &= col <= hi
        mask |= m
    return mask


def _filter_rows(data: Any, expr: n.FilterExpr, path: str) -> np.ndarray:
    nrows = len(data)
    names = {c.lower(): c for c in data.columns.names}

    def column(target: Any) -> np.ndarray:
        if not isinstance(target, n.ColumnName) or target.name.lower() not in names:
            raise XdmRegionError(f"{path}: cannot filter region rows on {target!r}")
        col = np.asarray(data[names[target.name.lower()]])
        return col if col.ndim == 1 else col[:, 0]

    match expr:
        case n.RowFilter(ranges=ranges):
            return _range_mask(np.arange(1, nrows + 1), ranges)
        case n.RangeFilter(column=target, ranges=ranges):
            return _range_mask(column(target), ranges)
        case n.ComparisonFilter(column=target, op=op, value=value):
            col, v = column(target), _value(value)
            ops: dict[str, Callable[[Any, Any], np.ndarray]] = {
                "<": np.less,
                ">": np.greater,
                "<=": np.less_equal,
                ">=": np.greater_equal,
                "==": np.equal,
                "!=": np.not_equal,
            }
            return ops[op](col, v)
        case n.AndFilter(terms=terms):
            rows = [_filter_rows(data, t, path) for t in terms]
            return np.asarray(np.logical_and.reduce(rows), dtype=bool)
        case n.OrFilter(terms=terms):
            rows = [_filter_rows(data, t, path) for t in terms]
            return np.asarray(np.logical_or.reduce(rows), dtype=bool)
    raise XdmRegionError(f"{path}: this filter is not supported on a region table")


def _row_shape(
    name: str, row: dict[str, Any], frame: Frame, path: str, sky: bool
) -> Region:
    include = not name.startswith("!")
    name = name.lstrip("!").strip().lower()
    xs, ys, r, ang = row["x"], row["y"], row["r"], row["rotang"]
    if sky:
        pts = [frame.sky_to_physical(a, b, "world") for a, b in zip(xs, ys)]
        scale = 1.0 / frame.degrees_per_pixel()
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        r = [v * scale for v in r]
    x0, y0 = xs[0], ys[0]

    def one(kind: str, values: list[float]) -> s.Shape:
        return shape_from_values(kind, values, source=f"{path}: {name}")

    if name == "elliptannulus":  # a table-only CIAO shape: two ellipses
        a = ang[0]
        outer = one("ellipse", [x0, y0, r[2], r[3], a])
        inner = one("ellipse", [x0, y0, r[0], r[1], a])
        region = Region(((outer, inner.negated()),))
        return region if include else ~region
    spec = BY_NAME.get(name)  # tables spell the names out
    if spec is None:
        raise XdmRegionError(
            f"{path}: unknown region shape {name!r} in the SHAPE column"
        )
    if spec.vertices:
        px: list[float] = []
        py: list[float] = []
        for a, b in zip(xs, ys):
            if not (math.isfinite(a) and math.isfinite(b)):
                break
            if px and a == px[0] and b == py[0]:
                break
            px.append(a)
            py.append(b)
        shape = one(name, [v for pair in zip(px, py) for v in pair])
    else:
        shape = one(name, _table_values(spec, xs, ys, r, ang, path))
    return Region.of(shape if include else shape.negated())


def _table_values(
    spec: ShapeSpec,
    xs: list[float],
    ys: list[float],
    r: list[float],
    ang: list[float],
    path: str,
) -> list[float]:
    """A shape's arguments from one table row, in the entry's order: the k-th
    position pair is ``X[k], Y[k]``, the k-th length ``R[k]``, the k-th angle
    ``ROTANG[k]`` (every argument, a box's angle too)."""
    columns = {POSITION: ("X", xs), LENGTH: ("R", r), ANGLE: ("ROTANG", ang)}
    taken = dict.fromkeys(columns, 0)
    values: list[float] = []
    for i, kind in enumerate(spec.kinds):
        if kind == POSITION and i % 2:
            continue  # the y of the pair just taken
        label, column = columns[kind]
        k = taken[kind]
        taken[kind] = k + 1
        if k >= len(column):
            raise XdmRegionError(
                f"{path}: {spec.name} needs {k + 1} values in the {label} column"
            )
        values += [xs[k], ys[k]] if kind == POSITION else [column[k]]
    return values


def read_fits_regions(path: Path, vf: n.VirtualFile, frame: Frame) -> Region:
    """A FITS region table (optionally a virtual block / row filter) -> Region."""
    from xdm.io.hdus import open_fits

    try:
        hdul = open_fits(path, memmap=False)
    except XdmIOError as exc:
        raise XdmRegionError(
            f"region({vf.path}): cannot read the file: {exc.message}"
        ) from None
    with hdul:
        hdu = _hdu_for(hdul, vf, want_table=True)
        data = hdu.data
        if data is None:
            return Region(())
        names = {c.lower(): c for c in data.columns.names}
        if "shape" not in names:
            raise XdmRegionError(f"region({vf.path}): the block has no SHAPE column")
        keep = np.ones(len(data), dtype=bool)
        for q in vf.filters:
            m = _filter_rows(data, q.expr, vf.path)
            keep &= ~m if q.exclude else m
        for qual in vf.qualifiers:
            if not isinstance(qual, n.BlockRef | n.FilterQualifier):
                raise XdmRegionError(
                    f"region({vf.path}): only a block name and row filters are allowed here"
                )

        def vec(key: str, fallback: float = 0.0) -> np.ndarray:
            if key not in names:
                return np.full((len(data), 1), fallback)
            col = np.asarray(data[names[key]], dtype=float)
            return col.reshape(len(data), -1)

        if "x" in names:
            xcol, ycol = vec("x"), vec("y")
            unit = str(hdu.columns[names["x"]].unit or "").strip().lower()
        elif "pos" in names:
            pos = np.asarray(data[names["pos"]], dtype=float).reshape(len(data), -1, 2)
            xcol, ycol = pos[:, :, 0], pos[:, :, 1]
            unit = str(hdu.columns[names["pos"]].unit or "").strip().lower()
        else:
            raise XdmRegionError(
                f"region({vf.path}): the block has no X/Y or POS columns"
            )
        sky = unit in ("deg", "degree", "degrees")
        if sky and frame.wcs is None:
            raise XdmRegionError(
                f"region({vf.path}): the region table is in sky coordinates (deg) "
                "and no WCS is known here"
            )
        rcol, acol = vec("r"), vec("rotang")
        comp = vec("component", np.nan)[:, 0] if "component" in names else None
        shapes_col = [str(v).strip() for v in np.asarray(data[names["shape"]])]
        groups: dict[Any, Region] = {}
        free: list[Region] = []
        excl: list[Region] = []
        for i in np.flatnonzero(keep):
            row = {
                "x": list(xcol[i]),
                "y": list(ycol[i]),
                "r": list(rcol[i]),
                "rotang": list(acol[i]),
            }
            region = _row_shape(shapes_col[i], row, frame, str(vf.path), sky)
            if comp is not None:
                key = comp[i]
                groups[key] = groups[key] & region if key in groups else region
            elif shapes_col[i].startswith("!"):
                excl.append(region)
            else:
                free.append(region)
    if comp is not None:
        return Region.union(groups.values())
    result = Region.union(free) if free else Region.of(s.Field())
    if not free and not excl:
        return Region(())
    for ex in excl:
        result = result & ex
    return result.simplified()


# ---------------------------------------------------------------- masks


class Mask(s.Shape):
    """Non-zero pixels of a mask image; a point maps to the pixel holding it."""

    __slots__ = ("data", "label_text", "lmap")
    name = "Mask"
    data: np.ndarray
    lmap: LogicalMap
    label_text: str

    def __init__(
        self, data: np.ndarray, lmap: LogicalMap, label_text: str, include: bool = True
    ):
        object.__setattr__(self, "include", include)
        object.__setattr__(self, "data", np.asarray(data) != 0)
        object.__setattr__(self, "lmap", lmap)
        object.__setattr__(self, "label_text", label_text)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"Mask({self.label_text!r}, include={self.include})"

    def negated(self) -> Mask:
        return Mask(self.data, self.lmap, self.label_text, include=not self.include)

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        lx, ly = self.lmap.to_logical(
            np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        )
        ny, nx = self.data.shape
        i = np.floor(lx - 0.5)
        j = np.floor(ly - 0.5)
        ok = (i >= 0) & (i < nx) & (j >= 0) & (j < ny)
        out = np.zeros(ok.shape, dtype=bool)
        out[ok] = self.data[j[ok].astype(np.intp), i[ok].astype(np.intp)]
        return out

    def extent(self) -> s.Extent:
        rows, cols = np.nonzero(self.data)
        if rows.size == 0:
            return (0.0, 0.0, 0.0, 0.0)
        x0, y0 = self.lmap.to_physical(cols.min() + 0.5, rows.min() + 0.5)
        x1, y1 = self.lmap.to_physical(cols.max() + 1.5, rows.max() + 1.5)
        return (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))

    def area(self) -> float:
        return float(np.count_nonzero(self.data)) * float(self.lmap.scale) ** 2

    def args(self) -> tuple[float, ...]:
        return ()

    def canonical(self) -> str:
        return f"{'' if self.include else '!'}Mask({self.label_text})"


def read_mask(path: Path, vf: n.VirtualFile, frame: Frame) -> Mask:
    """``mask(file)``: a 2-D image whose non-zero pixels form the region.

    A virtual mask (``mask(evt2.fits[bin sky=4])``) is made by the engine.
    """
    from xdm.io.hdus import open_fits

    if any(not isinstance(q, n.BlockRef) for q in vf.qualifiers):
        if frame.image_reader is None:
            raise XdmRegionError(
                f"mask({vf.path}): a virtual mask needs the engine to make it",
                hint="use xdm.region or a filter of xdm.read/xdm.copy, or pass image_reader=",
            )
        data, header = frame.image_reader(vf, frame.base_dir)
        if data.ndim != 2:
            raise XdmRegionError(
                f"mask({vf.path}): the virtual file is not a 2-D image"
            )
        lmap = logical_map_from_header(header)
        return Mask(np.asarray(data), lmap, _mask_label(vf))
    try:
        hdul = open_fits(path, memmap=False)
    except XdmIOError as exc:
        raise XdmRegionError(
            f"mask({vf.path}): cannot read the file: {exc.message}"
        ) from None
    with hdul:
        hdu = _hdu_for(hdul, vf, want_table=False)
        if hdu.data is None or hdu.data.ndim != 2:
            raise XdmRegionError(f"mask({vf.path}): the block is not a 2-D image")
        return Mask(
            np.array(hdu.data), logical_map_from_header(hdu.header), _mask_label(vf)
        )


def _mask_label(vf: n.VirtualFile) -> str:
    from xdm.lang.unparse import unparse

    return unparse(vf)
