"""numpy evaluation of the engine's generated numexpr text, with numexpr's types.

numexpr runs each opcode over 4096-element blocks one element at a time; its
boolean ``&``/``|`` and ``where`` are branches (2-3 ns a row on random data) and
its ``sqrt``/``minimum``/``floor`` are function calls. A filter such as
``[ccd_id=0:3,energy=500:7000,status=0,grade=0,2,3,4,6][sky=circle(...)]`` is
mostly such operations. numpy does the same operations as SIMD passes over
contiguous native arrays at 0.05-0.3 ns a row, so this module evaluates the
text on cache-sized sub-chunks: each operand is converted once per sub-chunk
(big-endian, strided view -> native contiguous), then every node is one numpy
call.

It gives numexpr's results bit for bit because it applies numexpr's rules:
operand kinds bool < int (int32) < long (int64) < float (float32) < double
(float64), with 8/16-bit integers read as int and Python floats as double
constants; both sides of an operation cast to the larger kind; ``a**2`` is
``a*a``; comparisons, ``& | ~``, ``where``, ``sqrt``, ``abs``, ``floor``,
``minimum``/``maximum`` (NaN propagating, as numexpr's). Anything else (other
functions or powers, division by a constant, which numexpr turns into a
product, integer division, strings, complex) makes ``compile`` return None and
the caller uses numexpr.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["Program", "compile"]

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

_COMPARE = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_ARITH = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply}
_BITS = {
    ast.BitAnd: np.bitwise_and,
    ast.BitOr: np.bitwise_or,
    ast.BitXor: np.bitwise_xor,
}


class _Unsupported(Exception):
    pass


class Program:
    """A compiled expression: ``names`` it reads and ``run(env)`` on native arrays."""

    def __init__(self, root: Node, kind: str, names: frozenset[str]) -> None:
        self._root = root
        self.kind = kind
        self.names = names

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
def compile(text: str, kinds: tuple[tuple[str, str], ...]) -> Program | None:
    """The numpy program for ``text`` with operands of these ``(name, kind)``s, or None."""
    try:
        tree = ast.parse(text, mode="eval")
        builder = _Builder(dict(kinds))
        node, kind = builder.build(tree.body)
    except (_Unsupported, SyntaxError, RecursionError):
        return None
    return Program(node, kind, frozenset(builder.used))


def kinds_of(operands: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """``(name, kind)`` of each operand with a numexpr kind; the others (strings)
    are left out, so a text that reads one is refused by ``compile``."""
    out = []
    for name, value in operands.items():
        dtype = np.asarray(value).dtype if not hasattr(value, "dtype") else value.dtype
        kind = _kind_of(dtype)
        if kind is not None:
            out.append((name, kind))
    return tuple(sorted(out))


class _Builder:
    def __init__(self, kinds: dict[str, str]) -> None:
        self.kinds = kinds
        self.used: set[str] = set()

    def build(self, e: ast.expr) -> tuple[Node, str]:
        method: Callable[[ast.expr], tuple[Node, str]] | None = getattr(
            self, "_" + type(e).__name__, None
        )
        if method is None:
            raise _Unsupported(type(e).__name__)
        return method(e)

    # ------------------------------------------------------------ leaves
    def _Name(self, e: ast.Name) -> tuple[Node, str]:
        if e.id not in self.kinds:
            raise _Unsupported(e.id)
        self.used.add(e.id)
        name = e.id
        return (lambda env: env[name]), self.kinds[name]

    def _Constant(self, e: ast.Constant) -> tuple[Node, str]:
        v = e.value
        if isinstance(v, bool):
            c: Any = np.bool_(v)
            kind = "bool"
        elif isinstance(v, int):
            kind = "int" if -(2**31) <= v < 2**31 else "long"
            if not -(2**63) <= v < 2**63:
                raise _Unsupported("integer constant")
            c = _DTYPES[kind].type(v)
        elif isinstance(v, float):
            c, kind = np.float64(v), "double"
        else:
            raise _Unsupported("constant")
        return (lambda env: c), kind

    def _constant_value(self, e: ast.expr) -> Any:
        if isinstance(e, ast.Constant):
            return e.value
        if (
            isinstance(e, ast.UnaryOp)
            and isinstance(e.op, ast.USub)
            and isinstance(e.operand, ast.Constant)
        ):
            value: Any = e.operand.value
            return -value
        return None

    # ------------------------------------------------------------ operators
    def _cast(self, node: Node, have: str, want: str) -> Node:
        if have == want:
            return node
        dtype = _DTYPES[want]
        return lambda env: np.asarray(node(env), dtype=dtype)

    def _UnaryOp(self, e: ast.UnaryOp) -> tuple[Node, str]:
        value = self._constant_value(e)
        if value is not None and not isinstance(value, bool):
            return self._Constant(ast.Constant(value))
        node, kind = self.build(e.operand)
        if isinstance(e.op, ast.Invert):
            if kind == "bool":
                return (lambda env: np.logical_not(node(env))), kind
            if kind in ("int", "long"):
                return (lambda env: np.invert(node(env))), kind
        if isinstance(e.op, ast.USub) and kind != "bool":
            return (lambda env: np.negative(node(env))), kind
        raise _Unsupported("unary")

    def _BinOp(self, e: ast.BinOp) -> tuple[Node, str]:
        if isinstance(e.op, ast.Pow):
            if self._constant_value(e.right) != 2 or isinstance(
                self._constant_value(e.right), bool
            ):
                raise _Unsupported("power")
            a, kind = self.build(e.left)
            if kind == "bool":
                raise _Unsupported("power of bool")
            return (lambda env: (lambda v: np.multiply(v, v))(a(env))), kind
        left, lk = self.build(e.left)
        right, rk = self.build(e.right)
        kind = _wider(lk, rk)
        ufunc: np.ufunc
        if type(e.op) in _BITS:
            if kind not in ("bool", "int", "long"):
                raise _Unsupported("bits of floats")
            ufunc = _BITS[type(e.op)]
        elif type(e.op) in _ARITH:
            if kind == "bool":
                raise _Unsupported("arithmetic on bools")  # numexpr: or/and
            ufunc = _ARITH[type(e.op)]
        elif isinstance(e.op, ast.Div):
            # numexpr turns a division by a constant into a product with its
            # reciprocal, and divides integers into doubles: leave both to it
            if self._constant_value(e.right) is not None or kind not in (
                "float",
                "double",
            ):
                raise _Unsupported("division")
            ufunc = np.true_divide
        else:
            raise _Unsupported("operator")
        a, b = self._cast(left, lk, kind), self._cast(right, rk, kind)
        return (lambda env: ufunc(a(env), b(env))), kind

    def _Compare(self, e: ast.Compare) -> tuple[Node, str]:
        if len(e.ops) != 1 or type(e.ops[0]) not in _COMPARE:
            raise _Unsupported("chained comparison")
        left, lk = self.build(e.left)
        right, rk = self.build(e.comparators[0])
        kind = _wider(lk, rk)
        a, b = self._cast(left, lk, kind), self._cast(right, rk, kind)
        ufunc = _COMPARE[type(e.ops[0])]
        return (lambda env: ufunc(a(env), b(env))), "bool"

    def _Call(self, e: ast.Call) -> tuple[Node, str]:
        if not isinstance(e.func, ast.Name) or e.keywords:
            raise _Unsupported("call")
        name = e.func.id
        args = [self.build(a) for a in e.args]
        if name == "where" and len(args) == 3:
            (c, ck), (a, ak), (b, bk) = args
            if ck != "bool":
                raise _Unsupported("where condition")
            kind = _wider(ak, bk)
            a, b = self._cast(a, ak, kind), self._cast(b, bk, kind)
            return (lambda env: np.where(c(env), a(env), b(env))), kind
        if name in ("minimum", "maximum") and len(args) == 2:
            (a, ak), (b, bk) = args
            kind = _wider(ak, bk)
            if kind == "bool":
                raise _Unsupported("minimum of bools")
            a, b = self._cast(a, ak, kind), self._cast(b, bk, kind)
            pick: np.ufunc = np.minimum if name == "minimum" else np.maximum
            return (lambda env: pick(a(env), b(env))), kind
        if name in ("sqrt", "floor", "abs") and len(args) == 1:
            (a, ak) = args[0]
            if name == "abs" and ak in ("float", "double"):
                return (lambda env: np.abs(a(env))), ak
            if ak in ("float", "double"):
                one: np.ufunc = np.sqrt if name == "sqrt" else np.floor
                return (lambda env: one(a(env))), ak
        raise _Unsupported(name)
