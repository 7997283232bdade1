"""srcflux products: the per-band ``.flux`` tables, CIAO's summary, merging.

Table columns follow CIAO srcflux (dmextract's counts columns, then
aprates, eff2evt-like, photon and model fluxes). Net fluxes solve
S = alpha F + N, B = beta F + r N for F (r = BG_AREA / AREA); a negative
result is NaN. Their limits scale the rate limits by F / rate, with the
upper bound of the rate used when the rate is 0 (UPPER_LIMIT).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xdm.tools._bands import Band

__all__ = [
    "SrcfluxResult",
    "format_ra_dec",
    "merged_columns",
    "net_and_limits",
    "summary_lines",
    "write_table",
]

FloatArray = NDArray[np.float64]
RATE = "count/s"
EFLUX = "erg/cm**2/s"
PFLUX = "photon/cm**2/s"


@dataclass(frozen=True)
class SrcfluxResult:
    """The tables by band label (merged ones for several observations) and files."""

    tables: dict[str, Any]
    observations: tuple[dict[str, Any], ...]
    files: tuple[str, ...]
    summary: str

    def as_dict(self) -> dict[str, Any]:
        """Files, and per band the main values of each source (``--json``)."""
        keys = (
            "COMPONENT",
            "RAPOS",
            "DECPOS",
            "COUNTS",
            "BG_COUNTS",
            "NET_RATE_APER",
            "NET_RATE_APER_LO",
            "NET_RATE_APER_HI",
            "NET_FLUX_APER",
            "NET_MFLUX_APER",
            "NET_UMFLUX_APER",
            "MERGED_NET_RATE_APER",
            "MERGED_NET_RATE_APER_LO",
            "MERGED_NET_RATE_APER_HI",
            "MERGED_NET_MFLUX_APER",
        )
        bands: dict[str, Any] = {}
        for label, table in self.tables.items():
            rows = []
            for row in table:
                item: dict[str, Any] = {}
                for k in keys:
                    if k in table.colnames:
                        v = row[k].item() if hasattr(row[k], "item") else row[k]
                        item[k] = None if isinstance(v, float) and math.isnan(v) else v
                rows.append(item)
            bands[label] = rows
        return {"files": list(self.files), "bands": bands}


def net_and_limits(
    src: FloatArray,
    bkg: FloatArray,
    area: FloatArray,
    bg_area: FloatArray,
    alpha: FloatArray,
    beta: FloatArray,
    rate: FloatArray,
    rate_lo: FloatArray,
    rate_hi: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
    """(net, lo, hi, upper_limit) for a source/background pair of sums (6.3)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = bg_area / area
        net = (r * src - bkg) / (r * alpha - beta)
        net = np.where(net >= 0, net, np.nan)
        upper = rate <= 0
        scale_rate = np.where(rate > 0, rate, rate_hi)
        cnv = net / scale_rate
        return net, rate_lo * cnv, rate_hi * cnv, upper


def write_table(
    path: str,
    columns: list[tuple[str, Any, str, str]],
    keys: list[tuple[str, Any, str]],
    history: str,
    clobber: bool,
) -> None:
    """A ``.flux`` table: HISTOGRAM block with units, descriptions and header keys."""
    from xdm.io.hdus import ColumnSpec, primary_hdu, table_hdu, write_fits

    cols = []
    for name, values, unit, _desc in columns:
        arr = np.asarray(values)
        if arr.dtype.kind == "b":
            fmt = "L"
        elif arr.dtype.kind in "iu":
            fmt = "J"
        elif arr.dtype.kind in "US":
            width = max(1, int(max((len(str(v)) for v in arr), default=1)))
            fmt = f"{width}A"
        elif arr.ndim == 2:
            fmt = f"{arr.shape[1]}D"
        else:
            fmt = "D"
        cols.append(ColumnSpec(name=name, format=fmt, array=arr, unit=unit or None))
    hdu = table_hdu(cols, name="HISTOGRAM")
    h = hdu.header
    for i, (_, _, _, desc) in enumerate(columns, start=1):
        if desc:
            h.comments[f"TTYPE{i}"] = desc[:47]
    h["HDUNAME"] = "HISTOGRAM"
    for key, value, comment in keys:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        h[key] = (value, comment)
    h["CREATOR"] = ("xdm srcflux", "tool that created this output")
    h.add_history(history[:8000])
    write_fits(path, [primary_hdu(), hdu], clobber=clobber)


def _truncate(text: str, decimals: int) -> str:
    dot = text.find(".")
    if dot == -1 or dot + decimals + 1 >= len(text):
        return text
    return text[: dot + decimals + 1]


def format_ra_dec(ra: float, dec: float) -> tuple[str, str]:
    """CIAO's summary position: ``16 27 33.11`` and ``-24 41 15.5`` (truncated)."""
    seconds = round(ra / 15.0 * 3600.0, 4)
    h = int(seconds // 3600)
    m = int((seconds - h * 3600) // 60)
    s = seconds - h * 3600 - m * 60
    ras = _truncate(f"{h} {m} {s:.4f}", 2)
    arc = round(abs(dec) * 3600.0, 4)
    d = int(arc // 3600)
    dm = int((arc - d * 3600) // 60)
    ds = arc - d * 3600 - dm * 60
    decs = _truncate(f"{d} {dm} {ds:.4f}", 1)
    return ras, ("-" if dec < 0 else "+") + decs


def _g(value: Any) -> str:
    v = float(value)
    return f"{v:.3G}"


def summary_lines(
    tables: dict[str, Any],
    bands: list[Band],
    conf: float,
    *,
    title: str,
    merged: bool,
    unabsorbed: bool,
) -> list[str]:
    """CIAO srcflux's screen summary, line for line (``%.3G`` values)."""
    lead = 30
    out = [f"\n\n{title}\n"]
    h0 = f"{'      Position':{lead}s}" + " " * 15
    h1 = " " * lead + " " * 15
    for b in bands:
        h0 += f"{f'{b.emin} - {b.emax} keV':40s}"
        h1 += f"{f'Value     {conf * 100:5g}% Conf Interval':40s}"
    out += [h0, h1]
    first = tables[bands[0].label]
    for i in range(len(first)):
        ras, decs = format_ra_dec(float(first["RAPOS"][i]), float(first["DECPOS"][i]))
        srcno = int(first["COMPONENT"][i])
        hdr = [f"{f'#{srcno:04d}|{ras} {decs}':{lead}s}"]
        if merged:
            cols = ["MERGED_NET_RATE_APER", "MERGED_NET_MFLUX_APER"]
            disp = ["Rate", "Mod.Flux"]
            hdr.append(f"{'  NumObi={:d}'.format(int(first['NUM_OBI'][i])):{lead}s}")
            if unabsorbed:
                cols.append("MERGED_NET_UMFLUX_APER")
                disp.append("Unabs Mod.Flux")
                hdr.append(" " * lead)
        else:
            cols = ["NET_RATE_APER", "NET_FLUX_APER", "NET_MFLUX_APER"]
            disp = ["Rate", "Flux", "Mod.Flux"]
            inside = bool(first["INSIDE_FOV"][i])
            hdr.append(" " * lead if inside else f"{' Outside FOV':{lead}s}")
            hdr.append(" " * lead)
            if unabsorbed:
                cols.append("NET_UMFLUX_APER")
                disp.append("Unabs Mod.Flux")
                hdr.append(" " * lead)
        for k, col in enumerate(cols):
            unit = "c/s" if k == 0 else "erg/cm2/s"
            hdr[k] += f"{disp[k]:15s}"
            for b in bands:
                t = tables[b.label]
                text = f"{_g(t[col][i])} {unit} ({_g(t[col + '_LO'][i])},{_g(t[col + '_HI'][i])})"
                hdr[k] += f"{text:40s}"
        out.append("\n".join(hdr))
        out.append("")
    return out


def merged_columns(
    obs: list[dict[str, Any]], conf: float, estimate: Any
) -> dict[str, Any]:
    """MERGED_* values of one band from per-observation columns (workflows.md 6.6).

    ``obs`` holds per observation the arrays COUNTS, BG_COUNTS, AREA, BG_AREA,
    PSFFRAC, BG_PSFFRAC, EXPOSURE, INSIDE_FOV, NET_PHOTFLUX_APER(_HI);
    ``estimate(n, m, f, g, r)`` is aprates' rate estimate.
    """
    nsrc = len(obs[0]["COUNTS"])
    out: dict[str, list[Any]] = {
        k: []
        for k in (
            "TOTAL_COUNTS",
            "TOTAL_BG_COUNTS",
            "NUM_OBI",
            "MERGED_NET_RATE_APER",
            "MERGED_NET_RATE_APER_LO",
            "MERGED_NET_RATE_APER_HI",
            "MERGED_RATE_AREASCAL",
            "PSF_WEIGHTED_TOTAL_EXPOSURE_TIME",
            "MERGED_NET_PHOTFLUX_APER",
        )
    }
    for s in range(nsrc):
        good = [o for o in obs if bool(o["INSIDE_FOV"][s])]
        c = np.array([o["COUNTS"][s] for o in good], dtype=np.float64)
        b = np.array([o["BG_COUNTS"][s] for o in good], dtype=np.float64)
        alpha = np.minimum([o["PSFFRAC"][s] for o in good], 1.0)
        beta = np.minimum([o["BG_PSFFRAC"][s] for o in good], 1.0)
        t = np.array([o["EXPOSURE"][s] for o in good], dtype=np.float64)
        a_s = np.array([o["AREA"][s] for o in good], dtype=np.float64)
        a_b = np.array([o["BG_AREA"][s] for o in good], dtype=np.float64)
        out["TOTAL_COUNTS"].append(int(c.sum()))
        out["TOTAL_BG_COUNTS"].append(int(b.sum()))
        out["NUM_OBI"].append(len(good))
        f, g = alpha * t, beta * t
        with np.errstate(divide="ignore", invalid="ignore"):
            r = a_b / a_s
            m_i = (f * b - g * c) / (f * r - g)
            big_r = (
                float(np.sum(m_i * r) / np.sum(m_i)) if np.sum(m_i) != 0 else math.nan
            )
            total_t = float(t.sum())
            alpha_w = float(np.sum(alpha * t) / total_t) if total_t > 0 else math.nan
            beta_w = float(np.sum(beta * t) / total_t) if total_t > 0 else math.nan
        value = lo = hi = math.nan
        n, m = int(c.sum()), int(b.sum())
        usable = (
            good
            and (n + m) > 0
            and all(math.isfinite(v) for v in (big_r, alpha_w, beta_w))
            and big_r > 0
            and alpha_w > 0
            and beta_w < 1
        )
        if usable:
            e = estimate(n, m, alpha_w * total_t, beta_w * total_t, big_r)
            value = e.mode
            lo = math.nan if e.lo is None else e.lo
            hi = math.nan if e.hi is None else e.hi
        out["MERGED_NET_RATE_APER"].append(value)
        out["MERGED_NET_RATE_APER_LO"].append(lo)
        out["MERGED_NET_RATE_APER_HI"].append(hi)
        out["MERGED_RATE_AREASCAL"].append(big_r)
        out["PSF_WEIGHTED_TOTAL_EXPOSURE_TIME"].append(float(np.sum(f)))
        phot = np.array([o["NET_PHOTFLUX_APER"][s] for o in good], dtype=np.float64)
        phot_hi = np.array(
            [o["NET_PHOTFLUX_APER_HI"][s] for o in good], dtype=np.float64
        )
        phot = np.where(phot == 0, phot_hi, phot)  # the upper bound for a zero value
        out["MERGED_NET_PHOTFLUX_APER"].append(
            float(np.sum(t * phot) / np.sum(t)) if good and t.sum() > 0 else math.nan
        )
    return {k: np.asarray(v) for k, v in out.items()}
