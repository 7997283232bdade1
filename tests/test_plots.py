"""``--png`` quick-looks of dmextract's products: the drawn curve is the table's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.cli.main import main
from xdm.plots import curve, png_name

CENTRE = "4096.5,4096.5"
PRODUCTS = {
    "lc.fits": (
        f"[sky=annulus({CENTRE},300,600)][bin time=::259.28]",
        "opt=ltc1",
        ("TIME", "COUNT_RATE"),
    ),
    "src.pi": (f"[sky=circle({CENTRE},40)][bin pi]", "opt=pha1", ("CHANNEL", "COUNTS")),
    "prof.fits": (
        f"[bin sky=annulus({CENTRE},0:200:10)]",
        "opt=generic",
        ("RMID", "SUR_BRI"),
    ),
}


@pytest.fixture
def here(
    tmp_path: Path, synthetic_events: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evt2.fits").symlink_to(synthetic_events)
    return tmp_path


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_the_curve_is_the_tables_columns(name: str, here: Path) -> None:
    spec, opt, (x, y) = PRODUCTS[name]
    assert main(["dmextract", f"evt2.fits{spec}", name, opt, "verbose=0"]) == 0
    shown = curve(name)
    with fits.open(name) as hdul:
        table = hdul[1].data
        assert np.array_equal(shown.x, table[x].astype(float))
        assert np.array_equal(shown.y, table[y].astype(float))
    assert shown.log is (name == "prof.fits")


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_png_beside_the_product(name: str, here: Path) -> None:
    pytest.importorskip("matplotlib")
    spec, opt, _ = PRODUCTS[name]
    assert main(["dmextract", f"evt2.fits{spec}", name, opt, "--png"]) == 0
    png = Path(png_name(name))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_an_existing_png_is_refused_before_anything_is_written(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("lc.png").write_text("keep")
    spec, opt, _ = PRODUCTS["lc.fits"]
    assert main(["dmextract", f"evt2.fits{spec}", "lc.fits", opt, "--png"]) == 2
    assert "lc.png exists" in capsys.readouterr().err
    assert not Path("lc.fits").exists() and Path("lc.png").read_text() == "keep"


def test_a_table_without_a_curve_is_a_clean_error(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    assert main(["dmgti", "evt2.fits", "g.fits", "userlimit=energy>9000", "--png"]) == 2
    assert "no light curve, spectrum or profile" in capsys.readouterr().err


def test_png_names() -> None:
    assert png_name("a/lc.fits") == "a/lc.png"
    assert png_name("lc.fits.gz") == "lc.png"
    assert png_name("spec.pi") == "spec.png"
