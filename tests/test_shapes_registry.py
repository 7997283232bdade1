"""The region shape vocabulary is one table (xdm.lang.shapes) that the parser,
regions.build, the FITS region reader, the REPL and the docs all read; the
geometry of each entry is exactly one class of xdm.regions.shapes."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xdm
from xdm.cli.repl import SHAPES as REPL_SHAPES
from xdm.errors import XdmRegionError, XdmRegionSyntaxError
from xdm.lang import nodes as n
from xdm.lang.parser import parse_region
from xdm.lang.shapes import (
    ANGLE,
    BY_NAME,
    LENGTH,
    POSITION,
    SHAPE_NAMES,
    SHAPES,
    ShapeSpec,
    lookup_shape,
    markdown_table,
)
from xdm.regions import shapes as geometry
from xdm.regions.build import shape_from_values

ROOT = Path(__file__).resolve().parents[1]
IDS = [s.name for s in SHAPES]


def _classes() -> list[type[geometry.Shape]]:
    """Every shape class defined in xdm.regions.shapes (the base excluded)."""
    return [
        cls
        for _, cls in inspect.getmembers(geometry, inspect.isclass)
        if issubclass(cls, geometry.Shape)
        and cls is not geometry.Shape
        and cls.__module__ == geometry.__name__
    ]


def test_every_entry_has_exactly_one_class_and_every_class_an_entry() -> None:
    classes = _classes()
    assert sorted(c.__name__ for c in classes) == sorted(
        c.__name__ for c in geometry.SHAPE_CLASSES
    )
    claims = [spec for cls in classes for spec in cls.entries]
    assert sorted(s.name for s in claims) == sorted(SHAPE_NAMES)  # once each
    for cls in classes:
        assert cls.entries, f"{cls.__name__} implements no entry"
    assert set(geometry.GEOMETRY) == set(SHAPES)
    for spec in SHAPES:
        owners = [cls for cls in classes if spec in cls.entries]
        assert owners == [geometry.GEOMETRY[spec]]


def test_the_table_is_consistent() -> None:
    assert len(set(SHAPE_NAMES)) == len(SHAPES)
    assert {s.name: s for s in SHAPES} == BY_NAME
    for spec in SHAPES:
        assert spec.name == spec.name.lower()
        assert len(spec.kinds) == len(spec.args)
        assert set(spec.kinds) <= {POSITION, LENGTH, ANGLE}
        # positions lead and come in (x, y) pairs
        assert spec.kinds.lstrip(POSITION).count(POSITION) == 0
        assert spec.positions % 2 == 0
        if spec.ring:
            assert spec.kinds[2:4] == LENGTH * 2


def _sample(spec: ShapeSpec) -> list[float]:
    """Valid physical values for every argument of ``spec``."""
    values = {POSITION: [10.0, 20.0, 30.0, 45.0, 12.0, 50.0], LENGTH: [5.0, 8.0]}
    out: list[float] = []
    taken = {POSITION: 0, LENGTH: 0, ANGLE: 0}
    for kind in spec.kinds:
        if kind == ANGLE:
            out.append(30.0 + 30.0 * taken[ANGLE])
        else:
            out.append(values[kind][taken[kind]])
        taken[kind] += 1
    return out


@pytest.mark.parametrize("spec", SHAPES, ids=IDS)
def test_values_make_the_entry_class(spec: ShapeSpec) -> None:
    values = _sample(spec)
    shape = shape_from_values(spec.name, values)
    assert type(shape) is geometry.GEOMETRY[spec]
    if spec.vertices:  # closed: the first vertex again at the end
        assert shape.args() == (*values, *values[:2])
    else:
        assert shape.args() == tuple(values)
    assert shape_from_values(spec.name, values, include=False) == shape.negated()


@pytest.mark.parametrize("spec", SHAPES, ids=IDS)
def test_lengths_must_not_be_negative(spec: ShapeSpec) -> None:
    values = _sample(spec)
    for i, kind in enumerate(spec.kinds):
        if kind == LENGTH:
            bad = [*values]
            bad[i] = -1.0
            with pytest.raises(XdmRegionError, match="negative radius or size -1"):
                shape_from_values(spec.name, bad)


def _text(spec: ShapeSpec, count: int, word: str | None = None) -> str:
    return f"{word or spec.name}({','.join(str(10 + i) for i in range(count))})"


@pytest.mark.parametrize("spec", SHAPES, ids=IDS)
def test_parser_reads_names_abbreviations_and_counts(spec: ShapeSpec) -> None:
    for count in spec.counts:
        for word in (spec.name, spec.name[: spec.min_len].upper()):
            node = parse_region(_text(spec, count, word))
            if not spec.args:
                assert isinstance(node, n.FieldShape)
            else:
                assert isinstance(node, n.Shape)
                assert node.name == spec.name and len(node.args) == count
    assert lookup_shape(spec.name[: spec.min_len - 1]) is not spec


@pytest.mark.parametrize("spec", SHAPES, ids=IDS)
def test_parser_and_build_word_a_wrong_count_alike(spec: ShapeSpec) -> None:
    bad = max(spec.counts) + 1
    with pytest.raises(XdmRegionSyntaxError) as parsed:
        parse_region(_text(spec, bad))
    assert parsed.value.message == spec.wrong_count(bad)
    if not spec.args:
        return  # field() is a FieldShape node: it has no arguments to miscount
    args = tuple(n.Coordinate(text=str(10 + i)) for i in range(bad))
    with pytest.raises(XdmRegionError) as built:
        xdm.region(n.Shape(name=spec.name, args=args))
    assert built.value.message == spec.wrong_count(bad)
    assert built.value.hint == f"usage: {spec.usage}"


def test_messages_read_the_table() -> None:
    box = BY_NAME["box"]
    assert box.describe() == "box takes 4 or 5 arguments (x, y, width, height, angle)"
    assert box.usage == "box(x, y, width, height[, angle])"
    polygon = BY_NAME["polygon"]
    assert polygon.wrong_count(7) == (
        "polygon takes 3 or more vertices: (x1, y1, x2, y2, x3, y3, ...), "
        "got an odd number of values (7)"
    )
    assert BY_NAME["field"].wrong_count(1).startswith("field takes no arguments")


def test_a_radius_grid_stands_for_both_radii_of_a_ring() -> None:
    for spec in SHAPES:
        n_grid = len(spec.args) - 1
        assert spec.accepts(n_grid, grid=True) == (
            spec.ring or spec.layout(n_grid) is not None
        )
    node = parse_region("annulus(1,2,0:600:10)")
    assert isinstance(node, n.Shape) and isinstance(node.args[2], n.RangeArg)


def test_docs_show_the_table() -> None:
    assert markdown_table() in (ROOT / "docs" / "syntax.md").read_text()


def test_repl_completes_the_table() -> None:
    assert REPL_SHAPES[: len(SHAPE_NAMES)] == SHAPE_NAMES
    assert set(REPL_SHAPES) - set(SHAPE_NAMES) == {"region", "mask"}


def test_the_table_imports_no_numpy() -> None:
    code = "import sys, xdm.lang.shapes; print('numpy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# one row per entry: X = 10, 30, 20, Y = 20, 40, 50, R = 5, 8, ROTANG = 30, 60
TABLE_ROWS = {
    "circle": "circle(10,20,5)",
    "annulus": "annulus(10,20,5,8)",
    "ellipse": "ellipse(10,20,5,8,30)",
    "box": "box(10,20,5,8,30)",
    "rotbox": "rotbox(10,20,5,8,30)",
    "rectangle": "rectangle(10,20,30,40)",
    "rotrectangle": "rotrectangle(10,20,30,40,30)",
    "polygon": "polygon(10,20,30,40,20,50)",
    "pie": "pie(10,20,5,8,30,60)",
    "sector": "sector(10,20,30,60)",
    "point": "point(10,20)",
    "field": "field()",
}


def test_fits_region_tables_map_onto_the_table(tmp_path: Path) -> None:
    from astropy.io import fits

    assert set(TABLE_ROWS) == set(SHAPE_NAMES)
    names = list(TABLE_ROWS)
    rows = len(names)

    def vector(values: list[float]) -> np.ndarray:
        return np.tile(np.array(values), (rows, 1))

    cols = [
        fits.Column(name="SHAPE", format="16A", array=np.array(names)),
        fits.Column(name="X", format="4D", array=vector([10, 30, 20, np.nan])),
        fits.Column(name="Y", format="4D", array=vector([20, 40, 50, np.nan])),
        fits.Column(name="R", format="2D", array=vector([5, 8])),
        fits.Column(name="ROTANG", format="2D", array=vector([30, 60])),
    ]
    fits.BinTableHDU.from_columns(cols, name="REGION").writeto(tmp_path / "r.fits")
    for row, name in enumerate(names, start=1):
        from_table = xdm.region(f"region(r.fits[#row={row}])", base_dir=tmp_path)
        assert from_table.canonical() == xdm.region(TABLE_ROWS[name]).canonical()


def test_a_short_table_column_is_a_clean_error(tmp_path: Path) -> None:
    from astropy.io import fits

    cols = [
        fits.Column(name="SHAPE", format="16A", array=np.array(["annulus"])),
        fits.Column(name="X", format="D", array=np.array([1.0])),
        fits.Column(name="Y", format="D", array=np.array([2.0])),
        fits.Column(name="R", format="D", array=np.array([3.0])),
    ]
    fits.BinTableHDU.from_columns(cols, name="REGION").writeto(tmp_path / "r.fits")
    with pytest.raises(XdmRegionError, match="annulus needs 2 values in the R column"):
        xdm.region("region(r.fits)", base_dir=tmp_path)
