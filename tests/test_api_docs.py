"""The documented examples run: docs/api.md and the docstrings of the public modules.

The numbers in docs/api.md (rows kept, image sums) are checked here against the
same events read with astropy and numpy, so the page cannot drift from the data.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

ROOT = Path(__file__).parent.parent
FLAGS = (
    doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.IGNORE_EXCEPTION_DETAIL
)

MODULES = ("xdm", "xdm.progress", "xdm.api", "xdm.summary", "xdm.cli.script")


def test_api_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = doctest.testfile(
        str(ROOT / "docs" / "api.md"),
        module_relative=False,
        globs={"tmp": tmp_path},
        optionflags=FLAGS,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted >= 30
    assert result.failed == 0


@pytest.mark.parametrize("name", MODULES)
def test_module_docstrings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False)
    assert result.failed == 0


def test_the_numbers_on_the_api_page_match_the_file() -> None:
    page = (ROOT / "docs" / "api.md").read_text()
    with fits.open(ROOT / "tests" / "data" / "events" / "chandra_test.fits") as hdul:
        events = hdul["EVENTS"].data
        energy = np.asarray(events["energy"], dtype=np.float64)
        kept = int(((energy >= 300) & (energy < 2000) & (events["ccd_id"] == 7)).sum())
        total = len(events)
    assert "(2204, ['time', 'energy'])" in page and kept == 2204
    assert f"((1024, 1024), {kept}, 'count')" in page
    assert f"(({total},), {kept})" in page
    assert f"({total} rows)" in page


def test_read_keeps_units_and_scaling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    import xdm

    values = np.array([0, 40000, 65535], dtype=np.uint16)
    column = fits.Column("pha", "I", bzero=32768, array=values, unit="adu")
    energy = fits.Column(
        "energy", "E", array=np.array([100.0, 300.0, 500.0]), unit="eV"
    )
    fits.BinTableHDU.from_columns([column, energy], name="EVENTS").writeto(
        tmp_path / "u.fits"
    )
    table = xdm.read(f"{tmp_path / 'u.fits'}[energy=200:]")
    assert table["pha"].tolist() == [40000, 65535]  # astropy's reading, the oracle
    assert str(table["pha"].unit) == "adu" and str(table["energy"].unit) == "eV"
    events = xdm.read("tests/data/events/chandra_test.fits[energy=300:2000]")
    assert str(events["energy"].unit) == "eV"


def test_getting_started_runs_as_written(
    synthetic_events: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every prompt line and shell command of the guide, on the demo data."""
    import shlex
    import shutil

    from xdm.cli.main import main
    from xdm.cli.repl import Repl

    page = (ROOT / "docs" / "getting-started.md").read_text()
    shutil.copy(synthetic_events, tmp_path / "evt2.fits")
    monkeypatch.chdir(tmp_path)
    repl = Repl()
    typed = [line[5:] for line in page.splitlines() if line.startswith("xdm> ")]
    assert len(typed) >= 10
    for line in typed:
        repl.execute(line)
    out, err = capsys.readouterr()
    assert repl.errors == 1  # the deliberate mistake, shown as on the page
    assert "error: expected ':', ',' or ']' after '300'" in err
    assert "plan for evt2.fits[energy=300:2000][bin sky=4]" in out
    commands = [
        line[2:] for line in page.splitlines() if line.startswith("$ xdm dmcopy")
    ]
    assert len(commands) == 5
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0, command
        name = shlex.split(command)[3]  # xdm dmcopy IN OUT [clobber=yes]
        assert fits.getdata(tmp_path / name).sum() > 0
