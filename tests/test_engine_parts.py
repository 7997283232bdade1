"""A predicate evaluated a cache-sized part at a time (kernels.predicate_parts,
Rows.keep_in_parts) gives the mask kernels.evaluate gives for the whole chunk,
and the padded-grid index asking it part by part equals the index given the
whole mask.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from xdm.engine import kernels
from xdm.engine.run import Rows
from xdm.expr import Arith, Var, all_of, compare, const, number


def _records(n: int, seed: int = 0) -> np.ndarray:
    """Event-like rows: big-endian columns inside a 60-byte record, as mapped."""
    dtype = [("energy", ">f4"), ("x", ">f4"), ("y", ">f4"), ("pi", ">i2")]
    rec = np.zeros(n, dtype=[*dtype, ("pad", "V46")])
    rng = np.random.default_rng(seed)
    rec["energy"] = rng.uniform(0, 10000, n)
    rec["x"] = rng.uniform(-100, 8400, n)
    rec["y"] = rng.uniform(-100, 8400, n)
    rec["pi"] = rng.integers(0, 1024, n)
    rec["energy"][::97] = np.nan
    rec["x"][::101] = np.inf
    return rec


ENERGY = all_of(
    [
        compare(Var("energy"), ">=", number(300)),
        compare(Var("energy"), "<", number(2000)),
    ]
)
WIDER = all_of([ENERGY, compare(Var("pi"), "!=", number(7))])


def _env(rec: np.ndarray) -> dict[str, np.ndarray]:
    return {name: rec[name] for name in ("energy", "x", "y", "pi")}


@pytest.mark.parametrize("tree", [ENERGY, WIDER])
def test_parts_equal_the_whole_mask(tree) -> None:
    rec = _records(3 * kernels.SUBCHUNK + 17)
    env = _env(rec)
    want = kernels.evaluate(tree, env)
    part = kernels.predicate_parts(tree, env)
    assert part is not None
    bounds = [0, 1, 4096, 4100, 70000, 131072, len(rec)]
    got = np.concatenate([part(a, b) for a, b in itertools.pairwise(bounds)])
    assert got.dtype == np.bool_ and np.array_equal(got, want)


def test_no_parts_where_numexpr_runs() -> None:
    small = _env(_records(kernels.SUBCHUNK - 1))
    assert kernels.predicate_parts(ENERGY, small) is None  # numexpr's size
    big = _env(_records(kernels.SUBCHUNK))
    index = Arith("*", Var("x"), const(2.0))
    assert kernels.predicate_parts(index, big) is None  # not a predicate
    assert kernels.predicate_parts(compare(const(1), "<", const(2)), big) is None


@pytest.mark.parametrize("subchunk", [None, 4096, 5000])
def test_padded_index_asks_each_part_once(subchunk) -> None:
    rec = _records(2 * kernels.SUBCHUNK + 333, seed=1)
    env = _env(rec)
    axes = ((0.5, 0.125, 1024, None), (0.5, 0.125, 1024, None))
    values = [rec["x"], rec["y"]]
    keep = kernels.evaluate(ENERGY, env)
    want = kernels.padded_index(values, axes, keep, np.empty(len(rec), np.intp))
    part = kernels.predicate_parts(ENERGY, env)
    assert part is not None
    asked = np.zeros(len(rec), dtype=np.int64)

    def counted(a: int, b: int) -> np.ndarray:
        asked[a:b] += 1
        return part(a, b)

    out = np.empty(len(rec), np.intp)
    got = kernels.padded_index(values, axes, counted, out, subchunk=subchunk)
    assert np.array_equal(got, want)
    assert np.all(asked == 1)


def test_rows_keep_in_parts_fills_the_mask() -> None:
    rec = _records(kernels.SUBCHUNK + 5)
    rows = Rows(0, rec)
    rows.env.update(_env(rec))

    def mask(r: Rows) -> np.ndarray:
        return kernels.evaluate(ENERGY, r.env)

    def parts(r: Rows):
        return kernels.predicate_parts(ENERGY, r.env)

    rows.filter_by(mask, parts)
    got = rows.keep_in_parts()
    assert got is not None
    keep, fill = got
    for a in range(0, len(rec), 4096):
        fill(a, min(len(rec), a + 4096))
    rows.kept(keep)
    assert np.array_equal(rows.keep, mask(rows))
    assert rows.keep_in_parts() is None  # known now: ask keep

    rows.filter_by(mask)  # no parts: the whole mask
    assert rows.keep_in_parts() is None
    rows.filter_by(None, parts)  # every row kept
    assert rows.keep_in_parts() is None and rows.keeps_all


def test_values_off_the_axis_land_in_the_spare_cells() -> None:
    """NaN, infinities and values far beyond the axis go to the spare cells, on any
    platform (they are clipped before the cast to an integer, which C leaves
    undefined for them)."""
    v = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 2.0**70, 0.5, 8.0, 8191.9])
    out = np.empty(len(v), np.intp)
    got = kernels.padded_index([v], ((0.5, 0.125, 1024, None),), None, out)
    assert got.tolist() == [0, 1025, 0, 1025, 0, 1025, 1, 1, 1024]
