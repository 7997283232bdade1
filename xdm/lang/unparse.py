"""xdm nodes -> canonical text; the inverse of ``xdm.lang.parser.parse``.

``parse(unparse(node)) == node`` for every tree the parser can produce. The
canonical form drops optional words (``filter``, ``col``), spaces and unit
spellings (``''`` -> ``"``), writes shape names in full lower case and the
region operators as ``+``, ``*`` and ``-``.
"""

from __future__ import annotations

import re
from typing import Any

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

__all__ = ["unparse"]

# a string value that can be written without quotes: it lexes as a string and
# not as a number, boolean or bit pattern
_BARE_STRING = re.compile(r"[A-Za-z_][^\s,\[\]()|&:<>=!\"]*\Z")
# ... and would lex as a boolean, bit pattern or nan/inf instead (same lookaheads
# as BOOL, BITS and NUMBER in grammar/xdm.lark)
_NOT_STRING = re.compile(
    r"(?i:true|false|t|f)(?![\w\-])|[01]*[xX][01xX]*(?![\w\-])|(?i:nan|inf)(?!\w)"
)


def unparse(node: Any) -> str:
    """The canonical text of any node.

    Examples
    --------
    >>> from xdm.lang.parser import parse
    >>> unparse(parse("evt2.fits[ EVENTS ][filter energy = 300 : 2000][bin sky=8]"))
    'evt2.fits[EVENTS][energy=300:2000][bin sky=::8]'
    """
    match node:
        case VirtualFile(path=path, qualifiers=quals, is_stack=is_stack):
            return ("@" if is_stack else "") + path + "".join(map(unparse, quals))
        # qualifiers
        case BlockRef(name=name, number=number):
            return f"[{name if name is not None else number}]"
        case OutputName(name=name):
            return f"[{name}]"
        case FilterQualifier(expr=expr, exclude=exclude):
            return f"[{'exclude ' if exclude else ''}{_filter(expr)}]"
        case BinQualifier(axes=axes, weight=weight, modifier=modifier):
            mod = f"/{modifier}" if modifier else ""
            w = f";{weight}" if weight else ""
            return f"[bin{mod} {','.join(map(unparse, axes))}{w}]"
        case ColsQualifier(items=items):
            return f"[cols {','.join(map(unparse, items))}]"
        case OptQualifier(items=items):
            return f"[opt {','.join(map(unparse, items))}]"
        case SubspaceQualifier(items=items):
            return f"[subspace {','.join(map(unparse, items))}]"
        # filters
        case (
            RangeFilter()
            | ComparisonFilter()
            | RegionFilter()
            | RowFilter()
            | FileFilter()
            | AndFilter()
            | OrFilter()
        ):
            return _filter(node)
        case Range(lo=lo, hi=hi, is_single=is_single):
            if is_single:
                return unparse(lo)
            return f"{'' if lo is None else unparse(lo)}:{'' if hi is None else unparse(hi)}"
        # values and targets
        case Number(text=text):
            return text
        case StringValue(text=text):
            if _BARE_STRING.match(text) and not _NOT_STRING.match(text):
                return text
            return f'"{text}"'
        case BoolValue(value=value):
            return "true" if value else "false"
        case BitPattern(text=text):
            return text
        case ColumnName(name=name):
            return name
        case AxisNumber(number=number):
            return f"#{number}"
        case ColumnPair(first=first, second=second):
            return f"({unparse(first)},{unparse(second)})"
        # regions
        case Shape() | FieldShape() | RegionFileRef() | MaskRef() | RegionNot():
            return _region(node, level=2)
        case RegionAnd() | RegionOr():
            return _region(node, level=0)
        case Coordinate(text=text, unit=unit):
            return text + (unit if unit in ("d", "'", '"') else "")
        case RangeArg(lo=lo, hi=hi, step=step):
            return f"{lo.text}:{hi.text}:{step.text}"
        # bin
        case BinAxis(target=target, spec=spec):
            return unparse(target) + ("" if spec is None else "=" + unparse(spec))
        case BinRange(lo=lo, hi=hi, step=step, nbins=nbins):
            lo_t = "" if lo is None else lo.text
            hi_t = "" if hi is None else hi.text
            if nbins is not None:
                return f"{lo_t}:{hi_t}:#{nbins}"
            if step is not None:
                return f"{lo_t}:{hi_t}:{step.text}"
            return f"{lo_t}:{hi_t}"
        case StackRef(path=path):
            return f"@{path}"
        # cols, opt, subspace
        case ColumnSelect(name=name):
            return name
        case ColumnDrop(name=name):
            return f"-{name}"
        case ColumnRename(new=new, old=old):
            return f"{new}={old}"
        case ColumnNumber(number=number):
            return f"#{number}"
        case ColumnStar():
            return "*"
        case OptItem(name=name, value=value):
            return name if value is None else f"{name}={value}"
        case SubspaceItem(name=name):
            return f"-{name}"
    raise TypeError(f"cannot unparse {type(node).__name__}")


def _filter(node: Any) -> str:
    """Filter text; ``||`` binds loosest, then ``,``; groups get parentheses."""
    match node:
        case OrFilter(terms=terms):
            return "||".join(
                f"({_filter(t)})" if isinstance(t, OrFilter) else _filter(t)
                for t in terms
            )
        case AndFilter(terms=terms):
            return ",".join(
                f"({_filter(t)})"
                if isinstance(t, (AndFilter, OrFilter))
                else _filter(t)
                for t in terms
            )
        case RangeFilter(column=column, ranges=ranges):
            return f"{unparse(column)}={','.join(map(unparse, ranges))}"
        case ComparisonFilter(column=column, op=op, value=value):
            return f"{unparse(column)}{op}{unparse(value)}"
        case RegionFilter(column=column, region=region):
            return f"{unparse(column)}={_region(region, level=0)}"
        case RowFilter(ranges=ranges):
            return f"#row={','.join(map(unparse, ranges))}"
        case FileFilter(file=file):
            return f"@{unparse(file)}"
    raise TypeError(f"cannot unparse {type(node).__name__} as a filter")


def _region(node: Any, *, level: int) -> str:
    """Region text at precedence ``level``: 0 union, 1 intersection, 2 factor.

    The region language has no parentheses, so a union inside an intersection
    (or any compound under ``!``) has no text; that raises ``ValueError``.
    """
    match node:
        case RegionOr(operands=operands):
            if level > 0:
                raise ValueError(
                    "a region union cannot be nested here (no parentheses)"
                )
            return "+".join(_region(o, level=1) for o in operands)
        case RegionAnd(operands=operands):
            if level > 1:
                raise ValueError(
                    "a region intersection cannot be negated (no parentheses)"
                )
            parts = [_region(operands[0], level=2)]
            for o in operands[1:]:
                if isinstance(o, RegionNot):
                    parts.append("-" + _region(o.operand, level=2))
                else:
                    parts.append("*" + _region(o, level=2))
            return "".join(parts)
        case RegionNot(operand=operand):
            return "!" + _region(operand, level=2)
        case Shape(name=name, args=args):
            return f"{name}({','.join(map(unparse, args))})"
        case FieldShape():
            return "field()"
        case RegionFileRef(file=file):
            return f"region({unparse(file)})"
        case MaskRef(file=file):
            return f"mask({unparse(file)})"
    raise TypeError(f"cannot unparse {type(node).__name__} as a region")
