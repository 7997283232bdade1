"""dmgti's ``userlimit``: CIAO's spellings as xdm filter brackets.

xdm's filter grammar (``xdm.lang``) reads the limits; this module only
rewrites what CIAO writes and the grammar has no word for, each to text of the
same length, so a caret from the grammar or the planner still points at the
user's own characters:

* FORTRAN operators: ``.gt. .lt. .ge. .le. .eq. .ne. .and. .or. .not.``;
* a number before the column: ``0.9<count_rate`` is ``count_rate>0.9``;
* ``!(a)`` as a whole condition ANDed with the others: an ``[exclude a]``
  bracket (``~a``, which a NaN row passes, as numpy's ``~`` does);
* a comparison of two columns (``count_rate>bg_rate``) ANDed with the others:
  a ``ColumnTest`` that dmgti applies to each chunk with numpy's comparison.

Anything else the grammar refuses (arithmetic, ``!`` inside ``||``) is an
``XdmSyntaxError`` with a caret. No text is ever evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xdm.engine.npexpr import COMPARE
from xdm.errors import Span, XdmError, XdmSyntaxError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["ColumnTest", "Limit", "Piece", "read_limit", "relocate", "virtual_file"]

_FORTRAN = re.compile(r"\.(gt|lt|ge|le|eq|ne|and|or|not)\.", re.IGNORECASE)
_FORTRAN_OPS = {
    "gt": ">",
    "lt": "<",
    "ge": ">=",
    "le": "<=",
    "eq": "==",
    "ne": "!=",
    "and": "&&",
    "or": "||",
    "not": "!",
}
_REVERSED = re.compile(
    r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"(\s*)(<=|>=|==|!=|<|>)(\s*)([A-Za-z_][A-Za-z0-9_]*)"
)
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}
_NEGATE = re.compile(r"!\s*\(")
_ARITH = re.compile(
    r"(?<![A-Za-z0-9_.])[A-Za-z_][A-Za-z0-9_]*\s*([-+*/])\s*[A-Za-z0-9_.(]"
)
"""A column in a sum or product (``count_rate*2``), which the grammar refuses."""


@dataclass(frozen=True)
class ColumnTest:
    """``left op right`` over two columns (``~`` of it when ``exclude``)."""

    left: str
    op: str
    right: str
    exclude: bool = False

    def mask(self, left: NDArray[Any], right: NDArray[Any]) -> NDArray[np.bool_]:
        """The rows passing the test, by numpy's comparison of the two columns."""
        with np.errstate(invalid="ignore"):
            keep: NDArray[np.bool_] = COMPARE[self.op](left, right)
        return ~keep if self.exclude else keep


@dataclass(frozen=True)
class Piece:
    """One bracket: xdm filter text standing for ``source[start:start+len]``."""

    start: int
    text: str
    exclude: bool


@dataclass(frozen=True)
class Limit:
    """One userlimit: the brackets that filter the rows, the column tests."""

    source: str
    pieces: tuple[Piece, ...]
    tests: tuple[ColumnTest, ...]


def read_limit(text: str, columns: Collection[str]) -> Limit:
    """``text`` (CIAO's userlimit) as brackets and column tests.

    ``columns``: the table's column names (lower case), which tell a
    comparison of two columns from one with a string.
    """
    plain = _rewrite(text)
    pieces: list[Piece] = []
    tests: list[ColumnTest] = []
    parts = _conjuncts(plain)
    if any("||" in plain[start:end] for start, end in _top_level(plain, parts)):
        parts = [(0, len(plain))]  # a || b && c is a || (b && c): one condition
    for start, end in parts:
        piece = _piece(plain, start, end)
        node = _parse(piece.text, text, piece.start)
        test = _column_test(node, columns, piece)
        if test is not None:
            tests.append(test)
        else:
            _refuse_nested(node, columns, text, piece.start)
            pieces.append(piece)
    if not tests and not any(p.exclude for p in pieces):
        pieces = [Piece(0, plain, False)]  # one bracket, as the user wrote it
    return Limit(text, tuple(pieces), tuple(tests))


def virtual_file(
    infile: str, limits: Sequence[Limit]
) -> tuple[str, list[tuple[int, int, Limit, int]]]:
    """``infile`` with every limit's brackets, and where each bracket's text
    sits: ``(start, end, limit, start in the limit's own text)``."""
    text = infile
    places = []
    for limit in limits:
        for piece in limit.pieces:
            text += "[exclude " if piece.exclude else "["
            places.append((len(text), len(text) + len(piece.text), limit, piece.start))
            text += piece.text + "]"
    return text, places


def relocate(
    exc: XdmError, vf_text: str, places: list[tuple[int, int, Limit, int]]
) -> None:
    """Point ``exc``'s caret at the user's own limit text (if it is in one)."""
    if exc.source != vf_text or exc.span is None:
        return
    for start, end, limit, offset in places:
        if start <= exc.span.start <= end:
            shift = offset - start
            exc.source = limit.source
            exc.span = Span(exc.span.start + shift, min(exc.span.end, end) + shift)
            return


def _outside_quotes(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of the parts of ``text`` outside double quotes."""
    start = 0
    while True:
        quote = text.find('"', start)
        if quote < 0:
            yield start, len(text)
            return
        yield start, quote
        close = text.find('"', quote + 1)
        if close < 0:
            return
        start = close + 1


def _rewrite(text: str) -> str:
    """FORTRAN operators and number-first comparisons, same length."""
    chars = list(text)
    for start, end in _outside_quotes(text):
        for m in _FORTRAN.finditer(text, start, end):
            op = _FORTRAN_OPS[m[1].lower()]
            chars[m.start() : m.end()] = list(op.ljust(len(m[0])))
    once = "".join(chars)
    for start, end in _outside_quotes(once):
        for m in _REVERSED.finditer(once, start, end):
            before = once[: m.start()].rstrip()
            after = once[m.end() :].lstrip()
            if before[-1:] not in ("", "(", "&", "|", ",", "!"):
                continue  # the number is the value of a clause before it
            if after[:1] in ("<", ">", "=", "!", "(", "."):
                continue  # 0.9<rate<1.1 or a shape: the grammar says what is wrong
            number, gap1, op, gap2, name = m.groups()
            chars[m.start() : m.end()] = list(name + gap2 + _FLIP[op] + gap1 + number)
    return "".join(chars)


def _conjuncts(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the top-level ``&&``-joined parts of ``text``."""
    parts = []
    depth, start, i, quoted = 0, 0, 0, False
    while i < len(text):
        c = text[i]
        if c == '"':
            quoted = not quoted
        elif not quoted and c in "([":
            depth += 1
        elif not quoted and c in ")]":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith("&&", i):
            parts.append((start, i))
            start = i + 2
            i += 1
        i += 1
    parts.append((start, len(text)))
    return parts


def _top_level(text: str, parts: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The stretches of the parts outside parentheses, brackets and quotes."""
    for start, end in parts:
        depth, quoted, run = 0, False, start
        for i in range(start, end):
            c = text[i]
            if c == '"':
                quoted = not quoted
            elif not quoted and c in "([":
                if depth == 0:
                    yield run, i
                depth += 1
            elif not quoted and c in ")]":
                depth -= 1
                run = i + 1
        if depth == 0:
            yield run, end


def _piece(text: str, start: int, end: int) -> Piece:
    """A conjunct; ``!( ... )`` spanning all of it is an excluded bracket."""
    lead = len(text[start:end]) - len(text[start:end].lstrip())
    body = text[start + lead : end].rstrip()
    m = _NEGATE.match(body)
    if m is not None and body.endswith(")") and _closes_at_end(body, m.end() - 1):
        inner = start + lead + m.end()
        return Piece(inner, text[inner : start + lead + len(body) - 1], True)
    return Piece(start, text[start:end], False)


def _closes_at_end(body: str, open_at: int) -> bool:
    depth = 0
    for i in range(open_at, len(body)):
        depth += {"(": 1, ")": -1}.get(body[i], 0)
        if depth == 0:
            return i == len(body) - 1
    return False


def _parse(piece: str, source: str, offset: int) -> Any:
    """``piece`` through the filter grammar; errors point into ``source``."""
    from xdm.lang.parser import parse_filter

    bang = next(
        (m for s, e in _outside_quotes(piece) for m in _NEGATE.finditer(piece, s, e)),
        None,
    )
    if bang is not None:
        raise XdmSyntaxError(
            "!( ... ) negates a whole condition ANDed with the others, not a part",
            source=source,
            span=Span(offset + bang.start(), offset + bang.start() + 1),
            hint="write (a)&&!(b), or the opposite comparison (!(rate>2): rate<=2)",
        )
    try:
        return parse_filter(piece)
    except XdmSyntaxError as exc:
        arith = _ARITH.search(piece)
        if arith is not None:
            exc.message = "arithmetic on columns is not in the filter language"
            exc.hint = "compare the column itself: count_rate*2>3 is count_rate>1.5"
            exc.expected = ()
            exc.span = Span(arith.start(1), arith.end(1))
        exc.source = source
        if exc.span is not None:
            exc.span = Span(exc.span.start + offset, exc.span.end + offset)
        raise


def _column_test(
    node: Any, columns: Collection[str], piece: Piece
) -> ColumnTest | None:
    from xdm.lang import nodes as n

    if not isinstance(node, n.ComparisonFilter):
        return None
    column, value = node.column, node.value
    if (
        isinstance(column, n.ColumnName)
        and isinstance(value, n.StringValue)
        and column.name.lower() in columns
        and _names_column(node, piece.text, columns)
    ):
        return ColumnTest(
            column.name.lower(), node.op, value.text.lower(), piece.exclude
        )
    return None


def _names_column(node: Any, text: str, columns: Collection[str]) -> bool:
    from xdm.lang import nodes as n

    value = node.value
    if not isinstance(value, n.StringValue) or value.text.lower() not in columns:
        return False
    span = getattr(value, "span", None)
    return span is None or text[span.start : span.start + 1] != '"'


def _refuse_nested(
    node: Any, columns: Collection[str], source: str, offset: int
) -> None:
    """A comparison of two columns inside ``||`` or ``,``: a clean error."""
    from xdm.lang import nodes as n

    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, n.AndFilter | n.OrFilter):
            stack.extend(item.terms)
        elif isinstance(item, n.ComparisonFilter) and _names_column(
            item, source[offset:], columns
        ):
            span = getattr(item, "span", None)
            raise XdmSyntaxError(
                "a comparison of two columns works as a whole condition ANDed "
                "with the others, not inside || or a list",
                source=source,
                span=Span(offset + span.start, offset + span.end) if span else None,
                hint="write it on its own: (count_rate>bg_rate)&&(...)",
            )
