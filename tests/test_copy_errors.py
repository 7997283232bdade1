"""Bad input never hurts: one clear message, exit 2, nothing written, input untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from xdm.cli.main import main

EVENTS = Path(__file__).parent / "data" / "events"
M82 = EVENTS / "chandra_test.fits"
FULL = EVENTS / "chandra_time.fits"

CASES = [
    (
        f"{M82}[enrgy=500:2000]",
        "unknown column 'enrgy' in block EVENTS (did you mean 'energy'?)",
    ),
    (f"{M82}[energy=circle(1,2,3)]", "'energy' is a scalar column"),
    (f"{M82}[energy=xx1x]", "'energy' is numeric"),
    (f"{FULL}[status>3]", "'status' is a bit column"),
    (f"{FULL}[status=10:20]", "ranges do not apply"),
    (f"{M82}[sky=500:600]", "'sky' is a vector column"),
    (f"{EVENTS}/nosuch.fits[energy=1:2]", "file not found"),
    (f"{M82}[GTI9]", "has no block named 'GTI9'"),
    (f"{M82}[7]", "has no block 7"),
    (f"{M82}[bin sky=0.05]", "above the 1024 MB limit"),
    (f"{M82}[bin sky=8][opt type=i2,mem=0]", "mem= needs a positive number"),
    (f"{M82}[bin sky=8192][opt type=i2][bin sky=4]", "one [bin ...] group"),
    (f"{M82}[bin x=100:50]", "empty bin range"),
    (f"{M82}[bin sky=8][opt type=i3]", "unknown image type 'i3'"),
    (f"{M82}[cols time,-pi]", "mixes kept and dropped"),
    (f"{M82}[cols tmie]", "unknown column 'tmie' in [cols] (did you mean 'time'?)"),
    (f"{M82}[energy=2000:500]", "empty range"),
    (f"{M82}[@{EVENTS}/nosuch.gti]", "not found"),
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("vf", "message"), CASES, ids=[c[0].split("/")[-1] for c in CASES]
)
def test_bad_input_exit_2_nothing_written(
    vf: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(M82), _digest(FULL)
    out = tmp_path / "out.fits"
    status = main(["copy", vf, str(out)])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert message in err
    assert list(tmp_path.iterdir()) == []
    assert (_digest(M82), _digest(FULL)) == before


def test_explicit_i2_overflow_is_an_error(
    tmp_path: Path, synthetic_events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "img.fits"
    assert (
        main(["copy", f"{synthetic_events}[bin sky=8192][opt type=i2]", str(out)]) == 2
    )
    assert "more than type i2 can store" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_unknown_column_points_at_the_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "tests/data/events/chandra_test.fits[enrgy=1:2]"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1].strip().endswith("[enrgy=1:2]")
    assert err[2].index("^") == err[1].index("enrgy") and err[2].count("~") == 4
