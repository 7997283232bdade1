"""dmimgcalc's image expressions: a small parser of our own and a numpy tree walk.

Grammar (precedence low to high; ``**`` and ``^`` are right-associative)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := ('-' | '+') unary | power
    power   := atom (('**' | '^') unary)?
    atom    := NUMBER | IMG | FUNC '(' expr (',' expr)* ')' | '(' expr ')'

``IMG`` is ``img1`` .. ``imgN`` (1-based); functions are listed in
``FUNCTIONS``. The text is never evaluated by Python or numexpr: it becomes
a tree of tuples that ``evaluate`` walks with numpy ufuncs.

>>> tree = parse_expression("(img1-img2*0.5)")
>>> import numpy as np
>>> evaluate(tree, [np.array([4.0]), np.array([2.0])]).tolist()
[3.0]
>>> images_used(parse_expression("sqrt(img3)+2**-1"))
[3]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from xdm.errors import Span, XdmSemanticError, XdmSyntaxError

__all__ = ["FUNCTIONS", "Node", "evaluate", "images_used", "parse_expression"]

Node: TypeAlias = tuple[Any, ...]
"""``("num", value)``, ``("img", n)``, ``("neg", x)``, ``("bin", op, a, b)``,
``("call", name, args)``."""

FUNCTIONS: dict[str, tuple[Callable[..., Any], int]] = {
    "sqrt": (np.sqrt, 1),
    "exp": (np.exp, 1),
    "log": (np.log, 1),
    "ln": (np.log, 1),
    "log10": (np.log10, 1),
    "abs": (np.abs, 1),
    "sin": (np.sin, 1),
    "cos": (np.cos, 1),
    "tan": (np.tan, 1),
    "min": (np.minimum, 2),
    "max": (np.maximum, 2),
}
"""Function name -> (numpy ufunc, number of arguments)."""

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),]))"
)
_IMG = re.compile(r"img(\d+)$", re.IGNORECASE)
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.true_divide,
    "**": np.power,
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                start = len(text) - len(text[pos:].lstrip())
                raise self._error(
                    f"unexpected character {text[start]!r}", start, start + 1
                )
            kind = m.lastgroup or ""
            start = m.start(kind)
            self.tokens.append((kind, m.group(kind), start))
            pos = m.end()
        self.i = 0

    def _error(self, message: str, start: int, end: int) -> XdmSyntaxError:
        return XdmSyntaxError(
            f"operation: {message}",
            source=self.text,
            span=Span(start, max(end, start + 1)),
            hint="an expression of img1..imgN, numbers, + - * / ** and "
            + ", ".join(FUNCTIONS),
        )

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            end = len(self.text)
            raise self._error(
                "the expression ends early"
                + (f": expected {value!r}" if value else ""),
                end,
                end,
            )
        if value is not None and tok[1] != value:
            raise self._error(
                f"expected {value!r}, not {tok[1]!r}", tok[2], tok[2] + len(tok[1])
            )
        self.i += 1
        return tok

    def parse(self) -> Node:
        if not self.tokens:
            raise self._error("empty expression", 0, 0)
        node = self.expr()
        tok = self.peek()
        if tok is not None:
            raise self._error(f"unexpected {tok[1]!r}", tok[2], tok[2] + len(tok[1]))
        return node

    def expr(self) -> Node:
        node = self.term()
        while (
            (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in ("+", "-")
        ):
            self.take()
            node = ("bin", tok[1], node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while (tok := self.peek()) is not None and tok[1] in ("*", "/"):
            self.take()
            node = ("bin", tok[1], node, self.unary())
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok[1] in ("-", "+"):
            self.take()
            inner = self.unary()
            return ("neg", inner) if tok[1] == "-" else inner
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        tok = self.peek()
        if tok is not None and tok[1] in ("**", "^"):
            self.take()
            return ("bin", "**", base, self.unary())
        return base

    def atom(self) -> Node:
        tok = self.take()
        kind, value, start = tok
        if kind == "num":
            return ("num", float(value))
        if kind == "name":
            m = _IMG.match(value)
            if m:
                n = int(m.group(1))
                if n < 1:
                    raise self._error(
                        "images are numbered from img1", start, start + len(value)
                    )
                return ("img", n)
            name = value.lower()
            if name not in FUNCTIONS:
                raise self._error(f"unknown name {value!r}", start, start + len(value))
            self.take("(")
            args = [self.expr()]
            while (t := self.peek()) is not None and t[1] == ",":
                self.take()
                args.append(self.expr())
            self.take(")")
            arity = FUNCTIONS[name][1]
            if len(args) != arity:
                raise self._error(
                    f"{name}() takes {arity} argument{'s' if arity > 1 else ''}, "
                    f"not {len(args)}",
                    start,
                    start + len(value),
                )
            return ("call", name, tuple(args))
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        raise self._error(f"unexpected {value!r}", start, start + len(value))


def parse_expression(text: str) -> Node:
    """Expression text -> tree (raises XdmSyntaxError with a caret)."""
    return _Parser(text).parse()


def images_used(node: Node) -> list[int]:
    """The image numbers an expression refers to, sorted."""
    found: set[int] = set()

    def walk(n: Node) -> None:
        kind = n[0]
        if kind == "img":
            found.add(int(n[1]))
        elif kind == "neg":
            walk(n[1])
        elif kind == "bin":
            walk(n[2])
            walk(n[3])
        elif kind == "call":
            for a in n[2]:
                walk(a)

    walk(node)
    return sorted(found)


def evaluate(node: Node, images: Sequence[NDArray[Any]]) -> NDArray[np.float64]:
    """Walk the tree with numpy (float64); IEEE results for 1/0 and log(0)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.asarray(_eval(node, images), dtype=np.float64)


def _eval(node: Node, images: Sequence[NDArray[Any]]) -> Any:
    kind = node[0]
    if kind == "num":
        return np.float64(node[1])
    if kind == "img":
        return np.asarray(images[int(node[1]) - 1], dtype=np.float64)
    if kind == "neg":
        return np.negative(_eval(node[1], images))
    if kind == "bin":
        return _BINARY[node[1]](_eval(node[2], images), _eval(node[3], images))
    if kind == "call":
        func = FUNCTIONS[node[1]][0]
        return func(*(_eval(a, images) for a in node[2]))
    raise XdmSemanticError(f"operation: unknown node {kind!r}")
