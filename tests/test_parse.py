"""Parser: the AST built for typical virtual files (hand-checked expectations)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_parse_cases import spans

from xdm.errors import Span, XdmRegionError, XdmSyntaxError
from xdm.lang.nodes import (
    AndFilter,
    AxisNumber,
    BinAxis,
    BinQualifier,
    BinRange,
    BlockRef,
    ColumnName,
    ColumnPair,
    Coordinate,
    FilterQualifier,
    Number,
    OptItem,
    OutputName,
    Range,
    RangeArg,
    RangeFilter,
    RegionAnd,
    RegionFilter,
    RegionNot,
    RegionOr,
    Shape,
)
from xdm.lang.parser import parse, parse_filter, parse_region


def n(text: str) -> Number:
    return Number(text=text)


def c(text: str, unit: str | None = None) -> Coordinate:
    return Coordinate(text=text, unit=unit)  # type: ignore[arg-type]


def test_common_virtual_file() -> None:
    vf = parse(
        "acis_evt2.fits[EVENTS][ccd_id=7,energy=300:2000]"
        "[sky=region(src.reg)][bin x=::8,y=::8][opt type=i4][IMAGE]"
    )
    assert vf.path == "acis_evt2.fits"
    assert vf.block == BlockRef(name="EVENTS")
    first = vf.filters[0].expr
    assert first == AndFilter(
        terms=(
            RangeFilter(
                column=ColumnName(name="ccd_id"),
                ranges=(Range(lo=n("7"), hi=n("7"), is_single=True),),
            ),
            RangeFilter(
                column=ColumnName(name="energy"),
                ranges=(Range(lo=n("300"), hi=n("2000")),),
            ),
        )
    )
    assert vf.bin == BinQualifier(
        axes=(
            BinAxis(target=ColumnName(name="x"), spec=BinRange(step=n("8"))),
            BinAxis(target=ColumnName(name="y"), spec=BinRange(step=n("8"))),
        )
    )
    assert vf.options == (OptItem(name="type", value="i4"),)
    assert vf.output_name == "IMAGE"
    assert isinstance(vf.qualifiers[-1], OutputName)


def test_range_items_after_comma_join_the_clause() -> None:
    expr = parse("e[grade=0,2:4,6,ccd_id=7]").filters[0].expr
    assert isinstance(expr, AndFilter)
    grade, ccd = expr.terms
    assert isinstance(grade, RangeFilter) and len(grade.ranges) == 3
    assert grade.ranges[1] == Range(lo=n("2"), hi=n("4"))
    assert ccd == RangeFilter(
        column=ColumnName(name="ccd_id"),
        ranges=(Range(lo=n("7"), hi=n("7"), is_single=True),),
    )


def test_region_operators_and_precedence() -> None:
    r = parse_region("circle(0,0,10)-CIRcle(0,0,2)+box(50,50,4,4)")
    c10 = Shape(name="circle", args=(c("0"), c("0"), c("10")))
    c2 = Shape(name="circle", args=(c("0"), c("0"), c("2")))
    box = Shape(name="box", args=(c("50"), c("50"), c("4"), c("4")))
    assert r == RegionOr(
        operands=(RegionAnd(operands=(c10, RegionNot(operand=c2))), box)
    )


def test_units_sexagesimal_and_radius_grid() -> None:
    r = parse_region("circle(12:26:51.2,-33:16:13,20.1'')")
    assert r == Shape(
        name="circle",
        args=(
            c("12:26:51.2", "sexagesimal"),
            c("-33:16:13", "sexagesimal"),
            c("20.1", '"'),
        ),
    )
    g = parse("e[bin sky=annulus(4077.3,4269.7,0:600:10)]").bin
    assert g is not None
    spec = g.axes[0].spec
    assert isinstance(spec, Shape)
    assert spec.args[2] == RangeArg(lo=n("0"), hi=n("600"), step=n("10"))


def test_pair_and_section_sugar() -> None:
    vf = parse("im.fits[(#1,#2)=circle(145,356,25)][1:100,1:200]")
    f0 = vf.filters[0].expr
    assert isinstance(f0, RegionFilter)
    assert f0.column == ColumnPair(
        first=AxisNumber(number=1), second=AxisNumber(number=2)
    )
    assert vf.filters[1] == FilterQualifier(
        expr=AndFilter(
            terms=(
                RangeFilter(
                    column=AxisNumber(number=1), ranges=(Range(lo=n("1"), hi=n("100")),)
                ),
                RangeFilter(
                    column=AxisNumber(number=2), ranges=(Range(lo=n("1"), hi=n("200")),)
                ),
            )
        )
    )


def test_spans_point_into_the_source() -> None:
    text = "evt.fits[energy=300:2000]"
    vf = parse(text)
    q = vf.qualifiers[0]
    assert q.span == Span(8, len(text))
    assert isinstance(q, FilterQualifier) and isinstance(q.expr, RangeFilter)
    assert text[q.expr.span.start : q.expr.span.end] == "energy=300:2000"  # type: ignore[union-attr]


def test_parse_filter_joins_lines() -> None:
    assert (
        parse_filter("ccd_id=7\n# comment\nenergy=300:2000\n")
        == parse("f[ccd_id=7,energy=300:2000]").filters[0].expr
    )


def test_errors_are_xdm_errors() -> None:
    with pytest.raises(XdmSyntaxError):
        parse("evt.fits[energy=300 2000]")
    with pytest.raises(XdmRegionError):
        parse("evt.fits[sky=circle(1,2)]")


def test_parse_cache_returns_equal_trees() -> None:
    text = "evt2.fits[energy=300:2000][bin sky=8]"
    assert parse(text) is parse(text)
    assert parse(text, cached=False) == parse(text)
    assert parse(text, cached=False) is not parse(text, cached=False)


def test_lexer_needs_no_keyword_callbacks() -> None:
    """The fast driver uses lark's per-state terminal lists but not its keyword
    callbacks; this grammar must not need any."""
    from xdm.lang.parser import get_parser

    lexer = get_parser().parser.lexer  # type: ignore[attr-defined]
    for basic in set(lexer.lexers.values()):
        assert basic.scanner is not None
        assert not basic.callback


def test_fast_constructors_build_the_same_nodes() -> None:
    """fastnodes.F builds nodes by filling slots; they must equal cls(...)."""
    import dataclasses

    from xdm.lang import nodes
    from xdm.lang.fastnodes import F

    span = Span(1, 2)
    for name in nodes.__all__:
        cls = getattr(nodes, name)
        kwargs = {f.name: f"v_{f.name}" for f in dataclasses.fields(cls)}
        kwargs["span"] = span
        made = getattr(F, name)(**kwargs)
        assert type(made) is cls
        assert made == cls(**kwargs) and repr(made) == repr(cls(**kwargs))
        assert made.span is span
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.span = None  # type: ignore[misc]
    assert F.Span(3, 4) == Span(3, 4)
    assert F.BlockRef(name="x") == BlockRef(name="x")  # defaults filled


def test_long_polygon() -> None:
    """Long argument lists are gathered in place (linear, not quadratic)."""
    n = 3000
    text = "polygon(" + ",".join(f"{i}.5,{2 * i}" for i in range(n)) + ")"
    shape = parse_region(text, cached=False)
    assert isinstance(shape, Shape) and len(shape.args) == 2 * n
    assert shape.args[-1] == Coordinate(text=str(2 * (n - 1)))


def test_saved_driver_tables_parse_the_same(tmp_path: Path) -> None:
    """The driver's tables as read back from the cache file (marshal) parse every
    case table line like tables made from lark in this process, spans included."""
    import marshal

    from xdm.lang.fastparse import Machine, build_tables
    from xdm.lang.parser import get_parser

    fresh = build_tables(get_parser())
    saved = tmp_path / "driver.marshal"
    saved.write_bytes(marshal.dumps(fresh))
    machines = (Machine(fresh), Machine(marshal.loads(saved.read_bytes())))
    lines = (Path(__file__).parent / "cases" / "parse.txt").read_text().splitlines()
    sources = [ln.partition("  =>  ")[0] for ln in lines if ln and ln[0] != "#"]
    assert len(sources) > 150
    for source in sources:
        made, loaded = (m.run(source, "start") for m in machines)
        assert made == loaded and repr(made) == repr(loaded)
        assert list(spans(made)) == list(spans(loaded)), source


def test_cold_parse_reads_the_tables_without_lark(tmp_path: Path) -> None:
    """A fresh process parses (and words a syntax error) from the saved tables:
    lark is imported only by the first one, which makes the cache file."""
    code = (
        "import sys, xdm\n"
        "xdm.parse('evt2.fits[energy=500:7000][bin sky=8]')\n"
        "try:\n"
        "    xdm.parse('evt2.fits[energy=500:7000')\n"
        "except xdm.XdmSyntaxError as e:\n"
        "    assert \"missing ']'\" in e.render(), e.render()\n"
        "print('lark' in sys.modules)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True
        )
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert [r.stdout.strip() for r in runs] == ["True", "False"]
    assert len(list((tmp_path / "xdm").glob("driver-*.marshal"))) == 1
