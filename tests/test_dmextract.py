"""dmextract: spectra, light curves and region bins against independent computations.

Oracles: the event columns read with astropy and histogrammed with plain numpy
in the test, analytic region areas (pi r^2, annuli, boxes), per-bin exposure
from the GTI block by a plain Python loop over bins and intervals, astropy
reading every output, and stingray's light curve (when installed).
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
from astropy.table import Table

import xdm
import xdm.tools
from xdm import XdmError, XdmSemanticError
from xdm.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "events" / "chandra_test.fits"
XC, YC = 4110.3, 4085.7  # the demo target (xdm.demo.TARGET)
SKY_AREA = 8192.0**2


def events_of(path: Path) -> tuple[Any, Any]:
    with fits.open(path) as h:
        return h["EVENTS"].data.copy(), h["EVENTS"].header.copy()


def gti_of(path: Path, chip: int) -> list[tuple[float, float]]:
    """START/STOP of the GTI block of ``chip`` (CCD_ID key, else EXTVER), by astropy."""
    with fits.open(path) as h:
        for hdu in h[1:]:
            head = hdu.header
            mine = head.get("CCD_ID", head.get("EXTVER")) == chip
            if head.get("EXTNAME") == "GTI" and mine:
                return [
                    (float(a), float(b))
                    for a, b in zip(hdu.data["START"], hdu.data["STOP"], strict=True)
                ]
    raise AssertionError(f"no GTI for chip {chip}")


def loop_exposure(
    edges: list[tuple[float, float]], gti: list[tuple[float, float]], dtcor: float
) -> list[float]:
    """Per-bin live time by a plain loop (workflows spec 2.2 formula)."""
    out = []
    for lo, hi in edges:
        total = 0.0
        for start, stop in gti:
            total += max(0.0, min(stop, hi) - max(start, lo))
        out.append(dtcor * total)
    return out


def merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of intervals by a plain sweep."""
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


# ---------------------------------------------------------------- spectra


def test_pha1_counts_keys_and_backscal(synthetic_events: Path, tmp_path: Path) -> None:
    out = tmp_path / "src.pi"
    r = 20.0
    table = xdm.tools.dmextract(
        infile=f"{synthetic_events}[sky=circle({XC},{YC},{r})][energy=500:7000][bin pi]",
        outfile=str(out),
    )
    data, header = events_of(synthetic_events)
    inside = (data["x"] - XC) ** 2 + (data["y"] - YC) ** 2 <= r * r
    band = (data["energy"] >= 500) & (data["energy"] < 7000)
    expected = np.bincount(data["pi"][inside & band], minlength=1025)[1:1025]
    with fits.open(out) as h:
        assert [x.name for x in h] == ["PRIMARY", "SPECTRUM"] + ["GTI"] * 5
        s = h["SPECTRUM"]
        assert s.columns.names == ["CHANNEL", "PI", "COUNTS", "COUNT_RATE"]
        assert s.data["CHANNEL"].tolist() == list(range(1, 1025))
        assert np.array_equal(s.data["COUNTS"], expected)
        k = s.header
        assert (k["TLMIN1"], k["TLMAX1"], k["DETCHANS"]) == (1, 1024, 1024)
        assert k["HDUCLASS"] == "OGIP" and k["HDUCLAS1"] == "SPECTRUM"
        assert (k["HDUCLAS2"], k["HDUCLAS3"], k["HDUCLAS4"]) == (
            "TOTAL",
            "COUNT",
            "TYPE:I",
        )
        assert k["CHANTYPE"] == "PI" and k["POISSERR"] is True
        assert k["EXPOSURE"] == pytest.approx(header["EXPOSURE"], rel=1e-12)
        assert k["BACKSCAL"] == pytest.approx(math.pi * r * r / SKY_AREA, rel=1e-12)
        assert k["AREASCAL"] == 1.0 and k["CORRSCAL"] == 0.0
        assert (k["BACKFILE"], k["RESPFILE"], k["ANCRFILE"]) == ("none",) * 3
        for key in ("TELESCOP", "INSTRUME", "OBS_ID", "DTCOR", "ONTIME", "LIVETIME"):
            assert k[key] == header[key]
        rate = s.data["COUNT_RATE"]
        assert np.allclose(rate, expected / header["EXPOSURE"], rtol=1e-12)
    assert int(table["COUNTS"].sum()) == int(expected.sum())


def test_pha1_gehrels_errors_and_channel_range(
    synthetic_events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "g.pi"
    xdm.tools.dmextract(
        infile=f"{synthetic_events}[sky=box({XC},{YC},40,30)][bin pi=30:500]",
        outfile=str(out),
        error="gehrels",
    )
    data, _ = events_of(synthetic_events)
    inside = (np.abs(data["x"] - XC) <= 20) & (np.abs(data["y"] - YC) <= 15)
    expected = np.bincount(data["pi"][inside], minlength=501)[30:501]
    s = fits.getdata(out, "SPECTRUM")
    k = fits.getheader(out, "SPECTRUM")
    assert np.array_equal(s["COUNTS"], expected)
    assert np.allclose(s["STAT_ERR"], 1 + np.sqrt(expected + 0.75), rtol=1e-6)
    assert (k["TLMIN1"], k["TLMAX1"], k["DETCHANS"], k["POISSERR"]) == (
        30,
        500,
        471,
        False,
    )
    assert k["BACKSCAL"] == pytest.approx(40 * 30 / SKY_AREA, rel=1e-12)


def test_pha1_on_real_chandra_events(tmp_path: Path) -> None:
    out = tmp_path / "m82.pi"
    xdm.tools.dmextract(infile=f"{REAL}[ccd_id=7][bin pi]", outfile=str(out))
    data, header = events_of(REAL)
    n = data.columns.names.index("pi") + 1
    lo, hi = int(header.get(f"TLMIN{n}", 1)), int(header.get(f"TLMAX{n}", 1024))
    expected = np.bincount(data["pi"], minlength=hi + 1)[lo : hi + 1]
    s = fits.getdata(out, "SPECTRUM")
    assert np.array_equal(s["COUNTS"], expected)
    assert fits.getheader(out, "SPECTRUM")["EXPOSURE"] == pytest.approx(
        header["EXPOSURE"]
    )
    assert fits.getheader(out, "SPECTRUM")["BACKSCAL"] == pytest.approx(1.0)


# ---------------------------------------------------------------- light curves


def _chips_in(data: Any, inside: Any) -> set[int]:
    return {int(c) for c in np.unique(data["ccd_id"][inside])}


def test_ltc1_counts_and_exposure_per_bin(
    synthetic_events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "lc.fits"
    r, dt = 30.0, 500.0
    xdm.tools.dmextract(
        infile=f"{synthetic_events}[sky=circle({XC},{YC},{r})][bin time=::{dt}]",
        outfile=str(out),
        opt="ltc1",
    )
    data, header = events_of(synthetic_events)
    inside = (data["x"] - XC) ** 2 + (data["y"] - YC) ** 2 <= r * r
    chips = _chips_in(data, inside)
    assert len(chips) == 1
    t0, t1 = header["TSTART"], header["TSTOP"]
    n = math.ceil((t1 - t0) / dt)
    edges = [(t0 + i * dt, min(t0 + (i + 1) * dt, t1)) for i in range(n)]
    expected = np.histogram(data["time"][inside], bins=[e[0] for e in edges] + [t1])[0]
    exposure = loop_exposure(
        edges, gti_of(synthetic_events, chips.pop()), header["DTCOR"]
    )
    lc = fits.getdata(out, "LIGHTCURVE")
    k = fits.getheader(out, "LIGHTCURVE")
    assert len(lc) == n and lc["TIME_BIN"].tolist() == list(range(1, n + 1))
    assert np.allclose(lc["TIME_MIN"], [e[0] for e in edges], rtol=0, atol=1e-6)
    assert np.allclose(lc["TIME_MAX"], [e[1] for e in edges], rtol=0, atol=1e-6)
    assert np.allclose(lc["TIME"], (lc["TIME_MIN"] + lc["TIME_MAX"]) / 2)
    assert np.array_equal(lc["COUNTS"], expected)
    assert np.allclose(lc["EXPOSURE"], exposure, rtol=1e-10, atol=1e-6)
    gap = np.array(exposure) == 0
    assert gap.any() and (lc["COUNT_RATE"][gap] == 0).all()
    good = ~gap
    assert np.allclose(
        lc["COUNT_RATE"][good], expected[good] / np.array(exposure)[good]
    )
    assert np.allclose(lc["STAT_ERR"], np.sqrt(expected))
    assert np.allclose(
        lc["COUNT_RATE_ERR"][good], np.sqrt(expected[good]) / np.array(exposure)[good]
    )
    assert np.allclose(lc["AREA"], math.pi * r * r)
    assert k["HDUCLAS1"] == "LIGHTCURVE" and k["TIMEDEL"] == dt
    assert k["EXPOSURE"] == pytest.approx(sum(exposure))
    assert fits.getheader(out, "GTI")["HDUCLAS1"] == "GTI"


@pytest.mark.parametrize(
    ("before", "after", "dt"),
    [(0.05, 0.25, 0.01), (0.125, 0.125, 0.0078125)],  # a short last bin; whole bins
)
def test_ltc1_region_on_two_chips_uses_union_of_their_gtis(
    before: float, after: float, dt: float, synthetic_events: Path, tmp_path: Path
) -> None:
    data, header = events_of(synthetic_events)
    # a box across the I2/I3 boundary (the chips' GTIs start 0.041 s apart)
    x0, y0, w = 4000.0, 3600.0, 600.0
    inside = (np.abs(data["x"] - x0) <= w / 2) & (np.abs(data["y"] - y0) <= w / 2)
    chips = _chips_in(data, inside)
    assert len(chips) >= 2
    # tiny bins at the start resolve the chips' different GTI starts
    lo, hi = header["TSTART"] - before, header["TSTART"] + after
    out = tmp_path / "two.fits"
    xdm.tools.dmextract(
        infile=f"{synthetic_events}[sky=box({x0},{y0},{w},{w})][bin time={lo!r}:{hi!r}:{dt}]",
        outfile=str(out),
        opt="ltc1",
    )
    gti = merged([g for c in chips for g in gti_of(synthetic_events, c)])
    lc = fits.getdata(out, "LIGHTCURVE")
    edges = list(zip(lc["TIME_MIN"].tolist(), lc["TIME_MAX"].tolist()))
    assert np.allclose(
        lc["EXPOSURE"], loop_exposure(edges, gti, header["DTCOR"]), atol=1e-9
    )
    t = data["time"][inside]
    expected = [np.count_nonzero((t >= a) & (t < b)) for a, b in edges]
    assert lc["COUNTS"].tolist() == expected


def test_ltc1_with_background_net_columns(
    synthetic_events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "net.fits"
    bx, by, br = 3700.0, 3700.0, 60.0
    xdm.tools.dmextract(
        infile=f"{synthetic_events}[sky=circle({XC},{YC},25)][bin time=::1000]",
        outfile=str(out),
        opt="ltc1",
        bkg=f"{synthetic_events}[sky=circle({bx},{by},{br})]",
        bkgnorm=1.0,
    )
    data, header = events_of(synthetic_events)
    inb = (data["x"] - bx) ** 2 + (data["y"] - by) ** 2 <= br * br
    lc = fits.getdata(out, "LIGHTCURVE")
    edges = list(zip(lc["TIME_MIN"].tolist(), lc["TIME_MAX"].tolist()))
    bg = np.histogram(data["time"][inb], bins=[e[0] for e in edges] + [edges[-1][1]])[0]
    chip = _chips_in(data, inb)
    assert len(chip) == 1
    bexp = np.array(
        loop_exposure(edges, gti_of(synthetic_events, chip.pop()), header["DTCOR"])
    )
    assert np.array_equal(lc["BG_COUNTS"], bg)
    assert np.allclose(lc["BG_EXPOSURE"], bexp, atol=1e-6)
    assert np.allclose(lc["BG_AREA"], math.pi * br * br)
    scale = np.where(
        bexp > 0,
        (math.pi * 25**2 / (math.pi * br * br))
        * lc["EXPOSURE"]
        / np.where(bexp > 0, bexp, 1),
        0,
    )
    net = lc["COUNTS"] - scale * bg
    assert np.allclose(lc["NET_COUNTS"], net)
    assert np.allclose(lc["NET_ERR"], np.sqrt(lc["COUNTS"] + (scale**2) * bg))
    e = lc["EXPOSURE"]
    assert np.allclose(lc["NET_RATE"][e > 0], net[e > 0] / e[e > 0])
    assert np.allclose(lc["BG_RATE"][bexp > 0], bg[bexp > 0] / bexp[bexp > 0])


def test_ltc1_real_events_outside_gti_have_no_exposure(tmp_path: Path) -> None:
    out = tmp_path / "m82.lc"
    xdm.tools.dmextract(infile=f"{REAL}[bin time=::100]", outfile=str(out), opt="ltc1")
    data, header = events_of(REAL)
    lc = fits.getdata(out, "LIGHTCURVE")
    edges = list(zip(lc["TIME_MIN"].tolist(), lc["TIME_MAX"].tolist()))
    exposure = loop_exposure(edges, gti_of(REAL, 7), header["DTCOR"])
    assert np.allclose(lc["EXPOSURE"], exposure, atol=1e-6)
    expected = np.histogram(data["time"], bins=[e[0] for e in edges] + [edges[-1][1]])[
        0
    ]
    assert np.array_equal(lc["COUNTS"], expected)
    off = np.array(exposure) == 0
    assert off.any() and (lc["COUNT_RATE"][off] == 0).all()


def test_light_curve_counts_match_stingray(tmp_path: Path) -> None:
    stingray = pytest.importorskip("stingray")
    from stingray import Lightcurve

    del stingray
    dt = 200.0
    out = tmp_path / "lc.fits"
    xdm.tools.dmextract(infile=f"{REAL}[bin time=::{dt}]", outfile=str(out), opt="ltc1")
    lc = fits.getdata(out, "LIGHTCURVE")
    data, header = events_of(REAL)
    n = len(lc)
    theirs = Lightcurve.make_lightcurve(
        np.asarray(data["time"], dtype=np.float64),
        dt,
        tstart=header["TSTART"],
        tseg=n * dt,
        gti=np.array([[header["TSTART"], header["TSTART"] + n * dt]]),
    )
    assert np.array_equal(lc["COUNTS"], np.asarray(theirs.counts, dtype=np.int64))
    assert np.allclose(lc["TIME"][:-1], theirs.time[:-1])


def test_deflare_reads_our_light_curve(synthetic_events: Path, tmp_path: Path) -> None:
    out = tmp_path / "bg.lc"
    xdm.tools.dmextract(
        infile=f"{synthetic_events}[sky=box(3000,4200,600,600)][bin time=::259.28]",
        outfile=str(out),
        opt="ltc1",
    )
    result = xdm.tools.deflare(infile=str(out), outfile=str(tmp_path / "gti.fits"))
    # the demo flare (34.0-37.5 ks after TSTART) is cut out of the good time
    tstart = fits.getheader(synthetic_events, "EVENTS")["TSTART"]
    g = np.asarray(result.as_dict()["intervals"] if hasattr(result, "as_dict") else [])
    assert g.size
    mid = tstart + 35_750.0
    assert not any(a <= mid < b for a, b in g.reshape(-1, 2))


# ---------------------------------------------------------------- region bins


def test_radial_profile_annuli(synthetic_events: Path, tmp_path: Path) -> None:
    out = tmp_path / "prof.fits"
    xdm.tools.dmextract(
        infile=f"{synthetic_events}[energy=500:7000][bin sky=annulus({XC},{YC},0:100:10)]",
        outfile=str(out),
        opt="generic",
    )
    data, header = events_of(synthetic_events)
    band = (data["energy"] >= 500) & (data["energy"] < 7000)
    d = np.hypot(data["x"] - XC, data["y"] - YC)
    t = fits.getdata(out, 1)
    assert len(t) == 10
    for k in range(10):
        r0, r1 = 10.0 * k, 10.0 * (k + 1)
        n = int(np.count_nonzero(band & (d >= r0) & (d <= r1)))
        assert t["COUNTS"][k] == n
        assert t["AREA"][k] == pytest.approx(math.pi * (r1**2 - r0**2), rel=1e-12)
        assert t["R"][k].tolist() == [r0, r1] and t["RMID"][k] == (r0 + r1) / 2
        assert t["SUR_BRI"][k] == pytest.approx(n / (math.pi * (r1**2 - r0**2)))
        assert t["SUR_BRI_ERR"][k] == pytest.approx(
            math.sqrt(n) / (math.pi * (r1**2 - r0**2))
        )
    assert np.allclose(t["EXPOSURE"], header["EXPOSURE"])


def test_region_list_and_region_file(synthetic_events: Path, tmp_path: Path) -> None:
    lis = tmp_path / "regions.lis"
    lis.write_text(f"circle({XC},{YC},15)\nbox(3700,3700,80,40)\n")
    reg = tmp_path / "two.reg"
    reg.write_text(
        f"# Region file format: CIAO version 1.0\ncircle({XC},{YC},15)\nbox(3700,3700,80,40)\n"
    )
    data, _ = events_of(synthetic_events)
    circle = (data["x"] - XC) ** 2 + (data["y"] - YC) ** 2 <= 15**2
    box = (np.abs(data["x"] - 3700) <= 40) & (np.abs(data["y"] - 3700) <= 20)
    for spec, name in ((f"@{lis}", "lis.fits"), (f"region({reg})", "reg.fits")):
        out = tmp_path / name
        xdm.tools.dmextract(
            infile=f"{synthetic_events}[bin sky={spec}]",
            outfile=str(out),
            opt="generic",
        )
        t = fits.getdata(out, 1)
        assert t["COUNTS"].tolist() == [circle.sum(), box.sum()]
        assert t["AREA"][0] == pytest.approx(math.pi * 225, rel=1e-12)
        assert t["AREA"][1] == pytest.approx(80 * 40, rel=1e-12)


def test_profile_with_background(synthetic_events: Path, tmp_path: Path) -> None:
    out = tmp_path / "pb.fits"
    bx, by, br = 3700.0, 3700.0, 60.0
    xdm.tools.dmextract(
        infile=f"{synthetic_events}[bin sky=annulus({XC},{YC},0:40:20)]",
        outfile=str(out),
        opt="generic",
        bkg=f"{synthetic_events}[sky=circle({bx},{by},{br})]",
    )
    data, _ = events_of(synthetic_events)
    nb = int(np.count_nonzero((data["x"] - bx) ** 2 + (data["y"] - by) ** 2 <= br * br))
    t = fits.getdata(out, 1)
    assert (t["BG_COUNTS"] == nb).all()
    assert np.allclose(t["BG_AREA"], math.pi * br * br)
    net = t["COUNTS"] - nb * t["AREA"] / (math.pi * br * br)
    assert np.allclose(t["NET_COUNTS"], net)
    assert np.allclose(t["SUR_BRI"], net / t["AREA"])


# ---------------------------------------------------------------- CLI, scripts


def test_cli_positional_json_and_clobber(
    synthetic_events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.pi"
    vf = f"{synthetic_events}[sky=circle({XC},{YC},10)][bin pi]"
    assert main(["dmextract", vf, str(out), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["extname"] == "SPECTRUM" and got["rows"] == 1024
    assert sum(got["columns"]["COUNTS"]) == int(fits.getdata(out, 1)["COUNTS"].sum())
    before = out.read_bytes()
    assert main(["dmextract", vf, str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["dmextract", vf, str(out), "clobber=yes", "verbose=1"]) == 0
    assert "counts in 1024 PI channels" in capsys.readouterr().out
    assert isinstance(Table.read(out, hdu=1), Table)


def test_script_line(synthetic_events: Path, tmp_path: Path) -> None:
    script = tmp_path / "lc.xdm"
    out = tmp_path / "s.lc"
    script.write_text(
        f"set evt = {synthetic_events}\n"
        f"dmextract $evt[sky=circle({XC},{YC},20)][bin time=::1000] {out} opt=ltc1\n"
    )
    assert main(["run", str(script)]) == 0
    assert fits.getheader(out, "LIGHTCURVE")["TIMEDEL"] == 1000.0


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def no_pi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nopi") / "nopi.fits"
    with fits.open(REAL) as h:
        cols = [c for c in h["EVENTS"].columns if c.name.lower() != "pi"]
        ev = fits.BinTableHDU.from_columns(
            cols, header=h["EVENTS"].header, name="EVENTS"
        )
        fits.HDUList([fits.PrimaryHDU(), ev, h[2].copy()]).writeto(path)
    return path


@pytest.mark.parametrize(
    ("infile", "opt", "words"),
    [
        ("NOPI[bin pi]", "pha1", ["no 'pi' column"]),
        (f"EVT[sky=circle({XC},{YC},0)][bin pi]", "pha1", ["has no area"]),
        ("EVT[sky=circle(4110,4085,10)]", "pha1", ["needs a [bin pi]"]),
        ("EVT[bin time=::200]", "pha1", ["needs a [bin pi]", "not [bin time]"]),
        ("EVT[bin time=::0]", "ltc1", ["step must be positive"]),
        ("EVT[bin time=5:5:1]", "ltc1", ["empty time range"]),
        ("EVT[bin time=::0.0001]", "ltc1", ["time bins (more than"]),
        ("EVT[bin pi]", "ltc1", ["needs a [bin time"]),
        ("EVT[bin sky=annulus(4110,4085,10,10)]", "generic", ["has no area"]),
        ("EVT[bin pi]", "pha2", ["not supported yet"]),
        ("EVT[bin pi=1:1024:2]", "pha1", ["one channel per bin"]),
    ],
)
def test_bad_input_is_a_clean_error_without_output(
    infile: str,
    opt: str,
    words: list[str],
    synthetic_events: Path,
    no_pi: Path,
    tmp_path: Path,
) -> None:
    text = infile.replace("NOPI", str(no_pi)).replace("EVT", str(synthetic_events))
    out = tmp_path / "out.fits"
    with pytest.raises(XdmError) as info:
        xdm.tools.dmextract(infile=text, outfile=str(out), opt=opt)
    rendered = info.value.render()
    for word in words:
        assert word in rendered
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_input_exits_2_without_traceback(
    synthetic_events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "z.lc"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "xdm",
            "dmextract",
            f"{synthetic_events}[bin time=::0]",
            str(out),
            "opt=ltc1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "step must be positive" in run.stderr and not out.exists()


def test_exposure_maps_are_refused(synthetic_events: Path, tmp_path: Path) -> None:
    with pytest.raises(XdmSemanticError, match="exp= is not supported yet"):
        xdm.tools.dmextract(
            infile=f"{synthetic_events}[bin pi]",
            outfile=str(tmp_path / "e.pi"),
            exp="map.fits",
        )
