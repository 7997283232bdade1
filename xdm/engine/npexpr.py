"""numpy evaluation of the engine's expression trees, with numexpr's types.

numexpr runs each opcode over 4096-element blocks one element at a time; its
boolean ``&``/``|`` and ``where`` are branches (2-3 ns a row on random data) and
its ``sqrt``/``minimum``/``floor`` are function calls. A filter such as
``[ccd_id=0:3,energy=500:7000,status=0,grade=0,2,3,4,6][sky=circle(...)]`` is
mostly such operations. numpy does the same operations as SIMD passes over
contiguous native arrays at 0.05-0.3 ns a row, so this module evaluates the
tree (``xdm.expr``, the same tree whose text numexpr compiles) on
cache-sized sub-chunks: each operand is converted once per sub-chunk
(big-endian, strided view -> native contiguous), then every node is one numpy
call.

It gives numexpr's results bit for bit because it applies numexpr's rules:
operand kinds bool < int (int32) < long (int64) < float (float32) < double
(float64), with 8/16-bit integers read as int and Python floats as double
constants; both sides of an operation cast to the larger kind; ``a**2`` is
``a*a``; comparisons, ``& | ~``, ``where``, ``sqrt``, ``abs``, ``floor``,
``minimum``/``maximum`` (NaN propagating, as numexpr's). What it cannot
promise to match (division by a constant, which numexpr turns into a product,
integer division, operands without a numexpr kind, such as strings) makes
``compile`` return None and the caller uses numexpr.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from xdm import expr as e

__all__ = ["COMPARE", "Program", "compile"]

_KINDS = ("bool", "int", "long", "float", "double")
_DTYPES = {
    "bool": np.dtype(bool),
    "int": np.dtype(np.int32),
    "long": np.dtype(np.int64),
    "float": np.dtype(np.float32),
    "double": np.dtype(np.float64),
}


def _kind_of(dtype: np.dtype[Any]) -> str | None:
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "iu":
        if (dtype.kind == "u" and dtype.itemsize >= 4) or dtype.itemsize > 4:
            return "long"
        return "int"
    if dtype.kind == "f":
        return (
            "float"
            if dtype.itemsize == 4
            else "double"
            if dtype.itemsize == 8
            else None
        )
    return None


def _wider(*kinds: str) -> str:
    return max(kinds, key=_KINDS.index)


Env = dict[str, np.ndarray]
Node = Callable[[Env], Any]

COMPARE: dict[str, np.ufunc] = {  # numexpr comparison -> numpy ufunc (also dmgti's)
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_ARITH: dict[str, np.ufunc] = {"+": np.add, "-": np.subtract, "*": np.multiply}


class _Unsupported(Exception):
    pass


class Program:
    """A compiled expression: ``names`` it reads and ``run(env)`` on native arrays."""

    def __init__(self, root: Node, kind: str, names: frozenset[str]) -> None:
        self._root = root
        self.kind = kind
        self.names = names

    @property
    def dtype(self) -> np.dtype[Any]:
        """The result's type (numexpr's for the same expression)."""
        return _DTYPES[self.kind]

    def run(self, env: Env) -> Any:
        """Evaluate over ``env``, whose arrays are native, contiguous and of the
        kinds ``convert`` gives (scalars broadcast)."""
        return self._root(env)

    @staticmethod
    def convert(values: np.ndarray) -> np.ndarray:
        """An operand as numexpr reads it: native byte order, its kind's type."""
        kind = _kind_of(values.dtype)
        if kind is None:
            raise TypeError(f"no numexpr kind for {values.dtype}")
        return np.asarray(values, dtype=_DTYPES[kind])


@lru_cache(maxsize=256)
def compile(tree: e.Expr, kinds: tuple[tuple[str, str], ...]) -> Program | None:
    """The numpy program for ``tree`` with operands of these ``(name, kind)``s, or None."""
    builder = _Builder(dict(kinds))
    try:
        node, kind = builder.build(tree)
    except (_Unsupported, RecursionError):
        return None
    return Program(node, kind, frozenset(builder.used))


def kinds_of(operands: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """``(name, kind)`` of each operand with a numexpr kind; the others (strings)
    are left out, so a tree that reads one is refused by ``compile``."""
    out = []
    for name, value in operands.items():
        dtype = np.asarray(value).dtype if not hasattr(value, "dtype") else value.dtype
        kind = _kind_of(dtype)
        if kind is not None:
            out.append((name, kind))
    return tuple(sorted(out))


def _cast(node: Node, have: str, want: str) -> Node:
    if have == want:
        return node
    dtype = _DTYPES[want]
    return lambda env: np.asarray(node(env), dtype=dtype)


def _binary(ufunc: np.ufunc, a: Node, b: Node) -> Node:
    return lambda env: ufunc(a(env), b(env))


def _constant(value: bool | int | float, kind: str) -> tuple[Node, str]:
    c: Any = _DTYPES[kind].type(value)
    return (lambda env: c), kind


class _Builder:
    """Closures over numpy calls, one per node, with numexpr's kind of each."""

    def __init__(self, kinds: dict[str, str]) -> None:
        self.kinds = kinds
        self.used: set[str] = set()

    def build(self, node: e.Expr) -> tuple[Node, str]:
        match node:
            case e.Var(name):
                if name not in self.kinds:
                    raise _Unsupported(name)
                self.used.add(name)
                return (lambda env: env[name]), self.kinds[name]
            case e.Const(value, const_kind):
                return _constant(value, const_kind)
            case e.Group(body):
                return self.build(body)
            case e.Not(body):
                return self.invert(body)
            case e.And(terms) | e.Or(terms):
                return self.bits(
                    np.bitwise_and if isinstance(node, e.And) else np.bitwise_or, terms
                )
            case e.Compare(op, left, right):
                (a, b), _ = self.common(left, right)
                return _binary(COMPARE[op], a, b), "bool"
            case e.Arith(op, left, right, _):
                return self.arith(op, left, right)
            case e.Square(base):
                a, kind = self.build(base)
                if kind == "bool":
                    raise _Unsupported("square of bool")
                return (lambda env: (lambda v: np.multiply(v, v))(a(env))), kind
            case e.Call(name, args):
                return self.call(name, args)
        raise _Unsupported(type(node).__name__)

    def common(self, *nodes: e.Expr) -> tuple[tuple[Node, ...], str]:
        """The nodes cast to their widest kind, and that kind."""
        built = [self.build(n) for n in nodes]
        kind = _wider(*(k for _, k in built))
        return tuple(_cast(f, k, kind) for f, k in built), kind

    def invert(self, body: e.Expr) -> tuple[Node, str]:
        node, kind = self.build(body)
        if kind == "bool":
            return (lambda env: np.logical_not(node(env))), kind
        if kind in ("int", "long"):
            return (lambda env: np.invert(node(env))), kind
        raise _Unsupported("~ of a float")

    def bits(self, ufunc: np.ufunc, terms: tuple[e.Expr, ...]) -> tuple[Node, str]:
        """``a & b & c`` as numexpr reads it: ``(a & b) & c``, each step at the
        wider kind of its two sides."""
        acc, kind = self.build(terms[0])
        for term in terms[1:]:
            node, other = self.build(term)
            wide = _wider(kind, other)
            if wide not in ("bool", "int", "long"):
                raise _Unsupported("bits of floats")
            a, b = _cast(acc, kind, wide), _cast(node, other, wide)
            acc, kind = _binary(ufunc, a, b), wide
        return acc, kind

    def arith(self, op: str, left: e.Expr, right: e.Expr) -> tuple[Node, str]:
        (a, b), kind = self.common(left, right)
        if op == "/":
            # numexpr turns a division by a constant into a product with its
            # reciprocal, and divides integers into doubles: leave both to it
            if _is_constant(right) or kind not in ("float", "double"):
                raise _Unsupported("division")
            ufunc: np.ufunc = np.true_divide
        elif kind == "bool":
            raise _Unsupported("arithmetic on bools")  # numexpr: or/and
        else:
            ufunc = _ARITH[op]
        return _binary(ufunc, a, b), kind

    def call(self, name: str, args: tuple[e.Expr, ...]) -> tuple[Node, str]:
        if name == "where" and len(args) == 3:
            c, ck = self.build(args[0])
            if ck != "bool":
                raise _Unsupported("where condition")
            (a, b), kind = self.common(args[1], args[2])
            return (lambda env: np.where(c(env), a(env), b(env))), kind
        if name in ("minimum", "maximum") and len(args) == 2:
            (a, b), kind = self.common(*args)
            if kind == "bool":
                raise _Unsupported("minimum of bools")
            pick: np.ufunc = np.minimum if name == "minimum" else np.maximum
            return (lambda env: pick(a(env), b(env))), kind
        if name in ("sqrt", "floor", "abs") and len(args) == 1:
            a, kind = self.build(args[0])
            if kind in ("float", "double"):
                one: np.ufunc = {"sqrt": np.sqrt, "floor": np.floor, "abs": np.abs}[
                    name
                ]
                return (lambda env: one(a(env))), kind
        raise _Unsupported(name)


def _is_constant(node: e.Expr) -> bool:
    while isinstance(node, e.Group):
        node = node.body
    return isinstance(node, e.Const)
