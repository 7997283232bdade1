"""``xdm explain``: deterministic plan text (golden files) for real files, and
the text says what runs: the columns read, the path that computes bin indices.

The golden files are ``tests/golden/explain/NAME.txt``; ``pytest --regen``
rewrites them from what the planner now prints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from casefiles import check_golden

from xdm.cli.main import main
from xdm.engine.steps import FilterRows, Histogram, ReadColumns
from xdm.plan.planner import plan

EVENTS = Path(__file__).parent / "data" / "events"
GOLDEN = Path(__file__).parent / "golden" / "explain"

CASES = {
    "filter": "chandra_test.fits[energy=500:7000,grade=0,2:4,6]",
    "bin_sky8": "chandra_test.fits[energy=500:7000,grade=0,2:4,6][bin sky=8]",
    "bin_pi_padded": "chandra_test.fits[ccd_id=7][bin pi=1:1024]",
    "bin_numexpr_index": (
        "chandra_test.fits[energy>1000][bin x=3000:5000:10,y=3000:5000:10]"
    ),
    "bin_bits_row": (
        "chandra_time.fits[status=xxxxxxxxxxxxxxxx0xxxxxxxxxxxxx1x,#row=1]"
        "[bin pi=1:1024:#256]"
    ),
    "weighted": "chandra_test.fits[bin sky=16;energy]",
    "region": "chandra_test.fits[energy>1000,sky=circle(4096,4096,200)]",
    "region_vector_test": (
        "chandra_test.fits[energy>1000,sky=polygon(4000,4000,4150,4010,4060,4120)]"
    ),
    "time_gti": "chandra_test.fits[time=339469200:339469800]",
    "cols": (
        "chandra_test.fits[EVENTS][ccd_id=7][time=339469200:339469800]"
        "[cols time,pi][exclude pi=0:20]"
    ),
    "cols_rename": "chandra_test.fits[cols time,en=energy,sky]",
    "opt_type": "chandra_test.fits[bin pi=1:1024][opt type=i4]",
}


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a 64 x 64 primary image, ``image.fits``."""
    from xdm.io.hdus import image_hdu, save_hdus

    folder = tmp_path_factory.mktemp("explain")
    pixels = np.arange(64 * 64, dtype=">i2").reshape(64, 64)
    save_hdus(folder / "image.fits", [image_hdu(pixels, primary=True)])
    return folder


@pytest.mark.parametrize("name", sorted(CASES))
def test_explain_golden(name: str, regen: bool) -> None:
    text = plan(CASES[name], base_dir=EVENTS).explain()
    check_golden(GOLDEN / f"{name}.txt", text + "\n", regen)


def test_explain_golden_image_block_cut_out(image_dir: Path, regen: bool) -> None:
    text = plan("image.fits[#1=10:40,#2=10:40]", base_dir=image_dir).explain()
    check_golden(GOLDEN / "image_block.txt", text + "\n", regen)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_columns_explained_are_the_columns_read(name: str) -> None:
    p = plan(CASES[name], base_dir=EVENTS)
    listed = p.find(ReadColumns).columns
    chunks = list(p.stream())
    assert chunks
    for chunk in chunks:
        assert tuple(chunk.columns) == listed


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_index_path_explained_is_the_plans(name: str) -> None:
    p = plan(CASES[name], base_dir=EVENTS)
    hist = p.find(Histogram)
    text = p.explain()
    if hist is None:
        assert "index (" not in text
    elif hist.padded is not None:
        assert "index (numpy, padded" in text and "index (numexpr)" not in text
        assert "evaluated inside the index expression" not in text
    else:
        assert "index (numexpr)" in text and "index (numpy" not in text
        if p.find(FilterRows).predicate != "True":
            assert "evaluated inside the index expression of step 4" in text


def test_explain_cli_prints_the_plan(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EVENTS)
    assert main(["explain", CASES["bin_sky8"]]) == 0
    assert capsys.readouterr().out == (GOLDEN / "bin_sky8.txt").read_text()


def test_polygon_is_a_vectorised_test_behind_a_bbox_prefilter() -> None:
    from astropy.io import fits

    from xdm.api import select
    from xdm.regions.api import region

    shape = "polygon(4000,4000,4150,4010,4060,4120)"
    text = f"chandra_test.fits[energy>1000,sky={shape}]"
    explained = plan(text, base_dir=EVENTS).explain()
    assert "numexpr: (energy > 1000) & _t0" in explained
    assert "_t0 = region test (x,y) in" in explained
    assert "behind bbox (x >= 4000" in explained
    d = fits.getdata(EVENTS / "chandra_test.fits", 1)
    x, y = d["x"].astype(float), d["y"].astype(float)
    want = region(shape).contains(x, y) & (d["energy"] > 1000)
    got = select(text, base_dir=EVENTS)
    assert np.array_equal(got, want) and got.any()
