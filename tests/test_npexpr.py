"""xdm.engine.npexpr gives numexpr's results bit for bit (numexpr is the oracle).

Every predicate the engine builds for the agreement cases, plus trees that probe
numexpr's type rules: float32 columns against double constants, 8/16-bit and
unsigned integers, bit masks, NaN and infinities, where/minimum/maximum, squares
and square roots, division by arrays. Each probe is also checked to print as
the numexpr text numexpr compiles. Trees npexpr cannot promise to match
(division by a constant, integer division, functions of integers, arithmetic on
booleans, operands without a numexpr kind) must be refused.
"""

from __future__ import annotations

import numpy as np
import pytest
from casefiles import ENGINE

import xdm
from xdm.engine import kernels, npexpr
from xdm.engine.steps import FilterRows
from xdm.expr import (
    And,
    Arith,
    Call,
    Compare,
    Expr,
    Group,
    Not,
    Or,
    Square,
    Var,
    const,
)

e, t, x, y, g, c, s, b = (Var(v) for v in ("e", "t", "x", "y", "g", "c", "s", "b"))


def _columns(n: int = 3000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 300.0, 2000.0, 1e30])
    f4 = rng.normal(1000, 800, n).astype(">f4")
    f4[: len(special)] = special
    f4[10:20] = np.nextafter(np.float32(300.1), np.float32(0)) + np.arange(10) * 1e-5
    f8 = rng.normal(4000, 300, n)
    f8[: len(special)] = special
    return {
        "e": f4,  # big-endian float32
        "t": f8,
        "x": rng.uniform(3000, 5000, n).astype(np.float32),
        "y": rng.uniform(3000, 5000, n).astype(">f4"),
        "g": rng.integers(-5, 300, n).astype(">i2"),
        "c": rng.integers(0, 10, n).astype(np.int8).astype(np.int32),
        "s": rng.integers(-(2**31), 2**31, n).astype(np.int64),
        "b": rng.random(n) < 0.5,
    }


def cmp(a: Expr, op: str, z: Expr | float) -> Group:
    return Group(Compare(op, a, z if isinstance(z, Expr) else const(z)))  # type: ignore[arg-type]


def _minus(v: Expr, k: float) -> Group:
    return Group(Arith("-", v, const(k)))


def _turn(a: float, b_: float) -> Group:
    return Group(
        Arith(
            "+",
            Arith("*", const(a), _minus(x, 4000.0), True),
            Arith("*", const(b_), _minus(y, 4000.0), True),
        )
    )


def _over(v: Expr, k: float) -> Group:
    return Group(
        Arith(
            "/",
            _minus(v, 4000.0),
            Group(Arith("+", const(k), Arith("*", const(0.0), x, True))),
        )
    )


TREES: list[tuple[str, Expr]] = [
    ("(e >= 300) & (e < 2000)", And((cmp(e, ">=", 300), cmp(e, "<", 2000)))),
    ("(e >= 300.1) & (e < 2000.7)", And((cmp(e, ">=", 300.1), cmp(e, "<", 2000.7)))),
    ("(e == 300.1) | (e != e)", Or((cmp(e, "==", 300.1), cmp(e, "!=", e)))),
    (
        "(g >= 0) & (g <= 3) | (g == 255)",
        Or((And((cmp(g, ">=", 0), cmp(g, "<=", 3))), cmp(g, "==", 255))),
    ),
    (
        "((c == 0) | (c == 2) | ((c >= 3) & (c <= 4)) | (c == 6))",
        Group(
            Or(
                (
                    cmp(c, "==", 0),
                    cmp(c, "==", 2),
                    Group(And((cmp(c, ">=", 3), cmp(c, "<=", 4)))),
                    cmp(c, "==", 6),
                )
            )
        ),
    ),
    ("(s & 16) == 0", Compare("==", Group(And((s, const(16)))), const(0))),
    (
        "((s & 3221225472) == 0) & ~((s & 4) != 0)",
        And(
            (
                cmp(Group(And((s, const(3221225472)))), "==", 0),
                Not(cmp(Group(And((s, const(4)))), "!=", 0)),
            )
        ),
    ),
    ("~b & (e > 0)", And((Not(b), cmp(e, ">", 0)))),
    (
        "sqrt((x - 4110.3)**2 + (y - 4085.7)**2) <= 400.0",
        Compare(
            "<=",
            Call(
                "sqrt",
                (Arith("+", Square(_minus(x, 4110.3)), Square(_minus(y, 4085.7))),),
            ),
            const(400.0),
        ),
    ),
    (
        "(x - 4110.3)**2 + (y - 4085.7)**2 <= 160000.0",
        Compare(
            "<=",
            Arith("+", Square(_minus(x, 4110.3)), Square(_minus(y, 4085.7))),
            const(160000.0),
        ),
    ),
    (
        "((x >= 3700.0) & (x <= 4600.0) & (y >= 3650.0) & (y <= 4500.0))",
        Group(
            And(
                (
                    cmp(x, ">=", 3700.0),
                    cmp(x, "<=", 4600.0),
                    cmp(y, ">=", 3650.0),
                    cmp(y, "<=", 4500.0),
                )
            )
        ),
    ),
    (
        "(((x - 4000.0) / (400.5 + 0.0*x))**2 + ((y - 4000.0) / (200.25 + 0.0*x))**2) <= 1.0",
        Compare(
            "<=",
            Group(Arith("+", Square(_over(x, 400.5)), Square(_over(y, 200.25)))),
            const(1.0),
        ),
    ),
    (
        "(abs((0.8*(x - 4000.0) + 0.6*(y - 4000.0))) <= 500.0)"
        " & (abs((-0.6*(x - 4000.0) + 0.8*(y - 4000.0))) <= 200.0)",
        And(
            (
                cmp(Call("abs", (_turn(0.8, 0.6),)), "<=", 500.0),
                cmp(Call("abs", (_turn(-0.6, 0.8),)), "<=", 200.0),
            )
        ),
    ),
    (
        "where(e > 1000, t, e) > 3500.5",
        Compare(
            ">", Call("where", (Compare(">", e, const(1000)), t, e)), const(3500.5)
        ),
    ),
    ("minimum(e, t) < 900.25", Compare("<", Call("minimum", (e, t)), const(900.25))),
    (
        "maximum(floor(e), -1.0) >= 3.0",
        Compare(">=", Call("maximum", (Call("floor", (e,)), const(-1.0))), const(3.0)),
    ),
    (
        "(t >= 4000.0) & (t < 4100.5) | (t >= -1e+300) & ~(t < 4200.0)",
        Or(
            (
                And((cmp(t, ">=", 4000.0), cmp(t, "<", 4100.5))),
                And((cmp(t, ">=", -1e300), Not(cmp(t, "<", 4200.0)))),
            )
        ),
    ),
    (
        "(0.0 - e) < -300.5",
        Compare("<", Group(Arith("-", const(0.0), e)), const(-300.5)),
    ),
    ("(x == x) | (x != x)", Or((cmp(x, "==", x), cmp(x, "!=", x)))),
    # float32 + float32 stays float32
    ("(x + y) > 8000.5", Compare(">", Group(Arith("+", x, y)), const(8000.5))),
    # int16 read as int32: no 16-bit overflow
    ("(g * 300) > 20000", Compare(">", Group(Arith("*", g, const(300))), const(20000))),
    ("(e / t) < 0.25", Compare("<", Group(Arith("/", e, t)), const(0.25))),
    ("(s & 12) | (c & 3)", Or((Group(And((s, const(12)))), Group(And((c, const(3))))))),
    ("~(s & 255)", Not(Group(And((s, const(255)))))),
]


@pytest.mark.parametrize(("text", "tree"), TREES, ids=[t for t, _ in TREES])
def test_trees_equal_numexpr(text, tree):
    assert str(tree) == text
    cols = _columns()
    program = npexpr.compile(tree, npexpr.kinds_of(cols))
    assert program is not None, text
    want = kernels.evaluate(tree, cols, backend="numexpr")
    got = kernels.evaluate(tree, cols, backend="numpy")
    assert got.dtype == want.dtype == program.dtype
    assert np.array_equal(got, want)
    if want.dtype == bool:
        assert 0 < want.sum() < len(want) or text == "(x == x) | (x != x)"


@pytest.mark.parametrize(
    ("why", "tree"),
    [
        (
            "numexpr multiplies by 1/3",
            Compare(">", Arith("/", e, const(3.0)), const(1)),
        ),
        ("integer division", Compare(">", Arith("/", g, const(2)), const(1))),
        ("sqrt of an integer", Compare(">", Call("sqrt", (g,)), const(2))),
        ("arithmetic on booleans", Arith("+", b, b)),
        ("a float condition", Call("where", (e, t, e))),
        ("minimum of booleans", Call("minimum", (b, b))),
        ("~ of a float", Not(e)),
        ("bits of floats", And((e, t))),
        ("a string operand", Compare("==", Var("name"), Var("name"))),
        ("an unbound name", Compare(">", Var("nothere"), const(1))),
    ],
)
def test_trees_it_cannot_promise_are_refused(why, tree):
    cols = {**_columns(40), "name": np.array([b"a"] * 40)}
    assert npexpr.compile(tree, npexpr.kinds_of(cols)) is None, why
    with pytest.raises(ValueError):
        kernels.evaluate(tree, cols, backend="numpy")


def test_auto_takes_numpy_only_for_long_predicates():
    """Both routes agree whatever ``auto`` picks: short chunks and non-boolean
    results go to numexpr, long predicates to numpy (split across threads)."""
    n = 3 * kernels.SUBCHUNK + 17
    cols = _columns(n, seed=2)
    for _, tree in TREES:
        want = kernels.evaluate(tree, cols, backend="numexpr")
        assert np.array_equal(kernels.evaluate(tree, cols), want)


def _agreement_plans(synthetic) -> list[str]:
    out = []
    for case in ENGINE.cases():
        if not case.text.startswith("syn") or "{aux}" in case.text:
            continue
        text = f"{synthetic}{case.text.split(None, 1)[1]}"
        try:
            plan = xdm.plan(text)
        except xdm.XdmError:
            continue
        if str(plan.find(FilterRows).expression) != "True":
            out.append(text)
    return out


def test_engine_predicates_equal_numexpr(synthetic_events):
    """The engine's own fused predicates over the operands ``Plan.stream()`` binds
    on the synthetic file: numpy against numexpr."""
    texts = _agreement_plans(synthetic_events)
    assert len(texts) >= 40
    took_numpy = 0
    for text in texts:
        plan = xdm.plan(text)
        filt = plan.find(FilterRows)
        assert str(filt.expression) == filt.predicate
        for chunk in plan.stream():
            env = dict(chunk.operands)
            want = kernels.evaluate(filt.expression, env, backend="numexpr")
            assert np.array_equal(chunk.keep, np.broadcast_to(want, chunk.keep.shape))
            if npexpr.compile(filt.expression, npexpr.kinds_of(env)) is None:
                continue
            got = kernels.evaluate(filt.expression, env, backend="numpy")
            took_numpy += 1
            assert np.array_equal(got, np.broadcast_to(want, got.shape)), text
    assert took_numpy >= 0.8 * len(texts)
