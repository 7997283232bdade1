"""``xdm aprates n= m= ...``: Bayesian aperture photometry (CIAO's aprates).

Net counts, count rate, photon flux and energy flux of a source from the counts
``n`` in its aperture and ``m`` in a background aperture, each with its mode
and credible interval (workflows.md 6.2; Kashyap et al. 2010). For each
quantity Q the responses are

============== ======================= ======================= =========================
Q              f                       g                       r
============== ======================= ======================= =========================
src_cnts       alpha                   beta                    A_b / A_s
src_rate       alpha T_s               beta T_b                A_b T_b / (A_s T_s)
photflux_aper  alpha E_s               beta E_b                A_b E_b / (A_s E_s)
eflux_aper     alpha E_s / eng_s       beta E_b / eng_b        as photflux_aper
============== ======================= ======================= =========================

A quantity whose inputs are missing (INDEF or 0) is INDEF. The results are
CIAO's output parameters ``Q_mode``, ``Q_err_lo``, ``Q_err_up`` (the interval
edges), ``Q_conf``, ``Q_signif``, written to ``outfile`` as ``name,r,h,value,,,``
lines (``INDEF`` where undefined), printed at verbose >= 1, in ``--json``, and
returned with each posterior (grid and density) by ``xdm.tools.aprates``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xdm.errors import XdmSemanticError
from xdm.tools._aprates import Estimate
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

__all__ = ["QUANTITIES", "TOOL", "ApratesResult", "aprates", "run"]

QUANTITIES = ("src_cnts", "src_rate", "photflux_aper", "eflux_aper")
"""The four quantities, in CIAO's output order."""

TOOL = Tool(
    "aprates",
    "Bayesian aperture photometry: net counts, rate and flux with intervals",
    (
        Param("n", "i", None, "counts in the source aperture", required=True),
        Param("A_s", "r", 1.0, "source aperture area"),
        Param("alpha", "r", 1.0, "PSF fraction in the source aperture (0,1]"),
        Param("T_s", "r", None, "source exposure time [s]"),
        Param(
            "E_s", "r", None, "mean exposure-map value in the source aperture [cm**2 s]"
        ),
        Param("eng_s", "r", None, "mean photon energy in the source aperture"),
        Param(
            "flux_s",
            "r",
            None,
            "sum of photon energy / exposure map in the source aperture",
        ),
        Param("m", "i", None, "counts in the background aperture", required=True),
        Param("A_b", "r", 1.0, "background aperture area"),
        Param("beta", "r", 0.0, "PSF fraction in the background aperture [0,1)"),
        Param("T_b", "r", None, "background exposure time [s] (INDEF: T_s)"),
        Param(
            "E_b",
            "r",
            None,
            "mean exposure-map value in the background aperture (INDEF: E_s)",
        ),
        Param(
            "eng_b",
            "r",
            None,
            "mean photon energy in the background aperture (INDEF: eng_s)",
        ),
        Param(
            "flux_b",
            "r",
            None,
            "sum of photon energy / exposure map in the background aperture",
        ),
        Param("conf", "r", 0.9, "credible level of the intervals, in (0,1)"),
        Param("outfile", "f", "", "output parameter file (name,r,h,value,,, lines)"),
        Param(
            "resolution",
            "r",
            None,
            "grid step of the posterior, in the quantity's units (INDEF: 4001 points)",
        ),
        Param(
            "max_counts",
            "r",
            None,
            "upper end of the posterior grid, in source counts (INDEF: automatic)",
        ),
        CLOBBER,
        VERBOSE,
    ),
    notes=(
        "The posterior is exact: the g = 0 closed form (log-space single sum) when "
        "beta = 0, the b integral by Gauss-Legendre quadrature when beta > 0. The "
        "interval is the continuous limit of aprates' rule (grow from the mode on the "
        "higher-density side): the highest-density interval, with Q_err_lo INDEF when "
        "it reaches 0 (then Q_err_up is the upper bound). eng_s may be replaced by "
        "flux_s: eng_s = flux_s E_s / n. Q_signif is the classical net value over its "
        "propagated error (informational). T_b, E_b, eng_b default to the source values."
    ),
)


@dataclass(frozen=True)
class ApratesResult:
    """The four estimates (None: not computed for lack of inputs)."""

    src_cnts: Estimate | None
    src_rate: Estimate | None
    photflux_aper: Estimate | None
    eflux_aper: Estimate | None

    def estimate(self, quantity: str) -> Estimate | None:
        """The estimate of one quantity by CIAO name (``src_rate``)."""
        if quantity not in QUANTITIES:
            raise KeyError(quantity)
        value: Estimate | None = getattr(self, quantity)
        return value

    def as_dict(self) -> dict[str, Any]:
        """CIAO's output parameters: ``src_rate_mode`` ... (None for INDEF)."""
        out: dict[str, Any] = {}
        for q in QUANTITIES:
            e = self.estimate(q)
            for key in ("mode", "err_lo", "err_up", "conf", "signif"):
                out[f"{q}_{key}"] = None if e is None else e.as_dict()[key]
        return out

    def par_lines(self) -> list[str]:
        """The output parameter file: ``name,r,h,value,,,`` per value."""
        lines = []
        for key, value in self.as_dict().items():
            shown = "INDEF" if value is None else f"{value:.10g}"
            lines.append(f"{key},r,h,{shown},,,")
        return lines


def aprates(**params: Any) -> ApratesResult:
    """``xdm.tools.aprates(n=..., m=..., ...)``: the four estimates with posteriors."""
    return TOOL.call(run, params)


def _given(value: float | None) -> bool:
    return value is not None and value > 0


def _check(p: Values) -> None:
    for key in ("n", "m"):
        if p[key] < 0:
            raise XdmSemanticError(
                f"aprates: {key}={p[key]} is negative", hint="counts are 0 or more"
            )
    for key in ("A_s", "A_b"):
        if p[key] is None or p[key] <= 0:
            raise XdmSemanticError(
                f"aprates: {key}={p[key]} must be a positive area",
                hint="aperture areas are in any unit, both in the same one",
            )
    alpha, beta = p["alpha"], p["beta"]
    if alpha is None or not 0 < alpha <= 1:
        raise XdmSemanticError(
            f"aprates: alpha={alpha} is outside (0,1]",
            hint="alpha is the PSF fraction in the source aperture",
        )
    if beta is None or not 0 <= beta < 1:
        raise XdmSemanticError(
            f"aprates: beta={beta} is outside [0,1)",
            hint="beta is the PSF fraction in the background aperture",
        )
    conf = p["conf"]
    if conf is None or not 0 < conf < 1:
        raise XdmSemanticError(
            f"aprates: conf={conf} is outside (0,1)", hint="for example conf=0.9"
        )
    for key in ("T_s", "T_b", "E_s", "E_b", "eng_s", "eng_b", "flux_s", "flux_b"):
        if p[key] is not None and p[key] < 0:
            raise XdmSemanticError(f"aprates: {key}={p[key]} is negative")
    if p["resolution"] is not None and p["resolution"] <= 0:
        raise XdmSemanticError(
            f"aprates: resolution={p['resolution']} must be positive"
        )
    if p["max_counts"] is not None and p["max_counts"] <= 0:
        raise XdmSemanticError(
            f"aprates: max_counts={p['max_counts']} must be positive"
        )


def responses(p: Values) -> dict[str, tuple[float, float, float] | None]:
    """(f, g, r) of each quantity from the inputs (None when they are missing)."""
    alpha, beta = float(p["alpha"]), float(p["beta"])
    a_s, a_b = float(p["A_s"]), float(p["A_b"])
    out: dict[str, tuple[float, float, float] | None] = {
        "src_cnts": (alpha, beta, a_b / a_s)
    }
    t_s = p["T_s"]
    t_b = p["T_b"] if p["T_b"] is not None else t_s
    out["src_rate"] = (
        (alpha * t_s, beta * t_b, a_b * t_b / (a_s * t_s))
        if _given(t_s) and _given(t_b)
        else None
    )
    e_s = p["E_s"]
    e_b = p["E_b"] if p["E_b"] is not None else e_s
    photon = _given(e_s) and _given(e_b)
    out["photflux_aper"] = (
        (alpha * e_s, beta * e_b, a_b * e_b / (a_s * e_s)) if photon else None
    )
    eng_s = p["eng_s"]
    if not _given(eng_s) and _given(p["flux_s"]) and photon and p["n"] > 0:
        eng_s = p["flux_s"] * e_s / p["n"]
    eng_b = p["eng_b"]
    if not _given(eng_b) and _given(p["flux_b"]) and photon and p["m"] > 0:
        eng_b = p["flux_b"] * e_b / p["m"]
    if eng_b is None:
        eng_b = eng_s
    out["eflux_aper"] = (
        (alpha * e_s / eng_s, beta * e_b / eng_b, a_b * e_b / (a_s * e_s))
        if photon and _given(eng_s) and _given(eng_b)
        else None
    )
    return out


def run(p: Values) -> ApratesResult:
    """Compute each quantity's posterior, write ``outfile``, print the values."""
    from xdm.progress import get_verbosity, note
    from xdm.tools._aprates import estimate

    _check(p)
    n, m = int(p["n"]), int(p["m"])
    conf = float(p["conf"])
    found: dict[str, Estimate | None] = {}
    for q, resp in responses(p).items():
        if resp is None:
            note(f"aprates: {q} needs more inputs; INDEF", level=2)
            found[q] = None
            continue
        f, g, r = resp
        note(f"aprates: {q}: f={f:.6g} g={g:.6g} r={r:.6g}", level=3)
        top = None if p["max_counts"] is None else float(p["max_counts"]) / f
        found[q] = estimate(n, m, f, g, r, conf, step=p["resolution"], top=top)
    result = ApratesResult(**found)
    lines = result.par_lines()
    if p["outfile"]:
        _write(p["outfile"], lines, bool(p["clobber"]))
        note(f"aprates: wrote {p['outfile']}", level=2)
    if get_verbosity() >= 1:
        print("\n".join(lines))
    return result


def _write(path: str, lines: list[str], clobber: bool) -> None:
    from xdm.io.atomic import atomic_output

    with atomic_output(path, clobber=clobber) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
