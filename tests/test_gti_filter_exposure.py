"""``evt.fits[@clean.gti]``: rows, per-chip GTI blocks and exposure keys against numpy.

Oracle: the kept rows are the events whose TIME lies in a clean interval (numpy
on the columns read by astropy); each chip's new GTI is the pairwise
intersection of its old rows with the clean intervals (a plain double loop);
ONTIMEn is their summed length, LIVTIMEn = EXPOSURn = ONTIMEn x DTCOR, and the
overall ONTIME/LIVETIME/EXPOSURE those of the aim chip (workflows spec 0.1/0.2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
from xdm.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
CHANDRA = ROOT / "tests" / "data" / "events" / "chandra_test.fits"


def pairwise_intersection(a: np.ndarray, b: np.ndarray) -> list[list[float]]:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            lo, hi = max(s1, s2), min(e1, e2)
            if hi > lo:
                out.append([float(lo), float(hi)])
    return sorted(out)


def write_gti(path: Path, rows: list[list[float]]) -> Path:
    a = np.asarray(rows, dtype=float)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="START", format="1D", unit="s", array=a[:, 0]),
            fits.Column(name="STOP", format="1D", unit="s", array=a[:, 1]),
        ],
        name="GTI",
    )
    hdu.header.update({"HDUCLASS": "OGIP", "HDUCLAS1": "GTI", "HDUCLAS2": "STANDARD"})
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def chip_blocks(path: Path) -> dict[int, np.ndarray]:
    with fits.open(path) as hdul:
        return {
            int(h.header["CCD_ID"]): np.column_stack((h.data["START"], h.data["STOP"]))
            for h in hdul[2:]
            if str(h.header.get("HDUNAME", h.name)).startswith("GTI")
        }


def check_filtered(evt: Path, out: Path, clean: list[list[float]], aim: int) -> None:
    with fits.open(evt) as hdul:
        t_in = np.asarray(hdul[1].data["time"], dtype=float)
        header_in = hdul[1].header.copy()
    before = chip_blocks(evt)
    g = np.asarray(clean)
    inside = ((t_in[:, None] >= g[:, 0]) & (t_in[:, None] < g[:, 1])).any(axis=1)
    with fits.open(out) as hdul:
        t_out = np.asarray(hdul[1].data["time"], dtype=float)
        h = hdul[1].header
        assert t_out.tolist() == t_in[inside].tolist()
        after = chip_blocks(out)
        assert sorted(after) == sorted(before) and aim in before
        dtcor = header_in["DTCOR"]
        assert h["DTCOR"] == dtcor
        for chip, old in before.items():
            want = pairwise_intersection(old, g)
            assert after[chip].tolist() == want
            ontime = sum(b - a for a, b in want)
            assert h[f"ONTIME{chip}"] == pytest.approx(ontime, rel=1e-12)
            assert h[f"LIVTIME{chip}"] == pytest.approx(ontime * dtcor, rel=1e-12)
            assert h[f"EXPOSUR{chip}"] == pytest.approx(ontime * dtcor, rel=1e-12)
            block = next(b for b in hdul[2:] if b.header.get("CCD_ID") == chip)
            assert block.header["ONTIME"] == pytest.approx(ontime, rel=1e-12)
        aim_ontime = sum(b - a for a, b in pairwise_intersection(before[aim], g))
        assert h["ONTIME"] == pytest.approx(aim_ontime, rel=1e-12)
        assert h["LIVETIME"] == pytest.approx(aim_ontime * dtcor, rel=1e-12)
        assert h["EXPOSURE"] == pytest.approx(aim_ontime * dtcor, rel=1e-12)
        # every kept event lies in its own chip's new GTI
        ccd = np.asarray(hdul[1].data["ccd_id"])
        for chip, rows in after.items():
            tt = t_out[ccd == chip]
            ok = ((tt[:, None] >= rows[:, 0]) & (tt[:, None] < rows[:, 1])).any(axis=1)
            assert ok.all()


def test_five_chips_of_the_demo(tmp_path: Path, synthetic_events: Path) -> None:
    with fits.open(synthetic_events) as hdul:
        t0 = hdul[1].header["TSTART"]
    # edges inside the chips' own GTIs, across the telemetry gap, past the end
    clean = [
        [t0 - 500.0, t0 + 8000.5],
        [t0 + 9000.25, t0 + 20300.0],
        [t0 + 34000.0 - 0.02, t0 + 34000.0 + 0.03],
        [t0 + 37500.0, t0 + 60000.0],
    ]
    gti = write_gti(tmp_path / "clean.gti", clean)
    out = tmp_path / "clean_evt.fits"
    xdm.copy(f"{synthetic_events}[@{gti}]", out)
    check_filtered(synthetic_events, out, clean, aim=3)


def test_real_chandra_through_dmcopy(tmp_path: Path) -> None:
    with fits.open(CHANDRA) as hdul:
        start, stop = float(hdul[2].data["START"][0]), float(hdul[2].data["STOP"][0])
    clean = [[start + 100.0, start + 300.0], [start + 450.5, stop - 10.0]]
    gti = write_gti(tmp_path / "bg_deflare.gti", clean)
    out = tmp_path / "out.fits"
    assert main(["dmcopy", f"{CHANDRA}[ccd_id=7][@{gti}]", str(out), "verbose=0"]) == 0
    check_filtered(CHANDRA, out, clean, aim=7)


def test_deflare_output_filters_the_demo_events(
    tmp_path: Path, synthetic_events: Path
) -> None:
    """The whole talk step: a light curve, deflare, then the events filtered by its GTI."""
    with fits.open(synthetic_events) as hdul:
        t = np.asarray(hdul[1].data["time"], dtype=float)
        h = hdul[1].header
        gti3 = next(b for b in hdul if b.header.get("HDUNAME") == "GTI3")
        g3 = np.column_stack((gti3.data["START"], gti3.data["STOP"]))
    edges = np.arange(h["TSTART"], h["TSTOP"] + 200.0, 200.0)
    lo, hi = edges[:-1], edges[1:]
    exposure = h["DTCOR"] * sum(
        np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None) for a, b in g3
    )
    counts = np.histogram(t, edges)[0]
    rate = np.where(exposure > 0, counts / np.where(exposure > 0, exposure, 1), 0.0)
    lc = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="TIME_MIN", format="D", array=lo),
            fits.Column(name="TIME", format="D", array=(lo + hi) / 2),
            fits.Column(name="TIME_MAX", format="D", array=hi),
            fits.Column(name="EXPOSURE", format="D", array=exposure),
            fits.Column(name="COUNT_RATE", format="D", array=rate),
        ],
        name="LIGHTCURVE",
    )
    lc_path = tmp_path / "lc.fits"
    fits.HDUList([fits.PrimaryHDU(), lc]).writeto(lc_path)
    gti = tmp_path / "clean.gti"
    result = xdm.tools.deflare(infile=str(lc_path), outfile=str(gti))
    out = tmp_path / "clean_evt.fits"
    xdm.copy(f"{synthetic_events}[@{gti}]", out)
    check_filtered(synthetic_events, out, result.intervals.tolist(), aim=3)
