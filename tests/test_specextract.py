"""specextract: the PHA pair, grouping and responses, against independent answers.

Oracles: numpy histograms of the event columns; the GROUPING/QUALITY columns
CIAO's dmgroup wrote into the real 3c273.pi (NUM_CTS, 15 counts; sherpa's test
data) reproduced from events whose PI histogram is that file's COUNTS; byte
equality of the copied responses; astropy reading every output; sherpa's
``load_pha`` (when sherpa is installed).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

import xdm.tools
from xdm import XdmError
from xdm.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
SPECTRA = ROOT / "tests" / "data" / "spectra"
REAL = ROOT / "tests" / "data" / "events" / "chandra_test.fits"
XC, YC = 4110.3, 4085.7
SKY_AREA = 8192.0**2


def _events(path: Path, pi: Any, *, header: dict[str, Any] | None = None) -> Path:
    """A minimal ACIS event file: one point at (4096.5, 4096.5) on ccd 7."""
    n = len(pi)
    cols = [
        fits.Column(
            name="time", format="1D", unit="s", array=np.linspace(1e8, 1e8 + 1e4, n)
        ),
        fits.Column(name="ccd_id", format="1I", array=np.full(n, 7)),
        fits.Column(name="x", format="1E", array=np.full(n, 4096.5)),
        fits.Column(name="y", format="1E", array=np.full(n, 4096.5)),
        fits.Column(name="pi", format="1J", array=np.asarray(pi)),
    ]
    ev = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    h = ev.header
    for i, (lo, hi) in ((3, (0.5, 8192.5)), (4, (0.5, 8192.5)), (5, (1, 1024))):
        h[f"TLMIN{i}"], h[f"TLMAX{i}"] = lo, hi
    h["MTYPE1"], h["MFORM1"] = "sky", "x,y"
    h["TSTART"], h["TSTOP"] = 1e8, 1e8 + 1e4
    h["EXPOSURE"], h["LIVETIME"], h["ONTIME"], h["DTCOR"] = 9000.0, 9000.0, 9000.0, 1.0
    h["TELESCOP"], h["INSTRUME"] = "CHANDRA", "ACIS"
    for k, v in (header or {}).items():
        h[k] = v
    fits.HDUList([fits.PrimaryHDU(), ev]).writeto(path)
    return path


@pytest.fixture(scope="module")
def three_c_273() -> tuple[Any, Any]:
    with fits.open(SPECTRA / "3c273.pi") as h:
        return h["SPECTRUM"].data.copy(), h["SPECTRUM"].header.copy()


def test_num_cts_grouping_matches_ciao_dmgroup(
    three_c_273: tuple[Any, Any], tmp_path: Path
) -> None:
    data, _ = three_c_273
    counts = np.asarray(data["COUNTS"])
    pi = np.repeat(np.asarray(data["CHANNEL"]), counts)
    evt = _events(tmp_path / "evt.fits", pi)
    root = tmp_path / "q"
    r = xdm.tools.specextract(
        infile=f"{evt}[sky=circle(4096.5,4096.5,5)]",
        outroot=str(root),
        grouptype="NUM_CTS",
        binspec="15",
    )
    g = fits.getdata(f"{root}_grp.pi", "SPECTRUM")
    assert np.array_equal(g["COUNTS"], counts)
    assert np.array_equal(g["GROUPING"], data["GROUPING"])  # CIAO dmgroup's own
    assert np.array_equal(g["QUALITY"], data["QUALITY"])
    assert r.as_dict()["groups"] == int((data["GROUPING"] == 1).sum())


def test_incomplete_last_group_is_quality_2(tmp_path: Path) -> None:
    # channels 1..1024; 20 counts in channel 10 and 7 in channel 1000
    pi = np.array([10] * 20 + [1000] * 7)
    evt = _events(tmp_path / "e.fits", pi)
    xdm.tools.specextract(
        infile=f"{evt}[sky=circle(4096.5,4096.5,5)]",
        outroot=str(tmp_path / "r"),
        binspec=15,
    )
    g = fits.getdata(tmp_path / "r_grp.pi", "SPECTRUM")
    # by hand: group 1 = channels 1..10 (reaches 20 >= 15), group 2 = 11..1024 (7 < 15)
    assert g["GROUPING"][0] == 1 and (g["GROUPING"][1:10] == -1).all()
    assert g["GROUPING"][10] == 1 and (g["GROUPING"][11:] == -1).all()
    assert (g["QUALITY"][:10] == 0).all() and (g["QUALITY"][10:] == 2).all()


def test_source_background_grouped_and_responses(
    synthetic_events: Path, tmp_path: Path
) -> None:
    root = tmp_path / "out" / "m82"
    root.parent.mkdir()
    rmf, arf = SPECTRA / "3c273.rmf", SPECTRA / "3c273.arf"
    result = xdm.tools.specextract(
        infile=f"{synthetic_events}[sky=circle({XC},{YC},20)]",
        bkgfile=f"{synthetic_events}[sky=annulus({XC},{YC},40,80)]",
        outroot=str(root),
        rmffile=str(rmf),
        arffile=str(arf),
    )
    files = {k: Path(v) for k, v in result.files.items()}
    assert sorted(p.name for p in root.parent.iterdir()) == sorted(
        ["m82.pi", "m82_bkg.pi", "m82_grp.pi", "m82.rmf", "m82.arf"]
    )
    assert files["rmf"].read_bytes() == rmf.read_bytes()
    assert files["arf"].read_bytes() == arf.read_bytes()
    with fits.open(synthetic_events) as h:
        d = h["EVENTS"].data
        r2 = (d["x"] - XC) ** 2 + (d["y"] - YC) ** 2
        src = np.bincount(d["pi"][r2 <= 400], minlength=1025)[1:]
        bkg = np.bincount(d["pi"][(r2 >= 1600) & (r2 <= 6400)], minlength=1025)[1:]
    s, sh = (
        fits.getdata(root.with_suffix(".pi"), 1),
        fits.getheader(root.with_suffix(".pi"), 1),
    )
    b, bh = fits.getdata(files["background"], 1), fits.getheader(files["background"], 1)
    gh = fits.getheader(files["grouped"], 1)
    assert np.array_equal(s["COUNTS"], src) and np.array_equal(b["COUNTS"], bkg)
    assert sh["HDUCLAS2"] == "TOTAL" and bh["HDUCLAS2"] == "BKG"
    assert (sh["BACKFILE"], sh["RESPFILE"], sh["ANCRFILE"]) == (
        "m82_bkg.pi",
        "m82.rmf",
        "m82.arf",
    )
    assert (gh["BACKFILE"], gh["RESPFILE"], gh["ANCRFILE"]) == (
        "m82_bkg.pi",
        "m82.rmf",
        "m82.arf",
    )
    assert bh["BACKSCAL"] == pytest.approx(
        math.pi * (80**2 - 40**2) / SKY_AREA, rel=1e-12
    )
    assert sh["BACKSCAL"] == pytest.approx(math.pi * 400 / SKY_AREA, rel=1e-12)
    assert bh["AREASCAL"] == 1.0


def test_blanksky_background_gets_areascal(
    synthetic_events: Path, tmp_path: Path
) -> None:
    bkg = tmp_path / "blank.fits"
    with fits.open(synthetic_events) as h:
        h["EVENTS"].header["BKGMETH"] = "particle"
        for chip, value in ((0, 0.5), (3, 0.125), (6, 2.0)):
            h["EVENTS"].header[f"BKGSCAL{chip}"] = value
        h.writeto(bkg)
    with fits.open(synthetic_events) as h:
        d = h["EVENTS"].data
        on = (d["x"] - XC) ** 2 + (d["y"] - YC) ** 2 <= 400
        chips, n = np.unique(d["ccd_id"][on], return_counts=True)
        chip = int(chips[np.argmax(n)])
    assert chip == 3
    result = xdm.tools.specextract(
        infile=f"{synthetic_events}[sky=circle({XC},{YC},20)]",
        bkgfile=f"{bkg}[sky=circle({XC},{YC},60)]",
        outroot=str(tmp_path / "b"),
        grouptype="NONE",
    )
    assert fits.getheader(tmp_path / "b_bkg.pi", 1)["AREASCAL"] == pytest.approx(
        1 / 0.125
    )
    assert fits.getheader(tmp_path / "b.pi", 1)["AREASCAL"] == 1.0
    assert (
        result.areascal == pytest.approx(8.0) and not (tmp_path / "b_grp.pi").exists()
    )


def test_hrc_style_bkgscale(tmp_path: Path) -> None:
    src = _events(tmp_path / "s.fits", np.arange(1, 101))
    bkg = _events(tmp_path / "k.fits", np.arange(1, 51), header={"BKGSCALE": 0.25})
    xdm.tools.specextract(
        infile=f"{src}[sky=circle(4096.5,4096.5,3)]",
        bkgfile=f"{bkg}[sky=circle(4096.5,4096.5,3)]",
        outroot=str(tmp_path / "h"),
    )
    assert fits.getheader(tmp_path / "h_bkg.pi", 1)["AREASCAL"] == pytest.approx(4.0)


def test_cli_and_existing_outputs(
    synthetic_events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "c"
    vf = f"{synthetic_events}[sky=circle({XC},{YC},10)]"
    assert (
        main(
            [
                "specextract",
                vf,
                str(root),
                f"bkgfile={synthetic_events}[sky=circle(3700,3700,50)]",
            ]
        )
        == 0
    )
    assert "wrote" in capsys.readouterr().out
    stamp = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert main(["specextract", vf, str(root)]) == 2
    assert "exists" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamp


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"correctpsf": True}, ["correctpsf=yes needs the PSF calibration"]),
        ({"combine": True}, ["combine=yes is not supported"]),
        ({"grouptype": "SNR"}, ["grouptype=SNR is not supported yet"]),
        ({"binspec": "many"}, ["needs a number"]),
        ({"rmffile": "/no/such.rmf"}, ["no such file"]),
        ({"infile": f"{REAL}[sky=circle(4096,4096,0)]"}, ["has no area"]),
    ],
)
def test_errors_write_nothing(
    extra: dict[str, Any], words: list[str], tmp_path: Path
) -> None:
    params = {"infile": f"{REAL}[ccd_id=7]", "outroot": str(tmp_path / "x"), **extra}
    with pytest.raises(XdmError) as info:
        xdm.tools.specextract(**params)
    for word in words:
        assert word in info.value.render()
    assert list(tmp_path.iterdir()) == []


def test_sherpa_loads_source_background_and_responses(tmp_path: Path) -> None:
    ui = pytest.importorskip("sherpa.astro.ui")
    root = tmp_path / "m82"
    xdm.tools.specextract(
        infile=f"{REAL}[sky=circle(4060,4100,60)]",
        bkgfile=f"{REAL}[sky=annulus(4060,4100,80,150)]",
        outroot=str(root),
        rmffile=str(SPECTRA / "3c273.rmf"),
        arffile=str(SPECTRA / "3c273.arf"),
    )
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        ui.load_pha("m82_grp.pi")
        pha = ui.get_data()
        bkg = ui.get_bkg()
        assert pha.get_response()[0] is not None and pha.get_response()[1] is not None
        assert bkg is not None
        src = fits.getdata("m82.pi", 1)["COUNTS"]
        assert np.array_equal(pha.counts, src)
        assert pha.exposure == pytest.approx(fits.getheader("m82.pi", 1)["EXPOSURE"])
        assert pha.backscal == pytest.approx(fits.getheader("m82.pi", 1)["BACKSCAL"])
    finally:
        os.chdir(cwd)


def test_real_events_with_user_responses_match_the_rmf_channels(tmp_path: Path) -> None:
    """The M82 events with the 3c273 responses: what an OGIP reader checks
    before it pairs a spectrum with an RMF (channel range, DETCHANS, names)."""
    root = tmp_path / "m82"
    xdm.tools.specextract(
        infile=f"{REAL}[sky=circle(4060,4100,60)]",
        bkgfile=f"{REAL}[sky=annulus(4060,4100,80,150)]",
        outroot=str(root),
        rmffile=str(SPECTRA / "3c273.rmf"),
        arffile=str(SPECTRA / "3c273.arf"),
        grouptype="NUM_CTS",
        binspec="5",
    )
    with fits.open(SPECTRA / "3c273.rmf") as rmf:
        ebounds = rmf["EBOUNDS"]
        channels = np.asarray(ebounds.data["CHANNEL"])
        detchans = ebounds.header["DETCHANS"]
    with fits.open(REAL) as h:
        d = h["EVENTS"].data
        on = (d["x"] - 4060) ** 2 + (d["y"] - 4100) ** 2 <= 3600
        expected = np.bincount(d["pi"][on], minlength=1025)[1:1025]
    for name in ("m82.pi", "m82_grp.pi", "m82_bkg.pi"):
        with fits.open(tmp_path / name) as h:
            s = h["SPECTRUM"]
            assert np.array_equal(s.data["CHANNEL"], channels)
            assert s.header["DETCHANS"] == detchans
            assert (s.header["RESPFILE"], s.header["ANCRFILE"]) == (
                "m82.rmf",
                "m82.arf",
            )
            assert (tmp_path / s.header["RESPFILE"]).is_file()
            if name != "m82_bkg.pi":
                assert np.array_equal(s.data["COUNTS"], expected)
                assert (tmp_path / s.header["BACKFILE"]).is_file()
    g = fits.getdata(tmp_path / "m82_grp.pi", "SPECTRUM")
    starts = np.flatnonzero(g["GROUPING"] == 1)
    sums = np.add.reduceat(expected, starts)
    good = g["QUALITY"][starts] == 0
    assert (sums[good] >= 5).all() and (sums[~good] < 5).all()
