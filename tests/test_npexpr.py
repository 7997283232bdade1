"""xdm.engine.npexpr gives numexpr's results bit for bit (numexpr is the oracle).

Every predicate the engine generates for the agreement cases, plus texts that
probe numexpr's type rules: float32 columns against double constants, 8/16-bit
and unsigned integers, bit masks, NaN and infinities, where/minimum/maximum,
squares and square roots, division by arrays. Texts npexpr cannot promise to
match (division by a constant, other powers, other functions) must be refused.
"""

from __future__ import annotations

from pathlib import Path

import numexpr as ne
import numpy as np
import pytest

import xdm
import xdm.engine.executor
from xdm.engine import kernels, npexpr
from xdm.engine.steps import FilterRows

HERE = Path(__file__).parent
CASES = HERE / "cases" / "engine_agreement.txt"


def _columns(n: int = 3000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 300.0, 2000.0, 1e30])
    f4 = rng.normal(1000, 800, n).astype(">f4")
    f4[: len(special)] = special
    f4[10:20] = np.nextafter(np.float32(300.1), np.float32(0)) + np.arange(10) * 1e-5
    f8 = rng.normal(4000, 300, n)
    f8[: len(special)] = special
    return {
        "e": f4,  # big-endian float32
        "t": f8,
        "x": rng.uniform(3000, 5000, n).astype(np.float32),
        "y": rng.uniform(3000, 5000, n).astype(">f4"),
        "g": rng.integers(-5, 300, n).astype(">i2"),
        "c": rng.integers(0, 10, n).astype(np.int8).astype(np.int32),
        "s": rng.integers(-(2**31), 2**31, n).astype(np.int64),
        "b": rng.random(n) < 0.5,
    }


TEXTS = [
    "(e >= 300) & (e < 2000)",
    "(e >= 300.1) & (e < 2000.7)",
    "(e == 300.1) | (e != e)",
    "(g >= 0) & (g <= 3) | (g == 255)",
    "((c == 0) | (c == 2) | ((c >= 3) & (c <= 4)) | (c == 6))",
    "(s & 16) == 0",
    "((s & 3221225472) == 0) & ~((s & 4) != 0)",
    "~b & (e > 0)",
    "sqrt((x - 4110.3)**2 + (y - 4085.7)**2) <= 400.0",
    "(x - 4110.3)**2 + (y - 4085.7)**2 <= 160000.0",
    "((x >= 3700.0) & (x <= 4600.0) & (y >= 3650.0) & (y <= 4500.0))",
    "(((x - 4000.0) / (400.5 + 0.0*x))**2 + ((y - 4000.0) / (200.25 + 0.0*x))**2) <= 1.0",
    "(abs(0.8*(x - 4000.0) + 0.6*(y - 4000.0)) <= 500.0) & (abs(-0.6*(x - 4000.0) + 0.8*(y - 4000.0)) <= 200.0)",
    "where(e > 1000, t, e) > 3500.5",
    "minimum(e, t) < 900.25",
    "maximum(floor(e), -1.0) >= 3.0",
    "(t >= 4000.0) & (t < 4100.5) | (t >= -1e300) & ~(t < 4200.0)",
    "-e < -300.5",
    "(x == x) | (x != x)",
    "(x + y) > 8000.5",  # float32 + float32 stays float32
    "(g * 300) > 20000",  # int16 read as int32: no 16-bit overflow
]


@pytest.mark.parametrize("text", TEXTS)
def test_texts_equal_numexpr(text):
    cols = _columns()
    kinds = npexpr.kinds_of(cols)
    program = npexpr.compile(text, kinds)
    assert program is not None, text
    env = {k: npexpr.Program.convert(v) for k, v in cols.items()}
    want = ne.evaluate(text, local_dict=cols)
    got = program.run(env)
    assert got.dtype == want.dtype
    assert np.array_equal(got, want)
    assert 0 < want.sum() < len(want) or text == "(x == x) | (x != x)"


@pytest.mark.parametrize(
    "text",
    [
        "e / 3.0 > 1",  # numexpr multiplies by 1/3
        "e**3 > 1",
        "g / 2 > 1",
        "arctan2(x, y) > 0",
        "sqrt(g) > 2",
        "b + b",
        "e < 'a'",
        "1 < e < 3",
    ],
)
def test_texts_it_cannot_promise_are_refused(text):
    assert npexpr.compile(text, npexpr.kinds_of(_columns(40))) is None


def _agreement_predicates(synthetic: Path) -> list[str]:
    out = []
    for line in CASES.read_text().splitlines():
        line = line.strip()
        if not line.startswith("syn"):
            continue
        suffix = line.split(None, 1)[1]
        if "{aux}" in suffix:
            continue
        try:
            plan = xdm.plan(f"{synthetic}{suffix}")
        except xdm.XdmError:
            continue
        filt = plan.find(FilterRows)
        if filt is not None and filt.predicate != "True":
            out.append(f"{synthetic}{suffix}")
    return out


def test_engine_predicates_equal_numexpr(synthetic_events, monkeypatch):
    """The engine's own fused predicates, on the synthetic file: the numpy path
    (taken for chunks of SUBCHUNK rows or more) against numexpr alone."""
    texts = _agreement_predicates(synthetic_events)
    assert len(texts) >= 40
    took_numpy = 0
    for text in texts:
        plan = xdm.plan(text)
        filt = plan.find(FilterRows)
        with xdm.engine.executor._open(plan) as block:
            for _, _records, env in xdm.engine.executor._chunks(plan, block):
                got = kernels._evaluate_numpy(filt.predicate, env)
                want = ne.evaluate(filt.predicate, local_dict=env, global_dict={})
                if got is None:
                    continue
                took_numpy += 1
                assert np.array_equal(got, np.broadcast_to(want, got.shape)), text
    assert took_numpy >= 0.8 * len(texts)
