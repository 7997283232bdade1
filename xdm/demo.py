"""Synthetic, realistic Chandra ACIS evt2 event files, made by seeded code.

The file has the layout of a CXC level-2 event file (columns, TLMIN/TLMAX, sky WCS
column keys, MTYPE/MFORM vectors, data subspace, one GTI block per chip) and
content an X-ray astronomer would recognise: an extended target with a bright
nucleus near the aim point, point sources whose PSF widens off axis, a particle
and sky background up to 15 keV with a flare, five ACIS chips (I0-I3, S2), a
dithered pointing, frame-quantised times, grades 0-7 and a few status bits.

Rows are generated and written in chunks straight to disk (the FITS header is
built with astropy, the table as big-endian records), so 1e8 rows need the
memory of one chunk. The same seed and chunk size give the same file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:
    from xdm.io.hdus import Header

__all__ = [
    "CHIPS",
    "EVENT_DTYPE",
    "TARGET",
    "WINDOW",
    "iter_event_chunks",
    "make_events",
]

# ---------------------------------------------------------------- the observation

TSTART = 6.25000000e8  # [s] mission elapsed time (2017)
DURATION = 50_000.0  # [s]
TIMEDEL = 3.24104  # [s] full-frame ACIS frame time
EXPTIME = 3.2  # [s] frame integration time
DTCOR = EXPTIME / TIMEDEL
GAP = (20_000.0, 20_600.0)  # [s after TSTART] telemetry gap, outside every GTI
FLARE = (34_000.0, 37_500.0)  # [s after TSTART] background flare
FLARE_BOOST = 8.0  # peak background rate / quiescent rate
RA_NOM, DEC_NOM, ROLL_NOM = 150.1191, 2.2058, 35.0  # [deg]
SKY_PIXEL_DEG = 0.492 / 3600.0
CENTRE = 4096.5  # sky and det reference pixel
TARGET = (4110.3, 4085.7)  # sky position of the extended target and its nucleus
WINDOW = "x=3900:4300,y=3900:4300"  # a 400 x 400 pixel window around the target
OBS_ID = "24601"

# ACIS-I 2x2 array (I2 I3 below I0 I1) and S2 below it: chip -> det lower-left corner
_I0X, _I0Y, _GAP = 2858.5, 3270.5, 18.0
CHIPS: dict[int, tuple[float, float]] = {
    0: (_I0X, _I0Y + 1024 + _GAP),
    1: (_I0X + 1024 + _GAP, _I0Y + 1024 + _GAP),
    2: (_I0X, _I0Y),
    3: (_I0X + 1024 + _GAP, _I0Y),
    6: (3300.5, 1900.5),
}
AIM_CHIP = 3
_CHIP_IDS = np.array(list(CHIPS))
_CORNERS = np.zeros((10, 2))  # ccd_id -> det lower-left corner
for _chip, _corner in CHIPS.items():
    _CORNERS[_chip] = _corner

# ---------------------------------------------------------------- row layout

EVENT_DTYPE = np.dtype(
    [
        ("time", ">f8"),
        ("ccd_id", ">i2"),
        ("node_id", ">i2"),
        ("expno", ">i4"),
        ("chipx", ">i2"),
        ("chipy", ">i2"),
        ("tdetx", ">i2"),
        ("tdety", ">i2"),
        ("detx", ">f4"),
        ("dety", ">f4"),
        ("x", ">f4"),
        ("y", ">f4"),
        ("pha", ">i4"),
        ("energy", ">f4"),
        ("pi", ">i4"),
        ("fltgrade", ">i2"),
        ("grade", ">i2"),
        ("status", ">u4"),  # written as 32X: first bit in the file is status bit 31
    ]
)


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    form: str
    comment: str
    unit: str | None = None
    tlmin: float | None = None
    tlmax: float | None = None
    tnull: int | None = None


_COLUMNS = (
    _Column("time", "1D", "S/C TT corresponding to mid-exposure", "s"),
    _Column("ccd_id", "1I", "CCD reporting event", None, 0, 9),
    _Column("node_id", "1I", "CCD serial readout amplifier node", None, 0, 3),
    _Column("expno", "1J", "Exposure number of CCD frame containing event", None, 0),
    _Column("chipx", "1I", "Chip coords", "pixel", 1, 1024),
    _Column("chipy", "1I", "Chip coords", "pixel", 1, 1024),
    _Column("tdetx", "1I", "ACIS tiled detector coordinates", "pixel", 1, 8192, 9999),
    _Column("tdety", "1I", "ACIS tiled detector coordinates", "pixel", 1, 8192, 9999),
    _Column("detx", "1E", "ACIS detector coordinates", "pixel", 0.5, 8192.5),
    _Column("dety", "1E", "ACIS detector coordinates", "pixel", 0.5, 8192.5),
    _Column("x", "1E", "sky coordinates", "pixel", 0.5, 8192.5),
    _Column("y", "1E", "sky coordinates", "pixel", 0.5, 8192.5),
    _Column("pha", "1J", "total pulse height of event", "adu", 0, 36855, 0),
    _Column("energy", "1E", "nominal energy of event (eV)", "eV", 0.0, 1.0e6),
    _Column("pi", "1J", "pulse invariant energy of event", "chan", 1, 1024, 0),
    _Column("fltgrade", "1I", "event grade, flight system", None, 0, 255),
    _Column("grade", "1I", "binned event grade", None, 0, 7),
    _Column("status", "32X", "event status bits"),
)


# ---------------------------------------------------------------- spectra and sources

_E_GRID = np.linspace(100.0, 15_000.0, 4000)  # [eV]


def _area(kev: np.ndarray) -> np.ndarray:
    """A smooth ACIS-I-like effective-area shape (arbitrary units)."""
    return (
        1.0
        / (1.0 + (0.45 / kev) ** 4)
        / (1.0 + (kev / 6.5) ** 3)
        * (1.0 - 0.3 * np.exp(-(((kev - 2.1) / 0.15) ** 2)))
    )


def _spectra() -> dict[str, np.ndarray]:
    """Cumulative distributions on ``_E_GRID`` for each emission component."""
    e = _E_GRID / 1000.0
    below_10 = e <= 10.0
    shapes = {
        "point": e**-1.7 * np.exp(-0.03 * e**-2.5) * _area(e) * below_10,
        "extended": (
            e**-0.3 * np.exp(-e / 1.5)
            + 0.8 * np.exp(-(((e - 0.95) / 0.12) ** 2))
            + 0.03 * np.exp(-(((e - 6.7) / 0.1) ** 2))
        )
        * _area(e)
        * below_10,
        "background": 0.1 + 0.01 * e + np.exp(-e / 0.8) + 0.5 * np.exp(-e / 3.0),
        "flare": e**-0.6 / (1.0 + (0.5 / e) ** 2),
    }
    cdfs = {}
    for name, s in shapes.items():
        c = np.concatenate(([0.0], np.cumsum(0.5 * (s[1:] + s[:-1]))))
        cdfs[name] = c / c[-1]
    return cdfs


# point sources: sky x, y, relative flux (the first is the target's nucleus)
_POINT_SOURCES = np.array(
    [
        [TARGET[0], TARGET[1], 0.08],
        [4210.4, 4031.2, 0.05],
        [3890.7, 4300.1, 0.03],
        [4480.2, 3702.9, 0.04],
        [3605.3, 3881.6, 0.02],
        [4702.8, 4512.4, 0.03],
        [3402.5, 4650.3, 0.025],  # far off axis: a wide PSF
        [4099.9, 3402.1, 0.015],
        [4012.1, 4190.6, 0.01],
        [3805.0, 3400.0, 0.02],  # near a chip edge after dither
    ]
)
_EXTENDED_WEIGHT = 0.30
_SOURCE_RATE = float(_POINT_SOURCES[:, 2].sum()) + _EXTENDED_WEIGHT
_BACKGROUND_RATE = 0.20

_GRADES = np.arange(8)
_GRADE_P = {
    "xray": np.array([0.62, 0.01, 0.12, 0.08, 0.08, 0.01, 0.06, 0.02]),
    "particle": np.array([0.20, 0.03, 0.08, 0.06, 0.06, 0.04, 0.13, 0.40]),
}
# flight (fltgrade) codes that map to each ASCA grade, a plausible subset
_FLTGRADES = (
    (0,),
    (1, 4, 32, 128),
    (2, 64),
    (8, 16),
    (16, 8),
    (5, 33, 132, 160),
    (10, 11, 18, 22, 72, 80, 104, 208),
    (255, 107, 111, 127, 214, 248, 251, 254),
)
_FLT_TABLE = np.array([[c[i % len(c)] for i in range(8)] for c in _FLTGRADES])


def _good_intervals() -> list[tuple[float, float]]:
    """Global good-time intervals (seconds after TSTART), frame aligned."""
    g0 = math.floor(GAP[0] / TIMEDEL) * TIMEDEL
    g1 = math.ceil(GAP[1] / TIMEDEL) * TIMEDEL
    end = math.floor(DURATION / TIMEDEL) * TIMEDEL
    return [(0.0, g0), (g1, end)]


def chip_gtis() -> dict[int, np.ndarray]:
    """Per-chip GTIs (absolute times, rows START, STOP): chips start a little apart."""
    out = {}
    for k, chip in enumerate(CHIPS):
        rows = np.array(_good_intervals()) + TSTART
        rows[0, 0] += 0.041 * k
        rows[-1, 1] -= 0.041 * (len(CHIPS) - 1 - k)
        out[chip] = rows
    return out


def _rate_curve() -> tuple[np.ndarray, np.ndarray]:
    """Cumulative event fraction at frame boundaries and background share per frame.

    Rates are constant over a frame and zero outside the good intervals, so an
    event drawn by inverse CDF always lands in a good frame.
    """
    n_frames = math.floor(DURATION / TIMEDEL)
    centre = (np.arange(n_frames) + 0.5) * TIMEDEL
    good = np.zeros(n_frames, dtype=bool)
    for a, b in _good_intervals():
        good |= (centre >= a) & (centre < b)
    f0, f1 = FLARE
    ramp = np.clip(np.minimum(centre - f0, f1 - centre) / 600.0, 0.0, 1.0)
    background = _BACKGROUND_RATE * (1.0 + (FLARE_BOOST - 1.0) * ramp)
    rate = (_SOURCE_RATE + background) * good
    cdf = np.concatenate(([0.0], np.cumsum(rate)))
    return cdf / cdf[-1], background / (_SOURCE_RATE + background)


# ---------------------------------------------------------------- geometry


def _rotate(
    dx: np.ndarray, dy: np.ndarray, deg: float
) -> tuple[np.ndarray, np.ndarray]:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return c * dx - s * dy, s * dx + c * dy


def _dither(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lissajous dither in det pixels (8 arcsec amplitude, 1000 s and 707 s periods)."""
    amp = 8.0 / 0.492
    return amp * np.sin(2 * np.pi * t / 1000.0), amp * np.sin(2 * np.pi * t / 707.1)


def _sky_to_det(
    x: np.ndarray, y: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = _rotate(x - CENTRE, y - CENTRE, -ROLL_NOM)
    ddx, ddy = _dither(t)
    return dx + CENTRE + ddx, dy + CENTRE + ddy


def _det_to_sky(
    detx: np.ndarray, dety: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    ddx, ddy = _dither(t)
    dx, dy = _rotate(detx - ddx - CENTRE, dety - ddy - CENTRE, ROLL_NOM)
    return dx + CENTRE, dy + CENTRE


def _chip_of(detx: np.ndarray, dety: np.ndarray) -> np.ndarray:
    """CCD id under each det position, -1 off the chips."""
    ccd = np.full(detx.shape, -1, dtype=np.int16)
    for chip, (x0, y0) in CHIPS.items():
        on = (detx >= x0) & (detx < x0 + 1024) & (dety >= y0) & (dety < y0 + 1024)
        ccd[on] = chip
    return ccd


# ---------------------------------------------------------------- generation


def _positions(
    rng: np.random.Generator, kind: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sky positions for sources (kind >= 0: point index, -1: extended)."""
    n = len(kind)
    x = np.empty(n)
    y = np.empty(n)
    point = kind >= 0
    src = _POINT_SOURCES[kind[point]]
    theta = np.hypot(src[:, 0] - CENTRE, src[:, 1] - CENTRE) * 0.492 / 60.0
    sigma = 0.7 + 0.25 * theta**2
    sigma = np.where(rng.random(len(src)) < 0.1, 4.0 * sigma, sigma)  # PSF wings
    x[point] = src[:, 0] + sigma * rng.standard_normal(len(src))
    y[point] = src[:, 1] + sigma * rng.standard_normal(len(src))
    ext = ~point
    m = int(ext.sum())
    # beta model (rc 35 px, beta 0.6, out to 600 px), elliptical and rotated
    a, rc, rmax = 1.5 - 3 * 0.6, 35.0, 600.0
    u = rng.random(m) * (1.0 - (1.0 + (rmax / rc) ** 2) ** a)
    r = rc * np.sqrt((1.0 - u) ** (1.0 / a) - 1.0)
    phi = rng.random(m) * 2 * np.pi
    ex, ey = _rotate(r * np.cos(phi), 0.8 * r * np.sin(phi), 30.0)
    x[ext] = TARGET[0] + ex
    y[ext] = TARGET[1] + ey
    return x, y


def _chunk(
    rng: np.random.Generator,
    first: int,
    count: int,
    total: int,
    curves: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Rows ``first .. first+count`` of a ``total``-row file, time ordered."""
    cdf, bkg_share = curves
    rows = np.zeros(count, dtype=EVENT_DTYPE)

    # time: the frame holding each sorted quantile of the rate curve; times are
    # frame centres, as in real ACIS data
    u = np.sort(rng.uniform(first, first + count, count)) / total
    expno = np.searchsorted(cdf, u, side="right") - 1
    expno = np.clip(expno, 0, len(bkg_share) - 1)
    t_rel = (expno + 0.5) * TIMEDEL

    # component: background (quiescent or flare) or a source
    is_bkg = rng.random(count) < bkg_share[expno]
    weights = np.append(_POINT_SOURCES[:, 2], _EXTENDED_WEIGHT)
    kind = rng.choice(len(weights), size=count, p=weights / weights.sum())
    kind = np.where(kind == len(_POINT_SOURCES), -1, kind)

    detx = np.empty(count)
    dety = np.empty(count)
    ccd = np.full(count, -1, dtype=np.int16)
    todo = ~is_bkg
    for _ in range(30):  # redraw source events that fell off the chips
        if not todo.any():
            break
        sx, sy = _positions(rng, kind[todo], t_rel[todo])
        dx, dy = _sky_to_det(sx, sy, t_rel[todo])
        detx[todo], dety[todo] = dx, dy
        ccd[todo] = _chip_of(dx, dy)
        todo &= ccd < 0
    is_bkg |= todo  # the few that never landed become background
    nb = int(is_bkg.sum())
    bchip = _CHIP_IDS[rng.integers(0, len(_CHIP_IDS), nb)]
    detx[is_bkg] = _CORNERS[bchip, 0] + rng.random(nb) * 1024.0
    dety[is_bkg] = _CORNERS[bchip, 1] + rng.random(nb) * 1024.0
    ccd[is_bkg] = bchip

    x, y = _det_to_sky(detx, dety, t_rel)
    lookup = _CORNERS
    chipx = np.clip(np.floor(detx - lookup[ccd, 0]).astype(np.int64) + 1, 1, 1024)
    chipy = np.clip(np.floor(dety - lookup[ccd, 1]).astype(np.int64) + 1, 1, 1024)

    # energies from the component spectra
    in_flare = (t_rel >= FLARE[0]) & (t_rel < FLARE[1])
    spectra = _SPECTRA
    energy = np.empty(count)
    groups = {
        "background": is_bkg & ~(in_flare & (rng.random(count) < 0.8)),
        "point": ~is_bkg & (kind >= 0),
        "extended": ~is_bkg & (kind < 0),
    }
    groups["flare"] = is_bkg & ~groups["background"]
    for name, sel in groups.items():
        energy[sel] = np.interp(rng.random(int(sel.sum())), spectra[name], _E_GRID)
    energy = energy.astype(np.float32)

    gain = 4.6 * (1.0 + 0.01 * (ccd - 2))
    pha = np.rint(energy / gain * (1.0 + 0.02 * rng.standard_normal(count)))
    grade = np.where(
        is_bkg,
        rng.choice(_GRADES, count, p=_GRADE_P["particle"]),
        rng.choice(_GRADES, count, p=_GRADE_P["xray"]),
    )
    status = np.zeros(count, dtype=np.uint32)
    status |= np.where(is_bkg & (rng.random(count) < 0.3), 1 << 23, 0).astype(np.uint32)
    afterglow = rng.random(count) < 0.005
    status |= np.where(afterglow, 1 << rng.integers(16, 20, count), 0).astype(np.uint32)
    status |= np.where(rng.random(count) < 0.003, 1 << 4, 0).astype(np.uint32)
    status |= np.where(rng.random(count) < 0.002, 1 << 5, 0).astype(np.uint32)

    rows["time"] = TSTART + t_rel
    rows["ccd_id"] = ccd
    rows["node_id"] = (chipx - 1) // 256
    rows["expno"] = expno
    rows["chipx"] = chipx
    rows["chipy"] = chipy
    rows["tdetx"] = np.floor(detx).astype(np.int64) + 1
    rows["tdety"] = np.floor(dety).astype(np.int64) + 1
    rows["detx"] = detx
    rows["dety"] = dety
    rows["x"] = x
    rows["y"] = y
    rows["pha"] = np.clip(pha, 1, 36855)
    rows["energy"] = energy
    rows["pi"] = np.clip(np.floor(energy / 14.6).astype(np.int64) + 1, 1, 1024)
    rows["fltgrade"] = _FLT_TABLE[grade, rng.integers(0, 8, count)]
    rows["grade"] = grade
    rows["status"] = status
    return rows


_SPECTRA = _spectra()


def iter_event_chunks(
    n_rows: int, seed: int = 0, chunk_rows: int = 500_000
) -> Iterator[np.ndarray]:
    """Yield the rows of the file as big-endian record arrays, in time order."""
    curves = _rate_curve()
    for k, first in enumerate(range(0, n_rows, chunk_rows)):
        rng = np.random.default_rng([seed, k])
        yield _chunk(rng, first, min(chunk_rows, n_rows - first), n_rows, curves)


# ---------------------------------------------------------------- FITS headers


def _common_cards() -> list[tuple[str, object, str]]:
    tstop = TSTART + DURATION
    return [
        ("ORIGIN", "xdm", "Source of FITS file: synthetic data"),
        ("CREATOR", "xdm.demo", "tool that created this output"),
        ("MISSION", "AXAF", "Mission"),
        ("TELESCOP", "CHANDRA", "Telescope"),
        ("INSTRUME", "ACIS", "Instrument"),
        ("DETNAM", "ACIS-01236", "Detector"),
        ("GRATING", "NONE", "Grating"),
        ("OBS_ID", OBS_ID, "Observation id"),
        ("DATE-OBS", "2017-10-23T04:53:15", "Observation start date"),
        ("DATE-END", "2017-10-23T18:46:35", "Observation end date"),
        ("TIMESYS", "TT", "Time system"),
        ("MJDREF", 50814.0, "[d] MJD zero point for times"),
        ("TIMEZERO", 0.0, "[s] Clock correction"),
        ("TIMEUNIT", "s", "Time unit"),
        ("TIMEREF", "LOCAL", "Time reference (barycenter/local)"),
        ("TASSIGN", "SATELLITE", "Time assigned by clock"),
        ("CLOCKAPP", True, "default"),
        ("TSTART", TSTART, "[s] Observation start time (MET)"),
        ("TSTOP", tstop, "[s] Observation end time (MET)"),
    ]


def _primary_header() -> Header:
    from xdm.io.hdus import new_header

    h = new_header()
    h["SIMPLE"] = (True, "file does conform to FITS standard")
    h["BITPIX"] = (8, "number of bits per data pixel")
    h["NAXIS"] = (0, "number of data axes")
    h["EXTEND"] = (True, "FITS dataset may contain extensions")
    h["HDUNAME"] = "PRIMARY"
    for key, value, comment in _common_cards():
        h[key] = (value, comment)
    h["COMMENT"] = "Synthetic Chandra ACIS event file made by xdm.demo (seeded)."
    return h


def _bintable_header(width: int, n_rows: int, n_fields: int) -> Header:
    """A binary table header's mandatory cards, in FITS order."""
    from xdm.io.hdus import new_header

    h = new_header()
    h["XTENSION"] = ("BINTABLE", "binary table extension")
    h["BITPIX"] = (8, "8-bit bytes")
    h["NAXIS"] = (2, "2-dimensional binary table")
    h["NAXIS1"] = (width, "width of table in bytes")
    h["NAXIS2"] = (n_rows, "number of rows in table")
    h["PCOUNT"] = (0, "size of special data area")
    h["GCOUNT"] = (1, "one data group (required keyword)")
    h["TFIELDS"] = (n_fields, "number of fields in each row")
    return h


def _events_header(n_rows: int, seed: int) -> Header:
    h = _bintable_header(EVENT_DTYPE.itemsize, n_rows, len(_COLUMNS))
    h["EXTNAME"] = ("EVENTS", "name of this binary table extension")
    h["HDUNAME"] = ("EVENTS", "ASCDM block name")
    for i, col in enumerate(_COLUMNS, start=1):
        h[f"TTYPE{i}"] = (col.name, col.comment)
        h[f"TFORM{i}"] = (col.form, "format of field")
        if col.unit:
            h[f"TUNIT{i}"] = col.unit
        if col.tlmin is not None:
            h[f"TLMIN{i}"] = col.tlmin
        if col.tlmax is not None:
            h[f"TLMAX{i}"] = col.tlmax
        if col.tnull is not None:
            h[f"TNULL{i}"] = col.tnull
    h["CONTENT"] = ("EVT2", "What data product")
    h["HDUCLASS"] = "OGIP"
    h["HDUCLAS1"] = "EVENTS"
    h["HDUCLAS2"] = "ACCEPTED"
    for key, value, comment in _common_cards():
        h[key] = (value, comment)
    h["XDMSEED"] = (seed, "xdm.demo random seed")
    h["OBS_MODE"] = ("POINTING", "Observation mode")
    h["DATAMODE"] = ("VFAINT", "Data mode")
    h["READMODE"] = ("TIMED", "Read mode")
    h["TIMEPIXR"] = (0.5, "default")
    h["RADESYS"] = ("ICRS", "default")
    h["EQUINOX"] = (2000.0, "default")
    h["TIMEDEL"] = (TIMEDEL, "[s] timedel Lev1")
    h["EXPTIME"] = (EXPTIME, "[s]")
    h["RA_NOM"] = (RA_NOM, "[deg] Nominal RA")
    h["DEC_NOM"] = (DEC_NOM, "[deg] Nominal Dec")
    h["ROLL_NOM"] = (ROLL_NOM, "[deg] Nominal Roll")
    h["RA_PNT"] = (RA_NOM, "[deg] Pointing RA")
    h["DEC_PNT"] = (DEC_NOM, "[deg] Pointing Dec")
    h["ROLL_PNT"] = (ROLL_NOM, "[deg] Pointing Roll")
    h["RA_TARG"] = (RA_NOM + (CENTRE - TARGET[0]) * SKY_PIXEL_DEG, "[deg] Target RA")
    h["DEC_TARG"] = (DEC_NOM + (TARGET[1] - CENTRE) * SKY_PIXEL_DEG, "[deg] Target Dec")
    h["FEP_CCD"] = ("01236x", "CCD to FEPID mapping, fep0 is left most digit")
    gtis = chip_gtis()
    ontime = {chip: float((g[:, 1] - g[:, 0]).sum()) for chip, g in gtis.items()}
    h["ONTIME"] = (ontime[AIM_CHIP], "[s] Sum of GTIs")
    for chip in CHIPS:
        h[f"ONTIME{chip}"] = (ontime[chip], "[s] Sum of GTIs")
    h["LIVETIME"] = (ontime[AIM_CHIP] * DTCOR, "[s] Livetime")
    for chip in CHIPS:
        h[f"LIVTIME{chip}"] = (ontime[chip] * DTCOR, "[s] Livetime")
    h["EXPOSURE"] = (ontime[AIM_CHIP] * DTCOR, "[s] Exposure time")
    for chip in CHIPS:
        h[f"EXPOSUR{chip}"] = (ontime[chip] * DTCOR, "[s] Exposure time")
    h["DTCOR"] = (DTCOR, "Dead time correction")
    for i, (name, form) in enumerate(
        [
            ("chip", "chipx,chipy"),
            ("tdet", "tdetx,tdety"),
            ("det", "detx,dety"),
            ("sky", "x,y"),
        ],
        start=1,
    ):
        h[f"MTYPE{i}"] = (name, "DM Keyword: Descriptor name.")
        h[f"MFORM{i}"] = (form, "[pixel]")
    h["MTYPE5"] = ("EQPOS", "DM Keyword: Descriptor name.")
    h["MFORM5"] = ("RA,DEC", "[deg]")
    ix = 1 + [c.name for c in _COLUMNS].index("x")
    for i, ctype, crval, cdelt in (
        (ix, "RA---TAN", RA_NOM, -SKY_PIXEL_DEG),
        (ix + 1, "DEC--TAN", DEC_NOM, SKY_PIXEL_DEG),
    ):
        h[f"TCTYP{i}"] = ctype
        h[f"TCRVL{i}"] = crval
        h[f"TCRPX{i}"] = CENTRE
        h[f"TCDLT{i}"] = cdelt
        h[f"TCUNI{i}"] = "deg"
    # data subspace: one component per chip, time -> that chip's GTI block; as in
    # CIAO's files the aim chip is component 1 and later components write only
    # kDSREF1 (kDSVAL1 'TABLE' and the descriptor name are inherited)
    chips = [AIM_CHIP, *(c for c in CHIPS if c != AIM_CHIP)]
    for k, chip in enumerate(chips, start=1):
        p = "" if k == 1 else str(k)
        if k == 1:
            h["DSTYP1"] = ("time", "DM Keyword: Descriptor name.")
            h["DSVAL1"] = ("TABLE", "[s]")
            h["DSFORM1"] = ("D", "DM Keyword: Descriptor datatype.")
            h["DSUNIT1"] = ("s", "DM Keyword: Descriptor unit.")
        h[f"{p}DSREF1"] = f":GTI{chip}"
    for k, chip in enumerate(chips, start=1):
        p = "" if k == 1 else str(k)
        if k == 1:
            h["DSTYP2"] = ("ccd_id", "DM Keyword: Descriptor name.")
        h[f"{p}DSVAL2"] = (f"{chip}:{chip}", "DM Keyword: Descriptor value.")
        if k == 1:
            h["DSFORM2"] = ("I", "DM Keyword: Descriptor datatype.")
    h["HISTORY"] = f"xdm.demo: {n_rows} synthetic events, seed {seed}"
    return h


def _gti_header(chip: int, n: int) -> Header:
    h = _bintable_header(16, n, 2)
    h["EXTNAME"] = ("GTI", "name of this binary table extension")
    h["EXTVER"] = chip
    h["HDUNAME"] = (f"GTI{chip}", "ASCDM block name")
    for i, name in enumerate(("START", "STOP"), start=1):
        h[f"TTYPE{i}"] = name
        h[f"TFORM{i}"] = ("1D", "format of field")
        h[f"TUNIT{i}"] = "s"
    h["HDUCLASS"] = "OGIP"
    h["HDUCLAS1"] = "GTI"
    h["HDUCLAS2"] = "STANDARD"
    for key, value, comment in _common_cards():
        h[key] = (value, comment)
    h["CCD_ID"] = (chip, "CCD for this table")
    return h


def _pad(f: BinaryIO, nbytes: int) -> None:
    f.write(b"\0" * (-nbytes % 2880))


# ---------------------------------------------------------------- public entry


def make_events(
    path: str | os.PathLike[str],
    n_rows: int = 100_000,
    seed: int = 0,
    clobber: bool = False,
    *,
    chunk_rows: int = 500_000,
) -> Path:
    """Write a synthetic ACIS evt2 file of ``n_rows`` events; returns its path.

    Memory stays at one chunk of rows whatever ``n_rows`` is. The file is written
    to a temporary name and renamed, and an existing file is replaced only with
    ``clobber=True``.
    """
    from xdm.errors import XdmIOError

    path = Path(path)
    n_rows = int(n_rows)
    if n_rows < 1:
        raise XdmIOError(f"n_rows must be positive, got {n_rows}")
    if path.exists() and not clobber:
        raise XdmIOError(
            f"{path} exists", hint="pass clobber=True (clobber=yes) to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(_primary_header().tostring().encode("ascii"))
            f.write(_events_header(n_rows, seed).tostring().encode("ascii"))
            from xdm.progress import progress

            with progress(n_rows, "making events") as bar:  # shown after 1 s
                for rows in iter_event_chunks(n_rows, seed, chunk_rows):
                    f.write(rows.tobytes())
                    bar.advance(len(rows))
            _pad(f, n_rows * EVENT_DTYPE.itemsize)
            for chip, gti in chip_gtis().items():
                f.write(_gti_header(chip, len(gti)).tostring().encode("ascii"))
                f.write(gti.astype(">f8").tobytes())
                _pad(f, gti.size * 8)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
