"""Fast node constructors and the parser's shared table of spans.

The parser builds about one node per token, so how nodes are made is a good
part of its time: ``F.Number(...)`` fills a frozen node's slots directly (about
half the cost of ``Number(...)``), and ``SPANS`` hands out one ``Span`` per
offset pair instead of a new one for every node. Used by the rule methods of
``xdm.lang.transform`` and the table driver of ``xdm.lang.fastparse``.
"""

from __future__ import annotations

import dataclasses
from types import MemberDescriptorType
from typing import Any, Final, TypeAlias, TypeVar

from xdm.errors import Span
from xdm.lang.nodes import (
    AndFilter,
    AxisNumber,
    BinAxis,
    BinQualifier,
    BinRange,
    BitPattern,
    BlockRef,
    BoolValue,
    ColsQualifier,
    ColumnDrop,
    ColumnName,
    ColumnNumber,
    ColumnPair,
    ColumnRename,
    ColumnSelect,
    ColumnStar,
    ComparisonFilter,
    Coordinate,
    FieldShape,
    FileFilter,
    FilterQualifier,
    MaskRef,
    Number,
    OptItem,
    OptQualifier,
    OrFilter,
    OutputName,
    Range,
    RangeArg,
    RangeFilter,
    RegionAnd,
    RegionFileRef,
    RegionFilter,
    RegionNot,
    RegionOr,
    RowFilter,
    Shape,
    StackRef,
    StringValue,
    SubspaceItem,
    SubspaceQualifier,
    VirtualFile,
)

__all__ = [
    "KIND",
    "SPANS",
    "SPAN_TABLE_SIZE",
    "TEXT",
    "F",
    "Tok",
    "fast_constructor",
    "new_span",
    "token_span",
]

T = TypeVar("T")


def fast_constructor(cls: type[T]) -> type[T]:
    """A constructor for a frozen slotted dataclass that fills the slots directly.

    Same keyword signature and result as ``cls(...)`` (fields may also be given
    by position, in field order), about 2x faster: the
    generated frozen ``__init__`` sets each field through ``object.__setattr__``
    (0.7 us a node), this one through the slot descriptors (0.3 us). The parser
    builds about one node per token, so this is a tenth of the parse time.
    Classes with ``__post_init__`` or default factories get their own ``cls``.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    kw_only = {f.kw_only for f in fields}
    if (
        hasattr(cls, "__post_init__")
        or len(kw_only) > 1
        or any(f.default_factory is not dataclasses.MISSING for f in fields)
        or not all(
            isinstance(getattr(cls, f.name), MemberDescriptorType) for f in fields
        )
    ):
        return cls
    params = []
    namespace: dict[str, Any] = {"_new_": object.__new__, "_cls_": cls}
    for f in fields:
        namespace[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    # positional too (in field order), so the hot rule methods can skip keywords
    lines = [f"def make({', '.join(params)}):", "    _self_ = _new_(_cls_)"]
    lines += [f"    _set_{f.name}(_self_, {f.name})" for f in fields]
    lines.append("    return _self_")
    exec("\n".join(lines), namespace)
    make = namespace["make"]
    make.__name__ = make.__qualname__ = cls.__name__
    return make  # type: ignore[no-any-return]  # a function standing in for cls


class F:
    """Fast constructors of the nodes the rule methods build (``F.Number(...)``)."""

    AndFilter = fast_constructor(AndFilter)
    AxisNumber = fast_constructor(AxisNumber)
    BinAxis = fast_constructor(BinAxis)
    BinQualifier = fast_constructor(BinQualifier)
    BinRange = fast_constructor(BinRange)
    BitPattern = fast_constructor(BitPattern)
    BlockRef = fast_constructor(BlockRef)
    BoolValue = fast_constructor(BoolValue)
    ColsQualifier = fast_constructor(ColsQualifier)
    ColumnDrop = fast_constructor(ColumnDrop)
    ColumnName = fast_constructor(ColumnName)
    ColumnNumber = fast_constructor(ColumnNumber)
    ColumnPair = fast_constructor(ColumnPair)
    ColumnRename = fast_constructor(ColumnRename)
    ColumnSelect = fast_constructor(ColumnSelect)
    ColumnStar = fast_constructor(ColumnStar)
    ComparisonFilter = fast_constructor(ComparisonFilter)
    Coordinate = fast_constructor(Coordinate)
    FieldShape = fast_constructor(FieldShape)
    FileFilter = fast_constructor(FileFilter)
    FilterQualifier = fast_constructor(FilterQualifier)
    MaskRef = fast_constructor(MaskRef)
    Number = fast_constructor(Number)
    OptItem = fast_constructor(OptItem)
    OptQualifier = fast_constructor(OptQualifier)
    OrFilter = fast_constructor(OrFilter)
    OutputName = fast_constructor(OutputName)
    Range = fast_constructor(Range)
    RangeArg = fast_constructor(RangeArg)
    RangeFilter = fast_constructor(RangeFilter)
    RegionAnd = fast_constructor(RegionAnd)
    RegionFileRef = fast_constructor(RegionFileRef)
    RegionFilter = fast_constructor(RegionFilter)
    RegionNot = fast_constructor(RegionNot)
    RegionOr = fast_constructor(RegionOr)
    RowFilter = fast_constructor(RowFilter)
    Shape = fast_constructor(Shape)
    Span = fast_constructor(Span)
    StackRef = fast_constructor(StackRef)
    StringValue = fast_constructor(StringValue)
    SubspaceItem = fast_constructor(SubspaceItem)
    SubspaceQualifier = fast_constructor(SubspaceQualifier)
    VirtualFile = fast_constructor(VirtualFile)


# A token as the rule methods see it: a plain tuple (terminal name, text, start
# offset, end offset), read by position with these names. Not a NamedTuple: the
# parser makes one per token, and a plain tuple costs a quarter as much.
Tok: TypeAlias = tuple[str, str, int, int]
KIND: Final = 0
TEXT: Final = 1


# Spans are immutable values: the parser hands out one Span per offset pair
# instead of making a new one for every node (a lookup is a quarter of the cost
# of making one). The table is emptied when it holds SPAN_TABLE_SIZE pairs.
SPAN_TABLE_SIZE = 1 << 14
SPANS: dict[tuple[int, int], Span] = {}


_new_object = object.__new__
_set_start = getattr(Span, "start").__set__  # noqa: B009 (a slot descriptor)
_set_end = getattr(Span, "end").__set__  # noqa: B009


def new_span(key: tuple[int, int]) -> Span:
    """The Span for ``(start, end)`` when ``SPANS`` has none yet (``SPANS.get(key)
    or new_span(key)`` is the fast way to a span). Made like ``F.Span``."""
    if len(SPANS) >= SPAN_TABLE_SIZE:
        SPANS.clear()
    span = _new_object(Span)
    _set_start(span, key[0])
    _set_end(span, key[1])
    SPANS[key] = span
    return span


def token_span(token: Tok) -> Span:
    """The span of a token."""
    key = token[2:]  # (start, end)
    return SPANS.get(key) or new_span(key)
