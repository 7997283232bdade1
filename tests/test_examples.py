"""Every examples/*.xdm script runs end to end; its images are checked with numpy.

The imaging walk-through runs on the seeded synthetic event file (the demo
data), m82.xdm on the real Chandra subset; image sums and one whole image are
recomputed from the event columns with numpy (the oracle).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.cli.main import main

EXAMPLES = Path(__file__).parent.parent / "examples"
M82 = Path(__file__).parent / "data" / "events" / "chandra_test.fits"


def events(path: Path) -> tuple[dict[str, np.ndarray], fits.Header]:
    with fits.open(path) as hdul:
        data = hdul["EVENTS"].data
        columns = {
            n: np.asarray(data[n], dtype=np.float64) for n in ("x", "y", "energy")
        }
        return columns, hdul["EVENTS"].header.copy()


def image(path: Path) -> np.ndarray:
    return np.asarray(fits.getdata(path, 0))


def band(e: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    """A real-valued column: lo <= e < hi (dm-syntax 3.3)."""
    keep = np.ones(e.shape, bool)
    if lo is not None:
        keep &= e >= lo
    if hi is not None:
        keep &= e < hi
    return keep


def window(
    ev: dict[str, np.ndarray], x0: float, x1: float, y0: float, y1: float
) -> np.ndarray:
    return (ev["x"] >= x0) & (ev["x"] < x1) & (ev["y"] >= y0) & (ev["y"] < y1)


def run_example(name: str, capsys: pytest.CaptureFixture[str], **variables: str) -> str:
    args = [f"{k}={v}" for k, v in variables.items()]
    status = main(["run", str(EXAMPLES / name), *args])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.xdm")) == ["imaging.xdm", "m82.xdm"]


def test_imaging_walkthrough_on_the_demo_data(
    synthetic_events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_example(
        "imaging.xdm", capsys, data=str(synthetic_events.parent), out=str(tmp_path)
    )
    ev, header = events(synthetic_events)
    e = ev["energy"]
    n = len(e)
    assert f"{n:,} of {n:,} rows" in out
    assert f"{int(band(e, 12000, None).sum()):,} of {n:,} rows" in out
    assert "plan for" in out and "np.bincount" in out

    # bands over the whole field: every selected event lands in a bin
    expected = {
        "full_b8.fits": n,
        "supersoft_b8.fits": band(e, None, 300).sum(),
        "veryhard_b8.fits": band(e, 12000, None).sum(),
        "optimal_b8.fits": band(e, 300, 2000).sum(),
        "optimal_b4.fits": band(e, 300, 2000).sum(),
    }
    for name, count in expected.items():
        assert image(tmp_path / name).sum() == count, name
    tlmin, tlmax = header["TLMIN11"], header["TLMAX11"]  # x; y shares the range
    assert header["TTYPE11"].lower() == "x"
    nbins = math.ceil((tlmax - tlmin) / 8)
    assert image(tmp_path / "full_b8.fits").shape == (nbins, nbins)

    # one whole image against numpy.histogram2d
    edges = tlmin + 4.0 * np.arange(math.ceil((tlmax - tlmin) / 4) + 1)
    keep = band(e, 300, 2000)
    oracle, _, _ = np.histogram2d(ev["y"][keep], ev["x"][keep], bins=(edges, edges))
    np.testing.assert_array_equal(image(tmp_path / "optimal_b4.fits"), oracle)

    # bin factors 1, 0.5, 0.25 and the three bands on the window around the target
    inside = window(ev, 3900, 4300, 3900, 4300)
    for name, (lo, hi), factor in [
        ("optimal_b1.fits", (300, 2000), 1),
        ("optimal_b0.5.fits", (300, 2000), 0.5),
        ("optimal_b0.25.fits", (300, 2000), 0.25),
        ("soft_b0.5.fits", (300, 500), 0.5),
        ("medium_b0.5.fits", (500, 700), 0.5),
        ("hard_b0.5.fits", (700, 1000), 0.5),
    ]:
        pixels = image(tmp_path / name)
        assert pixels.sum() == (inside & band(e, lo, hi)).sum(), name
        assert abs(pixels.shape[1] * factor - 400) <= 1, name  # 400 sky pixels wide


def test_m82_walkthrough_on_the_real_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_example("m82.xdm", capsys, out=str(tmp_path))
    ev, header = events(M82)
    e = ev["energy"]
    n = len(e)
    assert f"{n:,} of {n:,} rows" in out  # the subset is all ccd_id 7
    assert f"sum {int(band(e, 300, 2000).sum()):,} count" in out
    expected = {
        "m82_full_b8.fits": n,
        "m82_supersoft_b8.fits": band(e, None, 300).sum(),
        "m82_veryhard_b8.fits": band(e, 12000, None).sum(),
        "m82_optimal_b8.fits": band(e, 300, 2000).sum(),
        "m82_optimal_b4.fits": band(e, 300, 2000).sum(),
    }
    for name, count in expected.items():
        assert image(tmp_path / name).sum() == count, name
    core = window(ev, 3976, 4176, 4080, 4280)
    for name, (lo, hi) in [
        ("m82_optimal_b1.fits", (300, 2000)),
        ("m82_optimal_b0.5.fits", (300, 2000)),
        ("m82_soft_b1.fits", (300, 500)),
        ("m82_medium_b1.fits", (500, 700)),
        ("m82_hard_b1.fits", (700, 1000)),
    ]:
        assert image(tmp_path / name).sum() == (core & band(e, lo, hi)).sum(), name
    # the sky WCS survives into the images (tangent plane on RA/Dec)
    hdr = fits.getheader(tmp_path / "m82_optimal_b1.fits", 0)
    assert hdr["CTYPE1"].startswith("RA---TAN") and hdr["CTYPE2"].startswith("DEC--TAN")
    assert header["OBJECT"] == "M82"


def test_an_example_with_a_wrong_value_stops_with_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["run", str(EXAMPLES / "m82.xdm"), f"out={tmp_path}", "band=2000:300x"]
    )
    err = capsys.readouterr().err
    assert status == 2
    first = err.splitlines()[0]
    assert first.startswith(f"{EXAMPLES / 'm82.xdm'}:")
    line = int(first.split(":")[1])
    assert "$band" in (EXAMPLES / "m82.xdm").read_text().splitlines()[line - 1]
