"""``xdm explain``: deterministic plan text (golden) for real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from xdm.cli.main import main
from xdm.plan.planner import plan

EVENTS = Path(__file__).parent / "data" / "events"

GOLDEN = {
    "chandra_test.fits[energy=500:7000,grade=0,2:4,6][bin sky=8]": """\
plan for chandra_test.fits[energy=500:7000,grade=0,2:4,6][bin sky=8]
  1. OpenBlock      chandra_test.fits block 2 EVENTS (4612 rows)
  2. ReadColumns    energy, grade, x, y  [chunks of 2000000 rows, memory-mapped]
  3. FilterRows     numexpr: ((energy >= 500) & (energy < 7000)) & ((grade == 0) | ((grade >= 2) & (grade <= 4)) | (grade == 6))
  4. Histogram      np.bincount over 1024 x 1024 bins -> i2
                    index: where(((energy >= 500) & (energy < 7000)) & ((grade == 0) | ((grade >= 2) & (grade <= 4)) | (grade == 6)) & (x >= 0.5) & (x < 8192.5) & (y >= 0.5) & (y < 8192.5), minimum(floor((x - 0.5) / 8), 1023) + 1024 * minimum(floor((y - 0.5) / 8), 1023), 1048576)
                    x: 0.5:8192.5:8 (1024 bins, range from TLMIN/TLMAX)
                    y: 0.5:8192.5:8 (1024 bins, range from TLMIN/TLMAX)
  5. UpdateSubspace energy = 500:7000
                    grade = 0:0,2:4,6:6
  6. WriteImage     primary image EVENTS_IMAGE (i2), GTI blocks copied""",
    "chandra_test.fits[EVENTS][ccd_id=7][time=339469200:339469800][cols time,pi][exclude pi=0:20]": """\
plan for chandra_test.fits[EVENTS][ccd_id=7][time=339469200:339469800][cols time,pi][exclude pi=0:20]
  1. OpenBlock      chandra_test.fits block 2 EVENTS (4612 rows)
  2. ReadColumns    ccd_id, time, pi  [chunks of 2000000 rows, memory-mapped]
  3. FilterRows     numexpr: (ccd_id == 7) & ((time >= 339469200) & (time < 339469800)) & ~((((pi >= 0) & (pi <= 20)) & (pi != 0)))
  4. SelectColumns  time, pi
  5. UpdateGti      intersect GTI blocks with 1 interval(s) for all chips, recompute exposure keys
  6. UpdateSubspace ccd_id = 7:7
                    pi = 21:1024
  7. WriteEvents    table block EVENTS (kept rows copied as raw records), other blocks copied""",
    "chandra_time.fits[status=xxxxxxxxxxxxxxxx0xxxxxxxxxxxxx1x,#row=1][bin pi=1:1024:#256]": """\
plan for chandra_time.fits[status=xxxxxxxxxxxxxxxx0xxxxxxxxxxxxx1x,#row=1][bin pi=1:1024:#256]
  1. OpenBlock      chandra_time.fits block 2 EVENTS (2 rows)
  2. ReadColumns    status, pi  [chunks of 2000000 rows, memory-mapped]
  3. FilterRows     numexpr: ((status_bits & 32770) == 2) & (_row == 1)
                    status_bits = status (bits as integer)
                    _row = #row (row number)
  4. Histogram      np.bincount over 256 bins -> i2
                    index: where(((status_bits & 32770) == 2) & (_row == 1) & (pi >= 0.5) & (pi < 1024.5), minimum(floor((pi - 0.5) / 4), 255), 256)
                    pi: 0.5:1024.5:4 (256 bins, range from given)
  5. UpdateSubspace (unchanged)
  6. WriteImage     primary image EVENTS_IMAGE (i2), GTI blocks copied""",
}


@pytest.mark.parametrize("text", sorted(GOLDEN))
def test_explain_golden(text: str) -> None:
    assert plan(text, base_dir=EVENTS).explain() == GOLDEN[text]


def test_explain_cli_prints_the_plan(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EVENTS)
    text = sorted(GOLDEN)[0]
    assert main(["explain", text]) == 0
    assert capsys.readouterr().out == GOLDEN[text] + "\n"


def test_polygon_is_a_vectorised_test_behind_a_bbox_prefilter() -> None:
    import numpy as np
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
