"""Region areas (BACKSCAL): exact for single shapes, within 0.1% for compounds.

References are closed-form geometry (independent of our code) and CIAO's own
ROI_AREA / ROIBAREA in the CSC reg3 file (see test_regions_files.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xdm

EXACT = [
    ("circle(10,20,7)", math.pi * 49),
    ("annulus(0,0,3,8)", math.pi * (64 - 9)),
    ("ellipse(5,5,10,4,33)", math.pi * 40),
    ("box(0,0,6,9)", 54.0),
    ("rotbox(0,0,6,9,30)", 54.0),
    ("rectangle(1,2,5,10)", 32.0),
    ("polygon(0,0,4,0,4,3)", 6.0),
    ("polygon(0,0,10,0,10,10,5,5,0,10)", 75.0),
    ("pie(0,0,2,4,350,80)", math.pi * (16 - 4) * 90 / 360),
    ("pie(0,0,0,4,0,360)", math.pi * 16),
    ("point(3,3)", 0.0),
]


@pytest.mark.parametrize(("text", "area"), EXACT)
def test_single_shape_area_is_exact(text, area):
    assert xdm.region(text).area() == pytest.approx(area, rel=1e-12, abs=1e-12)


def _lens(r: float, d: float) -> float:
    """Area of the intersection of two circles of radius r, centres d apart."""
    return 2 * r * r * math.acos(d / (2 * r)) - d / 2 * math.sqrt(4 * r * r - d * d)


COMPOUND = [
    ("circle(0,0,10)-circle(0,0,5)", math.pi * 75),
    ("circle(0,0,10)+circle(10,0,10)", 2 * math.pi * 100 - _lens(10, 10)),
    ("circle(0,0,10)*circle(10,0,10)", _lens(10, 10)),
    ("box(0,0,10,10)*circle(5,5,5)", 25 * math.pi / 4),
    ("circle(0,0,10)*sector(0,0,0,90)", 25 * math.pi),
    ("field()-circle(0,0,1)*box(0,0,4,4)", 16 - math.pi),  # - and * bind alike
    ("field()-circle(0,0,1)", math.inf),
    ("circle(0,0,3)+circle(100,100,3)", 18 * math.pi),
    ("annulus(0,0,50,51)|point(1000,1000)", math.pi * 101),
    ("box(0,0,20,20)-box(0,0,10,10)-rotbox(0,0,2,2,45)", 300.0),
    (
        "ellipse(3144.52,4518.81,126.489,95.5593,42.99)"
        "-ellipse(3144.52,4518.81,25.2979,19.1119,42.99)",
        math.pi * (126.489 * 95.5593 - 25.2979 * 19.1119),
    ),
]


@pytest.mark.parametrize(("text", "area"), COMPOUND)
def test_compound_area_within_a_tenth_of_a_percent(text, area):
    got = xdm.region(text).area()
    if math.isinf(area):
        assert math.isinf(got)
    else:
        assert got == pytest.approx(area, rel=1e-3)


def test_area_clipped_to_field_of_view():
    circle = xdm.region("circle(0,0,10)")
    fov = xdm.region("box(0,0,10,40)")
    # 2 * integral_{-5}^{5} sqrt(100 - x^2) dx
    exact = 2 * (5 * math.sqrt(75) + 100 * math.asin(0.5))
    assert circle.area(field=fov) == pytest.approx(exact, rel=1e-3)
    assert xdm.region("sector(0,0,0,90)").area(field=fov) == pytest.approx(
        100.0, rel=1e-3
    )


def test_grid_area_agrees_with_monte_carlo_count():
    r = xdm.region(
        "polygon(0,0,30,0,30,20,15,5,0,20)-circle(10,5,4)+pie(25,15,2,9,45,200)"
    )
    rng = np.random.default_rng(7)
    xlo, xhi, ylo, yhi = r.bbox
    n = 2_000_000
    x, y = rng.uniform(xlo, xhi, n), rng.uniform(ylo, yhi, n)
    mc = r.contains(x, y).mean() * (xhi - xlo) * (yhi - ylo)
    assert r.area() == pytest.approx(mc, rel=5e-3)
