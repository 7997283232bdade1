"""Bin indices from numpy on a padded grid (kernels.padded_index) equal the fused
index expression (binindex.histogram_expression), the engine's general path,
evaluated by numexpr and, where npexpr takes it, by numpy, on values placed at
every bin edge, one ulp either side, out of range, NaN and infinite; and whole
images agree both ways on the synthetic file.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xdm
from xdm.engine import binindex, executor, kernels, npexpr
from xdm.engine.steps import BinGrid, Histogram
from xdm.expr import TRUE


def _grid(var: str, lo: float, step: float, n: int, integer: bool = False) -> BinGrid:
    return BinGrid(column=var, var=var, lo=lo, step=step, nbins=n, integer=integer)


def _edge_values(g: BinGrid, dtype) -> np.ndarray:
    edges = g.lo + np.arange(-2, g.nbins + 3) * g.step
    v = np.concatenate(
        [edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)]
    )
    v = np.concatenate([v, v.astype(np.float32), v + g.step / 2])
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        v = np.round(v[np.isfinite(v)])
        v = v[(v >= info.min) & (v <= info.max)]
        return np.concatenate([v, [info.min, info.max]]).astype(dtype)
    extra = [np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -0.0]
    return np.concatenate([v, extra]).astype(dtype)


def _expression_counts(grids, env, keep=None):
    tree = binindex.histogram_expression(TRUE if keep is None else binindex.KEEP, grids)
    local = dict(env)
    local.update({k: np.float64(v) for k, v in binindex.step_operands(grids).items()})
    if keep is not None:
        local["_keep"] = keep
    flat = np.asarray(kernels.evaluate(tree, local, backend="numexpr"))
    if npexpr.compile(tree, npexpr.kinds_of(local)) is not None:
        # the numpy route (non-power-of-two steps: no division by a constant)
        assert np.array_equal(kernels.evaluate(tree, local, backend="numpy"), flat)
    size = math.prod(g.nbins for g in grids)
    return np.bincount(flat.astype(np.intp), minlength=size + 1)[:size]


def _padded_counts(grids, env, keep=None, types=None, subchunk=None):
    axes = binindex.padded_axes(grids, types)
    assert axes is not None
    n = len(next(iter(env.values())))
    flat = kernels.padded_index(
        [env[g.var] for g in grids],
        axes,
        keep,
        np.empty(n, dtype=np.intp),
        subchunk=subchunk,
    )
    shape = tuple(a[2] + 2 for a in reversed(axes))
    counts = np.bincount(flat, minlength=math.prod(shape)).reshape(shape)
    return counts[tuple(slice(1, -1) for _ in shape)].reshape(-1)


GRIDS = [
    (0.5, 8.0, 1024),  # bin 8 over TLMIN/TLMAX 0.5:8192.5
    (0.5, 1.0, 8192),
    (3600.5, 0.5, 2000),
    (4000.25, 0.25, 37),
    (-10.5, 4.0, 8),
    (0.0, 2.0**-10, 50),
    (1e6 + 0.5, 64.0, 12),
]


@pytest.mark.parametrize("dtype", [">f4", "<f8", ">f8", ">i2", "<i4"])
@pytest.mark.parametrize(("lo", "step", "n"), GRIDS)
def test_one_axis_at_every_edge(lo, step, n, dtype):
    g = _grid("x", lo, step, n)
    x = _edge_values(g, dtype)
    env = {"x": x}
    assert np.array_equal(_padded_counts([g], env), _expression_counts([g], env))


def test_two_axes_with_a_mask_and_chunk_seams():
    rng = np.random.default_rng(3)
    gx, gy = _grid("x", 3600.5, 0.5, 2000), _grid("y", 0.5, 8.0, 1024)
    x = np.concatenate([_edge_values(gx, ">f4"), rng.normal(4100, 500, 50_000)])
    y = np.resize(_edge_values(gy, ">f4"), len(x))
    rows = np.zeros(len(x), dtype=[("x", ">f4"), ("time", ">f8"), ("y", ">f4")])
    rows["x"], rows["y"] = x, y
    env = {"x": rows["x"], "y": rows["y"]}  # big-endian strided views
    keep = rng.random(len(x)) < 0.6
    for k in (None, keep):
        want = _expression_counts([gx, gy], env, k)
        # sub-chunks of 777 rows: many sub-chunks and threads
        assert np.array_equal(_padded_counts([gx, gy], env, k, subchunk=777), want)
        assert want.sum() > 10_000


def test_integer_unit_bins():
    g = _grid("pi", 0.5, 1.0, 1024, integer=True)
    pi = np.arange(-5, 1100, dtype=">i4").repeat(3)
    env = {"pi": pi}
    assert binindex.padded_axes([g]) == ((0.5, 1.0, 1024, 1),)
    assert np.array_equal(_padded_counts([g], env), _expression_counts([g], env))


def test_grids_the_padded_path_cannot_prove_use_the_expression():
    assert binindex.padded_axes([_grid("x", 0.5, 0.1, 10)]) is None  # not 2**k
    # edges rounding away: lo = 1e17 has no float64 neighbour 0.5 below it
    assert binindex.padded_axes([_grid("x", 1e17, 0.5, 10)]) is None
    # the float64 just below hi = 25.5 rounds to hi in v - lo (a float32 would not)
    assert binindex.padded_axes([_grid("x", -10.5, 4.0, 9)]) is None


@settings(max_examples=150, deadline=None)
@given(
    lo=st.floats(-1e5, 1e5, allow_nan=False).map(lambda v: round(v * 4) / 4 + 0.5),
    k=st.integers(-6, 6),
    n=st.integers(1, 300),
    seed=st.integers(0, 2**16),
)
def test_random_grids_agree(lo, k, n, seed):
    g = _grid("x", lo, 2.0**k, n)
    if binindex.padded_axes([g]) is None:
        return
    rng = np.random.default_rng(seed)
    noise = lo + (rng.random(2000) * 1.4 - 0.2) * n * g.step
    x = np.concatenate([_edge_values(g, ">f4"), noise.astype(">f4")])
    env = {"x": x}
    assert np.array_equal(_padded_counts([g], env), _expression_counts([g], env))


@pytest.mark.parametrize(
    "suffix",
    [
        "[energy=300:2000][bin x=::8,y=::8]",
        "[bin x=3600.5:4600.5:0.5,y=3600.5:4600.5:0.5]",
        "[bin sky=1]",
        "[sky=circle(4096.5,4096.5,200)][bin pi=1:1024:1]",
        "[ccd_id=0:3][bin chipx=::4,chipy=::4]",
        "[bin x=::16,y=::16;energy]",  # weighted
        "[energy=500:7000][bin x=4000:4200:0.25,y=4000:4200:0.25,energy=0:8192:1024]",
    ],
)
def test_images_equal_both_ways(synthetic_events, suffix):
    text = f"{synthetic_events}{suffix}"
    padded = xdm.read(text)
    plan = xdm.plan(text)
    assert plan.find(Histogram).padded is not None
    # the same plan with the index expression instead of the padded grid
    steps = tuple(
        dataclasses.replace(s, padded=None) if isinstance(s, Histogram) else s
        for s in plan.steps
    )
    plain = executor.evaluate(dataclasses.replace(plan, steps=steps))
    assert padded.data.dtype == plain.data.dtype
    assert np.array_equal(padded.data, plain.data)
    assert padded.data.sum() > 0


def test_column_types_decide_the_edges():
    # lo = 0: the float64 below 0 underflows to -0 bins (refused); float32 does not
    g = _grid("energy", 0.0, 1024.0, 8)
    assert binindex.padded_axes([g]) is None
    assert binindex.padded_axes([g], ["f4"]) == ((0.0, 1 / 1024, 8, None),)
    assert binindex.padded_axes([g], ["int"]) is not None
    x = _edge_values(g, ">f4")
    assert np.array_equal(
        _padded_counts([g], {"energy": x}, types=["f4"]),
        _expression_counts([g], {"energy": x}),
    )
