"""Spectral models, photoelectric absorption and model-flux conversions (srcflux).

Calibration-free model fluxes (workflows.md 6.5): a user ARF (and RMF; a
diagonal response without one) folds a built-in model N(E) into a count rate in
a band; the conversion factor is the band's energy flux per count/s:

    MFLUX_CNV = ∫_{Emin}^{Emax} E N(E) dE / Σ_i A_i P_i ∫_{bin i} N(E) dE

with P_i the probability that a photon of ARF bin i lands in a channel whose
nominal energy lies in the band. Models (sherpa/XSPEC names):
``xspowerlaw`` (PhoIndex), ``powlaw1d`` (gamma), ``xsbbody`` (kT),
``xsbremss`` (kT; the shape E^-1 exp(-E/kT), without XSPEC's Gaunt factor),
and absorption ``xswabs``/``xsphabs``/``xstbabs`` (nH in 1e22 cm^-2), all
evaluated with the Morrison & McCammon (1983) cross sections bundled in
``xdm/data/mm83_wabs.csv`` (XSPEC's wabs; phabs and tbabs use other tables in
XSPEC, so the header records which one xdm used: XSECT = 'MM83').
Integrals use 8-point Gauss-Legendre on sub-bins split at every absorption
edge and band edge.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmIOError, XdmSemanticError

__all__ = [
    "KEV_TO_ERG",
    "XSECT",
    "XSECT_NAME",
    "Component",
    "Response",
    "conversion_factors",
    "parse_model",
    "photon_spectrum",
    "read_response",
    "sigma_mm83",
]

FloatArray = NDArray[np.float64]
KEV_TO_ERG = 1.602177e-9
XSECT = "MM83"
XSECT_NAME = "Morrison & McCammon 1983, ApJ 270, 119 (wabs)"
_TABLE = Path(__file__).resolve().parent.parent / "data" / "mm83_wabs.csv"
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)

_KINDS = {
    "xspowerlaw": ("powerlaw", {"PhoIndex": 1.0, "norm": 1.0}),
    "powlaw1d": ("powlaw1d", {"gamma": 1.0, "ref": 1.0, "ampl": 1.0}),
    "xsbbody": ("bbody", {"kT": 3.0, "norm": 1.0}),
    "xsbremss": ("bremss", {"kT": 7.0, "norm": 1.0}),
    "xswabs": ("absorb", {"nH": 1.0}),
    "xsphabs": ("absorb", {"nH": 1.0}),
    "xstbabs": ("absorb", {"nH": 1.0}),
}


def _mm83() -> FloatArray:
    rows = [
        [float(v) for v in line.split(",")]
        for line in _TABLE.read_text(encoding="ascii").splitlines()
        if line and not line.startswith(("#", "emin"))
    ]
    return np.asarray(rows, dtype=np.float64)


_MM83: FloatArray | None = None


def mm83_table() -> FloatArray:
    """The bundled table: rows ``emin, emax, c0, c1, c2`` (keV; 1e-24 cm^2 units)."""
    global _MM83
    if _MM83 is None:
        _MM83 = _mm83()
    return _MM83


def absorption_edges() -> FloatArray:
    """The energies (keV) where the cross section jumps."""
    t = mm83_table()
    return t[1:, 0]


def sigma_mm83(energy_kev: FloatArray | float) -> FloatArray:
    """Photoelectric cross section per H atom [cm^2] at ``energy_kev`` (MM83)."""
    t = mm83_table()
    e = np.atleast_1d(np.asarray(energy_kev, dtype=np.float64))
    row = np.clip(np.searchsorted(t[:, 0], e, side="right") - 1, 0, len(t) - 1)
    c0, c1, c2 = t[row, 2], t[row, 3], t[row, 4]
    return np.asarray((c0 + c1 * e + c2 * e * e) / (e * e * e) * 1e-24)


@dataclass(frozen=True)
class Component:
    """One model component: its kind, sherpa name (``pow1``) and parameters."""

    model: str
    name: str
    kind: str
    params: dict[str, float] = field(default_factory=dict)


def _parse_values(text: str) -> dict[str, str]:
    """``abs1.nH=0.1;pow1.PhoIndex=2`` -> {"abs1.nh": "0.1", "pow1.phoindex": "2"}."""
    out: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" not in part or "." not in part.split("=")[0]:
            raise XdmSemanticError(
                f"srcflux: {part!r} is not name.parameter=value",
                hint='for example paramvals="pow1.PhoIndex=2.0"',
            )
        key, value = part.split("=", 1)
        out[key.strip().lower()] = value.strip()
    return out


def parse_model(
    expression: str, values: str, *, gal: float | None = None
) -> list[Component]:
    """A sherpa model product (``xsphabs.abs1*xspowerlaw.pow1``) and its values.

    ``%GAL%`` (Galactic nH, looked up by CIAO's colden) becomes ``gal`` when
    given; otherwise it is an error for the caller to report.
    """
    text = expression.strip()
    if not text or text.lower() == "none":
        return []
    given = _parse_values(values)
    comps: list[Component] = []
    for term in text.split("*"):
        term = term.strip().strip("()")
        m = re.fullmatch(r"([A-Za-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_]*)", term)
        if m is None or m.group(1).lower() not in _KINDS:
            raise XdmSemanticError(
                f"srcflux: unknown model component {term!r}",
                hint="xdm has " + ", ".join(f"{k}.NAME" for k in _KINDS),
            )
        model, name = m.group(1).lower(), m.group(2)
        kind, defaults = _KINDS[model]
        params = dict(defaults)
        for pname in defaults:
            key = f"{name.lower()}.{pname.lower()}"
            if key not in given:
                continue
            raw = given.pop(key)
            if raw.upper() == "%GAL%":
                if gal is None:
                    raise XdmSemanticError(
                        f"srcflux: {name}.{pname}=%GAL% needs the Galactic nH, "
                        "which xdm cannot look up (no colden data)",
                        hint=f'give it: "{name}.{pname}=0.03" (in 1e22 cm^-2)',
                    )
                params[pname] = gal
                continue
            try:
                params[pname] = float(raw)
            except ValueError:
                raise XdmSemanticError(
                    f"srcflux: {name}.{pname}={raw!r} is not a number"
                ) from None
        comps.append(Component(model, name, kind, params))
    names = {c.name.lower() for c in comps}
    stray = [k for k in given if k.split(".")[0] in names]
    if stray:
        raise XdmSemanticError(
            f"srcflux: unknown parameter {stray[0]!r}",
            hint="parameters: "
            + ", ".join(f"{c.name}.{p}" for c in comps for p in c.params),
        )
    return comps


def photon_spectrum(components: list[Component], e: FloatArray) -> FloatArray:
    """N(E) [photon/cm^2/s/keV] of the product of components at ``e`` keV."""
    out = np.ones_like(e, dtype=np.float64)
    for c in components:
        p = c.params
        if c.kind == "powerlaw":
            out = out * p["norm"] * e ** (-p["PhoIndex"])
        elif c.kind == "powlaw1d":
            out = out * p["ampl"] * (e / p["ref"]) ** (-p["gamma"])
        elif c.kind == "bbody":
            kt = p["kT"]
            with np.errstate(over="ignore"):
                out = out * p["norm"] * 8.0525 * e * e / (kt**4 * np.expm1(e / kt))
        elif c.kind == "bremss":
            out = out * p["norm"] * np.exp(-e / p["kT"]) / e
        elif c.kind == "absorb":
            out = out * np.exp(-p["nH"] * 1e22 * sigma_mm83(e))
    return out


def unabsorbed(components: list[Component]) -> list[Component]:
    """The components without absorption."""
    return [c for c in components if c.kind != "absorb"]


@dataclass(frozen=True)
class Response:
    """ARF bins (keV, cm^2) and, with an RMF, each bin's channel probabilities."""

    e_lo: FloatArray
    e_hi: FloatArray
    area: FloatArray
    arffile: str
    rmffile: str = ""
    channel_energy: FloatArray | None = None
    """Nominal energy (keV) of each RMF channel (EBOUNDS midpoints)."""
    rows: tuple[tuple[NDArray[np.int64], FloatArray], ...] = ()
    """Per ARF bin: (channel indices, probabilities) from the RMF."""

    def area_at(self, energy_kev: FloatArray) -> FloatArray:
        """SPECRESP of the bin holding each energy (0 outside the grid)."""
        i = np.searchsorted(self.e_hi, energy_kev, side="right")
        inside = (i < self.e_hi.size) & (energy_kev >= self.e_lo[0])
        out = np.zeros(np.shape(energy_kev), dtype=np.float64)
        out[inside] = self.area[i[inside]]
        return out

    def band_probability(self, emin: float, emax: float) -> FloatArray | None:
        """P_i: probability of landing in a channel of nominal energy in [emin, emax]."""
        if self.channel_energy is None:
            return None
        in_band = (self.channel_energy >= emin) & (self.channel_energy <= emax)
        return np.array(
            [float(v[in_band[ch]].sum()) for ch, v in self.rows], dtype=np.float64
        )


def _table(
    path: str, names: tuple[str, ...], what: str, columns: tuple[str, ...]
) -> tuple[dict[str, Any], Any]:
    """The ``columns`` of the first block named one of ``names`` (lists for VLAs)."""
    from xdm.io.hdus import open_fits

    try:
        hdul = open_fits(path, memmap=False)
    except XdmIOError as err:
        raise XdmIOError(f"srcflux: cannot read {what} {path}: {err.message}") from None
    with hdul:
        for hdu in hdul[1:]:
            if hdu.name.upper() in names and hdu.data is not None:
                have = {n.upper(): n for n in hdu.columns.names}
                missing = [c for c in columns if c not in have]
                if missing:
                    raise XdmIOError(
                        f"srcflux: {what} {path} has no column {missing[0]}"
                    )
                out: dict[str, Any] = {}
                for c in columns:
                    col = hdu.data[have[c]]
                    out[c] = (
                        [np.array(v) for v in col]
                        if col.dtype == object
                        else np.array(col)
                    )
                return out, hdu.header.copy()
    raise XdmIOError(
        f"srcflux: {path} has no {' or '.join(names)} block",
        hint=f"{what} files are OGIP tables",
    )


def read_response(arffile: str, rmffile: str = "") -> Response:
    """An OGIP ARF (SPECRESP) and optional RMF (MATRIX + EBOUNDS)."""
    arf, _ = _table(arffile, ("SPECRESP",), "ARF", ("ENERG_LO", "ENERG_HI", "SPECRESP"))
    e_lo = np.asarray(arf["ENERG_LO"], dtype=np.float64)
    e_hi = np.asarray(arf["ENERG_HI"], dtype=np.float64)
    area = np.asarray(arf["SPECRESP"], dtype=np.float64)
    if not rmffile:
        return Response(e_lo, e_hi, area, arffile)
    cols = ("ENERG_LO", "N_GRP", "F_CHAN", "N_CHAN", "MATRIX")
    mat, header = _table(rmffile, ("MATRIX", "SPECRESP MATRIX"), "RMF", cols)
    ebounds, _ = _table(rmffile, ("EBOUNDS",), "RMF", ("CHANNEL", "E_MIN", "E_MAX"))
    r_lo = np.asarray(mat["ENERG_LO"], dtype=np.float64)
    if r_lo.size != e_lo.size or not np.allclose(r_lo, e_lo, rtol=1e-5):
        raise XdmSemanticError(
            f"srcflux: the RMF {rmffile} and ARF {arffile} have different energy grids",
            hint="give the ARF made for this RMF",
        )
    channels = np.asarray(ebounds["CHANNEL"], dtype=np.int64)
    nominal = 0.5 * (
        np.asarray(ebounds["E_MIN"], dtype=np.float64)
        + np.asarray(ebounds["E_MAX"], dtype=np.float64)
    )
    ttypes = {str(header.get(f"TTYPE{i}", "")).upper(): i for i in range(1, 1000)}
    fcol = ttypes.get("F_CHAN", 0)
    first = int(header.get(f"TLMIN{fcol}", channels[0] if channels.size else 1))
    rows = []
    for ngrp, fch, nch, values in zip(
        mat["N_GRP"], mat["F_CHAN"], mat["N_CHAN"], mat["MATRIX"], strict=True
    ):
        count = int(ngrp)
        fch_a = np.atleast_1d(np.asarray(fch, dtype=np.int64))[:count]
        nch_a = np.atleast_1d(np.asarray(nch, dtype=np.int64))[:count]
        if count:
            parts = [np.arange(f, f + n) for f, n in zip(fch_a, nch_a, strict=True)]
            idx = np.concatenate(parts).astype(np.int64) - first
        else:
            idx = np.zeros(0, dtype=np.int64)
        vals = np.atleast_1d(np.asarray(values, dtype=np.float64))[: idx.size]
        ok = (idx >= 0) & (idx < nominal.size)
        rows.append((idx[ok], vals[ok]))
    return Response(e_lo, e_hi, area, arffile, rmffile, nominal, tuple(rows))


def _integrate(
    fn: Any, edges: FloatArray, cuts: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """∫ fn over each interval of ``edges``, sub-split at ``cuts``: (sums, sub-edges)."""
    grid = np.union1d(edges, cuts[(cuts > edges[0]) & (cuts < edges[-1])])
    lo, hi = grid[:-1], grid[1:]
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    x = mid[:, None] + half[:, None] * _GL_X[None, :]
    sub = np.sum(fn(x) * _GL_W[None, :], axis=1) * half
    owner = np.clip(np.searchsorted(edges, mid, side="right") - 1, 0, edges.size - 2)
    sums = np.bincount(owner, weights=sub, minlength=edges.size - 1)
    return np.asarray(sums, dtype=np.float64), grid


def predicted_rate(
    components: list[Component], response: Response, emin: float, emax: float
) -> float:
    """Counts/s in the band from the model (norm as given) through the response."""
    prob = response.band_probability(emin, emax)
    edges = np.concatenate([response.e_lo, response.e_hi[-1:]])
    cuts = absorption_edges()

    def folded(x: FloatArray) -> FloatArray:
        return photon_spectrum(components, x)

    if prob is not None:
        per_bin, _ = _integrate(folded, edges, cuts)
        return float(np.sum(per_bin * response.area * prob))
    # diagonal response: the part of each ARF bin inside the band
    band_cuts = np.concatenate([cuts, [emin, emax]])
    grid = np.union1d(
        edges, band_cuts[(band_cuts > edges[0]) & (band_cuts < edges[-1])]
    )
    lo, hi = grid[:-1], grid[1:]
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    x = mid[:, None] + half[:, None] * _GL_X[None, :]
    sub = np.sum(folded(x) * _GL_W[None, :], axis=1) * half
    inside = (mid >= emin) & (mid <= emax)
    return float(np.sum(sub[inside] * response.area_at(mid)[inside]))


def energy_flux(components: list[Component], emin: float, emax: float) -> float:
    """∫_{emin}^{emax} E N(E) dE in erg/cm^2/s."""
    edges = np.geomspace(emin, emax, 2001)
    sums, _ = _integrate(
        lambda x: x * photon_spectrum(components, x), edges, absorption_edges()
    )
    return float(np.sum(sums)) * KEV_TO_ERG


def conversion_factors(
    components: list[Component],
    response: Response,
    emin: float,
    emax: float,
    *,
    unabsorbed_model: list[Component] | None = None,
) -> tuple[float, float]:
    """(MFLUX_CNV, UMFLUX_CNV) in erg/cm^2 per count (NaN where undefined)."""
    if not components:
        return (math.nan, math.nan)
    rate = predicted_rate(components, response, emin, emax)
    if not rate > 0:
        return (math.nan, math.nan)
    mflux = energy_flux(components, emin, emax) / rate
    if unabsorbed_model is None:
        return (mflux, math.nan)
    return (mflux, energy_flux(unabsorbed_model, emin, emax) / rate)
