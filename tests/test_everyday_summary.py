"""``xdm "VF"`` summaries and the warnings on selections that cannot match."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.advice import check


def xdm_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xdm", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def test_summary_of_a_table(synthetic_events: Path) -> None:
    d = fits.getdata(synthetic_events, "EVENTS")
    kept = int(((d["energy"] >= 300) & (d["energy"] < 2000)).sum())
    run = xdm_cli(f"{synthetic_events}[energy=300:2000]")
    assert run.returncode == 0, run.stderr
    assert f"{kept:,} of {len(d):,} rows" in run.stdout
    js = xdm_cli(f"{synthetic_events}[energy=300:2000]", "--json")
    data = json.loads(js.stdout)
    assert (data["kind"], data["rows"], data["total_rows"]) == ("table", kept, len(d))
    energy = next(c for c in data["columns"] if c["name"] == "energy")
    sel = d["energy"][(d["energy"] >= 300) & (d["energy"] < 2000)]
    assert (energy["lo"], energy["hi"]) == (float(sel.min()), float(sel.max()))
    assert energy["unit"] == "eV" and data["warnings"] == []


def test_summary_of_an_image(synthetic_events: Path) -> None:
    d = fits.getdata(synthetic_events, "EVENTS")
    js = xdm_cli(f"{synthetic_events}[energy=500:7000][bin sky=256]", "--json")
    data = json.loads(js.stdout)
    kept = (d["energy"] >= 500) & (d["energy"] < 7000)
    assert data["kind"] == "image" and data["shape"] == [32, 32]  # 8192 / 256
    assert data["total"] == int(kept.sum()) and data["has_wcs"] is True


def test_summary_errors_exit_2(tmp_path: Path) -> None:
    run = xdm_cli("nosuch.fits[energy=1:2]", cwd=tmp_path)
    assert run.returncode == 2 and "file not found" in run.stderr
    assert "Traceback" not in run.stderr


def test_kev_range_on_an_ev_column_warns_without_changing_output(
    synthetic_events: Path, tmp_path: Path
) -> None:
    vf = f"{synthetic_events}[energy=0.3:2]"
    loud = xdm_cli("dmcopy", vf, str(tmp_path / "a.fits"))
    assert loud.returncode == 0
    assert "energy is in eV: did you mean 300:2000?" in loud.stderr
    quiet = xdm_cli("dmcopy", vf, str(tmp_path / "b.fits"), "verbose=0")
    assert quiet.returncode == 0 and quiet.stderr == ""
    a = fits.getdata(tmp_path / "a.fits", "EVENTS")
    b = fits.getdata(tmp_path / "b.fits", "EVENTS")
    assert (
        len(a)
        == len(b)
        == int(
            (
                (fits.getdata(synthetic_events, "EVENTS")["energy"] >= 0.3)
                & (fits.getdata(synthetic_events, "EVENTS")["energy"] < 2)
            ).sum()
        )
    )


def test_time_outside_the_observation(synthetic_events: Path) -> None:
    h = fits.getheader(synthetic_events, "EVENTS")
    (advice,) = check(f"{synthetic_events}[time=1:100]")
    assert "outside the observation" in advice.message
    assert f"{h['TSTART']:.11g}" in advice.message
    inside = f"{h['TSTART'] + 10}:{h['TSTART'] + 1000}"
    assert check(f"{synthetic_events}[time={inside}]") == []


def test_range_outside_tlmin_tlmax(synthetic_events: Path) -> None:
    h = fits.getheader(synthetic_events, "EVENTS")
    names = [h[f"TTYPE{i}"] for i in range(1, h["TFIELDS"] + 1)]
    n = names.index("pi") + 1
    lo = h[f"TLMAX{n}"] + 10
    (advice,) = check(f"{synthetic_events}[pi={lo}:{lo + 100}]")
    assert f"{h[f'TLMIN{n}']}:{h[f'TLMAX{n}']} chan" in advice.message


def test_regions_outside_the_data(synthetic_events: Path) -> None:
    d = fits.getdata(synthetic_events, "EVENTS")
    # inside TLMIN/TLMAX (0.5:8192.5) but away from every event: only said when empty
    vf = f"{synthetic_events}[sky=circle(300,300,20)]"
    assert check(vf) == []
    (advice,) = check(vf, empty=True)
    assert f"x {d['x'].min():.6g}:{d['x'].max():.6g}" in advice.message
    (beyond,) = check(f"{synthetic_events}[sky=circle(9000,9000,20)]")
    assert "lies outside the data" in beyond.message
    # RA/Dec far from the pointing: outside the field
    (sky,) = check(f'{synthetic_events}[sky=circle(10:00:00,+60:00:00,20")]')
    assert "RA/Dec lies outside the field" in sky.message


@pytest.mark.parametrize(
    "suffix",
    ["[energy=300:2000]", "[ccd_id=3,pi=10:500]", "[sky=circle(4096.5,4096.5,50)]"],
)
def test_ordinary_selections_are_quiet(synthetic_events: Path, suffix: str) -> None:
    assert check(f"{synthetic_events}{suffix}", empty=True) == []


def test_warning_counts_match_numpy_on_empty_copy(
    synthetic_events: Path, tmp_path: Path
) -> None:
    run = xdm_cli(
        "dmcopy",
        f"{synthetic_events}[sky=circle(300,300,20)]",
        str(tmp_path / "e.fits"),
    )
    assert run.returncode == 0
    assert "lies outside the data" in run.stderr
    assert len(fits.getdata(tmp_path / "e.fits", "EVENTS")) == 0
    assert np.all(fits.getdata(synthetic_events, "EVENTS")["x"] > 320)
