"""Properties of the fused engine (hypothesis), checked against plain numpy.

Filters on different columns commute (``[a][b]``, ``[b][a]``, ``[a,b]`` agree and
equal the AND of the numpy masks); binning keeps the count of in-range events.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from xdm.api import read, select

M82 = Path(__file__).parent / "data" / "events" / "chandra_test.fits"
DATA = fits.getdata(M82, 1)


def _energy() -> st.SearchStrategy[tuple[str, np.ndarray]]:
    def build(lo: int, width: int) -> tuple[str, np.ndarray]:
        e = DATA["energy"]
        return f"energy={lo}:{lo + width}", (e >= lo) & (e < lo + width)

    return st.builds(build, st.integers(0, 9000), st.integers(1, 4000))


def _pi() -> st.SearchStrategy[tuple[str, np.ndarray]]:
    def build(values: list[int]) -> tuple[str, np.ndarray]:
        return "pi=" + ",".join(map(str, values)), np.isin(DATA["pi"], values)

    return st.builds(build, st.lists(st.integers(1, 600), min_size=1, max_size=4))


def _grade() -> st.SearchStrategy[tuple[str, np.ndarray]]:
    def build(lo: int, hi: int) -> tuple[str, np.ndarray]:
        lo, hi = min(lo, hi), max(lo, hi)
        g = DATA["grade"]
        return f"grade={lo}:{hi}", (g >= lo) & (g <= hi)

    return st.builds(build, st.integers(0, 7), st.integers(0, 7))


def _time() -> st.SearchStrategy[tuple[str, np.ndarray]]:
    t = DATA["time"]

    def build(a: float, b: float) -> tuple[str, np.ndarray]:
        lo = float(t.min()) + a * float(np.ptp(t))
        hi = lo + b * float(np.ptp(t)) + 1.0
        if b > 0.5:
            return f"time>{lo!r}", t > lo
        return f"time={lo!r}:{hi!r}", (t >= lo) & (t < hi)

    return st.builds(build, st.floats(0, 1), st.floats(0, 1))


def _circle() -> st.SearchStrategy[tuple[str, np.ndarray]]:
    x, y = DATA["x"].astype(float), DATA["y"].astype(float)

    def build(i: int, r: int) -> tuple[str, np.ndarray]:
        cx, cy = round(float(x[i]), 1) + 0.05, round(float(y[i]), 1) + 0.05
        return f"sky=circle({cx},{cy},{r})", np.hypot(x - cx, y - cy) <= r

    return st.builds(build, st.integers(0, len(x) - 1), st.integers(5, 200))


CLAUSES = (_energy(), _pi(), _grade(), _time(), _circle())


@settings(max_examples=40, deadline=None)
@given(
    st.permutations(range(len(CLAUSES))).flatmap(
        lambda order: st.tuples(CLAUSES[order[0]], CLAUSES[order[1]])
    )
)
def test_filters_on_different_columns_commute(pair: tuple) -> None:
    (a, mask_a), (b, mask_b) = pair
    ab = select(f"{M82}[{a}][{b}]")
    assert np.array_equal(ab, mask_a & mask_b)
    assert np.array_equal(select(f"{M82}[{b}][{a}]"), ab)
    assert np.array_equal(select(f"{M82}[{a},{b}]"), ab)
    assert np.array_equal(select(f"{M82}[exclude {a}]"), ~mask_a)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(3000, 4000),
    st.integers(100, 900),
    st.sampled_from([1, 2.5, 4, 8, 16]),
    _energy(),
)
def test_image_sum_is_count_of_filtered_events_in_range(
    lo: int, width: int, step: float, clause: tuple[str, np.ndarray]
) -> None:
    text, mask = clause
    image = read(
        f"{M82}[{text}][bin x={lo}:{lo + width}:{step},y={lo}:{lo + width}:{step}]"
    )
    n = image.data.shape[0]
    assert image.data.shape == (n, n) and n == int(np.ceil(width / step - 1e-9))
    top = lo + n * step
    x, y = DATA["x"], DATA["y"]
    inside = (x >= lo) & (x < top) & (y >= lo) & (y < top) & mask
    assert int(image.data.sum()) == int(inside.sum())
