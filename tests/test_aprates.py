"""xdm aprates against closed forms and an independent numerical integration.

Oracles: the n = 0 posterior f e^{-fS} exactly (upper bound -ln(1-conf)/f),
the spec's double-sum closed form evaluated with math.lgamma in plain Python,
and the defining integral over b by scipy.integrate.quad with the interval's
mass and its highest-density condition checked by quad again; scalings with T
and 1/alpha that follow from the model (workflows.md 6.2, 7 item 2).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize

import xdm.tools
from xdm import XdmSemanticError
from xdm.cli.main import main


def _log_double_sum(s: float, n: int, m: int, f: float, g: float, r: float) -> float:
    """The spec's closed form, term by term (plain Python, small n and m)."""
    terms = []
    for k in range(n + 1):
        for j in range(m + 1 if g > 0 else 1):  # g = 0: only j = 0 survives
            e = n + m - k - j
            t = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            t += math.lgamma(m + 1) - math.lgamma(j + 1) - math.lgamma(m - j + 1)
            if k:
                t += k * math.log(f * s)
            if j:
                t += j * math.log(g * s)
            if m - j:
                t += (m - j) * math.log(r)
            t += math.lgamma(e + 1) - (e + 1) * math.log1p(r)
            terms.append(t)
    top = max(terms)
    return -(f + g) * s + top + math.log(sum(math.exp(t - top) for t in terms))


def _quad_density(n: int, m: int, f: float, g: float, r: float, scale: float):
    """p(S) from the defining integral over b (scipy quad), unnormalised."""

    def p(s: float) -> float:
        def integrand(b: float) -> float:
            v = -(f + g) * s - (1 + r) * b
            if n:
                v += n * math.log(f * s + b)
            if m:
                v += m * math.log(g * s + r * b)
            return math.exp(v - scale)

        return integrate.quad(integrand, 0, np.inf, limit=400)[0]

    return p


CASES = [
    (5, 3, 1.0, 0.0, 4.0),
    (20, 10, 0.9, 0.0, 10.0),
    (30, 30, 0.8, 0.0, 3.0),
    (50, 20, 0.8, 0.1, 5.0),
    (25, 15, 0.9, 0.05, 6.0),
]


def _run(n: int, m: int, f: float, g: float, r: float, conf: float = 0.9):
    return xdm.tools.aprates(n=n, m=m, alpha=f, beta=g, A_s=1.0, A_b=r, conf=conf)


@pytest.mark.parametrize(
    ("f", "conf", "m"), [(1.0, 0.9, 0), (0.7, 0.68, 7), (0.25, 0.99, 3)]
)
def test_no_source_counts_exact_exponential(f: float, conf: float, m: int) -> None:
    e = _run(0, m, f, 0.0, 3.0, conf).src_cnts
    assert e is not None
    assert e.mode == 0.0 and e.lo is None
    assert e.hi == pytest.approx(-math.log(1 - conf) / f, rel=1e-6)
    # the whole density is f e^{-fS}
    np.testing.assert_allclose(
        e.density, f * np.exp(-f * e.grid), rtol=1e-4, atol=1e-9 * f
    )


@pytest.mark.parametrize(("n", "m", "f", "g", "r"), CASES)
def test_density_equals_the_double_sum_closed_form(
    n: int, m: int, f: float, g: float, r: float
) -> None:
    e = _run(n, m, f, g, r).src_cnts
    assert e is not None
    pick = e.grid[:: max(1, e.grid.size // 40)]
    logs = np.array([_log_double_sum(float(s), n, m, f, g, r) for s in pick if s > 0])
    ours = np.log(e.density[:: max(1, e.grid.size // 40)][pick > 0])
    keep = ours > np.max(ours) - 25
    diff = (logs - ours)[keep]
    # same shape: the log densities differ by one constant (the normalisation)
    assert np.ptp(diff) < 1e-6


@pytest.mark.parametrize(("n", "m", "f", "g", "r"), CASES)
def test_mode_and_interval_against_quadrature(
    n: int, m: int, f: float, g: float, r: float
) -> None:
    e = _run(n, m, f, g, r).src_cnts
    assert e is not None and e.lo is not None and e.hi is not None
    scale = _log_double_sum(max(e.mode, 1e-9), n, m, f, g, r)
    p = _quad_density(n, m, f, g, r, scale)
    z = integrate.quad(p, 0, e.mode, limit=400)[0]
    z += integrate.quad(p, e.mode, np.inf, limit=400)[0]
    mass = integrate.quad(p, e.lo, e.hi, limit=400)[0] / z
    assert mass == pytest.approx(0.9, abs=1e-4)
    # highest density: equal density at both edges
    assert p(e.lo) / p(e.hi) == pytest.approx(1.0, rel=2e-3)
    mode = optimize.minimize_scalar(
        lambda s: -p(s),
        bounds=(e.lo, e.hi),
        method="bounded",
        options={"xatol": 1e-10},
    ).x
    assert e.mode == pytest.approx(mode, rel=1e-4)
    # the edges themselves, by root finding on the quad density at the same level
    level = p(e.hi)
    lo = optimize.brentq(
        lambda s: p(s) - level, 0.0 if e.lo < 1e-12 else e.lo * 0.5, e.mode
    )
    assert e.lo == pytest.approx(lo, rel=1e-3)


def test_interval_reaching_zero_is_an_upper_bound() -> None:
    n, m, f, g, r = 3, 40, 0.9, 0.0, 10.0
    e = _run(n, m, f, g, r).src_cnts
    assert e is not None and e.lo is None and e.hi is not None
    scale = _log_double_sum(1.0, n, m, f, g, r)
    p = _quad_density(n, m, f, g, r, scale)
    z = integrate.quad(p, 0, np.inf, limit=400)[0]
    assert integrate.quad(p, 0, e.hi, limit=400)[0] / z == pytest.approx(0.9, abs=1e-4)
    assert p(0.0) > p(e.hi)  # the HPD set {p > p(hi)} reaches S = 0


def test_rate_scales_with_exposure_and_fluxes_with_exposure_map() -> None:
    base = dict(n=17, m=25, A_s=10.0, A_b=80.0, alpha=0.9, beta=0.0)
    one = xdm.tools.aprates(**base)
    out = xdm.tools.aprates(**base, T_s=2500.0, E_s=3.0e6, eng_s=2.0e-9)
    c, rate = one.src_cnts, out.src_rate
    ph, ef = out.photflux_aper, out.eflux_aper
    assert c is not None and rate is not None and ph is not None and ef is not None
    for q, scale in ((rate, 2500.0), (ph, 3.0e6), (ef, 3.0e6 / 2.0e-9)):
        assert q.mode * scale == pytest.approx(c.mode, rel=1e-6)
        assert q.lo is not None and c.lo is not None and q.hi is not None
        assert q.lo * scale == pytest.approx(c.lo, rel=1e-6)
        assert q.hi * scale == pytest.approx(c.hi, rel=1e-6)
    # flux_s in place of eng_s: eng_s = flux_s E_s / n
    alt = xdm.tools.aprates(**base, T_s=2500.0, E_s=3.0e6, flux_s=2.0e-9 * 17 / 3.0e6)
    assert alt.eflux_aper is not None
    assert alt.eflux_aper.mode == pytest.approx(ef.mode, rel=1e-6)
    assert one.src_rate is None and one.photflux_aper is None


def test_rate_scales_as_one_over_alpha_when_beta_is_zero() -> None:
    # spec section 7 item 2: 0.0263 / 0.8699 = 0.0302
    a = xdm.tools.aprates(n=200, m=40, A_b=20.0, alpha=1.0, T_s=7600.0).src_rate
    b = xdm.tools.aprates(
        n=200, m=40, A_b=20.0, alpha=0.86991358226167, T_s=7600.0
    ).src_rate
    assert a is not None and b is not None and a.lo is not None and b.lo is not None
    assert b.mode == pytest.approx(a.mode / 0.86991358226167, rel=1e-6)
    assert b.lo == pytest.approx(a.lo / 0.86991358226167, rel=1e-5)


def test_beta_moves_the_mode_to_the_joint_solution() -> None:
    n, m, r = 10_000, 30_000, 10.0
    for beta in (0.0, 0.05, 0.1):
        e = xdm.tools.aprates(n=n, m=m, A_b=r, alpha=0.9, beta=beta).src_cnts
        assert e is not None
        # large counts: the mode tends to the solution of n = fS + b, m = gS + rb
        assert e.mode == pytest.approx((r * n - m) / (r * 0.9 - beta), rel=1e-3)
    e0 = xdm.tools.aprates(n=n, m=m, A_b=r, beta=0.0).src_cnts
    e1 = xdm.tools.aprates(n=n, m=m, A_b=r, beta=0.05).src_cnts
    assert e0 is not None and e1 is not None and e1.mode > e0.mode


def test_large_counts_under_a_second() -> None:
    xdm.tools.aprates(n=10, m=10)  # imports
    for beta in (0.0, 0.05):
        t0 = time.perf_counter()
        e = xdm.tools.aprates(
            n=100_000, m=100_000, A_b=2.0, alpha=0.9, beta=beta
        ).src_cnts
        assert time.perf_counter() - t0 < 1.0
        assert e is not None and e.lo is not None and e.hi is not None
        # near-normal: classical net and error
        net = (2.0 * 100_000 - 100_000) / (2.0 * 0.9 - beta)
        sigma = math.sqrt(100_000 + 100_000 / 4.0) / (0.9 - beta / 2.0)
        assert e.mode == pytest.approx(net, rel=1e-3)
        assert (e.hi - e.lo) / 2 == pytest.approx(1.6448536 * sigma, rel=2e-2)


def test_parameter_file_and_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.par"
    assert main(["aprates", "n=0", "m=4", "T_s=100", f"outfile={out}"]) == 0
    printed = capsys.readouterr().out.splitlines()
    lines = out.read_text().splitlines()
    assert printed == lines and len(lines) == 20
    got = {ln.split(",")[0]: ln.split(",")[3] for ln in lines}
    assert all(ln.endswith(",,,") and ln.split(",")[1:3] == ["r", "h"] for ln in lines)
    assert got["src_rate_mode"] == "0" and got["src_rate_err_lo"] == "INDEF"
    assert float(got["src_rate_err_up"]) == pytest.approx(
        -math.log(0.1) / 100, rel=1e-6
    )
    assert got["photflux_aper_mode"] == "INDEF"
    # no overwrite without clobber
    assert main(["aprates", "n=1", "m=4", f"outfile={out}"]) == 2
    assert "clobber" in capsys.readouterr().err
    assert main(["aprates", "n=1", "m=4", f"outfile={out}", "clobber+"]) == 0


@pytest.mark.parametrize(
    ("given", "word"),
    [
        ({"n": -1, "m": 2}, "negative"),
        ({"n": 1, "m": -2}, "negative"),
        ({"n": 1, "m": 2, "A_s": 0}, "area"),
        ({"n": 1, "m": 2, "A_b": 0}, "area"),
        ({"n": 1, "m": 2, "alpha": 0}, "(0,1]"),
        ({"n": 1, "m": 2, "alpha": 1.2}, "(0,1]"),
        ({"n": 1, "m": 2, "conf": 1.0}, "(0,1)"),
        ({"n": 1, "m": 2, "conf": 0.0}, "(0,1)"),
        ({"n": 1, "m": 2, "T_s": -5}, "negative"),
    ],
)
def test_bad_inputs_are_clear_errors(given: dict[str, float], word: str) -> None:
    with pytest.raises(
        XdmSemanticError,
        match=word.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]"),
    ):
        xdm.tools.aprates(**given)


def test_bad_input_on_the_command_line_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["aprates", "n=3", "m=1", "alpha=0"]) == 2
    err = capsys.readouterr().err
    assert "alpha" in err and "Traceback" not in err


def test_resolution_sets_the_grid_step() -> None:
    e = xdm.tools.aprates(n=5, m=3, A_b=4.0, resolution=0.01).src_cnts
    assert e is not None
    assert np.allclose(np.diff(e.grid), 0.01)
    ref = xdm.tools.aprates(n=5, m=3, A_b=4.0).src_cnts
    assert ref is not None and e.hi is not None and ref.hi is not None
    assert e.hi == pytest.approx(ref.hi, rel=1e-4)
    assert float(
        np.sum(0.5 * (e.density[1:] + e.density[:-1]) * 0.01)
    ) == pytest.approx(1.0)
