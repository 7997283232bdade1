"""The region shape vocabulary: each CIAO shape's name, abbreviation and arguments.

One entry per shape, read by the parser (names, abbreviations, argument counts
and their messages), ``xdm.regions.build`` (which argument is a position, a
length or an angle), the FITS region-table reader, REPL completion and the shape
table of docs/syntax.md (a test compares it with ``markdown_table()``). The geometry
of each entry (``contains``, area, extent, numexpr text) is in
``xdm.regions.shapes``, where each class names the entries it implements. Plain
data: no numpy, no astropy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = [
    "ANGLE",
    "BY_NAME",
    "LENGTH",
    "POSITION",
    "SHAPES",
    "SHAPE_NAMES",
    "STACK_GRID",
    "ShapeSpec",
    "lookup_shape",
    "markdown_table",
    "specs",
    "unknown_shape_hint",
]

POSITION: Final = "p"
"""A coordinate of a position (x and y come in pairs); sexagesimal allowed."""
LENGTH: Final = "l"
"""A radius or size: never negative; ``d``/``'``/``"`` use the WCS pixel scale."""
ANGLE: Final = "a"
"""Degrees from +X, counter-clockwise; no unit."""

STACK_GRID: Final = "igrid"
"""``name=igrid(lo:hi:step)``: one virtual file per value (``xdm.stacks``), not a shape."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShapeSpec:
    """One CIAO shape as written: ``circle(x, y, radius)``.

    ``kinds`` has one letter per argument (``POSITION``, ``LENGTH``, ``ANGLE``);
    ``vertices`` (polygon) repeats the (x, y) pairs, three or more; ``ring``
    (annulus, pie) makes the third and fourth arguments an inner and an outer
    radius, in that order, for which dmextract's radius grid ``lo:hi:step`` may
    stand (``annulus(x,y,0:600:10)``).
    """

    name: str
    """Full lower-case CIAO name; ``Shape.name`` in the tree."""
    min_len: int
    """Shortest accepted abbreviation (the capitals in CIAO's help)."""
    args: tuple[str, ...]
    """Argument labels, for messages, usage and the docs."""
    kinds: str
    optional: int = 0
    """Trailing arguments that may be left out (box's angle)."""
    vertices: bool = False
    ring: bool = False
    note: str = ""
    """What the docs say in place of the arguments of a shape that takes none."""
    counts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """Allowed argument counts (the fewest for ``vertices``)."""
    positions: int = field(init=False, repr=False, compare=False)
    """How many leading arguments are positions (every one, with ``vertices``)."""

    def __post_init__(self) -> None:
        if len(self.kinds) != len(self.args):
            raise ValueError(f"{self.name}: one kind per argument")
        n = len(self.args)
        object.__setattr__(self, "counts", tuple(range(n - self.optional, n + 1)))
        lead = len(self.kinds) - len(self.kinds.lstrip(POSITION))
        object.__setattr__(self, "positions", lead)

    def layout(self, n: int) -> str | None:
        """The kinds of ``n`` arguments, or None if the shape does not take ``n``."""
        if self.vertices:
            return POSITION * n if n >= len(self.args) and n % 2 == 0 else None
        return self.kinds[:n] if n in self.counts else None

    def describe(self) -> str:
        """``circle takes 3 arguments (x, y, radius)`` style wording."""
        if self.vertices:
            labels = ", ".join(self.args)
            return f"{self.name} takes {len(self.args) // 2} or more vertices: ({labels}, ...)"
        if not self.args:
            return f"{self.name} takes no arguments: {self.name}()"
        if len(self.counts) == 1:
            n = f"{self.counts[0]} argument{'s' if self.counts[0] != 1 else ''}"
        else:
            n = " or ".join(str(c) for c in self.counts) + " arguments"
        return f"{self.name} takes {n} ({', '.join(self.args)})"

    def accepts(self, n: int, *, grid: bool = False) -> bool:
        """Does the shape take ``n`` arguments? ``grid``: the radii are one
        dmextract ``lo:hi:step``, so a ring takes one argument fewer."""
        if grid and self.ring:
            return n == len(self.args) - 1
        return self.layout(n) is not None

    def wrong_count(self, n: int) -> str:
        """The message for a shape given ``n`` arguments it does not take."""
        got = f"got {n} argument{'s' if n != 1 else ''}"
        if self.vertices and n >= len(self.args):
            got = f"got an odd number of values ({n})"
        return f"{self.describe()}, {got}"

    @property
    def usage(self) -> str:
        """``box(x, y, width, height[, angle])``."""
        return f"{self.name}({self._arguments('[, ', ']')})"

    @property
    def abbreviation(self) -> str:
        """The name with its required part in capitals: ``CIRcle``."""
        return self.name[: self.min_len].upper() + self.name[self.min_len :]

    def doc_arguments(self) -> str:
        """The arguments column of the docs' table."""
        if not self.args:
            return f"(none): {self.note}"
        text = self._arguments(" [, ", "]")
        if self.vertices:
            text += f" ({len(self.args) // 2} or more vertices)"
        return text

    def _arguments(self, open_optional: str, close_optional: str) -> str:
        required = self.args[: len(self.args) - self.optional]
        text = ", ".join(required)
        if self.optional:
            text += open_optional + ", ".join(self.args[len(required) :])
            text += close_optional
        return text + (", ..." if self.vertices else "")


SHAPES: Final[tuple[ShapeSpec, ...]] = (
    ShapeSpec(
        name="circle",
        min_len=3,
        args=("x", "y", "radius"),
        kinds="ppl",
    ),
    ShapeSpec(
        name="annulus",
        min_len=7,
        args=("x", "y", "inner radius", "outer radius"),
        kinds="ppll",
        ring=True,
    ),
    ShapeSpec(
        name="ellipse",
        min_len=3,
        args=("x", "y", "x radius", "y radius", "angle"),
        kinds="pplla",
    ),
    ShapeSpec(
        name="box",
        min_len=3,
        args=("x", "y", "width", "height", "angle"),
        kinds="pplla",
        optional=1,
    ),
    ShapeSpec(
        name="rotbox",
        min_len=6,
        args=("x", "y", "width", "height", "angle"),
        kinds="pplla",
    ),
    ShapeSpec(
        name="rectangle",
        min_len=4,
        args=("xmin", "ymin", "xmax", "ymax"),
        kinds="pppp",
    ),
    ShapeSpec(
        name="rotrectangle",
        min_len=7,
        args=("xmin", "ymin", "xmax", "ymax", "angle"),
        kinds="ppppa",
    ),
    ShapeSpec(
        name="polygon",
        min_len=4,
        args=("x1", "y1", "x2", "y2", "x3", "y3"),
        kinds="pppppp",
        vertices=True,
    ),
    ShapeSpec(
        name="pie",
        min_len=3,
        args=("x", "y", "inner radius", "outer radius", "start angle", "stop angle"),
        kinds="ppllaa",
        ring=True,
    ),
    ShapeSpec(
        name="sector",
        min_len=4,
        args=("x", "y", "start angle", "stop angle"),
        kinds="ppaa",
    ),
    ShapeSpec(
        name="point",
        min_len=3,
        args=("x", "y"),
        kinds="pp",
    ),
    ShapeSpec(
        name="field",
        min_len=5,
        args=(),
        kinds="",
        note="the whole plane",
    ),
)
"""CIAO's shapes, in the order of CIAO's help (and of messages and completion)."""

SHAPE_NAMES: Final = tuple(s.name for s in SHAPES)
BY_NAME: Final[Mapping[str, ShapeSpec]] = MappingProxyType({s.name: s for s in SHAPES})
"""Exact full names (FITS region tables spell them out)."""

_looked_up: dict[str, ShapeSpec | None] = {}
_LOOKED_UP_MAX = 1024  # words are user text: keep the memo small


def lookup_shape(word: str) -> ShapeSpec | None:
    """The shape a (possibly abbreviated, any-case) name stands for, or None."""
    key = word.lower()
    if key in _looked_up:
        return _looked_up[key]
    found = None
    for spec in SHAPES:
        if len(key) >= spec.min_len and spec.name.startswith(key):
            found = spec
            break
    if len(_looked_up) >= _LOOKED_UP_MAX:
        _looked_up.clear()
    _looked_up[key] = found
    return found


def specs(*names: str) -> tuple[ShapeSpec, ...]:
    """The entries of these full names (a KeyError names a misspelt one)."""
    return tuple(BY_NAME[name] for name in names)


def unknown_shape_hint(word: str) -> str:
    """The nearest shape name, or the list of them, for an unknown ``word``."""
    from difflib import get_close_matches

    close = get_close_matches(word.lower(), SHAPE_NAMES, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"shapes are: {', '.join(SHAPE_NAMES)}, region(file), mask(file)"


def markdown_table() -> str:
    """The shape table of docs/syntax.md, in Markdown."""
    rows = ["| shape | arguments |", "|---|---|"]
    rows += [f"| `{s.abbreviation}` | {s.doc_arguments()} |" for s in SHAPES]
    return "\n".join(rows)
