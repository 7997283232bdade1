"""The expression trees (xdm.expr): constants keep numexpr's kinds, the text is
rendered exactly, and the regions' trees keep their numexpr text.

Oracles: the golden text of every region of CIAO's region oracle
(tests/golden/region-numexpr.txt, ``Region.to_numexpr`` as it was printed
before the regions built trees) and CIAO's masks in tests/data/regions-ciao.npz
(the trees evaluated by numpy and by numexpr).
"""

from __future__ import annotations

import re
from pathlib import Path

import casefiles
import numpy as np
import pytest

import xdm
from xdm import expr as e
from xdm.engine import kernels

ORACLE = Path(__file__).parent / "data" / "regions-ciao.npz"
NUMBER = re.compile(r"(?<![A-Za-z_])\d+\.?\d*(?:[eE][-+]?\d+)?")


@pytest.fixture(scope="module")
def oracle() -> dict[str, np.ndarray]:
    with np.load(ORACLE) as d:
        return {k: d[k] for k in d.files}


def test_constants_keep_numexpr_kinds():
    assert e.const(True) == e.TRUE
    assert e.const(3) == e.Const(3, "int")
    assert e.const(2**31) == e.Const(2**31, "long")
    assert e.const(3.0) == e.Const(3.0, "double")
    # equal Python values of other kinds are other constants (and other cache keys)
    assert len({e.const(1), e.const(1.0), e.const(True)}) == 3
    assert e.number(500.0) == e.const(500)
    assert e.number(3e9) == e.const(3e9)
    assert e.number(-0.5) == e.const(-0.5)
    assert (str(e.const(0.0)), str(e.const(-0.0))) == ("0.0", "-0.0")
    for bad in (float("inf"), float("nan")):
        with pytest.raises(ValueError):
            e.number(bad)
    with pytest.raises(ValueError):
        e.const(2**63)


def test_render_prints_the_generator_s_text():
    v = e.Var("energy")
    tree = e.And(
        (
            e.all_of(
                [e.compare(v, ">=", e.number(300)), e.compare(v, "<", e.number(2000))]
            ),
            e.Not(e.Group(e.any_of([e.compare(e.Var("pi"), "==", e.const(7))]))),
        )
    )
    text = "((energy >= 300) & (energy < 2000)) & ~((pi == 7))"
    assert e.render(tree) == str(tree) == text
    assert e.conjuncts(tree) == tree.terms
    assert e.conjuncts(v) == (v,)
    assert e.constants(tree) == 3
    assert str(e.Arith("*", e.const(0.6), v, True)) == "0.6*energy"
    assert str(e.Square(e.Group(e.Arith("-", v, e.const(1.5))))) == "(energy - 1.5)**2"
    assert str(e.Call("where", (e.TRUE, v, e.const(0)))) == "where(True, energy, 0)"


EXTRA = [
    "circle(-10.5,3,2)",
    "!circle(1,1,1)",
    "field()",
    "!field()",
    "field()*circle(1,2,3)",
    "circle(1,1,1)*!field()",
    "box(4096,4096,20,10,30)",
    "rotbox(4096,4096,20,10,-45)",
    "rectangle(1,2,30,40)",
    "ellipse(4096,4096,20,10,0)",
    "ellipse(-4096,4096,20,10,33.3)",
    "annulus(4096,4096,10,20)",
    "point(4096.5,-4096.5)",
    "box(-0.0,-0.0,2,2,30)",
    "circle(0.0,0,1)+circle(-0.0,0,1)",
    "circle(1,1,1)-ellipse(0,0,2,1,30)+box(5,5,1,1,10)",
    "polygon(0,0,4,1,2,5)",
    "pie(0,0,1,2,0,90)",
    "rotrectangle(1,2,30,40,10)",
]


def _regions(oracle) -> list[str]:
    return [str(x) for x in oracle["expr"]] + EXTRA


def _tree(text: str) -> e.Expr | None:
    return xdm.region(text).numexpr_tree(e.Var("x"), e.Var("y"))


def test_region_trees_count_the_numbers_their_text_prints(oracle):
    """``constants`` (what the engine's inline limit for regions counts) is the
    number of numbers in the rendered text."""
    with_text = 0
    for text in _regions(oracle):
        tree = _tree(text)
        if tree is None:
            continue
        assert e.constants(tree) == len(NUMBER.findall(e.render(tree))), text
        with_text += 1
    assert with_text >= 120


def test_region_trees_equal_ciao_both_ways(oracle):
    evaluated = 0
    for i, text in enumerate(str(x) for x in oracle["expr"]):
        tree = _tree(text)
        if tree is None:
            continue
        env = {"x": oracle["x"][i], "y": oracle["y"][i]}
        want = oracle["inside"][i]
        assert np.array_equal(kernels.evaluate(tree, env, backend="numexpr"), want)
        assert np.array_equal(kernels.evaluate(tree, env, backend="numpy"), want), text
        evaluated += 1
    assert evaluated >= 110


GOLDEN = casefiles.GOLDEN / "region-numexpr.txt"


def _numexpr_texts(oracle) -> str:
    """Each region and its ``to_numexpr("x", "y")`` text, two lines each (the
    text numexpr evaluates to CIAO's masks: tests/test_regions_oracle.py)."""
    lines = [
        "# Region.to_numexpr('x', 'y') of the CIAO oracle's regions and tests/test_expr.py",
        "# EXTRA: the region, then its text ('-' when it has no numexpr form).",
    ]
    for text in _regions(oracle):
        form = xdm.region(text).to_numexpr("x", "y")
        lines += [text, f"    {'-' if form is None else form}"]
    return "\n".join(lines) + "\n"


def test_region_numexpr_text_is_the_golden_text(oracle, regen):
    casefiles.check_golden(GOLDEN, _numexpr_texts(oracle), regen)
