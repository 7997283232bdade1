"""unparse is the inverse of parse: property tests over generated ASTs."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from strategies import files, filter_exprs, region_exprs

from xdm.lang.nodes import FilterExpr, RegionExpr, VirtualFile
from xdm.lang.parser import parse, parse_filter, parse_region, parse_slow
from xdm.lang.unparse import unparse

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(files)
def test_virtual_file_round_trip(vf: VirtualFile) -> None:
    text = unparse(vf)
    assert parse(text) == vf, text
    assert parse_slow(text) == vf, text
    assert unparse(parse(text)) == text


@SETTINGS
@given(region_exprs)
def test_region_round_trip(region: RegionExpr) -> None:
    text = unparse(region)
    assert parse_region(text) == region, text


@SETTINGS
@given(filter_exprs)
def test_filter_round_trip(expr: FilterExpr) -> None:
    text = unparse(expr)
    assert parse_filter(text) == expr, text
