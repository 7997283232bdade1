"""Region AST nodes -> ``Region``: units, sky coordinates and shape checks.

Positions with a ``d`` suffix or in sexagesimal (and bare numbers in a ds9 file
declared ``fk5``/``icrs``/``galactic``) are sky coordinates, converted to
physical pixels with the frame's WCS; lengths with ``d``/``'``/``"`` use the
WCS pixel scale; angles of shapes placed on the sky are turned by the local
north direction (zero for north-up data), as ds9 and CIAO do. Which argument is
a position, a length or an angle comes from the shape vocabulary
(``xdm.lang.shapes``); the class that makes each shape from ``GEOMETRY``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from xdm.errors import XdmRegionError
from xdm.lang import nodes as n
from xdm.lang.shapes import (
    ANGLE,
    BY_NAME,
    LENGTH,
    POSITION,
    ShapeSpec,
    unknown_shape_hint,
)
from xdm.regions import shapes as s
from xdm.regions.compound import Region
from xdm.regions.coords import Frame, parse_sexagesimal

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["build", "shape_from_values"]


def build(
    node: n.RegionExpr,
    frame: Frame,
    *,
    source: str | None = None,
    files: Callable[[n.RegionFileRef | n.MaskRef, Frame], Region] | None = None,
) -> Region:
    """Turn a region node into a ``Region`` in physical coordinates.

    ``files`` reads ``region(file)`` and ``mask(file)`` (``xdm.regions.regfile.load``,
    handed in by ``xdm.regions.api.region``: region files are read by shapes
    built here, so this module cannot import that one).
    """
    match node:
        case n.Shape():
            return Region.of(_shape(node, frame, source))
        case n.FieldShape():
            return Region.of(s.Field())
        case n.RegionNot(operand=op):
            return ~build(op, frame, source=source, files=files)
        case n.RegionAnd(operands=ops):
            result = build(ops[0], frame, source=source, files=files)
            for op in ops[1:]:
                result = result & build(op, frame, source=source, files=files)
            return result
        case n.RegionOr(operands=ops):
            return Region.union(
                build(op, frame, source=source, files=files) for op in ops
            )
        case n.RegionFileRef() | n.MaskRef():
            if files is None:
                raise XdmRegionError(
                    "region and mask files cannot be read here",
                    source=source,
                    span=node.span,
                    hint="build regions with xdm.region",
                )
            try:
                return files(node, frame)
            except XdmRegionError as exc:
                if exc.source is None and source is not None:
                    exc.source, exc.span = source, node.span
                raise
    raise XdmRegionError(
        f"not a region: {node!r}", source=source, span=getattr(node, "span", None)
    )


def _error(
    message: str, node: n.Shape, source: str | None, hint: str | None = None
) -> XdmRegionError:
    return XdmRegionError(message, source=source, span=node.span, hint=hint)


def _shape(node: n.Shape, frame: Frame, source: str | None) -> s.Shape:
    name = node.name.lower()
    spec = BY_NAME.get(name)
    if spec is None:
        raise _error(
            f"unknown region shape {node.name!r}",
            node,
            source,
            hint=unknown_shape_hint(name),
        )
    args = node.args
    for arg in args:
        if isinstance(arg, n.RangeArg):
            raise _error(
                f"{name}: a radius grid (lo:hi:step) is only allowed in a dmextract bin",
                node,
                source,
            )
    coords = [a for a in args if isinstance(a, n.Coordinate)]  # all of them now
    layout = spec.layout(len(coords))
    if layout is None:
        raise _error(
            spec.wrong_count(len(coords)), node, source, hint=f"usage: {spec.usage}"
        )
    values: list[float] = []
    on_sky = False
    i = 0
    while i < len(layout):
        if layout[i] == POSITION:
            x, y, sky = _position(coords[i], coords[i + 1], frame, node, source)
            on_sky |= sky
            values += [x, y]
            i += 2
        elif layout[i] == LENGTH:
            values.append(_length(coords[i], frame, node, source))
            i += 1
        else:
            values.append(_plain(coords[i], node, source, "an angle"))
            i += 1
    if on_sky and ANGLE in layout:
        system = frame.system if frame.system in ("galactic", "ecliptic") else "world"
        offset = frame.north_offset(system)
        if abs(offset) > 1e-9:
            values = [v + offset if k == ANGLE else v for v, k in zip(values, layout)]
    return _made(spec, values, node=node, source=source)


def shape_from_values(
    name: str,
    v: list[float],
    *,
    include: bool = True,
    node: n.Shape | None = None,
    source: str | None = None,
) -> s.Shape:
    """A shape from physical values (``name`` a full CIAO name), with CIAO's
    argument checks."""
    spec = BY_NAME.get(name)
    if spec is None:
        raise _failure(name, "unknown shape", node, source)
    shape = _made(spec, v, node=node, source=source)
    return shape if include else shape.negated()


def _failure(
    name: str, message: str, node: n.Shape | None, source: str | None
) -> XdmRegionError:
    span = node.span if node is not None else None
    return XdmRegionError(f"{name}: {message}", source=source, span=span)


def _made(
    spec: ShapeSpec, v: list[float], *, node: n.Shape | None, source: str | None
) -> s.Shape:
    """CIAO's checks of physical argument values, then the entry's geometry."""
    for value in v:
        if not math.isfinite(value):
            raise _failure(spec.name, "arguments must be finite numbers", node, source)
    layout = spec.layout(len(v))
    if layout is None:
        if spec.vertices and len(v) < len(spec.args):
            message = f"a {spec.name} needs at least {len(spec.args) // 2} vertices"
        else:
            message = spec.wrong_count(len(v))
        raise _failure(spec.name, message, node, source)
    for value, kind in zip(v, layout):
        if kind == LENGTH and value < 0:
            raise _failure(
                spec.name, f"negative radius or size {value:g}", node, source
            )
    if spec.ring and v[3] < v[2]:
        message = f"outer radius {v[3]:g} is smaller than inner radius {v[2]:g}"
        raise _failure(spec.name, message, node, source)
    return s.GEOMETRY[spec].from_values(v)


def _plain(arg: n.Coordinate, node: n.Shape, source: str | None, what: str) -> float:
    if arg.unit is not None:
        raise XdmRegionError(
            f"{node.name}: {what} cannot carry a unit ({arg.text!r})",
            source=source,
            span=arg.span or node.span,
        )
    return _number(arg, node, source)


def _number(arg: n.Coordinate, node: n.Shape, source: str | None) -> float:
    try:
        return float(arg.text.rstrip("d'\""))
    except ValueError:
        raise XdmRegionError(
            f"{node.name}: not a number: {arg.text!r}",
            source=source,
            span=arg.span or node.span,
        ) from None


def _need_wcs(
    frame: Frame, node: n.Shape, source: str | None, arg: n.Coordinate, what: str
) -> None:
    if frame.wcs is None:
        unit = {"d": "d", "'": "'", '"': '"'}.get(arg.unit or "", "")
        raise XdmRegionError(
            f"{node.name}: the {what} {arg.text}{unit} is on the sky and needs a WCS,"
            " but none is known here",
            source=source,
            span=arg.span or node.span,
            hint="use physical coordinates, or filter a file whose x/y columns carry a sky WCS",
        )


def _position(
    ax: n.Coordinate, ay: n.Coordinate, frame: Frame, node: n.Shape, source: str | None
) -> tuple[float, float, bool]:
    """A position pair -> physical (x, y) and whether it was given on the sky."""
    for a in (ax, ay):
        if a.unit in ("'", '"'):
            raise XdmRegionError(
                f"{node.name}: a position cannot be in arcmin/arcsec ({a.text!r})",
                source=source,
                span=a.span or node.span,
            )
    sky_units = {"d", "sexagesimal"}
    world_system = frame.system in ("world", "galactic", "ecliptic")
    if ax.unit in sky_units or ay.unit in sky_units or world_system:
        for a in (ax, ay):
            _need_wcs(frame, node, source, a, "position")
        galactic = frame.system in ("galactic", "ecliptic")
        lon = (
            parse_sexagesimal(ax.text, hours=not galactic)
            if ax.unit == "sexagesimal"
            else _number(ax, node, source)
        )
        lat = (
            parse_sexagesimal(ay.text, hours=False)
            if ay.unit == "sexagesimal"
            else _number(ay, node, source)
        )
        system = frame.system if galactic else "world"
        x, y = frame.sky_to_physical(lon, lat, system)
        return x, y, True
    x, y = _number(ax, node, source), _number(ay, node, source)
    if frame.system == "image":
        lm = frame.logical
        if lm is None:
            raise XdmRegionError(
                f"{node.name}: image coordinates need the image's LTM/LTV transform",
                source=source,
                span=node.span,
            )
        x, y = lm.to_physical(x, y)
    return x, y, False


def _length(
    arg: n.Coordinate, frame: Frame, node: n.Shape, source: str | None
) -> float:
    if arg.unit == "sexagesimal":
        raise XdmRegionError(
            f"{node.name}: a radius or size cannot be sexagesimal ({arg.text!r})",
            source=source,
            span=arg.span or node.span,
        )
    value = _number(arg, node, source)
    factor = {"d": 1.0, "'": 1.0 / 60.0, '"': 1.0 / 3600.0}.get(arg.unit or "")
    if factor is None and frame.system in ("world", "galactic", "ecliptic"):
        factor = 1.0
    if factor is not None:
        _need_wcs(frame, node, source, arg, "size")
        return value * factor / frame.degrees_per_pixel()
    if frame.system == "image" and frame.logical is not None:
        return value * frame.logical.scale
    return value
