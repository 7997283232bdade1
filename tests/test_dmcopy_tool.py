"""dmcopy as a CIAO tool: its one parameter table drives ``xdm dmcopy``,
``--help``, ``plist`` and ``xdm.tools.dmcopy(...)``.

Oracle: the binned image against ``np.histogram2d`` of the events read with
astropy, on the grid their TLMIN/TLMAX give; the command line's file against
the Python function's, value for value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm.tools
from xdm.cli.main import main


def _numpy_image(events: Path, lo: float, hi: float, step: int) -> np.ndarray:
    with fits.open(events) as hdul:
        ev = hdul["EVENTS"]
        data, header = ev.data, ev.header
        names = [n.lower() for n in ev.columns.names]
        col = {n: i + 1 for i, n in enumerate(names)}
        x0 = float(header[f"TLMIN{col['x']}"])
        x1 = float(header[f"TLMAX{col['x']}"])
        y0 = float(header[f"TLMIN{col['y']}"])
        y1 = float(header[f"TLMAX{col['y']}"])
        keep = (data["energy"] >= lo) & (data["energy"] < hi)
        x, y = data["x"][keep], data["y"][keep]
    # CIAO's [bin sky=8] of a real column: bins of 8 from TLMIN to TLMAX
    assert data["x"].dtype.kind == "f"
    xe = np.arange(x0, x1 + step / 2, step)
    ye = np.arange(y0, y1 + step / 2, step)
    hist, _, _ = np.histogram2d(y, x, bins=[ye, xe])
    return hist


def test_the_python_function_writes_the_binned_image(
    synthetic_events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "img.fits"
    written = xdm.tools.dmcopy(
        infile=f"{synthetic_events}[energy=500:7000][bin sky=8]", outfile=str(out)
    )
    assert Path(written) == out
    image = fits.getdata(out)
    expected = _numpy_image(synthetic_events, 500, 7000, 8)
    assert image.shape == expected.shape
    assert image.sum() > 0
    np.testing.assert_array_equal(image, expected)


def test_the_command_line_and_the_function_agree(
    synthetic_events: Path, tmp_path: Path
) -> None:
    vf = f"{synthetic_events}[ccd_id=3,energy=300:2000][cols time,energy,x,y]"
    by_cli = tmp_path / "cli.fits"
    by_python = tmp_path / "python.fits"
    assert main(["dmcopy", vf, str(by_cli), "kernel=fits", "option=", "mode=h"]) == 0
    xdm.tools.dmcopy(infile=vf, outfile=str(by_python), kernel="default")
    a, b = fits.getdata(by_cli, "EVENTS"), fits.getdata(by_python, "EVENTS")
    assert a.columns.names == b.columns.names == ["time", "energy", "x", "y"]
    assert len(a) == len(b) > 0
    for name in a.columns.names:
        np.testing.assert_array_equal(a[name], b[name])


def test_clobber_and_kernel_come_from_the_table(
    synthetic_events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "img.fits"
    vf = f"{synthetic_events}[bin sky=64]"
    xdm.tools.dmcopy(infile=vf, outfile=str(out))
    assert main(["dmcopy", vf, str(out)]) == 2  # clobber=no, CIAO's default
    assert "exists" in capsys.readouterr().err
    assert main(["dmcopy", vf, str(out), "clobber+"]) == 0
    assert main(["dmcopy", vf, str(out), "clobber=yes", "kernel=ascii"]) == 2
    err = capsys.readouterr().err
    assert "kernel='ascii' is not one of default, fits" in err
    assert main(["dmcopy", vf, str(out), "clobber=yes", "kernal=fits"]) == 2
    assert "kernel" in capsys.readouterr().err  # the nearest name
