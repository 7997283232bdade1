"""The region cell table (xdm.regions.raster) gives the exact test's answers.

Oracles: CIAO's own masks (tests/data/regions-ciao.npz, edges and vertices
included) and ``Region.contains``, on points placed where a table could go
wrong: on edges and vertices, one ulp either side, on cell sides and corners,
NaN and infinities, at several cell sizes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import xdm
import xdm.api
from xdm.regions import raster
from xdm.regions.shapes import Polygon

HERE = Path(__file__).parent
ORACLE = HERE / "data" / "regions-ciao.npz"
CHANDRA = HERE / "data" / "events" / "chandra_test.fits"

REGIONS = [
    "polygon(3700,3650,4550,3700,4600,4500,3650,4450)",
    "polygon(3700,3650,4550,3700,4600,4500,3650,4450)-circle(4096.5,4096.5,30)"
    "-circle(4210.4,4031.2,20)",
    "polygon(0,0,10,0,10,10,5,3,0,10)",  # concave
    "polygon(0,0,10,10,10,0,0,10)",  # self-intersecting bow tie
    "polygon(1.5,1.5,1.5000001,9.25,7.125,1.5)",  # a near-vertical sliver
    "box(100.25,200.5,40,10,33)+annulus(120,190,3,9.5)",
    "rotbox(4096.5,4096.5,300,80,-71.5)*!point(4096.5,4096.5)",
    "field()-polygon(10,10,30,12,25,40)",  # unbounded: outside the grid is inside
    "!polygon(10,10,30,12,25,40)+circle(20,20,3)",
    "rectangle(2,3,8.5,9)-box(5,5,1,1)",
    "polygon(10,10,30,12,25,40)&circle(20,20,12)",
]


def _ulps(v: np.ndarray) -> np.ndarray:
    return np.concatenate([v, np.nextafter(v, -np.inf), np.nextafter(v, np.inf)])


def _hard_points(r: xdm.Region, table: raster.Raster, rng) -> tuple:
    """Vertices, edge and rim points, cell sides and corners (each +- one ulp, in
    float64 and rounded to float32), and noise around the whole table."""
    xs, ys = [], []
    for component in r.components:
        for shape in component:
            if isinstance(shape, Polygon):
                ax, ay = np.asarray(shape.xs), np.asarray(shape.ys)
                t = rng.random((len(ax) - 1, 40))
                xs += [ax, (ax[:-1, None] + t * np.diff(ax)[:, None]).ravel()]
                ys += [ay, (ay[:-1, None] + t * np.diff(ay)[:, None]).ravel()]
            elif shape.args():
                xc, yc, *rest = shape.args()
                angle = rng.random(200) * 2 * np.pi
                for radius in [0.0, *rest[:2]]:
                    xs.append(xc + radius * np.cos(angle))
                    ys.append(yc + radius * np.sin(angle))
    px, py = np.concatenate(xs), np.concatenate(ys)
    px, py = _ulps(px), _ulps(py)
    px32, py32 = (v.astype(np.float32).astype(float) for v in (px, py))
    gx = table.x0 + np.arange(-1, table.nx + 2) * table.cell
    gy = table.y0 + np.arange(-1, table.ny + 2) * table.cell
    cx, cy = np.meshgrid(_ulps(gx), _ulps(gy))
    span = max(table.nx, table.ny) * table.cell
    noise_x = table.x0 - span + rng.random(20_000) * 3 * span
    noise_y = table.y0 - span + rng.random(20_000) * 3 * span
    return (
        np.concatenate([px, px32, cx.ravel(), noise_x]),
        np.concatenate([py, py32, cy.ravel(), noise_y]),
    )


@pytest.fixture(autouse=True)
def _fresh_tables():
    raster.for_region.cache_clear()
    yield
    raster.for_region.cache_clear()


@pytest.mark.parametrize("cells", [3, 16, 256, 1024])
def test_oracle_points_through_the_table(cells):
    with np.load(ORACLE) as d:
        exprs, xs, ys, inside = d["expr"], d["x"], d["y"], d["inside"]
    tabled = 0
    for i, e in enumerate(exprs):
        table = raster.for_region(xdm.region(str(e)), cells)
        if table is None:
            continue
        tabled += 1
        got = table.contains(xs[i], ys[i])
        assert np.array_equal(got, inside[i]), str(e)
    assert tabled >= 100  # every oracle region made of segments and circles


@pytest.mark.parametrize("cells", [5, 64, 256])
@pytest.mark.parametrize("text", REGIONS)
def test_hard_points_equal_the_exact_test(cells, text):
    r = xdm.region(text)
    table = raster.for_region(r, cells)
    assert table is not None
    x, y = _hard_points(r, table, np.random.default_rng(cells))
    want = r.contains(x, y)
    assert np.array_equal(table.contains(x, y), want)
    assert 0 < want.sum() < len(want)
    # float32 big-endian strided input, as the engine hands it over
    rows = np.zeros(len(x), dtype=[("x", ">f4"), ("pad", ">i2"), ("y", ">f4")])
    rows["x"], rows["y"] = x, y
    x32, y32 = rows["x"], rows["y"]
    assert np.array_equal(
        table.contains(x32, y32), r.contains(x32.astype(float), y32.astype(float))
    )


def test_sub_chunk_seams():
    r = xdm.region(REGIONS[1])
    rng = np.random.default_rng(7)
    x = rng.uniform(3600, 4700, 25_321)
    y = rng.uniform(3600, 4700, 25_321)
    table = raster.for_region(r)
    assert np.array_equal(table.contains(x, y, subchunk=1000), r.contains(x, y))


def test_nan_and_infinity_follow_the_exact_test():
    for text in (REGIONS[0], REGIONS[7], REGIONS[8]):
        r = xdm.region(text)
        v = np.array([np.nan, np.inf, -np.inf, 20.0, 4000.0, 1e300, -1e300])
        x, y = np.meshgrid(v, v)
        x, y = x.ravel(), y.ravel()
        with np.errstate(over="ignore", invalid="ignore"):  # 1e300 squared
            want = r.contains(x, y)
            assert np.array_equal(raster.for_region(r).contains(x, y), want)


def test_curved_shapes_have_no_table():
    for text in ("ellipse(10,10,4,2,30)", "pie(10,10,0,5,10,80)", "sector(1,1,10,20)"):
        assert raster.for_region(xdm.region(text)) is None


def test_table_leaves_few_points_to_the_exact_test():
    table = raster.for_region(xdm.region(REGIONS[1]))
    assert table.exact_fraction < 0.08  # the rest is answered by the table


@pytest.mark.parametrize(
    "suffix",
    [
        "[sky=polygon(4000,3900,4400,3950,4350,4250,4050,4200)-circle(4149.6,4083.0,20)]",
        "[exclude sky=polygon(4000,3900,4400,3950,4350,4250,4050,4200)]",
        "[sky=rotbox(4150,4080,200,90,20)+polygon(4000,3900,4100,3950,4050,4100)]",
    ],
)
def test_engine_rows_equal_with_and_without_the_table(monkeypatch, suffix):
    text = f"{CHANDRA}{suffix}"
    monkeypatch.setenv("XDM_RASTER_MIN_POINTS", str(10**12))
    exact = xdm.api.select(text)
    monkeypatch.setenv("XDM_RASTER_MIN_POINTS", "0")
    tabled = xdm.api.select(text)
    assert 0 < exact.sum() < len(exact)
    assert np.array_equal(tabled, exact)


def test_the_table_threshold_comes_from_the_environment(monkeypatch):
    r = xdm.region(REGIONS[1])
    monkeypatch.delenv("XDM_RASTER_MIN_POINTS", raising=False)
    assert raster.for_points(r, raster.MIN_POINTS - 1) is None
    assert raster.for_points(r, raster.MIN_POINTS) is raster.for_region(r)
    monkeypatch.setenv("XDM_RASTER_MIN_POINTS", "0")
    assert raster.for_points(r, 1) is raster.for_region(r)
    monkeypatch.setenv("XDM_RASTER_MIN_POINTS", str(10**12))
    assert raster.for_points(r, 10**9) is None
