"""srcflux's work: inputs, regions, the counting pass, rates, fluxes, products."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmIOError, XdmSemanticError
from xdm.io import keywords
from xdm.tools._bands import Band, parse_bands
from xdm.tools._srcflux_geom import (
    _default_regions,
    _Geometry,
    _geometry,
    _image,
    _limits,
    _photon_weight,
    _psf_fractions,
    _refuse_calibration,
    _region,
    _region_sums,
    _sources,
    _split,
)
from xdm.tools._srcflux_out import (
    EFLUX,
    PFLUX,
    RATE,
    SrcfluxResult,
    merged_columns,
    net_and_limits,
    summary_lines,
    write_table,
)
from xdm.tools.params import Values

__all__ = ["run_srcflux"]

FloatArray = NDArray[np.float64]
Column = tuple[str, Any, str, str]


def _event_keys(header: Any) -> list[tuple[str, Any, str]]:
    """The events' keywords a ``.flux`` table carries: CIAO's srcflux makes it
    with dmextract, so it has what a dmextract product has (``keywords.PRODUCT``
    and the per-chip times), each with its comment."""
    carried: dict[str, tuple[Any, str]] = {}
    keywords.carry(header, carried, keywords.PRODUCT, chip_times=True)
    return [(key, value, comment) for key, (value, comment) in carried.items()]


def _band_keys(band: Band) -> list[tuple[str, Any, str]]:
    """ENERGY, EMIN, EMAX of a band (keV), as CIAO srcflux writes them."""
    return [
        ("ENERGY", band.eff, "[keV] band effective energy"),
        ("EMIN", band.emin, "[keV] band lower energy"),
        ("EMAX", band.emax, "[keV] band upper energy"),
    ]


def _models(p: Values) -> tuple[list[Any], list[Any] | None, str]:
    """(absorbed model, unabsorbed model or None, ABSPARAM text)."""
    from xdm.progress import note
    from xdm.tools._models import parse_model

    gal = p["galnh"]
    absparams = str(p["absparams"])
    used = str(p["paramvals"])
    if str(p["absmodel"]).strip().lower() not in ("", "none"):
        used += absparams
    if "%GAL%" in used.upper() and gal is None:
        note(
            "srcflux: warning: %GAL% (Galactic nH) is not looked up by xdm; "
            "nH=0 is used (give galnh=)",
            level=1,
        )
        gal = 0.0
        absparams = absparams.replace("%GAL%", "0")
    model = parse_model(str(p["model"]), str(p["paramvals"]), gal=gal)
    absorb = parse_model(str(p["absmodel"]), absparams, gal=gal)
    if absorb:
        return absorb + model, model, absparams
    return model, None, absparams


def _responses(arfs: list[str], rmfs: list[str], nobs: int) -> list[Any]:
    from xdm.tools._models import read_response

    if not arfs:
        if rmfs:
            raise XdmSemanticError("srcflux: rmffile= needs arffile=")
        return [None] * nobs
    if len(arfs) not in (1, nobs) or len(rmfs) not in (0, 1, len(arfs)):
        raise XdmSemanticError(
            f"srcflux: {len(arfs)} ARFs and {len(rmfs)} RMFs for {nobs} event files",
            hint="give one ARF (and RMF) for all, or one per event file",
        )
    made = [
        read_response(a, rmfs[i] if len(rmfs) > 1 else (rmfs[0] if rmfs else ""))
        for i, a in enumerate(arfs)
    ]
    return made * nobs if len(made) == 1 else made


class _Rates:
    """aprates' rate estimate, memoised: many faint sources share (n, m, f, g, r)."""

    def __init__(self, conf: float) -> None:
        self.conf = conf
        self.cache: dict[tuple[int, int, float, float, float], Any] = {}

    def __call__(self, n: int, m: int, f: float, g: float, r: float) -> Any:
        from xdm.tools._aprates import estimate

        key = (n, m, f, g, r)
        if key not in self.cache:
            self.cache[key] = estimate(n, m, f, g, r, self.conf, points=1001)
        return self.cache[key]


def _exposures(header: Any, chip: NDArray[np.int64]) -> FloatArray:
    """LIVTIMEn of each source's CCD, else LIVETIME (HRC: LIVETIME)."""
    base = header.get("LIVETIME", header.get("EXPOSURE"))
    if base is None:
        raise XdmSemanticError(
            "srcflux: the events have no LIVETIME or EXPOSURE keyword",
            hint="srcflux needs the exposure time for rates",
        )
    hrc = str(header.get("INSTRUME", "")).upper().startswith("HRC")
    out = np.full(chip.size, float(base))
    if not hrc:
        for i, c in enumerate(chip):
            if c >= 0 and f"LIVTIME{c}" in header:
                out[i] = float(header[f"LIVTIME{c}"])
    return out


def _observation(
    infile: str,
    p: Values,
    ra: list[float],
    dec: list[float],
    bands: list[Band],
    response: Any,
    expmap: str,
    models: tuple[list[Any], list[Any] | None, str],
    rates: _Rates,
) -> tuple[dict[str, list[Column]], list[tuple[str, Any, str]]]:
    """One event file: the columns of each band's table and the header keys."""
    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse
    from xdm.progress import note
    from xdm.tools._models import KEV_TO_ERG, conversion_factors
    from xdm.tools._srcflux_counts import count_events

    with open_vf_block(parse(infile)) as block:
        header = block.header.copy()
    geo, wcs = _geometry(header, ra, dec)
    src, shapes, areas = _sources(p, geo, wcs)
    n = src.size
    flux_weight = None
    if response is not None:
        note("srcflux: fluxes from the ARF alone: no QE map, no vignetting", level=2)

        def flux_weight(e_ev: FloatArray) -> FloatArray:
            area = response.area_at(e_ev / 1000.0)
            with np.errstate(divide="ignore"):
                return np.where(area > 0, e_ev / 1000.0 * KEV_TO_ERG / area, 0.0)

    photon_weight = _photon_weight(expmap) if expmap else None
    tally = count_events(
        infile, src, bands, flux_weight=flux_weight, photon_weight=photon_weight
    )
    note(f"srcflux: {infile}: {tally.rows} events, {n} sources", level=2)
    has_chip = tally.chip_hist.sum(axis=1) > 0
    chip = np.where(has_chip, np.argmax(tally.chip_hist, axis=1), -1).astype(np.int64)
    exposure = _exposures(header, chip)
    if p["fovfile"]:
        inside = _region(str(p["fovfile"]), wcs).contains(geo.x, geo.y)
    else:
        inside = tally.near > 0
    edge = np.zeros(n, dtype=bool)
    for name, values in (("chipx", tally.chipx), ("chipy", tally.chipy)):
        lo, hi = _limits(header, name)
        edge |= np.isfinite(values) & ((values < lo + 32) | (values > hi - 32))
    regions = None
    if p["psfmethod"] == "psffile" or expmap:
        regions = [
            (src.src_regions[i], src.bkg_regions[i])
            if src.src_regions is not None
            else _default_regions(src, i)
            for i in range(n)
        ]
    alpha, beta = np.ones(n), np.zeros(n)
    if p["psfmethod"] == "psffile":
        alpha, beta = _psf_fractions(_split(str(p["psffile"])), regions or [])
    mean_src = mean_bg = np.full(n, np.nan)
    if expmap and regions is not None:
        data, px, py = _image(expmap, "exposure map")
        _, _, mean_src, mean_bg = _region_sums(data, px, py, regions)
    full, unabs, absparams = models
    out: dict[str, list[Column]] = {}
    for band in bands:
        s = tally.bands[band.label]
        if s.no_area:
            note(f"srcflux: {s.no_area} {band.label} events have no ARF area", level=2)
        cols = _band_columns(
            ra, dec, geo, src, shapes, areas, chip, tally, inside, edge, exposure,
            alpha, beta, s, mean_src, mean_bg, rates, response is not None,
            photon_weight is not None,
        )  # fmt: skip
        cnv = (math.nan, math.nan)
        if response is not None:
            cnv = conversion_factors(
                full, response, band.emin, band.emax, unabsorbed_model=unabs
            )
        cols += _model_columns(cols, cnv, n)
        out[band.label] = cols
    keys = _event_keys(header)
    keys += _model_keys(p, absparams, response, expmap)
    return out, keys


def _band_columns(
    ra: list[float], dec: list[float], geo: _Geometry, src: Any, shapes: list[str],
    areas: FloatArray, chip: NDArray[np.int64], tally: Any, inside: Any, edge: Any,
    exposure: FloatArray, alpha: FloatArray, beta: FloatArray, s: Any,
    mean_src: FloatArray, mean_bg: FloatArray, rates: _Rates, fluxes: bool, photons: bool,
) -> list[Column]:  # fmt: skip
    """Counts, aprates and model-independent flux columns of one band."""
    n = src.size
    area, bg_area = areas[0], areas[1]
    counts, bg = s.counts, s.bg_counts
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = area / bg_area
        net = counts - bg * scale
        net_err = np.sqrt(counts + bg * scale * scale)
    rate, lo, hi, signif = (np.full(n, np.nan) for _ in range(4))
    for i in range(n):
        ni, mi = int(counts[i]), int(bg[i])
        a, b = min(float(alpha[i]), 1.0), min(float(beta[i]), 1.0)
        if (
            (ni == 0 and mi == 0)
            or not area[i] > 0
            or not a > 0
            or not bg_area[i] > 0
            or b >= 1
        ):
            continue  # CIAO: all INDEF
        e = rates(ni, mi, a * exposure[i], b * exposure[i], bg_area[i] / area[i])
        rate[i] = e.mode
        lo[i] = np.nan if e.lo is None else e.lo
        hi[i] = np.nan if e.hi is None else e.hi
        signif[i] = np.nan if e.signif is None else e.signif
    nan = np.full(n, np.nan)
    flux_s = s.flux / exposure if fluxes else nan
    flux_b = s.bg_flux / exposure if fluxes else nan
    f_net, f_lo, f_hi, upper = net_and_limits(
        flux_s, flux_b, area, bg_area, alpha, beta, rate, lo, hi
    )
    ph_s = s.phot if photons else nan
    ph_b = s.bg_phot if photons else nan
    p_net, p_lo, p_hi, _ = net_and_limits(
        ph_s, ph_b, area, bg_area, alpha, beta, rate, lo, hi
    )
    rcol = np.column_stack([np.where(np.isfinite(src.r), src.r, 0.0), np.zeros(n)])
    return [
        ("COMPONENT", np.arange(1, n + 1, dtype=np.int32), "", "source number"),
        ("RAPOS", np.asarray(ra), "deg", "source right ascension"),
        ("DECPOS", np.asarray(dec), "deg", "source declination"),
        ("XPOS", geo.x, "pixel", "sky x of the source"),
        ("YPOS", geo.y, "pixel", "sky y of the source"),
        ("SHAPE", np.array(shapes), "", "source region shape"),
        ("R", rcol, "pixel", "source circle radius"),
        ("THETA", geo.theta, "arcmin", "angle from the pointing (RA_PNT/DEC_PNT)"),
        ("PHI", geo.phi, "deg", "position angle from the pointing"),
        ("CHIP_ID", chip.astype(np.int32), "", "CCD of most source events"),
        ("CHIPX", tally.chipx, "pixel", "mean chipx of the source events"),
        ("CHIPY", tally.chipy, "pixel", "mean chipy of the source events"),
        (
            "INSIDE_FOV",
            np.asarray(inside, dtype=bool),
            "",
            "source in the field of view",
        ),
        ("NEAR_CHIP_EDGE", edge, "", "within 32 pixels of a chip edge"),
        ("COUNTS", counts.astype(np.int64), "count", "counts in the source region"),
        ("ERR_COUNTS", np.sqrt(counts), "count", "sqrt(COUNTS)"),
        ("AREA", area, "pixel**2", "source region area"),
        ("EXPOSURE", exposure, "s", "LIVTIMEn of the source CCD"),
        ("COUNT_RATE", counts / exposure, RATE, "COUNTS / EXPOSURE"),
        ("BG_COUNTS", bg.astype(np.int64), "count", "counts in the background region"),
        ("BG_ERR", np.sqrt(bg), "count", "sqrt(BG_COUNTS)"),
        ("BG_AREA", bg_area, "pixel**2", "background region area"),
        ("BG_EXPOSURE", exposure, "s", "background exposure"),
        ("BG_RATE", bg / exposure, RATE, "BG_COUNTS / BG_EXPOSURE"),
        ("NET_COUNTS", net, "count", "COUNTS - BG_COUNTS AREA/BG_AREA"),
        ("NET_ERR", net_err, "count", "error of NET_COUNTS"),
        ("NET_RATE", net / exposure, RATE, "NET_COUNTS / EXPOSURE"),
        ("ERR_RATE", net_err / exposure, RATE, "error of NET_RATE"),
        ("PSFFRAC", alpha, "", "PSF fraction in the source region"),
        ("BG_PSFFRAC", beta, "", "PSF fraction in the background region"),
        ("NET_RATE_APER", rate, RATE, "aprates net rate (mode)"),
        ("NET_RATE_APER_LO", lo, RATE, "lower bound of the net rate"),
        ("NET_RATE_APER_HI", hi, RATE, "upper bound of the net rate"),
        ("SRC_SIGNIFICANCE", signif, "", "aprates source significance"),
        ("FLUX_APER", flux_s, EFLUX, "sum of E/(A(E) T) in the source region"),
        ("BG_FLUX_APER", flux_b, EFLUX, "same in the background region"),
        ("NET_FLUX_APER", f_net, EFLUX, "model independent net flux"),
        ("NET_FLUX_APER_LO", f_lo, EFLUX, "its lower bound"),
        ("NET_FLUX_APER_HI", f_hi, EFLUX, "its upper bound"),
        (
            "UPPER_LIMIT",
            np.asarray(upper, dtype=bool),
            "",
            "limits scaled from an upper bound",
        ),
        ("MEAN_SRC_EXP", mean_src, "cm**2 s", "mean exposure map in the source region"),
        (
            "MEAN_BG_EXP",
            mean_bg,
            "cm**2 s",
            "mean exposure map in the background region",
        ),
        ("SRC_PHOTFLUX", ph_s, PFLUX, "sum of 1/expmap in the source region"),
        ("BG_PHOTFLUX", ph_b, PFLUX, "sum of 1/expmap in the background region"),
        ("NET_PHOTFLUX_APER", p_net, PFLUX, "net photon flux"),
        ("NET_PHOTFLUX_APER_LO", p_lo, PFLUX, "its lower bound"),
        ("NET_PHOTFLUX_APER_HI", p_hi, PFLUX, "its upper bound"),
    ]


def _model_columns(
    cols: list[Column], cnv: tuple[float, float], n: int
) -> list[Column]:
    named = {c[0]: c[1] for c in cols}
    out: list[Column] = [
        ("MFLUX_CNV", np.full(n, cnv[0]), "erg/cm**2", "absorbed model flux per count"),
        (
            "UMFLUX_CNV",
            np.full(n, cnv[1]),
            "erg/cm**2",
            "unabsorbed model flux per count",
        ),
    ]
    for prefix, factor in (("NET_MFLUX_APER", cnv[0]), ("NET_UMFLUX_APER", cnv[1])):
        for suffix in ("", "_LO", "_HI"):
            values = np.asarray(named["NET_RATE_APER" + suffix]) * factor
            out.append((prefix + suffix, values, EFLUX, f"NET_RATE_APER{suffix} x CNV"))
    return out


def _model_keys(
    p: Values, absparams: str, response: Any, expmap: str
) -> list[tuple[str, Any, str]]:
    from xdm.tools._models import XSECT, XSECT_NAME

    return [
        ("CONF", float(p["conf"]), "credible level of the intervals"),
        ("MODEL", str(p["model"]), "spectral model for MFLUX values"),
        ("PARAMVAL", str(p["paramvals"]), "spectral model parameters"),
        ("ABSMODEL", str(p["absmodel"]), "absorption model"),
        ("ABSPARAM", absparams, "absorption model parameters"),
        ("XSECT", XSECT, XSECT_NAME[:47]),
        ("ARFFILE", os.path.basename(response.arffile) if response else "none", "ARF"),
        ("RMFFILE", os.path.basename(response.rmffile) if response and response.rmffile else "none", "RMF"),
        ("EXPMAP", os.path.basename(expmap) if expmap else "none", "exposure map"),
    ]  # fmt: skip


def run_srcflux(p: Values) -> SrcfluxResult:
    """The whole tool: every observation, merged values, files and summary."""
    from astropy.table import Table

    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse
    from xdm.progress import get_verbosity
    from xdm.tools._srcflux_pos import parse_positions

    _refuse_calibration(p)
    infiles = _split(str(p["infile"]))
    if not infiles:
        raise XdmSemanticError("srcflux: infile= is empty")
    ra, dec = parse_positions(str(p["pos"]))
    root = output_root(str(p["outroot"]))
    with open_vf_block(parse(infiles[0])) as block:
        instrument = str(block.header.get("INSTRUME", "ACIS"))
    bands = parse_bands(str(p["bands"]), instrument)
    single = len(infiles) == 1
    roots = (
        [root] if single else [f"{root}obi{i + 1:03d}_" for i in range(len(infiles))]
    )
    planned = [f"{r}{b.label}.flux" for r in roots for b in bands]
    planned += [f"{r}summary.txt" for r in roots]
    if not single:
        planned += [f"{root}{b.label}.flux" for b in bands] + [f"{root}summary.txt"]
    if not p["clobber"]:
        for path in planned:
            if os.path.exists(path):
                raise XdmIOError(
                    f"output file {path} exists", hint="add clobber=yes to replace it"
                )
    responses = _responses(
        _split(str(p["arffile"])), _split(str(p["rmffile"])), len(infiles)
    )
    expmaps = _split(str(p["expmapfile"]))
    if len(expmaps) not in (0, 1, len(infiles)):
        raise XdmSemanticError("srcflux: give one exposure map per event file")
    models = _models(p)
    rates = _Rates(float(p["conf"]))
    history = p.text()
    per_obs: list[dict[str, Any]] = []
    obs_cols: list[dict[str, list[Column]]] = []
    files: list[str] = []
    for i, infile in enumerate(infiles):
        expmap = expmaps[i if len(expmaps) > 1 else 0] if expmaps else ""
        cols, keys = _observation(
            infile, p, ra, dec, bands, responses[i], expmap, models, rates
        )
        tables = {}
        for band in bands:
            path = f"{roots[i]}{band.label}.flux"
            write_table(
                path,
                cols[band.label],
                [*keys, *_band_keys(band)],
                history,
                bool(p["clobber"]),
            )
            files.append(path)
            tables[band.label] = Table({c[0]: c[1] for c in cols[band.label]})
        per_obs.append(tables)
        obs_cols.append(cols)
    lines: list[str] = []
    unabs = models[1] is not None
    conf = float(p["conf"])
    for i, tables in enumerate(per_obs):
        title = (
            "Summary of source fluxes"
            if single
            else f"Summary of source fluxes in OBI {i + 1:03d}"
        )
        block_lines = summary_lines(
            tables, bands, conf, title=title, merged=False, unabsorbed=unabs
        )
        _summary_file(f"{roots[i]}summary.txt", block_lines, files, p["clobber"])
        lines += block_lines
    final = per_obs[0]
    if not single:
        final = _merge(
            p, root, bands, obs_cols, responses, models, rates, history, files
        )
        block_lines = summary_lines(
            final,
            bands,
            conf,
            title="Summary of merged source fluxes",
            merged=True,
            unabsorbed=unabs,
        )
        _summary_file(f"{root}summary.txt", block_lines, files, p["clobber"])
        lines += block_lines
    text = "\n".join(lines)
    if get_verbosity() >= 1:
        print(text)
    return SrcfluxResult(final, tuple(per_obs), tuple(files), text)


def _summary_file(path: str, lines: list[str], files: list[str], clobber: bool) -> None:
    """``<root>summary.txt``: written like every product (temporary file, rename)."""
    from xdm.io.atomic import atomic_output

    with atomic_output(path, clobber=clobber) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files.append(path)


def _merge(
    p: Values, root: str, bands: list[Band], obs_cols: list[dict[str, list[Column]]],
    responses: list[Any], models: tuple[list[Any], list[Any] | None, str],
    rates: _Rates, history: str, files: list[str],
) -> dict[str, Any]:  # fmt: skip
    """The merged tables (6.6): aprates on summed counts, weighted fluxes."""
    from astropy.table import Table

    from xdm.tools._models import Response, conversion_factors

    combined = None
    if responses[0] is not None:
        weights = [
            float(
                np.nanmedian(dict((c[0], c[1]) for c in o[bands[0].label])["EXPOSURE"])
            )
            for o in obs_cols
        ]
        area = sum(w * r.area for w, r in zip(weights, responses, strict=True)) / sum(
            weights
        )
        first = responses[0]
        combined = Response(
            first.e_lo,
            first.e_hi,
            area,
            first.arffile,
            first.rmffile,
            first.channel_energy,
            first.rows,
        )
    out: dict[str, Any] = {}
    for band in bands:
        obs = [{c[0]: c[1] for c in o[band.label]} for o in obs_cols]
        merged = merged_columns(obs, float(p["conf"]), rates)
        cnv = (math.nan, math.nan)
        if combined is not None:
            cnv = conversion_factors(
                models[0], combined, band.emin, band.emax, unabsorbed_model=models[1]
            )
        cols: list[Column] = [
            ("RAPOS", obs[0]["RAPOS"], "deg", "source right ascension"),
            ("DECPOS", obs[0]["DECPOS"], "deg", "source declination"),
            ("COMPONENT", obs[0]["COMPONENT"], "", "source number"),
        ]
        units = {
            "TOTAL_COUNTS": "count",
            "TOTAL_BG_COUNTS": "count",
            "PSF_WEIGHTED_TOTAL_EXPOSURE_TIME": "s",
            "MERGED_NET_PHOTFLUX_APER": PFLUX,
        }
        for k, v in merged.items():
            cols.append(
                (
                    k,
                    v,
                    RATE if "RATE_APER" in k else units.get(k, ""),
                    k.lower().replace("_", " "),
                )
            )
        cols.append(
            (
                "MFLUX_CNV",
                np.full(len(obs[0]["RAPOS"]), cnv[0]),
                "erg/cm**2",
                "absorbed model flux per count (combined ARF)",
            )
        )
        cols.append(
            (
                "UMFLUX_CNV",
                np.full(len(obs[0]["RAPOS"]), cnv[1]),
                "erg/cm**2",
                "unabsorbed model flux per count",
            )
        )
        for prefix, factor in (
            ("MERGED_NET_MFLUX_APER", cnv[0]),
            ("MERGED_NET_UMFLUX_APER", cnv[1]),
        ):
            cols.extend(
                (
                    prefix + suffix,
                    merged["MERGED_NET_RATE_APER" + suffix] * factor,
                    EFLUX,
                    "merged rate x CNV",
                )
                for suffix in ("", "_LO", "_HI")
            )
        keys = [*_band_keys(band), *_model_keys(p, models[2], combined, "")]
        path = f"{root}{band.label}.flux"
        write_table(path, cols, keys, history, bool(p["clobber"]))
        files.append(path)
        out[band.label] = Table({c[0]: c[1] for c in cols})
    return out


def output_root(outroot: str) -> str:
    """CIAO's rule: a directory gets ``/``, anything else ``_``."""
    if os.path.isdir(outroot):
        return outroot if outroot.endswith("/") else outroot + "/"
    return outroot + "_"
