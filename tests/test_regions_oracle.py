"""Region masks against CIAO's region library (tests/data/regions-ciao.npz).

240 expressions x 2000 points, masks computed by CIAO; many points sit exactly
on edges, vertices and centres, so this pins CIAO's boundary rules too.
"""

from __future__ import annotations

from pathlib import Path

import numexpr as ne
import numpy as np
import pytest

import xdm

ORACLE = Path(__file__).parent / "data" / "regions-ciao.npz"


@pytest.fixture(scope="module")
def oracle() -> dict[str, np.ndarray]:
    with np.load(ORACLE) as d:
        return {k: d[k] for k in d.files}


@pytest.fixture(scope="module")
def regions(oracle):
    return [xdm.region(str(e)) for e in oracle["expr"]]


def test_oracle_shape(oracle):
    assert oracle["expr"].shape == (240,)
    assert oracle["inside"].shape == (240, 2000)
    assert [r for r in oracle["rejected"] if r] == []


def test_masks_equal_ciao_on_every_point(oracle, regions):
    wrong = 0
    for i, r in enumerate(regions):
        got = r.contains(oracle["x"][i], oracle["y"][i])
        wrong += int(np.count_nonzero(got != oracle["inside"][i]))
    assert wrong == 0
    assert oracle["inside"].size == 480_000


def test_canonical_equals_ciao(oracle, regions):
    assert [r.canonical() for r in regions] == [str(c) for c in oracle["canonical"]]


def test_numexpr_text_equals_ciao(oracle, regions):
    evaluated = 0
    for i, r in enumerate(regions):
        text = r.to_numexpr("x", "y")
        if text is None:
            continue
        x, y = oracle["x"][i], oracle["y"][i]
        got = ne.evaluate(text, local_dict={"x": x, "y": y})
        assert np.array_equal(got, oracle["inside"][i]), oracle["expr"][i]
        evaluated += 1
    assert evaluated >= 110  # all but those with polygons, pies or sectors


def test_bbox_holds_every_inside_point(oracle, regions):
    for i, r in enumerate(regions):
        box = r.bbox
        inside = oracle["inside"][i]
        if box is None or not inside.any():
            continue
        x, y = oracle["x"][i][inside], oracle["y"][i][inside]
        assert box[0] <= x.min() and x.max() <= box[1]
        assert box[2] <= y.min() and y.max() <= box[3]


def test_canonical_round_trips(oracle, regions):
    """CIAO's printed form parses back to the same region."""
    for i, r in enumerate(regions):
        again = xdm.region(r.canonical())
        got = again.contains(oracle["x"][i], oracle["y"][i])
        assert np.array_equal(got, oracle["inside"][i]), oracle["expr"][i]


def test_oracle_exercises_exact_boundaries(oracle, regions):
    """Many oracle points sit exactly on rims, edges, vertices and centres, so the
    equality above pins CIAO's boundary rules (rims and edges are inside)."""
    from xdm.regions import shapes as s

    on = 0
    for i, r in enumerate(regions):
        x, y = oracle["x"][i], oracle["y"][i]
        for comp in r.components:
            for sh in comp:
                if isinstance(sh, s.Circle):
                    on += np.count_nonzero(
                        np.sqrt((x - sh.xc) ** 2 + (y - sh.yc) ** 2) == sh.r
                    )
                elif isinstance(sh, s.Annulus):
                    d = np.sqrt((x - sh.xc) ** 2 + (y - sh.yc) ** 2)
                    on += np.count_nonzero((d == sh.r0) | (d == sh.r1))
                elif isinstance(sh, s.Rectangle):
                    on += np.count_nonzero(
                        ((x == sh.x0) | (x == sh.x1)) & (y >= sh.y0) & (y <= sh.y1)
                    )
                elif isinstance(sh, s.Box) and sh.angle == 0:
                    hx, hy = sh.width / 2, sh.height / 2
                    on += np.count_nonzero(
                        ((x == sh.xc - hx) | (x == sh.xc + hx)) & (abs(y - sh.yc) <= hy)
                    )
                elif isinstance(sh, s.Polygon):
                    on += sum(
                        np.count_nonzero((x == a) & (y == b))
                        for a, b in zip(sh.xs, sh.ys)
                    )
                elif isinstance(sh, s.Pie | s.Sector | s.Point):
                    on += np.count_nonzero((x == sh.xc) & (y == sh.yc))
    assert on >= 100
