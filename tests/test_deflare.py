"""deflare, lc_clean and lc_sigma_clip against plain-Python loops written from the spec.

Oracle: ``workflows.md`` section 3 implemented again here, bin by bin with
Python lists and ``math`` (population standard deviation, strict inequalities,
zero-rate bins never good, runs for minlength, minfrac), run on hand-made rate
sequences, seeded Poisson light curves with flares and zero bins, a light curve
of the real Chandra events in ``tests/data`` (ObsID 10027) and of the synthetic
``xdm demo`` observation with its injected flare.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

import xdm.tools
from xdm import XdmSemanticError
from xdm.cli.main import main
from xdm.tools.deflare import lc_clean, lc_sigma_clip

ROOT = Path(__file__).resolve().parents[1]
CHANDRA = ROOT / "tests" / "data" / "events" / "chandra_test.fits"

# ---------------------------------------------------------------- the spec, again


def mean_of(values: list[float]) -> float:
    return sum(values) / len(values)


def population_sd(values: list[float]) -> float:
    m = mean_of(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def spec_runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(first, last) index of each run of consecutive True flags."""
    out, start = [], None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i - 1))
            start = None
    return out


def spec_union(bins: list[tuple[float, float]]) -> list[list[float]]:
    """Merge [lo, hi) bins that overlap or touch."""
    merged: list[list[float]] = []
    for lo, hi in sorted(b for b in bins if b[1] > b[0]):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged


def spec_sigma_clip(
    rate: list[float], tlo: list[float], thi: list[float], sigma: float, minlength: int
) -> dict[str, Any]:
    """3.1: iterate mean/sd over good bins, clip |r-m|/sd > sigma, then the GTI rule."""
    good = [r > 0 for r in rate]
    iterations = 0
    while True:
        iterations += 1
        values = [r for r, g in zip(rate, good) if g]
        m, sd = mean_of(values), population_sd(values)
        newly = [g and abs(r - m) / sd > sigma for r, g in zip(rate, good)]
        if not any(newly):
            break
        good = [g and not n for g, n in zip(good, newly)]
    lo, hi = m - sigma * sd, m + sigma * sd
    runs = spec_runs(good)
    if minlength == 1 or all(b - a + 1 >= minlength for a, b in runs):
        chosen = [(tlo[i], thi[i]) for i, r in enumerate(rate) if r > 0 and lo < r < hi]
        intervals = spec_union(chosen)
    else:
        intervals = [[tlo[a], thi[b]] for a, b in runs if b - a + 1 >= minlength]
    kept = [r for r, g in zip(rate, good) if g]
    return {
        "iterations": iterations,
        "lo": lo,
        "hi": hi,
        "good": good,
        "mean": mean_of(kept),
        "intervals": intervals,
        "runs": runs,
    }


def spec_clean(
    rate: list[float],
    exposure: list[float],
    tlo: list[float],
    thi: list[float],
    *,
    clip: float = 3.0,
    scale: float = 1.2,
    sigma: float | None = None,
    mean: float | None = None,
) -> dict[str, Any]:
    """3.2: bin_width = max exposure, one clipped pass for the mean, then the limits."""
    width = max(exposure)
    if mean is None:
        m0 = mean_of([r for r in rate if r > 0])
        s0 = math.sqrt(m0 / width)
        near = [r for r in rate if m0 - clip * s0 < r < m0 + clip * s0]
        if not near:
            return {"mean0": None}
        mean = mean_of(near)
    if sigma is None:
        lo, hi = mean / scale, mean * scale
    else:
        s = math.sqrt(mean / width)
        lo, hi = mean - sigma * s, mean + sigma * s
    good = [r > 0 and lo < r < hi for r in rate]
    return {
        "mean0": mean,
        "lo": lo,
        "hi": hi,
        "good": good,
        "fraction": sum(good) / sum(r > 0 for r in rate),
        "intervals": spec_union([(a, b) for a, b, g in zip(tlo, thi, good) if g]),
    }


# ---------------------------------------------------------------- light curves


def poisson_curve(
    seed: int, n: int = 300, dt: float = 200.0, quiet: float = 0.5
) -> dict[str, np.ndarray]:
    """A background light curve with flares, a gap (zero exposure) and empty bins."""
    rng = np.random.default_rng(seed)
    tmin = 1.0e8 + dt * np.arange(n)
    level = np.full(n, quiet)
    for _ in range(rng.integers(1, 4)):
        a = int(rng.integers(0, n - 20))
        level[a : a + int(rng.integers(3, 20))] *= rng.uniform(2, 8)
    exposure = np.full(n, dt * 0.98)
    gap = int(rng.integers(0, n - 10))
    exposure[gap : gap + 5] = 0.0
    exposure[gap + 5] *= 0.3  # a partial bin at the gap's edge
    counts = rng.poisson(level * exposure)
    rate = np.where(exposure > 0, counts / np.where(exposure > 0, exposure, 1), 0.0)
    return {
        "time_min": tmin,
        "time_max": tmin + dt,
        "time": tmin + dt / 2,
        "exposure": exposure,
        "rate": rate,
        "counts": counts,
    }


def write_curve(
    path: Path, lc: dict[str, np.ndarray], header: dict[str, Any] | None = None
) -> Path:
    """A dmextract-style LIGHTCURVE block from the arrays."""
    cols = [
        fits.Column(
            name="TIME_BIN", format="1J", array=np.arange(1, len(lc["time"]) + 1)
        ),
        fits.Column(name="TIME_MIN", format="1D", unit="s", array=lc["time_min"]),
        fits.Column(name="TIME", format="1D", unit="s", array=lc["time"]),
        fits.Column(name="TIME_MAX", format="1D", unit="s", array=lc["time_max"]),
        fits.Column(name="EXPOSURE", format="1D", unit="s", array=lc["exposure"]),
        fits.Column(name="COUNT_RATE", format="1D", unit="count/s", array=lc["rate"]),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")
    hdu.header["HDUCLAS1"] = "LIGHTCURVE"
    for key, value in (header or {}).items():
        hdu.header[key] = value
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def chandra_curve(dt: float = 10.0) -> tuple[dict[str, np.ndarray], fits.Header]:
    """A light curve of the real ObsID 10027 events: numpy histogram, GTI overlap x DTCOR."""
    with fits.open(CHANDRA) as hdul:
        t = np.asarray(hdul["EVENTS"].data["time"], dtype=float)
        header = hdul["EVENTS"].header.copy()
        gti = np.column_stack((hdul[2].data["START"], hdul[2].data["STOP"]))
    start, stop = float(gti[0, 0]), float(gti[-1, 1])
    edges = np.arange(start, stop + dt, dt)
    lo, hi = edges[:-1], edges[1:]
    counts = np.histogram(t, edges)[0]
    overlap = np.zeros(len(lo))
    for a, b in gti:
        overlap += np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None)
    exposure = overlap * header["DTCOR"]
    rate = np.where(exposure > 0, counts / np.where(exposure > 0, exposure, 1), 0.0)
    lc = {
        "time_min": lo,
        "time_max": hi,
        "time": (lo + hi) / 2,
        "exposure": exposure,
        "rate": rate,
    }
    return lc, header


def _close(a: Any, b: Any) -> bool:
    return bool(
        np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12, atol=0)
    )


# ---------------------------------------------------------------- lc_sigma_clip


def test_a_hand_made_sequence_needs_two_passes() -> None:
    # pass 1: mean 1.8, sd 2.4005, the 9.0 bin has z = 2.9994 > 2; pass 2 clips nothing
    rate = [1.0, 1.1, 0.9, 1.0, 9.0, 1.05, 0.95, 1.0, 1.02, 0.98]
    t = np.arange(10.0)
    f = lc_sigma_clip(t + 0.5, rate, time_min=t, time_max=t + 1, sigma=2.0, minlength=1)
    assert f.iterations == 2
    assert f.passes[0][0] == pytest.approx(1.8)
    assert f.passes[0][1] == pytest.approx(
        math.sqrt((sum(r * r for r in rate) - 32.4) / 10)
    )
    assert f.passes[0][2] == 1 and f.passes[1][2] == 0
    rest = [r for r in rate if r != 9.0]
    assert f.mean == pytest.approx(mean_of(rest))
    assert f.min_rate == pytest.approx(mean_of(rest) - 2 * population_sd(rest))
    assert f.intervals.tolist() == [[0.0, 4.0], [5.0, 10.0]]


def test_clipping_is_strict_and_uses_the_population_sd() -> None:
    # two values: mean 2, population sd 1 (the sample sd would be 1.414)
    t = np.arange(4.0)
    rate = [1.0, 3.0, 1.0, 3.0]
    f = lc_sigma_clip(t, rate, time_min=t, time_max=t + 1, sigma=1.5, minlength=1)
    assert f.iterations == 1 and f.passes[0][1] == pytest.approx(1.0)
    assert (f.min_rate, f.max_rate) == pytest.approx((0.5, 3.5))
    # |z| == 1 exactly is not clipped (strict >); 0.999 clips everything
    with pytest.raises(XdmSemanticError, match="no good time"):
        lc_sigma_clip(t, rate, time_min=t, time_max=t + 1, sigma=1.0, minlength=1)
    with pytest.raises(XdmSemanticError, match="no bins pass"):
        lc_sigma_clip(t, rate, time_min=t, time_max=t + 1, sigma=0.999, minlength=1)


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("minlength", [1, 3, 6])
def test_sigma_clip_matches_the_spec_loop(seed: int, minlength: int) -> None:
    lc = poisson_curve(seed)
    sigma = (2.0, 2.5, 3.0)[seed % 3]
    want = spec_sigma_clip(
        lc["rate"].tolist(),
        lc["time_min"].tolist(),
        lc["time_max"].tolist(),
        sigma,
        minlength,
    )
    got = lc_sigma_clip(
        lc["time"],
        lc["rate"],
        lc["exposure"],
        lc["time_min"],
        lc["time_max"],
        sigma=sigma,
        minlength=minlength,
    )
    assert got.iterations == want["iterations"]
    assert _close(got.min_rate, want["lo"]) and _close(got.max_rate, want["hi"])
    assert got.good.tolist() == want["good"]
    assert _close(got.mean, want["mean"])
    assert got.intervals.tolist() == want["intervals"]
    # zero-rate bins never good, never in the mean
    assert not got.good[lc["rate"] <= 0].any()


def test_minlength_keeps_only_long_runs_with_their_exposure() -> None:
    # runs of surviving bins: 4, 1, 2, 5 (zero-rate bins and a flare break them)
    rate = [
        1.0,
        1.1,
        0.9,
        1.0,
        0.0,
        1.05,
        20.0,
        0.95,
        1.0,
        0.0,
        1.02,
        0.98,
        1.0,
        1.01,
        0.99,
    ]
    n = len(rate)
    tmin = 100.0 * np.arange(n)
    exposure = np.linspace(90, 99, n)
    f = lc_sigma_clip(
        tmin + 50, rate, exposure, tmin, tmin + 100, sigma=3.0, minlength=3
    )
    want_runs = [(0, 3), (5, 5), (7, 8), (10, 14)]
    assert spec_runs(f.good.tolist()) == want_runs
    assert not f.by_rate
    assert f.intervals.tolist() == [[0.0, 400.0], [1000.0, 1500.0]]
    assert f.exposure.tolist() == pytest.approx(
        [exposure[0:4].sum(), exposure[10:15].sum()]
    )
    # minlength 1: the rate filter instead, joined across the flare-free bins
    g = lc_sigma_clip(
        tmin + 50, rate, exposure, tmin, tmin + 100, sigma=3.0, minlength=1
    )
    assert g.by_rate
    assert (
        g.intervals.tolist()
        == spec_sigma_clip(rate, tmin.tolist(), (tmin + 100).tolist(), 3.0, 1)[
            "intervals"
        ]
    )
    # every run long enough: the rate filter too (CIAO's shortcut)
    h = lc_sigma_clip(
        tmin + 50, rate, exposure, tmin, tmin + 100, sigma=3.0, minlength=1.9
    )
    assert h.by_rate  # minlength is truncated to 1, as CIAO does


def test_runs_without_exposure_use_length_times_dtcor() -> None:
    rate = [1.0, 1.1, 0.9, 0.0, 1.0, 1.0, 1.05, 0.95]
    t = 10.0 * np.arange(8)
    f = lc_sigma_clip(t + 5, rate, None, t, t + 10, minlength=4, dtcor=0.9)
    assert f.intervals.tolist() == [[40.0, 80.0]]
    assert f.exposure.tolist() == pytest.approx([40.0 * 0.9])


def test_constant_and_degenerate_curves_are_clear_errors() -> None:
    t = np.arange(5.0)
    with pytest.raises(XdmSemanticError, match="constant"):
        lc_sigma_clip(t, [2.0, 2.0, 0.0, 2.0, 2.0], time_min=t, time_max=t + 1)
    with pytest.raises(XdmSemanticError, match="empty"):
        lc_sigma_clip([], [])
    with pytest.raises(XdmSemanticError, match="only 1 time bin"):
        lc_sigma_clip([1.0], [1.0])
    with pytest.raises(XdmSemanticError, match="count rate > 0"):
        lc_sigma_clip(t, np.zeros(5))
    with pytest.raises(XdmSemanticError, match="minlength"):
        lc_sigma_clip(t, [1, 2, 1, 2, 1], minlength=0)
    with pytest.raises(XdmSemanticError, match="consecutive"):
        lc_sigma_clip(t, [1, 0, 2, 0, 1.5], time_min=t, time_max=t + 1, minlength=2)


# ---------------------------------------------------------------- lc_clean


@pytest.mark.parametrize("seed", range(25))
def test_clean_matches_the_spec_loop(seed: int) -> None:
    lc = poisson_curve(seed, quiet=(0.5, 2.0, 0.05)[seed % 3])
    args = (lc["time"], lc["rate"], lc["exposure"], lc["time_min"], lc["time_max"])
    want = spec_clean(
        lc["rate"].tolist(),
        lc["exposure"].tolist(),
        lc["time_min"].tolist(),
        lc["time_max"].tolist(),
    )
    if want["mean0"] is None:  # flares everywhere: no bin near the unclipped mean
        with pytest.raises(XdmSemanticError, match="initial mean"):
            lc_clean(*args)
        return
    if want["fraction"] < 0.1:
        with pytest.raises(XdmSemanticError, match="below the limit"):
            lc_clean(*args)
        return
    got = lc_clean(*args)
    assert got.bin_width == max(lc["exposure"])
    assert _close(got.initial_mean, want["mean0"])
    assert _close(got.min_rate, want["lo"]) and _close(got.max_rate, want["hi"])
    assert got.good.tolist() == want["good"]
    assert got.intervals.tolist() == want["intervals"]
    # each interval's good time is the exposure of its good bins
    inside = [
        sum(
            e
            for a, e, g in zip(lc["time_min"], lc["exposure"], want["good"])
            if g and lo <= a < hi
        )
        for lo, hi in want["intervals"]
    ]
    assert got.exposure.tolist() == pytest.approx(inside)


def test_clean_initial_mean_takes_zero_bins_when_the_lower_limit_is_negative() -> None:
    # faint: m0 = 0.02 ct/s, s0 = sqrt(0.02 / 100) = 0.0141, m0 - 3 s0 < 0
    rate = np.array([0.02, 0.03, 0.0, 0.01, 0.02, 0.0, 0.03, 0.02, 0.01, 0.02])
    exposure = np.full(10, 100.0)
    t = 100.0 * np.arange(10)
    f = lc_clean(t + 50, rate, exposure, t, t + 100, scale=2.0)
    near = [
        r
        for r in rate
        if 0.02 - 3 * math.sqrt(0.0002) < r < 0.02 + 3 * math.sqrt(0.0002)
    ]
    assert 0.0 in near and f.initial_mean == pytest.approx(mean_of(near))
    assert f.initial_mean < mean_of([r for r in rate if r > 0])
    assert not f.good[rate == 0].any()  # but zero bins are never good time


def test_clean_with_stddev_and_a_fixed_mean() -> None:
    lc = poisson_curve(3)
    args = (lc["time"], lc["rate"], lc["exposure"], lc["time_min"], lc["time_max"])
    want = spec_clean(
        lc["rate"].tolist(),
        lc["exposure"].tolist(),
        lc["time_min"].tolist(),
        lc["time_max"].tolist(),
        sigma=2.0,
        mean=0.5,
    )
    got = lc_clean(*args, mean=0.5, sigma=2.0)
    assert got.initial_mean is None and got.level == 0.5
    assert _close(got.min_rate, want["lo"]) and _close(got.max_rate, want["hi"])
    assert got.intervals.tolist() == want["intervals"]


def test_clean_errors() -> None:
    t = np.arange(6.0)
    rate = np.array([1.0, 1.0, 5.0, 5.0, 5.0, 5.0])
    exposure = np.full(6, 100.0)
    with pytest.raises(XdmSemanticError, match=r"0\.333333, 2 of 6"):
        lc_clean(t, rate, exposure, t, t + 1, mean=1.0, minfrac=0.5)
    with pytest.raises(XdmSemanticError, match="no bins match"):
        lc_clean(t, rate, exposure, t, t + 1, mean=3.0)
    with pytest.raises(XdmSemanticError, match="EXPOSURE"):
        lc_clean(t, rate, None)  # type: ignore[arg-type]
    with pytest.raises(XdmSemanticError, match="zero exposure"):
        lc_clean(t, rate, np.zeros(6))
    with pytest.raises(XdmSemanticError, match="scale"):
        lc_clean(t, rate, exposure, scale=0.9)


# ---------------------------------------------------------------- real and synthetic data


@pytest.mark.parametrize("method", ["clean", "sigma"])
def test_real_chandra_light_curve(tmp_path: Path, method: str) -> None:
    lc, events = chandra_curve()
    keys = {k: events[k] for k in ("TIMESYS", "TIMEREF", "MJDREF", "OBS_ID", "DTCOR")}
    path = write_curve(tmp_path / "lc.fits", lc, keys)
    out = tmp_path / "clean.gti"
    result = xdm.tools.deflare(infile=str(path), outfile=str(out), method=method)
    rate, tlo, thi = (
        lc["rate"].tolist(),
        lc["time_min"].tolist(),
        lc["time_max"].tolist(),
    )
    if method == "clean":
        want = spec_clean(rate, lc["exposure"].tolist(), tlo, thi)
    else:
        want = spec_sigma_clip(rate, tlo, thi, 3.0, 3)
    assert _close(result.min_rate, want["lo"]) and _close(result.max_rate, want["hi"])
    assert result.intervals.tolist() == want["intervals"]
    with fits.open(out) as hdul:
        gti = hdul["GTI"]
        rows = np.column_stack((gti.data["START"], gti.data["STOP"])).tolist()
        assert rows == want["intervals"]
        h = gti.header
        assert (h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS2"]) == (
            "OGIP",
            "GTI",
            "STANDARD",
        )
        assert gti.columns["START"].format == "D" and gti.columns["STOP"].unit == "s"
        assert h["ONTIME"] == pytest.approx(sum(b - a for a, b in want["intervals"]))
        assert (h["TIMESYS"], h["MJDREF"], h["OBS_ID"]) == ("TT", 50814.0, "10027")
        assert "deflare" in str(h["HISTORY"])
    # the bins are 50 counts: the real curve is quiet, nearly all of it is kept
    assert result.fraction > 0.8


def test_demo_flare_is_removed(tmp_path: Path, synthetic_events: Path) -> None:
    from xdm import demo

    with fits.open(synthetic_events) as hdul:
        t = np.asarray(hdul["EVENTS"].data["time"], dtype=float)
        h = hdul["EVENTS"].header
        block = next(b for b in hdul if b.header.get("HDUNAME") == "GTI3")
        gti = np.column_stack((block.data["START"], block.data["STOP"]))
        dtcor, t0, t1 = h["DTCOR"], h["TSTART"], h["TSTOP"]
    edges = np.arange(t0, t1 + 259.28, 259.28)
    lo, hi = edges[:-1], edges[1:]
    exposure = sum(
        np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None) for a, b in gti
    )
    exposure = exposure * dtcor
    counts = np.histogram(t, edges)[0]
    rate = np.where(exposure > 0, counts / np.where(exposure > 0, exposure, 1), 0.0)
    lc = {
        "time_min": lo,
        "time_max": hi,
        "time": (lo + hi) / 2,
        "exposure": exposure,
        "rate": rate,
    }
    path = write_curve(tmp_path / "lc.fits", lc, {"DTCOR": dtcor})
    result = xdm.tools.deflare(infile=str(path), outfile=str(tmp_path / "c.gti"))
    want = spec_clean(rate.tolist(), exposure.tolist(), lo.tolist(), hi.tolist())
    assert result.intervals.tolist() == want["intervals"]
    # the flare's plateau (8x the quiescent background) is outside every interval
    f0, f1 = t0 + demo.FLARE[0] + 600, t0 + demo.FLARE[1] - 600
    assert all(b <= f0 or a >= f1 for a, b in result.intervals)
    assert result.good_time == pytest.approx(exposure[want["good"]].sum())


# ---------------------------------------------------------------- the tool


def test_cli_report_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lc = poisson_curve(1)
    path = write_curve(
        tmp_path / "lc.fits", lc, {"EXPOSURE": float(lc["exposure"].sum())}
    )
    out = tmp_path / "c.gti"
    assert main(["deflare", str(path), str(out)]) == 0
    text = capsys.readouterr().out
    want = spec_clean(
        lc["rate"].tolist(),
        lc["exposure"].tolist(),
        lc["time_min"].tolist(),
        lc["time_max"].tolist(),
    )
    for line in (
        "Parameters used to clean the lightcurve are:",
        f"Total number of bins in lightcurve   = {len(lc['rate'])}",
        f"Filtering lightcurve between rates of {want['lo']:g} and {want['hi']:g} ct/s",
        "GTI limits calculated using a count-rate filter:",
        f"  Number of good intervals    = {len(want['intervals'])}",
        "Light curve cleaned using the lc_clean routine.",
        f"Created: {out}",
    ):
        assert line in text
    kept = sum(e for e, g in zip(lc["exposure"], want["good"]) if g)
    assert (
        f"Good time kept              = {kept:.1f} s of {lc['exposure'].sum():.1f} s"
        in text
    )
    assert (
        main(["deflare", str(path), str(out), "method=sigma", "clobber+", "--json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    sig = spec_sigma_clip(
        lc["rate"].tolist(), lc["time_min"].tolist(), lc["time_max"].tolist(), 3.0, 3
    )
    assert (
        data["routine"] == "lc_sigma_clip" and data["iterations"] == sig["iterations"]
    )
    assert data["intervals"] == sig["intervals"]


def test_errors_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lc = poisson_curve(5)
    lc["rate"][:] = np.where(np.arange(len(lc["rate"])) % 2, 1.0, 5.0)  # half flare
    path = write_curve(tmp_path / "lc.fits", lc)
    out = tmp_path / "c.gti"
    assert main(["deflare", str(path), str(out), "mean=1", "minfrac=0.6"]) == 2
    err = capsys.readouterr().err
    assert "below the limit of 0.6" in err and "Traceback" not in err
    assert not out.exists()
    # an existing output needs clobber
    out.write_text("keep me")
    assert main(["deflare", str(path), str(out), "mean=1"]) == 2
    assert "clobber" in capsys.readouterr().err and out.read_text() == "keep me"
    # a table without a rate column
    bad = tmp_path / "bad.fits"
    fits.BinTableHDU.from_columns(
        [fits.Column(name="TIME", format="D", array=[1.0, 2.0])]
    ).writeto(bad)
    assert main(["deflare", str(bad), str(tmp_path / "x.gti")]) == 2
    assert "no COUNT_RATE or RATE column" in capsys.readouterr().err


def test_heasoft_lcurve_rate_timedel_timezero(tmp_path: Path) -> None:
    """A HEASoft lcurve file: RATE, TIME relative to TIMEZERO, TIMEDEL, TIMEPIXR=0.5."""
    rng = np.random.default_rng(11)
    n, dt, zero = 200, 16.0, 5.0e8
    time = dt * np.arange(n) + dt / 2
    rate = rng.normal(10.0, 0.8, n)
    rate[50:60] *= 4
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="TIME", format="D", unit="s", array=time),
            fits.Column(name="RATE", format="E", unit="count/s", array=rate),
            fits.Column(name="ERROR", format="E", array=np.sqrt(rate / dt)),
        ],
        name="RATE",
    )
    hdu.header.update({"TIMEDEL": dt, "TIMEZERO": zero, "TIMEPIXR": 0.5})
    path = tmp_path / "lcurve.lc"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    result = xdm.tools.deflare(infile=str(path), method="sigma", minlength=1)
    stored = np.asarray(rate, dtype=np.float32).astype(float).tolist()
    tlo = (time + zero - dt / 2).tolist()
    want = spec_sigma_clip(stored, tlo, [a + dt for a in tlo], 3.0, 1)
    assert result.outfile is None  # no outfile: report only
    assert result.intervals.tolist() == want["intervals"]
    assert result.flares.iterations == want["iterations"]
    with pytest.raises(XdmSemanticError, match="EXPOSURE"):
        xdm.tools.deflare(infile=str(path), method="clean")


def test_plot_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    lc = poisson_curve(6)
    path = write_curve(tmp_path / "lc.fits", lc)
    png = tmp_path / "flares.png"
    result = xdm.tools.deflare(
        infile=str(path), outfile=str(tmp_path / "a.gti"), save=str(png)
    )
    assert result.plotfile == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r2 = xdm.tools.deflare(
        infile=str(path),
        outfile=str(tmp_path / "b.gti"),
        method="sigma",
        plot=True,
        rateaxis="x",
        pattern="crisscross",
    )
    assert r2.plotfile == str(tmp_path / "b.gti.png")
    assert Path(r2.plotfile).read_bytes()[:4] == b"\x89PNG"
    # checked before anything is written: an existing plot, an unknown colour
    gti = tmp_path / "c.gti"
    with pytest.raises(XdmSemanticError, match="exists"):
        xdm.tools.deflare(infile=str(path), outfile=str(gti), save=str(png))
    with pytest.raises(XdmSemanticError, match="not a color"):
        xdm.tools.deflare(
            infile=str(path), outfile=str(gti), plot=True, good_color="limey"
        )
    assert not gti.exists() and not (tmp_path / "c.gti.png").exists()


def test_end_to_end_through_dmextract(tmp_path: Path, synthetic_events: Path) -> None:
    """dmextract opt=ltc1 -> deflare -> evt[@gti]: limits from the spec loop on its columns."""
    pytest.importorskip("xdm.tools.dmextract")
    lc_path = tmp_path / "bg_lc.fits"
    xdm.tools.dmextract(
        infile=f"{synthetic_events}[ccd_id=6][bin time=::1000]",
        outfile=str(lc_path),
        opt="ltc1",
    )
    with fits.open(lc_path) as hdul:
        d = hdul["LIGHTCURVE"].data
        lc = {
            k: np.asarray(d[k.upper()], dtype=float)
            for k in ("time_min", "time_max", "exposure")
        }
        lc["rate"] = np.asarray(d["COUNT_RATE"], dtype=float)
        counts = np.asarray(d["COUNTS"])
    with fits.open(synthetic_events) as hdul:
        ev = hdul["EVENTS"].data
        t = np.asarray(ev["time"], dtype=float)[np.asarray(ev["ccd_id"]) == 6]
    edges = np.append(lc["time_min"], lc["time_max"][-1])
    assert counts.tolist() == np.histogram(t, edges)[0].tolist()
    for method in ("clean", "sigma"):
        out = tmp_path / f"{method}.gti"
        result = xdm.tools.deflare(infile=str(lc_path), outfile=str(out), method=method)
        args = (lc["rate"].tolist(), lc["time_min"].tolist(), lc["time_max"].tolist())
        if method == "clean":
            want = spec_clean(args[0], lc["exposure"].tolist(), args[1], args[2])
        else:
            want = spec_sigma_clip(*args, 3.0, 3)
        assert _close(result.min_rate, want["lo"]) and _close(
            result.max_rate, want["hi"]
        )
        assert result.intervals.tolist() == want["intervals"]
        kept = xdm.read(f"{synthetic_events}[@{out}][cols time]")
        g = np.asarray(want["intervals"])
        all_t = np.asarray(
            fits.getdata(synthetic_events, "EVENTS")["time"], dtype=float
        )
        inside = ((all_t[:, None] >= g[:, 0]) & (all_t[:, None] < g[:, 1])).any(axis=1)
        assert len(kept) == int(inside.sum())


def test_constant_empty_and_no_matplotlib(tmp_path: Path) -> None:
    t = 100.0 * np.arange(6)
    flat = {
        "time_min": t,
        "time_max": t + 100,
        "time": t + 50,
        "exposure": np.full(6, 100.0),
        "rate": np.array([2.0, 2.0, 0.0, 2.0, 2.0, 2.0]),
    }
    path = write_curve(tmp_path / "flat.fits", flat)
    # clean: the limits 2/1.2 .. 2*1.2 hold every non-zero bin
    result = xdm.tools.deflare(infile=str(path))
    assert result.intervals.tolist() == [[0.0, 200.0], [300.0, 600.0]]
    with pytest.raises(XdmSemanticError, match="constant"):
        xdm.tools.deflare(infile=str(path), method="sigma")
    empty = {k: v[:0] for k, v in flat.items()}
    with pytest.raises(XdmSemanticError, match="empty"):
        xdm.tools.deflare(infile=str(write_curve(tmp_path / "empty.fits", empty)))
    # without matplotlib a plot is a one-line error and nothing is written
    out = tmp_path / "x.gti"
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from xdm.cli.main import main\n"
        f"sys.exit(main(['deflare', {str(path)!r}, {str(out)!r}, 'plot=yes']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "need matplotlib" in done.stderr and "pip install" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
