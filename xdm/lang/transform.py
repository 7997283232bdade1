"""Builds xdm nodes (xdm/lang/nodes.py) from what the grammar matched; one method per rule.

The parser's driver calls the ``Transform`` methods as it reduces; ``from_tree``
calls the same methods over a lark Tree (the reference path). Knows the rule
names of grammar/xdm.lark and reads the shape vocabulary (``xdm.lang.shapes``),
nothing about FITS. Besides building nodes it settles what the grammar leaves
open: range items after ',' join the clause before them, a bare name is a block
or an output name by position, shape names are expanded and their arguments
counted. Nodes are made with the fast constructors of ``xdm.lang.fastnodes``.
"""

from __future__ import annotations

from typing import Any

from xdm.errors import Span, XdmRegionSyntaxError, XdmSyntaxError
from xdm.lang import fastnodes
from xdm.lang.fastnodes import KIND, TEXT, Tok, new_span, token_span
from xdm.lang.nodes import (
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
from xdm.lang.shapes import (
    SHAPE_NAMES,
    STACK_GRID,
    ShapeSpec,
    lookup_shape,
    unknown_shape_hint,
)

__all__ = ["SIMPLIFY_DOUBLE_NOT", "Transform", "from_tree"]

# `!!a` is kept as RegionNot(RegionNot(a)) so that printing gives back what was
# written; set to True to fold it to `a` while building the tree.
SIMPLIFY_DOUBLE_NOT = False

# Bound by assignment, not by import: CPython 3.11 compiles a method call on an
# imported name (``F.Number(...)``, ``SPANS.get(...)``) without its fast path.
F = fastnodes.F
SPANS = fastnodes.SPANS

# The constructors the busiest rule methods call, as module globals (found faster
# than class attributes); they are called with the fields in field order.
_BinAxis = F.BinAxis
_ColumnName = F.ColumnName
_Coordinate = F.Coordinate
_FilterQualifier = F.FilterQualifier
_Number = F.Number
_Range = F.Range
_RangeFilter = F.RangeFilter
_RegionFilter = F.RegionFilter
_Shape = F.Shape


def _is_tok(child: Any) -> bool:
    """Is this child a token? (the others are nodes; tokens are the only tuples)"""
    return child.__class__ is tuple


class Transform:
    """Rule methods: ``rule(children, span) -> node``, named after grammar rules.

    Children are already filtered the lark way (anonymous punctuation dropped,
    ``_rules`` spliced, ``?rules`` with one child passed through). ``source`` is
    kept for error messages.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def _error(self, message: str, span: Span | None, hint: str | None = None) -> None:
        raise XdmSyntaxError(message, source=self.source, span=span, hint=hint)

    def _target(self, t: Any) -> ColumnName | AxisNumber | ColumnPair:
        if t.__class__ is not tuple:  # not a token
            return t  # type: ignore[no-any-return]
        if t[TEXT][0] == "#":
            return F.AxisNumber(number=self._count(t, "axis"), span=token_span(t))
        key = t[2:]  # (start, end)
        return _ColumnName(t[TEXT], SPANS.get(key) or new_span(key))

    def _count(self, t: Tok, what: str) -> int:
        """The number of ``#n`` (axis, column or bin count); it must be 1 or more."""
        number = int(t[TEXT][1:])
        if number < 1:
            self._error(f"{what} numbers start at 1, not {t[TEXT]}", token_span(t))
        return number

    # ------------------------------------------------------------ files

    def virtual_file(self, children: list[Any], span: Span) -> VirtualFile:
        is_stack = _is_tok(children[0]) and children[0][KIND] == "STACK"
        if is_stack:
            children = children[1:]
        path = children[0][TEXT]
        quals = self._place(children[1:])
        return F.VirtualFile(path=path, qualifiers=quals, is_stack=is_stack, span=span)

    def file_ref(self, children: list[Any], span: Span) -> VirtualFile:
        return F.VirtualFile(
            path=children[0][TEXT],
            qualifiers=self._place(children[1:]),
            span=span,
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
                out[i] = F.OutputName(name=q.name, span=q.span)
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

    def filter_q(self, children: list[Any], span: Span) -> FilterQualifier:
        return _FilterQualifier(children[-1], False, span)

    def exclude_q(self, children: list[Any], span: Span) -> FilterQualifier:
        return F.FilterQualifier(expr=children[-1], exclude=True, span=span)

    def bare_name_q(self, children: list[Any], span: Span) -> BlockRef:
        return F.BlockRef(name=children[0][TEXT], span=span)

    def bare_ranges_q(self, children: list[Range], span: Span) -> Any:
        if len(children) == 1:
            r = children[0]
            if r.is_single and isinstance(r.lo, Number) and r.lo.text.isdigit():
                if int(r.lo.text) < 1:
                    self._error(
                        f"block numbers start at 1, not {r.lo.text}",
                        span,
                        "CIAO counts the primary HDU as block 1: [1] is the primary, "
                        "[2] the first extension",
                    )
                return F.BlockRef(number=int(r.lo.text), span=span)
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
            F.RangeFilter(
                column=F.AxisNumber(number=i + 1, span=r.span), ranges=(r,), span=r.span
            )
            for i, r in enumerate(children)
        )
        return F.FilterQualifier(expr=F.AndFilter(terms=terms, span=span), span=span)

    def bare_region_q(self, children: list[Any], span: Span) -> FilterQualifier:
        # the sugar's axes have no text of their own: they point at the bracket
        pair = F.ColumnPair(
            first=F.AxisNumber(number=1, span=span),
            second=F.AxisNumber(number=2, span=span),
            span=span,
        )
        expr = F.RegionFilter(column=pair, region=children[0], span=span)
        return F.FilterQualifier(expr=expr, span=span)

    def bin_q(self, children: list[Any], span: Span) -> BinQualifier:
        modifier = None
        weight = None
        axes = []
        for c in children[1:]:
            if isinstance(c, BinAxis):
                axes.append(c)
            elif isinstance(c, str):  # from bin_mod
                modifier = c
            elif c[KIND] == "NAME":
                weight = c[TEXT]
        return F.BinQualifier(
            axes=tuple(axes), weight=weight, modifier=modifier, span=span
        )

    def bin_mod(self, children: list[Tok], span: Span) -> str:
        return children[0][TEXT]

    def cols_q(self, children: list[Any], span: Span) -> ColsQualifier:
        return F.ColsQualifier(items=tuple(children[1:]), span=span)

    def opt_q(self, children: list[Any], span: Span) -> OptQualifier:
        return F.OptQualifier(items=tuple(children[1:]), span=span)

    def subspace_q(self, children: list[Any], span: Span) -> SubspaceQualifier:
        return F.SubspaceQualifier(items=tuple(children[1:]), span=span)

    # ------------------------------------------------------------ filters

    def or_filter(self, children: list[Any], span: Span) -> OrFilter:
        return F.OrFilter(terms=tuple(children), span=span)

    def and_expr(self, children: list[Any], span: Span) -> Any:
        if len(children) == 1:  # one clause (the first child is never a Range)
            return children[0]
        terms: list[Any] = []
        extra: list[Range] = []  # ranges after ',' that join terms[-1]
        for c in children:
            if c.__class__ is Range:
                extra.append(c)
                continue
            if extra:
                terms[-1] = self._join_ranges(terms[-1], extra)
                extra = []
            terms.append(c)
        if extra:
            terms[-1] = self._join_ranges(terms[-1], extra)
        if len(terms) == 1:
            return terms[0]
        return F.AndFilter(terms=tuple(terms), span=span)

    def _join_ranges(self, prev: Any, extra: list[Range]) -> Any:
        """``prev`` (a range clause) with the range items written after it."""
        span = prev.span
        for r in extra:
            span = _join(span, r.span)
        if isinstance(prev, RangeFilter):
            return _RangeFilter(prev.column, (*prev.ranges, *extra), span)
        if isinstance(prev, RowFilter):
            return F.RowFilter(ranges=(*prev.ranges, *extra), span=span)
        return self._error(
            "a value after ',' must follow a range clause",
            extra[0].span,
            "start a new clause with a column name, e.g. ',pi=1:100'",
        )

    def group(self, children: list[Any], span: Span) -> Any:
        return children[0]

    def range_filter(self, children: list[Any], span: Span) -> RangeFilter:
        return _RangeFilter(self._target(children[0]), (children[1],), span)

    def region_filter(self, children: list[Any], span: Span) -> RegionFilter:
        return _RegionFilter(self._target(children[0]), children[1], span)

    def comparison_filter(self, children: list[Any], span: Span) -> ComparisonFilter:
        return F.ComparisonFilter(
            column=self._target(children[0]),
            op=children[1][TEXT],
            value=children[2],
            span=span,
        )

    def row_filter(self, children: list[Any], span: Span) -> RowFilter:
        return F.RowFilter(ranges=(children[1],), span=span)

    def file_filter(self, children: list[Any], span: Span) -> FileFilter:
        return F.FileFilter(file=children[0], span=span)

    def pair(self, children: list[Tok], span: Span) -> ColumnPair:
        first, second = (self._target(c) for c in children)
        return F.ColumnPair(first=first, second=second, span=span)  # type: ignore[arg-type]

    # ------------------------------------------------------------ values, ranges

    def single_range(self, children: list[Any], span: Span) -> Range:
        v = children[0]
        return _Range(v, v, True, span)

    def full_range(self, children: list[Any], span: Span) -> Range:
        return _Range(children[0], children[1], False, span)

    def lo_range(self, children: list[Any], span: Span) -> Range:
        return _Range(children[0], None, False, span)

    def hi_range(self, children: list[Any], span: Span) -> Range:
        return _Range(None, children[0], False, span)

    def open_range(self, children: list[Any], span: Span) -> Range:
        return _Range(None, None, False, span)

    def number(self, children: list[Tok], span: Span) -> Number:
        return _Number(children[0][TEXT], span)

    def bool_value(self, children: list[Tok], span: Span) -> BoolValue:
        t = children[0]
        return F.BoolValue(value=t[TEXT].lower() in ("true", "t"), span=span)

    def bit_pattern(self, children: list[Tok], span: Span) -> BitPattern:
        t = children[0]
        return F.BitPattern(text=t[TEXT], span=span)

    def string_value(self, children: list[Tok], span: Span) -> StringValue:
        t = children[0]
        return F.StringValue(text=t[TEXT], span=span)

    def quoted_string(self, children: list[Tok], span: Span) -> StringValue:
        t = children[0]
        return F.StringValue(text=t[TEXT][1:-1], span=span)

    # ------------------------------------------------------------ regions

    def region_or(self, children: list[Any], span: Span) -> RegionOr:
        operands: list[Any] = []
        for c in children:
            if _is_tok(c):
                continue
            if isinstance(
                c, RegionOr
            ):  # cannot arise without parentheses; flatten anyway
                operands.extend(c.operands)
            else:
                operands.append(c)
        return F.RegionOr(operands=tuple(operands), span=span)

    def region_and(self, children: list[Any], span: Span) -> RegionAnd:
        operands: list[Any] = [children[0]]
        for op, operand in zip(children[1::2], children[2::2]):
            if op[TEXT] == "-":
                operand = self._negate(operand)
            operands.append(operand)
        return F.RegionAnd(operands=tuple(operands), span=span)

    def _negate(self, operand: Any) -> Any:
        if SIMPLIFY_DOUBLE_NOT and isinstance(operand, RegionNot):
            return operand.operand
        return F.RegionNot(operand=operand, span=operand.span)

    def region_not(self, children: list[Any], span: Span) -> Any:
        operand = children[0]
        if SIMPLIFY_DOUBLE_NOT and isinstance(operand, RegionNot):
            return operand.operand
        return F.RegionNot(operand=operand, span=span)

    def shape(self, children: list[Tok], span: Span) -> Shape | FieldShape:
        word = children[0]
        if (
            word[TEXT].lower() == STACK_GRID
            and len(children) == 2
            and children[1][KIND] == "TRIPLE"
        ):  # [component=igrid(1:15:1)]: a stack grid, expanded by the tool layer
            return _Shape(STACK_GRID, (_coord(children[1], False),), span)
        info = lookup_shape(word[TEXT])
        if info is None:
            raise XdmRegionSyntaxError(
                f"unknown region shape '{word[TEXT]}'",
                source=self.source,
                span=token_span(word),
                expected=SHAPE_NAMES,
                hint=unknown_shape_hint(word[TEXT]),
            )
        args = children[1:]
        self._check_count(info, args, span)
        if not info.args:  # field(): the whole plane
            return F.FieldShape(span=span)
        coords = len(args) if info.vertices else info.positions
        return _Shape(
            info.name, tuple([_coord(t, i < coords) for i, t in enumerate(args)]), span
        )

    def _check_count(self, info: ShapeSpec, args: list[Tok], span: Span) -> None:
        n = len(args)
        # dmextract's radius grid: (x,y,0:600:10,...) stands for both radii
        grid = n > 2 and args[2][KIND] == "TRIPLE"
        if n in info.counts and not grid:  # the usual case, checked first
            return
        if not info.accepts(n, grid=grid):
            message = info.wrong_count(n)
            raise XdmRegionSyntaxError(message, source=self.source, span=span)

    def region_file(self, children: list[Any], span: Span) -> RegionFileRef:
        return F.RegionFileRef(file=children[1], span=span)

    def mask_ref(self, children: list[Any], span: Span) -> MaskRef:
        return F.MaskRef(file=children[1], span=span)

    # ------------------------------------------------------------ bin

    def bin_axis(self, children: list[Any], span: Span) -> BinAxis:
        spec = children[1] if len(children) > 1 else None
        return _BinAxis(children[0], spec, span)

    def column(self, children: list[Tok], span: Span) -> ColumnName:
        return self._target(children[0])  # type: ignore[return-value]

    def axis(self, children: list[Tok], span: Span) -> AxisNumber:
        return self._target(children[0])  # type: ignore[return-value]

    def stack_ref(self, children: list[Tok], span: Span) -> StackRef:
        return F.StackRef(path=children[0][TEXT], span=span)

    def bin_range(self, children: list[Tok], span: Span) -> BinRange:
        nums: list[Tok | None] = [None]  # the number (if any) before, between
        for t in children:  # and after the colons
            if t[KIND] == "COLON":
                nums.append(None)
            else:
                nums[-1] = t
        if len(nums) == 1:  # `sky=8`: step only
            return F.BinRange(step=self._step(nums[0]), span=span)
        lo, hi = _num(nums[0]), _num(nums[1])
        step = nbins = None
        if len(nums) == 3 and nums[2] is not None:
            if nums[2][KIND] == "NBINS":
                nbins = int(nums[2][TEXT][1:])
                if nbins < 1:
                    self._error(
                        "the number of bins must be 1 or more", token_span(nums[2])
                    )
            else:
                step = self._step(nums[2])
        return F.BinRange(lo=lo, hi=hi, step=step, nbins=nbins, span=span)

    def _step(self, t: Tok | None) -> Number | None:
        step = _num(t)
        if step is not None and not step.value > 0:  # also catches NaN
            self._error(
                f"a bin step must be positive, not {step.text}",
                token_span(t),  # type: ignore[arg-type]
                "write lo:hi:step with step > 0, or lo:hi:#n for n bins",
            )
        return step

    # ------------------------------------------------------------ cols, opt, subspace

    def col_select(self, children: list[Tok], span: Span) -> ColumnSelect:
        t = children[0]
        return F.ColumnSelect(name=t[TEXT], span=span)

    def col_rename(self, children: list[Tok], span: Span) -> ColumnRename:
        return F.ColumnRename(new=children[0][TEXT], old=children[1][TEXT], span=span)

    def col_drop(self, children: list[Tok], span: Span) -> ColumnDrop:
        return F.ColumnDrop(name=children[0][TEXT], span=span)

    def col_star(self, children: list[Tok], span: Span) -> ColumnStar:
        return F.ColumnStar(span=span)

    def col_number(self, children: list[Tok], span: Span) -> ColumnNumber:
        t = children[0]
        return F.ColumnNumber(number=self._count(t, "column"), span=span)

    def opt_item(self, children: list[Tok], span: Span) -> OptItem:
        value = children[1][TEXT] if len(children) > 1 else None
        return F.OptItem(name=children[0][TEXT], value=value, span=span)

    def sub_item(self, children: list[Tok], span: Span) -> SubspaceItem:
        return F.SubspaceItem(name=children[0][TEXT], span=span)


# ---------------------------------------------------------------- helpers


def _join(a: Span | None, b: Span | None) -> Span | None:
    if a is None or b is None:
        return a or b
    key = (a.start, b.end)
    return SPANS.get(key) or new_span(key)


def _num(t: Tok | None) -> Number | None:
    if t is None:
        return None
    key = t[2:]  # (start, end)
    return _Number(t[TEXT], SPANS.get(key) or new_span(key))


def _coord(t: Tok, is_position: bool) -> Coordinate | RangeArg:
    kind, text = t[KIND], t[TEXT]
    key = t[2:]  # (start, end)
    span = SPANS.get(key) or new_span(key)
    if text[-1] not in "d'\"" and kind != "TRIPLE":  # a plain number
        return _Coordinate(text, None, span)
    if kind == "TRIPLE":
        if is_position:
            return F.Coordinate(text=text, unit="sexagesimal", span=span)
        lo, hi, step = text.split(":")
        return F.RangeArg(
            lo=F.Number(text=lo),
            hi=F.Number(text=hi),
            step=F.Number(text=step),
            span=span,
        )
    if text.endswith("''"):
        return F.Coordinate(text=text[:-2], unit='"', span=span)
    last = text[-1]
    if last in "d'\"":
        return F.Coordinate(text=text[:-1], unit=last, span=span)  # type: ignore[arg-type]
    return F.Coordinate(text=text, span=span)


def from_tree(tree: Any, source: str) -> Any:
    """Build nodes from a lark Tree made with ``propagate_positions=True``.

    The slow, obviously-correct path: the fast LALR driver in ``xdm.lang.parser`` is
    tested against it.
    """
    from lark import Token, Tree

    rules = Transform(source)

    def build(node: Any) -> Any:
        if isinstance(node, Token):
            return (node.type, str(node), node.start_pos or 0, node.end_pos or 0)
        if not isinstance(node, Tree):
            return node
        children = [build(c) for c in node.children]
        span = Span(node.meta.start_pos, node.meta.end_pos)
        return getattr(rules, str(node.data))(children, span)

    return build(tree)
