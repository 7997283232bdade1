"""Expressions as a typed tree: one value for numexpr and numpy alike.

The base stage (stdlib only), so every stage builds the same nodes: the regions
give each shape's interior as a tree (``Region.numexpr_tree``), the engine's
``exprgen`` (filters) and ``binindex`` (bin indices) build the rest; ``render``
prints the numexpr text (``explain`` shows it, numexpr compiles it) and
``engine.npexpr`` evaluates the same tree with numpy passes, so no text is
parsed back. Only generated variable names (``Var``) and numbers (``Const``)
are leaves: user text never becomes a node. ``Group`` is a pair of parentheses
in the printed text (evaluation ignores it); it keeps the text exactly as the
generators have always printed it.

``And``/``Or``/``Not`` are numexpr's ``&``/``|``/``~``: logical on booleans,
bitwise on integers (bit masks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = [
    "FALSE",
    "TRUE",
    "And",
    "Arith",
    "Call",
    "Compare",
    "Const",
    "Expr",
    "Group",
    "Kind",
    "Not",
    "Or",
    "Square",
    "Var",
    "all_of",
    "any_of",
    "compare",
    "conjuncts",
    "const",
    "constants",
    "number",
    "render",
]

Kind = Literal["bool", "int", "long", "double"]
"""numexpr's kind of a constant: ``True``, an int32, an int64 or a double."""

_NODE = {"frozen": True, "slots": True}


class Expr:
    """Base of the nodes; ``str(e)`` is its numexpr text (each node prints itself)."""

    __slots__ = ()


@dataclass(**_NODE)
class Var(Expr):
    """An operand: a column's values or bits, the row number, a test's result."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(**_NODE)
class Const(Expr):
    """A number (or ``True``/``False``) of numexpr kind ``kind``."""

    value: bool | int | float
    kind: Kind

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(**_NODE)
class Group(Expr):
    """``(body)``: parentheses in the text, nothing else."""

    body: Expr

    def __str__(self) -> str:
        return f"({self.body})"


@dataclass(**_NODE)
class Compare(Expr):
    """``left op right``, a boolean."""

    op: Literal["<", "<=", ">", ">=", "==", "!="]
    left: Expr
    right: Expr

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(**_NODE)
class And(Expr):
    """``a & b & ...`` (left to right)."""

    terms: tuple[Expr, ...]

    def __str__(self) -> str:
        return " & ".join(map(str, self.terms))


@dataclass(**_NODE)
class Or(Expr):
    """``a | b | ...`` (left to right)."""

    terms: tuple[Expr, ...]

    def __str__(self) -> str:
        return " | ".join(map(str, self.terms))


@dataclass(**_NODE)
class Not(Expr):
    """``~body``."""

    body: Expr

    def __str__(self) -> str:
        return f"~{self.body}"


@dataclass(**_NODE)
class Arith(Expr):
    """``left op right``; ``tight`` prints it without spaces (``0.6*x``)."""

    op: Literal["+", "-", "*", "/"]
    left: Expr
    right: Expr
    tight: bool = False

    def __str__(self) -> str:
        sep = self.op if self.tight else f" {self.op} "
        return f"{self.left}{sep}{self.right}"


@dataclass(**_NODE)
class Square(Expr):
    """``base**2``, which numexpr computes as ``base*base``."""

    base: Expr

    def __str__(self) -> str:
        return f"{self.base}**2"


@dataclass(**_NODE)
class Call(Expr):
    """One of the numexpr functions the engine uses."""

    name: Literal["where", "minimum", "maximum", "floor", "sqrt", "abs"]
    args: tuple[Expr, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(map(str, self.args))})"


TRUE = Const(True, "bool")
FALSE = Const(False, "bool")


def const(value: bool | int | float) -> Const:
    """A constant with numexpr's kind for a Python value (ints: int32 or int64)."""
    if isinstance(value, float):  # not cached: -0.0 == 0.0 would share an entry
        return Const(value, "double")
    return _const(value)


def number(value: float) -> Const:
    """A filter's number: whole numbers in the int32 range as ints, else a double."""
    return _number(value)


# cached by value and type (1 and True are two constants)
@lru_cache(maxsize=4096, typed=True)
def _const(value: bool | int | float) -> Const:
    if isinstance(value, bool):
        return Const(value, "bool")
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"no numexpr constant for {value}")
        return Const(value, "int" if -(2**31) <= value < 2**31 else "long")
    return Const(float(value), "double")


@lru_cache(maxsize=4096, typed=True)
def _number(value: float) -> Const:
    if float(value).is_integer() and abs(value) < 2**31:
        return const(int(value))
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"no numexpr literal for {value}")
    return const(float(value))


def compare(left: Expr, op: str, right: Expr) -> Group:
    """``(left op right)``, the generator's usual comparison."""
    return Group(Compare(op, left, right))  # type: ignore[arg-type]


def all_of(parts: Sequence[Expr]) -> Expr:
    """The one part, or ``(a & b & ...)``."""
    return parts[0] if len(parts) == 1 else Group(And(tuple(parts)))


def any_of(parts: Sequence[Expr]) -> Expr:
    """The one part, or ``(a | b | ...)``."""
    return parts[0] if len(parts) == 1 else Group(Or(tuple(parts)))


def conjuncts(e: Expr) -> tuple[Expr, ...]:
    """The terms of a top-level ``&`` (``e`` itself if it is not one)."""
    return e.terms if isinstance(e, And) else (e,)


def constants(e: Expr) -> int:
    """How many numbers the text of ``e`` prints (the ``2`` of ``**2`` too);
    numexpr keeps at most 255 constants per program."""
    match e:
        case Const():
            return 0 if e.kind == "bool" else 1
        case Var():
            return 0
        case Square(body):
            return constants(body) + 1
        case Group(body) | Not(body):
            return constants(body)
        case Compare(_, a, b) | Arith(_, a, b, _):
            return constants(a) + constants(b)
        case And(terms) | Or(terms) | Call(_, terms):
            return sum(constants(t) for t in terms)
    raise TypeError(f"not an expression node: {e!r}")


def render(e: Expr) -> str:
    """The numexpr text of ``e`` (numbers as ``repr``, names as they are)."""
    return str(e)
