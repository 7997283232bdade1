"""``xdm demo`` makes the tutorial's images from a fresh synthetic file.

Oracle: counts computed with plain numpy from the event file the command wrote,
and the image sizes the spec's binning rules give (7.2-7.4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from xdm.cli.main import main


def test_demo_writes_the_tutorial_images(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", str(out), "rows=20000", "seed=3"]) == 0
    printed = capsys.readouterr().out
    assert "optimal_b0.25.fits" in printed and "[energy=:300]" in printed
    d = fits.getdata(out / "evt2.fits", "EVENTS")
    e, x, y = d["energy"], d["x"], d["y"]
    window = (x >= 3900) & (x < 4300) & (y >= 3900) & (y < 4300)
    optimal = (e >= 300) & (e < 2000)
    expected = {
        "full_b8.fits": ((1024, 1024), len(d)),
        "supersoft_b8.fits": ((1024, 1024), int((e < 300).sum())),
        "veryhard_b8.fits": ((1024, 1024), int((e >= 12000).sum())),
        "optimal_b8.fits": ((1024, 1024), int(optimal.sum())),
        "optimal_b4.fits": ((2048, 2048), int(optimal.sum())),
        # window 3900:4300 snaps to 3899.5 (TLMIN 0.5 grid): 400.5 pixels wide
        "optimal_b1.fits": ((401, 401), int((optimal & window).sum())),
        "optimal_b0.5.fits": ((801, 801), int((optimal & window).sum())),
        "optimal_b0.25.fits": ((1602, 1602), int((optimal & window).sum())),
        "soft_b0.5.fits": ((801, 801), int(((e >= 300) & (e < 500) & window).sum())),
        "medium_b0.5.fits": ((801, 801), int(((e >= 500) & (e < 700) & window).sum())),
        "hard_b0.5.fits": ((801, 801), int(((e >= 700) & (e < 1000) & window).sum())),
    }
    for name, (shape, counts) in expected.items():
        image = fits.getdata(out / name)
        assert image.shape == shape, name
        assert int(image.sum(dtype=np.int64)) == counts, name
    assert 0 < expected["veryhard_b8.fits"][1] < expected["supersoft_b8.fits"][1] * 10


def test_demo_never_overwrites_without_clobber(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "evt2.fits").write_bytes(b"precious")
    assert main(["demo", str(out), "rows=1000"]) == 2
    assert "clobber=yes" in capsys.readouterr().err
    assert (out / "evt2.fits").read_bytes() == b"precious"
    assert main(["demo", str(out), "rows=bad"]) == 2
    assert main(["demo", str(out), "colour=red"]) == 2
