"""The xdm AST: frozen, typed nodes for the CIAO virtual-file language.

Made by ``transform`` from the parse tree, printed back by ``unparse``, read by
``planner``. Nodes carry no behaviour; ``span`` is ignored by equality so that
round-trip tests compare structure only.

Family unions (``Qualifier``, ``FilterExpr``, ``RegionExpr``...) are listed at the
bottom; consumers dispatch with ``match``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal, TypeAlias

from xdm.errors import Span

__all__ = [
    "AndFilter",
    "AxisNumber",
    "BinAxis",
    "BinQualifier",
    "BinRange",
    "BitPattern",
    "BlockRef",
    "BoolValue",
    "ColsQualifier",
    "ColumnDrop",
    "ColumnName",
    "ColumnNumber",
    "ColumnPair",
    "ColumnRename",
    "ColumnSelect",
    "ColumnStar",
    "ComparisonFilter",
    "Coordinate",
    "FieldShape",
    "FileFilter",
    "FilterQualifier",
    "MaskRef",
    "Number",
    "OptItem",
    "OptQualifier",
    "OrFilter",
    "OutputName",
    "Range",
    "RangeArg",
    "RangeFilter",
    "RegionAnd",
    "RegionFileRef",
    "RegionFilter",
    "RegionNot",
    "RegionOr",
    "RowFilter",
    "Shape",
    "StackRef",
    "StringValue",
    "SubspaceItem",
    "SubspaceQualifier",
    "VirtualFile",
]

_NODE = {"frozen": True, "slots": True, "kw_only": True}


# ---------------------------------------------------------------- values


@dataclass(**_NODE)
class Number:
    """A numeric literal, kept as written (``300``, ``-1.0e-3``, ``.0001``).

    ``is_integer`` is true when the literal has no ``.`` and no exponent; the
    meaning of a range bound also depends on the column type (planner's job).
    """

    text: str
    span: Span | None = field(default=None, compare=False, repr=False)

    @property
    def value(self) -> float:
        return float(self.text)

    @property
    def is_integer(self) -> bool:
        return not any(c in self.text for c in ".eE") and self.text.lower() not in (
            "nan",
            "inf",
            "+inf",
            "-inf",
        )


@dataclass(**_NODE)
class StringValue:
    """A string value: ``ACIS-I``, ``Polygon`` or a quoted ``"3C 273"``."""

    text: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class BoolValue:
    """A logical value: ``true``/``false`` (also ``T``/``F``)."""

    value: bool
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class BitPattern:
    """A bit pattern of ``0``, ``1``, ``x``; the rightmost character is bit 0.

    Only patterns holding an ``x`` are recognised by the grammar; ``status=0`` is
    a ``Number`` that the planner reads as a pattern on a bit column.
    """

    text: str
    span: Span | None = field(default=None, compare=False, repr=False)


Value: TypeAlias = "Number | StringValue | BoolValue | BitPattern"


@dataclass(**_NODE)
class Range:
    """One item of a range list: ``lo:hi``, ``lo:``, ``:hi``, ``:`` or a single ``v``.

    A single value has ``lo is hi`` semantics: ``is_single`` is true and both bounds
    hold the value.
    """

    lo: Value | None
    hi: Value | None
    is_single: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------- columns


@dataclass(**_NODE)
class ColumnName:
    """A column, vector column or image-axis name (case-insensitive): ``energy``, ``sky``."""

    name: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class AxisNumber:
    """An image axis by logical number: ``#1``."""

    number: int
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class ColumnPair:
    """An explicit coordinate pair: ``(x,y)``, ``(#1,#2)``."""

    first: ColumnName | AxisNumber
    second: ColumnName | AxisNumber
    span: Span | None = field(default=None, compare=False, repr=False)


Target: TypeAlias = "ColumnName | AxisNumber | ColumnPair"


# ---------------------------------------------------------------- regions


@dataclass(**_NODE)
class Coordinate:
    """A region argument: a number with an optional unit, or sexagesimal text.

    ``unit`` is ``None`` (physical), ``"d"`` (degrees), ``"'"`` (arcmin), ``'"'``
    (arcsec) or ``"sexagesimal"`` (``12:26:51.2``, RA in hours for x).
    """

    text: str
    unit: Literal["d", "'", '"', "sexagesimal"] | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class RangeArg:
    """A radius grid inside a dmextract bin shape: ``annulus(x,y,0:600:10)``."""

    lo: Number
    hi: Number
    step: Number
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class Shape:
    """A region shape: ``circle(4096.5,4096.5,20)``.

    ``name`` is the full lower-case CIAO name of an entry of
    ``xdm.lang.shapes.SHAPES`` other than ``field`` (``FieldShape``);
    abbreviations are expanded by the parser.
    """

    name: str
    args: tuple[Coordinate | RangeArg, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class FieldShape:
    """The whole plane: ``field()``."""

    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class RegionFileRef:
    """Shapes read from a file: ``region(src.reg)``, ``region(reg3.fits[bkgreg])``."""

    file: VirtualFile
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class MaskRef:
    """Non-zero pixels of a mask image: ``mask(no_srcs.mask)``."""

    file: VirtualFile
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class RegionNot:
    """Negation: ``!circle(...)``."""

    operand: RegionExpr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class RegionAnd:
    """Intersection: ``a*b``, ``a&b``; ``a-b`` is ``RegionAnd((a, RegionNot(b)))``."""

    operands: tuple[RegionExpr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class RegionOr:
    """Union: ``a+b``, ``a|b``. Binds looser than ``*``, ``&`` and ``-``."""

    operands: tuple[RegionExpr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


RegionExpr: TypeAlias = (
    "Shape | FieldShape | RegionFileRef | MaskRef | RegionNot | RegionAnd | RegionOr"
)


# ---------------------------------------------------------------- filters


@dataclass(**_NODE)
class RangeFilter:
    """``column=rangelist``: items OR'ed; ``energy=300:2000``, ``grade=0,2:4,6``."""

    column: Target
    ranges: tuple[Range, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class ComparisonFilter:
    """``column<op>value`` with op one of ``< > <= >= == !=``: ``count_rate>65``."""

    column: Target
    op: Literal["<", ">", "<=", ">=", "==", "!="]
    value: Value
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class RegionFilter:
    """``vector=region``: ``sky=circle(4096,4096,20)``, ``(x,y)=region(src.reg)``."""

    column: Target
    region: RegionExpr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class RowFilter:
    """Row numbers, 1-based, inclusive: ``#row=1:3,490:495``."""

    ranges: tuple[Range, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class FileFilter:
    """Filter from a file: ``@flt1.fits`` (GTI) or ``@filter.lis`` (filter text)."""

    file: VirtualFile
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class AndFilter:
    """Conjunction: clauses separated by ``,`` or ``&&``."""

    terms: tuple[FilterExpr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class OrFilter:
    """Disjunction: ``(a=1:2)||(b=3:4)``."""

    terms: tuple[FilterExpr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


FilterExpr: TypeAlias = (
    "RangeFilter | ComparisonFilter | RegionFilter | RowFilter | FileFilter"
    " | AndFilter | OrFilter"
)


# ---------------------------------------------------------------- binning


@dataclass(**_NODE)
class BinRange:
    """``lo:hi:step``, ``lo:hi:#n``, ``::step``, ``lo:hi``; ``sky=8`` is ``step`` only.

    At most one of ``step`` and ``nbins`` is set; missing parts take defaults.
    """

    lo: Number | None = None
    hi: Number | None = None
    step: Number | None = None
    nbins: int | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class StackRef:
    """A stack of region files in a dmextract bin: ``sky=@annuli.reg``."""

    path: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class BinAxis:
    """One axis of a bin spec: ``x=::8``, ``sky=4``, ``(x,y)=...``, ``pi``.

    ``spec`` is ``None`` for all defaults, a ``BinRange``, a region expression or a
    ``StackRef`` (the last two are dmextract extensions).
    """

    target: Target
    spec: BinRange | RegionExpr | StackRef | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------- columns list


@dataclass(**_NODE)
class ColumnSelect:
    """Keep a column: ``time``."""

    name: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class ColumnDrop:
    """Remove a column: ``-phas``."""

    name: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class ColumnRename:
    """Rename: ``rate=count_rate`` (new=old)."""

    new: str
    old: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class ColumnNumber:
    """A column by 1-based number: ``#4``."""

    number: int
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class ColumnStar:
    """All remaining columns: ``*``."""

    span: Span | None = field(default=None, compare=False, repr=False)


ColumnItem: TypeAlias = (
    "ColumnSelect | ColumnDrop | ColumnRename | ColumnNumber | ColumnStar"
)


# ---------------------------------------------------------------- qualifiers


@dataclass(**_NODE)
class BlockRef:
    """Block by name (``[EVENTS]``) or 1-based number counting the primary (``[2]``)."""

    name: str | None = None
    number: int | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class FilterQualifier:
    """A filter bracket: ``[energy=300:2000]``, ``[filter ...]``, ``[exclude ...]``."""

    expr: FilterExpr
    exclude: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class BinQualifier:
    """``[bin x=::8,y=::8]``, ``[bin pi]``, ``[bin x,y;flux]``; ``modifier`` is ``f`` for ``bin/f``."""

    axes: tuple[BinAxis, ...]
    weight: str | None = None
    modifier: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class ColsQualifier:
    """``[cols time,pha]``, ``[cols -phas]``, ``[cols rate=count_rate,*]``."""

    items: tuple[ColumnItem, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class OptItem:
    """One option: ``type=i4``, ``null=NaN``, ``full``, ``mem=200``."""

    name: str
    value: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class OptQualifier:
    """``[opt type=i4,null=0,full]``."""

    items: tuple[OptItem, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class SubspaceItem:
    """Remove a column from the subspace: ``-time``."""

    name: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class SubspaceQualifier:
    """``[subspace -time,-expno]``."""

    items: tuple[SubspaceItem, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(**_NODE)
class OutputName:
    """A trailing bare name naming the output block: ``[IMAGE]``."""

    name: str
    span: Span | None = field(default=None, compare=False, repr=False)


Qualifier: TypeAlias = (
    "BlockRef | FilterQualifier | BinQualifier | ColsQualifier | OptQualifier"
    " | SubspaceQualifier | OutputName"
)


@dataclass(**_NODE)
class VirtualFile:
    """A file name and its bracketed qualifiers, in the order written.

    ``path`` is kept as written (``$CALDB/...`` unexpanded, ``-`` for stdin);
    ``is_stack`` marks ``@stack.lis`` (a list of virtual files, one per line).
    """

    path: str
    qualifiers: tuple[Qualifier, ...] = ()
    is_stack: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)

    # Accessors only: they select qualifiers by kind, no meaning is applied.
    @property
    def block(self) -> BlockRef | None:
        q = self.qualifiers
        return q[0] if q and isinstance(q[0], BlockRef) else None

    @property
    def filters(self) -> tuple[FilterQualifier, ...]:
        return tuple(q for q in self.qualifiers if isinstance(q, FilterQualifier))

    @property
    def bin(self) -> BinQualifier | None:
        return next((q for q in self.qualifiers if isinstance(q, BinQualifier)), None)

    @property
    def cols(self) -> tuple[ColsQualifier, ...]:
        return tuple(q for q in self.qualifiers if isinstance(q, ColsQualifier))

    @property
    def options(self) -> tuple[OptItem, ...]:
        return tuple(
            item
            for q in self.qualifiers
            if isinstance(q, OptQualifier)
            for item in q.items
        )

    @property
    def subspace(self) -> tuple[SubspaceItem, ...]:
        return tuple(
            item
            for q in self.qualifiers
            if isinstance(q, SubspaceQualifier)
            for item in q.items
        )

    @property
    def output_name(self) -> str | None:
        q = self.qualifiers
        return q[-1].name if q and isinstance(q[-1], OutputName) else None

    def _repr_html_(self) -> str:
        """Notebook view: the parse tree, node types and fields (as ``xdm parse``)."""
        return f'<div class="xdm-virtual-file">{_html_node(self, None)}</div>'


def _html_node(node: Any, name: str | None) -> str:
    """A node as HTML: its type and scalar fields, then its child nodes as a list."""
    scalars: list[str] = []
    children: list[tuple[str, Any]] = []
    for f in fields(node):
        value = getattr(node, f.name)
        if f.name == "span" or value is None or value is False or value == ():
            continue
        if isinstance(value, tuple) and all(is_dataclass(v) for v in value):
            children += [(f"{f.name}[{i}]", v) for i, v in enumerate(value)]
        elif is_dataclass(value):
            children.append((f.name, value))
        else:
            scalars.append(f" {f.name}={html.escape(repr(value))}")
    head = f"<i>{name}:</i> " if name else ""
    head += f"<b>{type(node).__name__}</b>{''.join(scalars)}"
    items = "".join(f"<li>{_html_node(v, n)}</li>" for n, v in children)
    return head + (f"<ul>{items}</ul>" if items else "")


Node: TypeAlias = (
    "VirtualFile | Qualifier | FilterExpr | RegionExpr | Range | Value | Target"
    " | Coordinate | RangeArg | BinAxis | BinRange | StackRef | ColumnItem | OptItem"
    " | SubspaceItem"
)
