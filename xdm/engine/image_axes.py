"""The axes of an image: logical numbers, physical names and linear world axes.

A filter or ``[bin]`` names an axis by number (``#1``, logical), by its physical
name (``x``, ``y``: the header's LTV/LTM or ``P`` WCS), by a vector (``sky``,
from MTYPE/MFORM) or, for a linear world axis, by its CTYPE (``freq``).
``Frame`` resolves those names and moves values between logical, physical and
world coordinates at pixel centres (integer logical coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError
from xdm.io.imagewcs import (
    _CELESTIAL,
    physical_axis_names,
    physical_transform,
    quiet_wcs,
)
from xdm.lang import nodes

if TYPE_CHECKING:
    from xdm.io.hdus import Header

__all__ = ["Axis", "Frame", "axis_label"]


@dataclass(frozen=True, slots=True)
class Axis:
    """How a filter or bin names one logical axis (0-based ``index``)."""

    index: int
    kind: str  # "logical" | "physical" | "world"


class Frame:
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
    def axis(self, target: nodes.ColumnName | nodes.AxisNumber) -> Axis:
        if isinstance(target, nodes.AxisNumber):
            if not 1 <= target.number <= self.naxis:
                raise XdmSemanticError(
                    f"the image has {self.naxis} axes; there is no axis #{target.number}",
                    span=target.span,
                    expected=tuple(f"#{i}" for i in range(1, self.naxis + 1)),
                )
            return Axis(target.number - 1, "logical")
        name = target.name.lower()
        if name in self.physical:
            return Axis(self.physical.index(name), "physical")
        if name in self.world:
            return Axis(self.world[name], "world")
        raise XdmSemanticError(
            f"unknown image axis '{target.name}'",
            span=target.span,
            expected=self._choices(),
            hint="image axes are #1, #2, ... or physical names such as x, y or sky",
        )

    def pair(self, target: nodes.Target) -> tuple[Axis, Axis, str]:
        """Two axes for a region or a vector bin, and the name recorded in the DSS."""
        if isinstance(target, nodes.ColumnPair):
            a = self.axis(target.first)
            b = self.axis(target.second)
            name = next(
                (v for v, ab in self.vectors.items() if ab == (a.index, b.index)),
                None,
            )
            if name is None or "logical" in (a.kind, b.kind):
                name = f"({axis_label(target.first)},{axis_label(target.second)})"
            return a, b, name
        if isinstance(target, nodes.ColumnName) and target.name.lower() in self.vectors:
            i, j = self.vectors[target.name.lower()]
            return Axis(i, "physical"), Axis(j, "physical"), target.name
        raise XdmSemanticError(
            f"'{axis_label(target)}' is not a pair of image axes",
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

    def pixel_size(self, axis: Axis) -> float:
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

    def coords(self, axis: Axis, logical: NDArray[np.float64]) -> NDArray[np.float64]:
        """The axis's coordinate at the given logical pixel centres."""
        if axis.kind == "logical":
            return logical
        if axis.kind == "physical":
            physical: NDArray[np.float64] = self.to_physical(axis.index, logical)
            return physical
        return self.world_line(axis.index, logical)


def axis_label(target: Any) -> str:
    if isinstance(target, nodes.AxisNumber):
        return f"#{target.number}"
    return str(getattr(target, "name", "?"))
