"""What the ``xdm dmcopy`` process loads and asks for, seen from outside it.

A plain event file copied through a region in physical pixels (the advice
checks the region's bounds before the work) imports no astropy at all: the
region's WCS is made only when the region is on the sky. The command leaves
numpy's OpenBLAS one thread unless the user chose a number.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import runpy, sys
sys.argv = ["xdm", "dmcopy", *sys.argv[1:]]
try:
    runpy.run_module("xdm", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
import os
print(sorted({m.split(".")[0] + ("." + m.split(".")[1] if "." in m else "")
              for m in sys.modules if m.startswith("astropy")}))
print(os.environ.get("OPENBLAS_NUM_THREADS"))
"""


def _copy(args: list[str], **env: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return run.stdout.strip().splitlines()[-2:]


@pytest.mark.parametrize(
    "suffix",
    [
        "[sky=circle(4096.5,4096.5,60)][bin pi=1:1024:1]",
        "[energy=300:2000,sky=box(4000,4000,300,200)-circle(4000,4000,20)][bin sky=8]",
    ],
)
def test_physical_regions_load_no_astropy(
    synthetic_events: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / "out.fits"
    astropy, _ = _copy([f"{synthetic_events}{suffix}", str(out), "clobber=yes"])
    assert astropy == "[]"
    assert out.exists()


def test_sky_regions_still_get_their_wcs(
    synthetic_events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.fits"
    suffix = '[sky=circle(10:00:00,+60:00:00,20")]'
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "xdm",
            "dmcopy",
            f"{synthetic_events}{suffix}",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "RA/Dec lies outside the field" in run.stderr  # the advice, with a WCS


def test_openblas_left_one_thread_unless_chosen(
    synthetic_events: Path, tmp_path: Path
) -> None:
    args = [f"{synthetic_events}[energy=300:2000][bin sky=8]", str(tmp_path / "o.fits")]
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *args, "clobber=yes"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert run.stdout.strip().splitlines()[-1] == "1"
    _, chosen = _copy([*args, "clobber=yes"], OPENBLAS_NUM_THREADS="2")
    assert chosen == "2"
