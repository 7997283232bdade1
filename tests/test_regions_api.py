"""The Region contract used by the engine: contains, bbox, to_numexpr, canonical."""

from __future__ import annotations

import math

import numexpr as ne
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xdm
from xdm.lang import nodes as n
from xdm.regions.area import backscal
from xdm.regions.compound import Region


def test_region_from_node_and_text_agree():
    node = n.RegionAnd(
        operands=(
            n.Shape(
                name="circle",
                args=tuple(n.Coordinate(text=t) for t in ["0", "0", "10"]),
            ),
            n.RegionNot(
                operand=n.Shape(
                    name="box",
                    args=tuple(n.Coordinate(text=t) for t in ["0", "0", "2", "2"]),
                )
            ),
        )
    )
    a, b = xdm.region(node), xdm.region("circle(0,0,10)-box(0,0,2,2)")
    assert a == b
    assert a.canonical() == "Circle(0,0,10)&!Box(0,0,2,2)"


def test_contains_broadcasts_arrays_and_lists():
    r = xdm.region("circle(0,0,1)")
    assert r.contains([0, 2], [0, 0]).tolist() == [True, False]
    grid = r.contains(*np.meshgrid(np.arange(-2, 3.0), np.arange(-2, 3.0)))
    assert grid.shape == (5, 5) and grid.sum() == 5
    assert r.contains(np.float64(1.0), np.float64(0.0)).shape == ()


def test_bbox_none_only_when_unbounded():
    assert xdm.region("circle(10,20,5)").bbox == (5.0, 15.0, 15.0, 25.0)
    assert xdm.region("!circle(10,20,5)").bbox is None
    assert xdm.region("sector(0,0,10,20)").bbox is None
    assert xdm.region("field()").bbox is None
    # intersection with a bounded shape bounds an unbounded one
    assert xdm.region("sector(0,0,10,20)*box(0,0,4,4)").bbox == (-2.0, 2.0, -2.0, 2.0)
    assert xdm.region("polygon(0,0,4,1,2,5)").bbox == (0.0, 4.0, 0.0, 5.0)


def test_to_numexpr_none_for_python_tests_only():
    assert xdm.region("polygon(0,0,4,1,2,5)").to_numexpr("x", "y") is None
    assert xdm.region("circle(1,1,1)+pie(0,0,1,2,0,90)").to_numexpr("x", "y") is None
    text = xdm.region("circle(1,1,1)-ellipse(0,0,2,1,30)+box(5,5,1,1,10)").to_numexpr(
        "xv", "yv"
    )
    assert text is not None and set(ne.NumExpr(text).input_names) == {"xv", "yv"}


def test_numexpr_text_only_holds_repr_floats():
    r = xdm.region("circle(1e3,-2.5,0.1)")
    text = r.to_numexpr("x", "y")
    assert "1000.0" in text and "(-2.5)" in text and "0.1" in text
    assert "1e3" not in text


def test_empty_region():
    r = Region(())
    assert not r.contains([0.0], [0.0]).any()
    assert r.area() == 0.0
    assert r.to_numexpr("x", "y") is not None
    assert not ne.evaluate(r.to_numexpr("x", "y"), {"x": np.zeros(3)}).any()


def test_backscal_acis():
    r = xdm.region("circle(4096,4096,100)")
    assert backscal(r) == pytest.approx(math.pi * 1e4 / 8192**2)


def test_area_clipped_to_box_tuple():
    r = xdm.region("circle(0,0,10)")
    assert r.area(field=(0.0, 20.0, 0.0, 20.0)) == pytest.approx(25 * math.pi, rel=1e-3)


# ------------------------------------------------------------ properties

coord = st.integers(-40, 40).map(lambda v: v / 2)  # half-integers hit edges exactly
size = st.integers(1, 30).map(lambda v: v / 2)
angle = st.integers(0, 720).map(lambda v: v / 2)


@st.composite
def shape_text(draw):
    kinds = ["circle", "annulus", "ellipse", "box", "rotbox", "rect"]
    kind = draw(st.sampled_from([*kinds, "pie", "sector", "polygon", "point"]))
    x, y = draw(coord), draw(coord)
    a, b = sorted((draw(size), draw(size)))
    if kind == "circle":
        return f"circle({x},{y},{a})"
    if kind == "annulus":
        return f"annulus({x},{y},{a},{b})"
    if kind == "ellipse":
        return f"ellipse({x},{y},{a},{b},{draw(angle)})"
    if kind == "box":
        return f"box({x},{y},{a},{b})"
    if kind == "rotbox":
        return f"rotbox({x},{y},{a},{b},{draw(angle)})"
    if kind == "pie":
        return f"pie({x},{y},{a},{b},{draw(angle)},{draw(angle)})"
    if kind == "sector":
        return f"sector({x},{y},{draw(angle)},{draw(angle)})"
    if kind == "polygon":
        pts = [f"{draw(coord)},{draw(coord)}" for _ in range(draw(st.integers(3, 6)))]
        return f"polygon({','.join(pts)})"
    if kind == "point":
        return f"point({x},{y})"
    return f"rectangle({x},{y},{x + a},{y + b})"


@st.composite
def region_text(draw):
    parts = [draw(shape_text())]
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["+", "|", "*", "&", "-"]))
        neg = draw(st.sampled_from(["", "", "!"]))
        parts.append(f"{op}{neg}{draw(shape_text())}")
    return "".join(parts)


@settings(max_examples=150, deadline=None)
@given(region_text())
def test_numexpr_equals_contains_and_bbox_holds_region(text):
    r = xdm.region(text)
    g = np.arange(-30, 30.5, 0.5)
    x, y = (a.ravel() for a in np.meshgrid(g, g))
    expr = r.to_numexpr("x", "y")
    if expr is not None:
        assert np.array_equal(ne.evaluate(expr, {"x": x, "y": y}), r.contains(x, y))
    box = r.bbox
    inside = r.contains(x, y)
    if box is not None and inside.any():
        assert box[0] <= x[inside].min() and x[inside].max() <= box[1]
        assert box[2] <= y[inside].min() and y[inside].max() <= box[3]


@settings(max_examples=100, deadline=None)
@given(region_text())
def test_negation_is_complement(text):
    """``~r`` is the complement of ``r`` away from exact edges.

    The grid is offset from the half-integers the shapes are drawn on: on an exact
    edge CIAO's own arithmetic is not complement-safe (its bounds test uses
    ``cos(90 deg) = 6e-17``, so ``pie(0,0,.5,.5,0,90)`` holds (0, 0.5) by the shape
    test but not by the bounds test; ``!pie`` has no bounds test). Edge points
    are covered by the CIAO oracle test instead.
    """
    r = xdm.region(text)
    g = np.arange(-30, 30.5, 0.5) + 0.0123456789
    x, y = (a.ravel() for a in np.meshgrid(g, g))
    assert np.array_equal((~r).contains(x, y), ~r.contains(x, y))
