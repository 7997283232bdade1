"""Turns a lark parse tree into xdm nodes (xdm/nodes.py); one method per grammar rule.

Knows the rule names of grammar/xdm.lark and the region shape table, nothing
about FITS. Besides building nodes it settles what the grammar leaves open:
range items after ',' join the clause before them, a bare name is a block or an
output name by position, shape names are expanded and their arguments counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import get_close_matches
from typing import Any

from lark import Token, Transformer, v_args
from lark.tree import Meta

from xdm.errors import Span, XdmRegionSyntaxError, XdmSyntaxError
from xdm.nodes import (
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

__all__ = ["SHAPES", "SIMPLIFY_DOUBLE_NOT", "ShapeInfo", "Transform", "lookup_shape"]

# `!!a` is kept as RegionNot(RegionNot(a)) so that printing gives back what was
# written; set to True to fold it to `a` while building the tree.
SIMPLIFY_DOUBLE_NOT = False


class ShapeInfo:
    """One CIAO shape: full name, minimum abbreviation length, argument names."""

    __slots__ = ("args", "coords", "min_len", "name", "optional")

    def __init__(
        self,
        name: str,
        min_len: int,
        args: tuple[str, ...],
        *,
        optional: int = 0,
        coords: int = 2,
    ) -> None:
        self.name = name
        self.min_len = min_len
        self.args = args  # argument names, for messages
        self.optional = optional  # trailing arguments that may be left out
        self.coords = coords  # leading arguments that are positions (sexagesimal ok)

    def counts(self) -> tuple[int, ...]:
        n = len(self.args)
        return tuple(range(n - self.optional, n + 1))

    def describe(self) -> str:
        """``circle takes 3 arguments (x, y, radius)`` style wording."""
        if self.name == "polygon":
            return "polygon takes 3 or more vertices: (x1, y1, x2, y2, x3, y3, ...)"
        if self.name == "field":
            return "field takes no arguments: field()"
        counts = self.counts()
        if len(counts) == 1:
            n = f"{counts[0]} argument{'s' if counts[0] != 1 else ''}"
        else:
            n = " or ".join(str(c) for c in counts) + " arguments"
        return f"{self.name} takes {n} ({', '.join(self.args)})"


# CIAO shapes; the minimum abbreviation is the upper-case part in the CIAO help.
SHAPES: tuple[ShapeInfo, ...] = (
    ShapeInfo("circle", 3, ("x", "y", "radius")),
    ShapeInfo("annulus", 7, ("x", "y", "inner radius", "outer radius")),
    ShapeInfo("ellipse", 3, ("x", "y", "x radius", "y radius", "angle")),
    ShapeInfo("box", 3, ("x", "y", "width", "height", "angle"), optional=1),
    ShapeInfo("rotbox", 6, ("x", "y", "width", "height", "angle")),
    ShapeInfo("rectangle", 4, ("xmin", "ymin", "xmax", "ymax"), coords=4),
    ShapeInfo("rotrectangle", 7, ("xmin", "ymin", "xmax", "ymax", "angle"), coords=4),
    ShapeInfo("polygon", 4, ("x1", "y1", "x2", "y2", "x3", "y3")),
    ShapeInfo(
        "pie",
        3,
        ("x", "y", "inner radius", "outer radius", "start angle", "stop angle"),
    ),
    ShapeInfo("sector", 4, ("x", "y", "start angle", "stop angle")),
    ShapeInfo("point", 3, ("x", "y")),
    ShapeInfo("field", 5, ()),
)
_SHAPE_NAMES = tuple(s.name for s in SHAPES)
_shape_cache: dict[str, ShapeInfo | None] = {}


def lookup_shape(word: str) -> ShapeInfo | None:
    """The shape a (possibly abbreviated, any-case) name stands for, or None."""
    key = word.lower()
    try:
        return _shape_cache[key]
    except KeyError:
        pass
    found = None
    for info in SHAPES:
        if len(key) >= info.min_len and info.name.startswith(key):
            found = info
            break
    _shape_cache[key] = found
    return found


def _span(meta: Meta) -> Span | None:
    if meta.empty:
        return None
    return Span(meta.start_pos, meta.end_pos)


def _tspan(token: Token) -> Span:
    return Span(token.start_pos, token.end_pos)  # type: ignore[arg-type]


class Transform(Transformer[Token, Any]):
    """lark Tree -> xdm nodes. ``source`` is kept for error messages."""

    def __init__(self, source: str) -> None:
        super().__init__(visit_tokens=False)
        self.source = source

    def _error(self, message: str, span: Span | None, hint: str | None = None) -> None:
        raise XdmSyntaxError(message, source=self.source, span=span, hint=hint)

    # ------------------------------------------------------------ files

    @v_args(meta=True)
    def start(self, meta: Meta, children: list[Any]) -> Any:
        return children[0]

    region_start = start
    filter_start = start

    @v_args(meta=True)
    def virtual_file(self, meta: Meta, children: list[Any]) -> VirtualFile:
        is_stack = isinstance(children[0], Token) and children[0].type == "STACK"
        if is_stack:
            children = children[1:]
        path = str(children[0])
        quals = self._place(children[1:])
        return VirtualFile(
            path=path, qualifiers=quals, is_stack=is_stack, span=_span(meta)
        )

    @v_args(meta=True)
    def file_ref(self, meta: Meta, children: list[Any]) -> VirtualFile:
        return VirtualFile(
            path=str(children[0]),
            qualifiers=self._place(children[1:]),
            span=_span(meta),
        )

    def _place(self, quals: list[Any]) -> tuple[Any, ...]:
        """Decide bare names and numbers by position: block, output name or error."""
        out = list(quals)
        last = len(out) - 1
        for i, q in enumerate(out):
            if not isinstance(q, BlockRef) or i == 0:
                continue
            after_product = any(
                isinstance(p, (BinQualifier, ColsQualifier, OptQualifier))
                for p in out[:i]
            )
            if q.name is not None and i == last and after_product:
                out[i] = OutputName(name=q.name, span=q.span)
            elif q.name is not None:
                self._error(
                    f"'{q.name}' is a bare name in the middle of the qualifiers",
                    q.span,
                    "a bare name is a block (first bracket) or the output block name "
                    "(last bracket, after [bin], [cols] or [opt]); a filter needs "
                    "an operator, e.g. [name=value]",
                )
            else:
                self._error(
                    f"block number {q.number} must be the first bracket",
                    q.span,
                    "a block number selects a block only in the first bracket; "
                    "an image section needs two ranges, e.g. [1:100,1:100]",
                )
        return tuple(out)

    # ------------------------------------------------------------ qualifiers

    @v_args(meta=True)
    def filter_q(self, meta: Meta, children: list[Any]) -> FilterQualifier:
        return FilterQualifier(expr=children[-1], span=_span(meta))

    @v_args(meta=True)
    def exclude_q(self, meta: Meta, children: list[Any]) -> FilterQualifier:
        return FilterQualifier(expr=children[-1], exclude=True, span=_span(meta))

    @v_args(meta=True)
    def bare_name_q(self, meta: Meta, children: list[Any]) -> BlockRef:
        return BlockRef(name=str(children[0]), span=_span(meta))

    @v_args(meta=True)
    def bare_ranges_q(self, meta: Meta, children: list[Range]) -> Any:
        span = _span(meta)
        if len(children) == 1:
            r = children[0]
            if r.is_single and isinstance(r.lo, Number) and r.lo.text.isdigit():
                return BlockRef(number=int(r.lo.text), span=span)
            self._error(
                "a bare range needs an axis",
                span,
                "write [#1=lo:hi] for an image axis, or [name=lo:hi] for a column",
            )
        if len(children) > 2:
            self._error(
                f"an image section has 2 ranges, found {len(children)}",
                span,
                "use [#1=lo:hi,#2=lo:hi,#3=lo:hi] for more axes",
            )
        terms = tuple(
            RangeFilter(column=AxisNumber(number=i + 1), ranges=(r,), span=r.span)
            for i, r in enumerate(children)
        )
        return FilterQualifier(expr=AndFilter(terms=terms, span=span), span=span)

    @v_args(meta=True)
    def bare_region_q(self, meta: Meta, children: list[Any]) -> FilterQualifier:
        span = _span(meta)
        pair = ColumnPair(first=AxisNumber(number=1), second=AxisNumber(number=2))
        expr = RegionFilter(column=pair, region=children[0], span=span)
        return FilterQualifier(expr=expr, span=span)

    @v_args(meta=True)
    def bin_q(self, meta: Meta, children: list[Any]) -> BinQualifier:
        modifier = None
        weight = None
        axes = []
        for c in children[1:]:
            if isinstance(c, BinAxis):
                axes.append(c)
            elif isinstance(c, tuple):
                modifier = c[0]
            elif isinstance(c, Token) and c.type == "NAME":
                weight = str(c)
        return BinQualifier(
            axes=tuple(axes), weight=weight, modifier=modifier, span=_span(meta)
        )

    def bin_mod(self, children: list[Token]) -> tuple[str]:
        return (str(children[0]),)

    @v_args(meta=True)
    def cols_q(self, meta: Meta, children: list[Any]) -> ColsQualifier:
        return ColsQualifier(items=tuple(children[1:]), span=_span(meta))

    @v_args(meta=True)
    def opt_q(self, meta: Meta, children: list[Any]) -> OptQualifier:
        return OptQualifier(items=tuple(children[1:]), span=_span(meta))

    @v_args(meta=True)
    def subspace_q(self, meta: Meta, children: list[Any]) -> SubspaceQualifier:
        return SubspaceQualifier(items=tuple(children[1:]), span=_span(meta))

    # ------------------------------------------------------------ filters

    @v_args(meta=True)
    def or_filter(self, meta: Meta, children: list[Any]) -> OrFilter:
        return OrFilter(terms=tuple(children), span=_span(meta))

    @v_args(meta=True)
    def and_expr(self, meta: Meta, children: list[Any]) -> Any:
        terms: list[Any] = []
        for c in children:
            if not isinstance(c, Range):
                terms.append(c)
                continue
            prev = terms[-1]
            if isinstance(prev, RangeFilter):
                terms[-1] = RangeFilter(
                    column=prev.column,
                    ranges=(*prev.ranges, c),
                    span=_join(prev.span, c.span),
                )
            elif isinstance(prev, RowFilter):
                terms[-1] = RowFilter(
                    ranges=(*prev.ranges, c), span=_join(prev.span, c.span)
                )
            else:
                self._error(
                    "a value after ',' must follow a range clause",
                    c.span,
                    "start a new clause with a column name, e.g. ',pi=1:100'",
                )
        if len(terms) == 1:
            return terms[0]
        return AndFilter(terms=tuple(terms), span=_span(meta))

    @v_args(meta=True)
    def group(self, meta: Meta, children: list[Any]) -> Any:
        return children[0]

    @v_args(meta=True)
    def range_filter(self, meta: Meta, children: list[Any]) -> RangeFilter:
        return RangeFilter(
            column=_target(children[0]), ranges=(children[1],), span=_span(meta)
        )

    @v_args(meta=True)
    def region_filter(self, meta: Meta, children: list[Any]) -> RegionFilter:
        return RegionFilter(
            column=_target(children[0]), region=children[1], span=_span(meta)
        )

    @v_args(meta=True)
    def comparison_filter(self, meta: Meta, children: list[Any]) -> ComparisonFilter:
        return ComparisonFilter(
            column=_target(children[0]),
            op=str(children[1]),  # type: ignore[arg-type]
            value=children[2],
            span=_span(meta),
        )

    @v_args(meta=True)
    def row_filter(self, meta: Meta, children: list[Any]) -> RowFilter:
        return RowFilter(ranges=(children[1],), span=_span(meta))

    @v_args(meta=True)
    def file_filter(self, meta: Meta, children: list[Any]) -> FileFilter:
        return FileFilter(file=children[0], span=_span(meta))

    @v_args(meta=True)
    def pair(self, meta: Meta, children: list[Token]) -> ColumnPair:
        first, second = (_target(c) for c in children)
        return ColumnPair(first=first, second=second, span=_span(meta))  # type: ignore[arg-type]

    # ------------------------------------------------------------ values, ranges

    @v_args(meta=True)
    def single_range(self, meta: Meta, children: list[Any]) -> Range:
        v = children[0]
        return Range(lo=v, hi=v, is_single=True, span=_span(meta))

    @v_args(meta=True)
    def full_range(self, meta: Meta, children: list[Any]) -> Range:
        return Range(lo=children[0], hi=children[1], span=_span(meta))

    @v_args(meta=True)
    def lo_range(self, meta: Meta, children: list[Any]) -> Range:
        return Range(lo=children[0], hi=None, span=_span(meta))

    @v_args(meta=True)
    def hi_range(self, meta: Meta, children: list[Any]) -> Range:
        return Range(lo=None, hi=children[0], span=_span(meta))

    @v_args(meta=True)
    def open_range(self, meta: Meta, children: list[Any]) -> Range:
        return Range(lo=None, hi=None, span=_span(meta))

    def number(self, children: list[Token]) -> Number:
        t = children[0]
        return Number(text=str(t), span=_tspan(t))

    def bool_value(self, children: list[Token]) -> BoolValue:
        t = children[0]
        return BoolValue(value=str(t).lower() in ("true", "t"), span=_tspan(t))

    def bit_pattern(self, children: list[Token]) -> BitPattern:
        t = children[0]
        return BitPattern(text=str(t), span=_tspan(t))

    def string_value(self, children: list[Token]) -> StringValue:
        t = children[0]
        return StringValue(text=str(t), span=_tspan(t))

    def quoted_string(self, children: list[Token]) -> StringValue:
        t = children[0]
        return StringValue(text=str(t)[1:-1], span=_tspan(t))

    # ------------------------------------------------------------ regions

    @v_args(meta=True)
    def region_or(self, meta: Meta, children: list[Any]) -> RegionOr:
        operands: list[Any] = []
        for c in children:
            if isinstance(c, Token):
                continue
            if isinstance(
                c, RegionOr
            ):  # cannot arise without parentheses; flatten anyway
                operands.extend(c.operands)
            else:
                operands.append(c)
        return RegionOr(operands=tuple(operands), span=_span(meta))

    @v_args(meta=True)
    def region_and(self, meta: Meta, children: list[Any]) -> RegionAnd:
        operands: list[Any] = [children[0]]
        for op, operand in zip(children[1::2], children[2::2]):
            if op == "-":
                operand = self._negate(operand)
            operands.append(operand)
        return RegionAnd(operands=tuple(operands), span=_span(meta))

    def _negate(self, operand: Any) -> Any:
        if SIMPLIFY_DOUBLE_NOT and isinstance(operand, RegionNot):
            return operand.operand
        return RegionNot(operand=operand, span=operand.span)

    @v_args(meta=True)
    def region_not(self, meta: Meta, children: list[Any]) -> Any:
        operand = children[0]
        if SIMPLIFY_DOUBLE_NOT and isinstance(operand, RegionNot):
            return operand.operand
        return RegionNot(operand=operand, span=_span(meta))

    @v_args(meta=True)
    def shape(self, meta: Meta, children: list[Token]) -> Shape | FieldShape:
        span = _span(meta)
        word = children[0]
        info = lookup_shape(str(word))
        if info is None:
            close = get_close_matches(str(word).lower(), _SHAPE_NAMES, n=1)
            hint = f"did you mean '{close[0]}'?" if close else None
            known = ", ".join(_SHAPE_NAMES)
            raise XdmRegionSyntaxError(
                f"unknown region shape '{word}'",
                source=self.source,
                span=_tspan(word),
                expected=_SHAPE_NAMES,
                hint=hint or f"shapes are: {known}, region(file), mask(file)",
            )
        args = children[1:]
        self._check_count(info, args, span)
        if info.name == "field":
            return FieldShape(span=span)
        coords = len(args) if info.name == "polygon" else info.coords
        return Shape(
            name=info.name,
            args=tuple(_coord(t, i < coords) for i, t in enumerate(args)),
            span=span,
        )

    def _check_count(
        self, info: ShapeInfo, args: Sequence[Token], span: Span | None
    ) -> None:
        n = len(args)
        if info.name == "polygon":
            ok = n >= 6 and n % 2 == 0
        elif info.name in ("annulus", "pie") and n > 2 and args[2].type == "TRIPLE":
            ok = n == len(info.args) - 1  # dmextract radius grid: (x,y,0:600:10,...)
        else:
            ok = n in info.counts()
        if ok:
            return
        got = f"got {n} argument{'s' if n != 1 else ''}"
        if info.name == "polygon" and n >= 6:
            got = f"got an odd number of values ({n})"
        raise XdmRegionSyntaxError(
            f"{info.describe()}, {got}",
            source=self.source,
            span=span,
        )

    @v_args(meta=True)
    def region_file(self, meta: Meta, children: list[Any]) -> RegionFileRef:
        return RegionFileRef(file=children[1], span=_span(meta))

    @v_args(meta=True)
    def mask_ref(self, meta: Meta, children: list[Any]) -> MaskRef:
        return MaskRef(file=children[1], span=_span(meta))

    # ------------------------------------------------------------ bin

    @v_args(meta=True)
    def bin_axis(self, meta: Meta, children: list[Any]) -> BinAxis:
        spec = children[1] if len(children) > 1 else None
        return BinAxis(target=children[0], spec=spec, span=_span(meta))

    def column(self, children: list[Token]) -> ColumnName:
        return _target(children[0])  # type: ignore[return-value]

    def axis(self, children: list[Token]) -> AxisNumber:
        return _target(children[0])  # type: ignore[return-value]

    @v_args(meta=True)
    def stack_ref(self, meta: Meta, children: list[Token]) -> StackRef:
        return StackRef(path=str(children[0]), span=_span(meta))

    @v_args(meta=True)
    def bin_range(self, meta: Meta, children: list[Token]) -> BinRange:
        parts: list[list[Token]] = [[]]
        for t in children:
            if t.type == "COLON":
                parts.append([])
            else:
                parts[-1].append(t)
        nums = [(p[0] if p else None) for p in parts]
        span = _span(meta)
        if len(nums) == 1:  # `sky=8`: step only
            return BinRange(step=_num(nums[0]), span=span)
        lo, hi = _num(nums[0]), _num(nums[1])
        step = nbins = None
        if len(nums) == 3 and nums[2] is not None:
            if nums[2].type == "NBINS":
                nbins = int(nums[2][1:])
            else:
                step = _num(nums[2])
        return BinRange(lo=lo, hi=hi, step=step, nbins=nbins, span=span)

    # ------------------------------------------------------------ cols, opt, subspace

    def col_select(self, children: list[Token]) -> ColumnSelect:
        t = children[0]
        return ColumnSelect(name=str(t), span=_tspan(t))

    @v_args(meta=True)
    def col_rename(self, meta: Meta, children: list[Token]) -> ColumnRename:
        return ColumnRename(
            new=str(children[0]), old=str(children[1]), span=_span(meta)
        )

    @v_args(meta=True)
    def col_drop(self, meta: Meta, children: list[Token]) -> ColumnDrop:
        return ColumnDrop(name=str(children[0]), span=_span(meta))

    @v_args(meta=True)
    def col_star(self, meta: Meta, children: list[Token]) -> ColumnStar:
        return ColumnStar(span=_span(meta))

    def col_number(self, children: list[Token]) -> ColumnNumber:
        t = children[0]
        return ColumnNumber(number=int(t[1:]), span=_tspan(t))

    @v_args(meta=True)
    def opt_item(self, meta: Meta, children: list[Token]) -> OptItem:
        value = str(children[1]) if len(children) > 1 else None
        return OptItem(name=str(children[0]), value=value, span=_span(meta))

    @v_args(meta=True)
    def sub_item(self, meta: Meta, children: list[Token]) -> SubspaceItem:
        return SubspaceItem(name=str(children[0]), span=_span(meta))


# ---------------------------------------------------------------- helpers


def _join(a: Span | None, b: Span | None) -> Span | None:
    if a is None or b is None:
        return a or b
    return Span(a.start, b.end)


def _target(t: Any) -> ColumnName | AxisNumber | ColumnPair:
    if not isinstance(t, Token):
        return t  # type: ignore[no-any-return]
    if t.startswith("#"):
        return AxisNumber(number=int(t[1:]), span=_tspan(t))
    return ColumnName(name=str(t), span=_tspan(t))


def _num(t: Token | None) -> Number | None:
    if t is None:
        return None
    return Number(text=str(t), span=_tspan(t))


def _coord(t: Token, is_position: bool) -> Coordinate | RangeArg:
    text = str(t)
    span = _tspan(t)
    if t.type == "TRIPLE":
        if is_position:
            return Coordinate(text=text, unit="sexagesimal", span=span)
        lo, hi, step = text.split(":")
        return RangeArg(
            lo=Number(text=lo), hi=Number(text=hi), step=Number(text=step), span=span
        )
    if text.endswith("''"):
        return Coordinate(text=text[:-2], unit='"', span=span)
    last = text[-1]
    if last in "d'\"":
        return Coordinate(text=text[:-1], unit=last, span=span)  # type: ignore[arg-type]
    return Coordinate(text=text, span=span)
