"""The pieces of the shapes' numexpr forms: expression trees (``xdm.expr``)
with CIAO's arithmetic in CIAO's order, over the operands the caller gives.

Only region numbers (``repr`` doubles, through ``lit``) and the given operands
enter a tree, so the rendered text never holds user text.
"""

from __future__ import annotations

from xdm import expr as e

__all__ = ["all_true", "distance", "lit", "offset", "turn", "whole_plane", "within"]


def lit(value: float) -> e.Expr:
    """A region number: a double (``repr``), parenthesised when negative."""
    c = e.const(float(value))
    return e.Group(c) if repr(c.value).startswith("-") else c


def whole_plane(x: e.Expr) -> e.Expr:
    """``((x == x) | (x != x))``: true on every row, NaN included."""
    return e.Group(e.Or((e.compare(x, "==", x), e.compare(x, "!=", x))))


def all_true(*parts: e.Expr) -> e.Expr:
    """``(a & b & ...)``."""
    return e.Group(e.And(parts))


def offset(v: e.Expr, centre: float) -> e.Expr:
    """``(v - centre)``."""
    return e.Group(e.Arith("-", v, lit(centre)))


def distance(x: e.Expr, y: e.Expr, xc: float, yc: float) -> e.Expr:
    """``sqrt((x - xc)**2 + (y - yc)**2)``."""
    # numexpr computes a**2 as a*a, bit for bit what CIAO does
    total = e.Arith("+", e.Square(offset(x, xc)), e.Square(offset(y, yc)))
    return e.Call("sqrt", (total,))


def turn(a: float, xm: e.Expr, b: float, ym: e.Expr) -> e.Expr:
    """``(a*xm + b*ym)``, one coordinate of a rotation."""
    return e.Group(
        e.Arith("+", e.Arith("*", lit(a), xm, True), e.Arith("*", lit(b), ym, True))
    )


def within(x: e.Expr, y: e.Expr, x0: float, x1: float, y0: float, y1: float) -> e.Expr:
    """``x0 <= x <= x1`` and ``y0 <= y <= y1``: four comparisons."""
    return all_true(
        e.compare(x, ">=", lit(x0)),
        e.compare(x, "<=", lit(x1)),
        e.compare(y, ">=", lit(y0)),
        e.compare(y, "<=", lit(y1)),
    )
