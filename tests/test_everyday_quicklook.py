"""Quick-looks (PNG, notebook HTML) and progress bars on long work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
from xdm.cli.main import main
from xdm.quicklook import html_virtual_file, scaled

pytest.importorskip("matplotlib")


def _png_shape(path: Path) -> tuple[int, ...]:
    import matplotlib.image

    return tuple(matplotlib.image.imread(path).shape)


def test_png_output_and_png_flag(synthetic_events: Path, tmp_path: Path) -> None:
    vf = f"{synthetic_events}[energy=300:2000][bin sky=64]"
    png = tmp_path / "img.png"
    assert main(["dmcopy", vf, str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _png_shape(png)[:2] == (600, 600)
    assert main(["dmcopy", vf, str(png)]) == 2  # exists: clobber=yes needed
    # --png: the FITS product and its quick-look (an existing PNG needs clobber)
    assert main(["dmcopy", vf, str(tmp_path / "img.fits"), "--png"]) == 2
    assert not (tmp_path / "img.fits").exists()  # refused before writing
    assert main(["dmcopy", vf, str(tmp_path / "b8.fits"), "--png"]) == 0
    assert _png_shape(tmp_path / "b8.png")[:2] == (600, 600)
    assert fits.getdata(tmp_path / "b8.fits").sum() > 0
    table = tmp_path / "t.png"
    assert main(["dmcopy", f"{synthetic_events}[energy=300:2000]", str(table)]) == 2
    assert not table.exists()


def test_log_scale_is_log10_one_plus_counts() -> None:
    counts = np.array([[0, 9, 99], [np.nan, -3, 999]])
    np.testing.assert_allclose(scaled(counts), [[0, 1, 2], [0, 0, 3]])


def test_missing_matplotlib_is_a_clear_error(
    synthetic_events: Path, tmp_path: Path
) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from xdm.cli.main import main\n"
        f"sys.exit(main(['dmcopy', {str(synthetic_events) + '[bin sky=64]'!r}, "
        f"{str(tmp_path / 'x.png')!r}]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2
    assert "need matplotlib" in run.stderr and "xdm[plot]" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "x.png").exists()


def test_notebook_html(synthetic_events: Path) -> None:
    image = xdm.read(f"{synthetic_events}[bin sky=128]")
    page = image._repr_html_()
    assert '<img src="data:image/png;base64,' in page
    assert "64 x 64 pixels" in page
    vf = xdm.parse(f"{synthetic_events}[energy<300][bin sky=8]")
    text = html_virtual_file(vf)  # nodes cannot import unparse: no method there
    assert "energy&lt;300" in text and "energy<300" not in text
    assert text.count("<tr>") == 3  # heading + two qualifiers


RUNNER = (
    "import sys, xdm.progress as p; p.DELAY_S = 0.0; "
    "from xdm.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


def test_demo_generation_shows_a_bar_on_a_terminal(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable,
        ["-c", RUNNER, "demo", str(tmp_path / "d"), "rows=20000"],
        encoding="utf-8",
        timeout=120,
        dimensions=(24, 120),
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "making events" in child.before and "20000/20000" in child.before
    assert len(fits.getdata(tmp_path / "d" / "evt2.fits", "EVENTS")) == 20000
