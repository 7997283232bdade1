"""srcflux model fluxes and cross sections against independent computations.

Oracles: the XSPEC wabs coefficients (heasoft xsabsw.f DATA statements,
typed here in XSPEC's own 1e-22 units), astromodels' tabulated wabs cross
section (a peer library, optional), the published sigma(1 keV) = 2.42e-22 cm^2
of Morrison & McCammon's fit, and the model-flux conversion recomputed by
scipy.integrate.quad over the real 3C 273 ARF and RMF read with astropy.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from scipy import integrate

import xdm.tools
from xdm.tools.srcflux import (
    BANDS,
    band_label,
    cross_section,
    model_energy_flux,
    parse_bands,
)

SPECTRA = Path(__file__).parent / "data" / "spectra"
ARF = SPECTRA / "3c273.arf"
RMF = SPECTRA / "3c273.rmf"
KEV = 1.602177e-9

# heasoft Xspec/src/XSFunctions/xsabsw.f: edges and coefficients in 1e-22 cm^2
XSPEC_EDGE = [0.1, .284, .4, .532, .707, .867, 1.303, 1.840, 2.471, 3.210, 4.038, 7.111, 8.331, 10.0, 1e10]  # fmt: skip
XSPEC_C0 = [.173, .346, .781, .714, .955, 3.089, 1.206, 1.413, 2.027, 3.427, 3.522, 4.339, 6.29, 7.012, 9.532]  # fmt: skip
XSPEC_C1 = [6.081, 2.679, .188, .668, 1.458, -3.806, 1.693, 1.468, 1.047, .187, .187, -.024, .309, .252, 0]  # fmt: skip
XSPEC_C2 = [-21.5, -4.761, 0.043, -.514, -.611, 2.94, -.477, -.315, -.17, 0, 0, .0075, 0, 0, 0]  # fmt: skip


def _sigma_xspec(e: float) -> float:
    """XSPEC's wabs: sigma = (c2 + (c1 + c0/E)/E)/E in 1e-22 cm^2 (E below each edge)."""
    i = next(k for k, edge in enumerate(XSPEC_EDGE) if e < edge)
    einv = 1.0 / e
    return einv * (XSPEC_C2[i] + einv * (XSPEC_C1[i] + einv * XSPEC_C0[i])) * 1e-22


def _transmission(nh: float, e: np.ndarray) -> np.ndarray:
    """exp(-nH sigma) as xdm's srcflux applies it (through its absorbed model flux)."""
    # the factor is read back from two model fluxes of a tiny band at E
    out = []
    for energy in e:
        lo, hi = energy * (1 - 1e-6), energy * (1 + 1e-6)
        fa = _flux(
            "xsphabs.abs1*xspowerlaw.pow1", f"abs1.nH={nh};pow1.PhoIndex=0", lo, hi
        )
        f0 = _flux("xspowerlaw.pow1", "pow1.PhoIndex=0", lo, hi)
        out.append(fa / f0)
    return np.array(out)


def _flux(model: str, values: str, lo: float, hi: float) -> float:
    return model_energy_flux(model, values, lo, hi)


ENERGIES = np.array(
    [0.05, 0.2, 0.35, 0.45, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 3.5, 5.0, 7.5, 9.0]
)


def test_bundled_table_equals_xspec_wabs_everywhere() -> None:
    for e in ENERGIES:
        assert float(cross_section(e)[0]) == pytest.approx(_sigma_xspec(e), rel=1e-12)
    # just below and above every edge
    for edge in XSPEC_EDGE[:-1]:
        for e in (edge * (1 - 1e-9), edge * (1 + 1e-9)):
            assert float(cross_section(e)[0]) == pytest.approx(
                _sigma_xspec(e), rel=1e-9
            )


def test_published_cross_section_at_one_kev() -> None:
    # Morrison & McCammon 1983: (120.6 + 169.3 - 47.7) 1e-24 cm^2 at 1 keV
    assert float(cross_section(1.0)[0]) == pytest.approx(2.422e-22, rel=1e-4)


def test_absorption_through_the_model_flux_is_exp_minus_nh_sigma() -> None:
    got = _transmission(0.5, ENERGIES[1:])
    want = np.exp(-0.5e22 * np.array([_sigma_xspec(e) for e in ENERGIES[1:]]))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_cross_sections_agree_with_astromodels() -> None:
    pytest.importorskip("astromodels")
    from astromodels.functions.functions_1D import absorption

    e_tab, s_tab = absorption.wabs.xsect_table  # 1e-22 cm^2
    mid = np.array(
        [0.15, 0.25, 0.33, 0.47, 0.62, 0.78, 1.1, 1.6, 2.2, 2.9, 3.6, 5.5, 7.7, 9.1]
    )
    theirs = np.interp(mid, e_tab, s_tab) * 1e-22
    np.testing.assert_allclose(cross_section(mid), theirs, rtol=5e-3)


def _quad_cnv(gamma: float, nh: float, emin: float, emax: float, rmf: bool) -> float:
    """MFLUX_CNV by scipy quad over each ARF bin, the RMF read here with astropy."""
    arf = fits.getdata(ARF, "SPECRESP")
    lo, hi, area = (
        np.asarray(arf[c], dtype=float) for c in ("ENERG_LO", "ENERG_HI", "SPECRESP")
    )

    def spec(e: float) -> float:
        return e**-gamma * math.exp(-nh * 1e22 * _sigma_xspec(e))

    edges = XSPEC_EDGE
    if rmf:
        with fits.open(RMF) as h:
            m = h["MATRIX"].data
            eb = h["EBOUNDS"].data
            nominal = 0.5 * (eb["E_MIN"] + eb["E_MAX"])
            inband = (nominal >= emin) & (nominal <= emax)
            prob = np.zeros(len(m))
            for i, row in enumerate(m):
                col = 0
                for f, n in zip(
                    np.atleast_1d(row["F_CHAN"]), np.atleast_1d(row["N_CHAN"])
                ):
                    vals = np.atleast_1d(row["MATRIX"])[col : col + n]
                    chans = np.arange(f, f + n) - 1
                    prob[i] += vals[inband[chans]].sum()
                    col += n
        rate = 0.0
        for i in range(lo.size):
            pts = [e for e in edges if lo[i] < e < hi[i]]
            rate += (
                area[i]
                * prob[i]
                * integrate.quad(spec, lo[i], hi[i], points=pts or None)[0]
            )
    else:
        rate = 0.0
        for i in range(lo.size):
            a, b = max(lo[i], emin), min(hi[i], emax)
            if b > a:
                pts = [e for e in edges if a < e < b]
                rate += area[i] * integrate.quad(spec, a, b, points=pts or None)[0]
    pts = [e for e in edges if emin < e < emax]
    flux = (
        integrate.quad(lambda e: e * spec(e), emin, emax, points=pts, limit=200)[0]
        * KEV
    )
    return flux / rate


@pytest.mark.parametrize(("gamma", "nh"), [(2.0, 0.0), (1.7, 0.3), (1.0, 2.0)])
@pytest.mark.parametrize("rmf", [True, False])
def test_model_flux_conversion_against_quadrature(
    synthetic_events: Path, tmp_path: Path, gamma: float, nh: float, rmf: bool
) -> None:
    extra = {"rmffile": str(RMF)} if rmf else {}
    res = xdm.tools.srcflux(
        infile=str(synthetic_events), pos="150.1172126 2.204324", outroot=str(tmp_path / "m"),
        radius=3.0, arffile=str(ARF), bands="broad,soft",
        model="xspowerlaw.p", paramvals=f"p.PhoIndex={gamma}",
        absmodel="xswabs.a", absparams=f"a.nH={nh}", **extra,
    )  # fmt: skip
    for label, (emin, emax) in (("broad", (0.5, 7.0)), ("soft", (0.5, 1.2))):
        t = res.tables[label]
        assert t["MFLUX_CNV"][0] == pytest.approx(
            _quad_cnv(gamma, nh, emin, emax, rmf), rel=1e-5
        )
        # unabsorbed: same counts, numerator without absorption
        ratio = _flux("xspowerlaw.p", f"p.PhoIndex={gamma}", emin, emax) / _flux(
            "xswabs.a*xspowerlaw.p", f"a.nH={nh};p.PhoIndex={gamma}", emin, emax
        )
        assert t["UMFLUX_CNV"][0] == pytest.approx(t["MFLUX_CNV"][0] * ratio, rel=1e-9)
        assert t["NET_MFLUX_APER"][0] == pytest.approx(
            t["NET_RATE_APER"][0] * t["MFLUX_CNV"][0]
        )


def test_energy_flux_of_each_model_by_quadrature() -> None:
    cases = [
        ("xspowerlaw.p", "p.PhoIndex=1.5", lambda e: e**-1.5),
        ("powlaw1d.p", "p.gamma=2.5;p.ref=1;p.ampl=1", lambda e: e**-2.5),
        (
            "xsbbody.b",
            "b.kT=0.7",
            lambda e: 8.0525 * e * e / (0.7**4 * math.expm1(e / 0.7)),
        ),
        ("xsbremss.b", "b.kT=3", lambda e: math.exp(-e / 3) / e),
    ]
    for model, values, fn in cases:
        want = integrate.quad(lambda e, fn=fn: e * fn(e), 0.5, 7.0)[0] * KEV
        assert _flux(model, values, 0.5, 7.0) == pytest.approx(want, rel=1e-9)


def test_bands() -> None:
    assert [band_label(b) for b in parse_bands("default", "ACIS")] == ["broad"]
    assert [band_label(b) for b in parse_bands("default", "HRC-I")] == ["wide"]
    assert [band_label(b) for b in parse_bands("csc,broad", "ACIS")] == [
        "soft",
        "medium",
        "hard",
        "broad",
    ]
    assert [band_label(b) for b in parse_bands("0.5:7.0:2.3,broad", "ACIS")] == [
        "0.5-7.0"
    ]
    assert BANDS["wide"].energy_filter is None and (
        BANDS["wide"].emin,
        BANDS["wide"].emax,
    ) == (0.1, 10.0)
    assert (BANDS["soft"].emin, BANDS["soft"].emax, BANDS["soft"].eff) == (
        0.5,
        1.2,
        0.92,
    )
    for bad in ("0.5:7", "7:0.5:2", "0.01:7:2", "red"):
        with pytest.raises(xdm.XdmSemanticError):
            parse_bands(bad, "ACIS")
    with pytest.raises(xdm.XdmSemanticError, match="label"):
        parse_bands("0.5:2:1,0.5:2:1.5", "ACIS")
