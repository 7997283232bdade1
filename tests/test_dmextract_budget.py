"""dmextract's light curves and profiles respect the memory budget (XDM_MAX_MEMORY)."""

from __future__ import annotations

from pathlib import Path

import pytest
from astropy.io import fits

from xdm.cli.main import main

CASES = {
    "lc.fits": ("evt2.fits[bin time=::1]", "opt=ltc1", "time bins"),
    "prof.fits": (
        "evt2.fits[bin sky=annulus(4096.5,4096.5,0:400:0.5)]",
        "opt=generic",
        "rings",
    ),
}


@pytest.fixture
def here(
    tmp_path: Path, synthetic_events: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evt2.fits").symlink_to(synthetic_events)
    return tmp_path


@pytest.mark.parametrize("out", sorted(CASES))
def test_over_budget_is_refused_without_output(
    out: str,
    here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vf, opt, what = CASES[out]
    monkeypatch.setenv("XDM_MAX_MEMORY", "100kB")
    assert main(["dmextract", vf, out, opt]) == 2
    err = capsys.readouterr().err
    assert what in err and "XDM_MAX_MEMORY" in err
    assert not Path(out).exists()
    assert [p.name for p in here.iterdir()] == ["evt2.fits"]  # no temporary left


@pytest.mark.parametrize("out", sorted(CASES))
def test_within_budget_the_same_command_runs(
    out: str, here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vf, opt, _ = CASES[out]
    monkeypatch.setenv("XDM_MAX_MEMORY", "2GB")
    assert main(["dmextract", vf, out, opt, "verbose=0"]) == 0
    with fits.open(out) as hdul:
        rows = len(hdul[1].data)
    header = fits.getheader(here / "evt2.fits", "EVENTS")
    expected = (
        int(-(-(header["TSTOP"] - header["TSTART"]) // 1)) if out == "lc.fits" else 800
    )
    assert rows == expected
