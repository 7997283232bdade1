"""The progress hook: silent off a terminal, quiet below verbose=1, a bar after the delay."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from astropy.io import fits

from xdm.progress import DELAY_S, bar_delay, get_verbosity, note, progress, verbosity


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_counts_work_and_prints_nothing_in_a_pipe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with progress(300, "rows") as bar:
        for _ in range(3):
            bar.advance(100)
        assert not bar.is_shown
    assert bar.done == 300
    assert capsys.readouterr().err == ""


def test_bar_appears_on_a_terminal_after_the_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with progress(10, "binning events", delay=0.0) as bar:
        bar.advance(4)
        assert bar.is_shown
        bar.advance(6)
    assert not bar.is_shown  # closed on exit
    assert "binning events" in term.getvalue()
    assert "10/10" in term.getvalue()


def test_quiet_verbosity_suppresses_the_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with verbosity(0), progress(10, "rows", delay=0.0) as bar:
        bar.advance(10)
        assert not bar.is_shown
    assert term.getvalue() == ""


def test_short_work_shows_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _Terminal())
    with progress(10, "rows") as bar:  # default delay of about a second
        bar.advance(10)
        assert not bar.is_shown


def test_verbosity_is_scoped_and_notes_follow_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert get_verbosity() == 1
    with verbosity(3):
        assert get_verbosity() == 3
        note("detail", level=3)
    note("hidden", level=2)
    assert get_verbosity() == 1
    assert capsys.readouterr().err == "detail\n"


def test_a_long_single_step_shows_the_bar_without_an_advance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with progress(None, "reading header", delay=0.05) as bar:
        deadline = time.monotonic() + 5
        while not bar.is_shown and time.monotonic() < deadline:
            time.sleep(0.01)
        assert bar.is_shown
    assert "reading header" in term.getvalue()


RUNNER = "import sys; from xdm.cli.main import main; sys.exit(main(sys.argv[1:]))"
# the bar at once, in the child processes
NO_DELAY = {**os.environ, "XDM_PROGRESS_DELAY": "0"}


def test_the_delay_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDM_PROGRESS_DELAY", raising=False)
    assert bar_delay() == DELAY_S
    monkeypatch.setenv("XDM_PROGRESS_DELAY", "0.25")
    assert bar_delay() == 0.25
    monkeypatch.setenv("XDM_PROGRESS_DELAY", "soon")
    assert bar_delay() == DELAY_S


def test_the_engine_draws_the_bar_on_a_terminal_and_nothing_in_a_pipe(
    tmp_path: Path,
) -> None:
    import subprocess

    pexpect = pytest.importorskip("pexpect")
    events = Path(__file__).parent / "data" / "events" / "chandra_test.fits"
    args = ["copy", f"{events}[energy=300:2000][bin sky=8]", str(tmp_path / "i.fits")]
    child = pexpect.spawn(
        sys.executable,
        ["-c", RUNNER, *args],
        encoding="utf-8",
        timeout=60,
        dimensions=(24, 100),
        env=NO_DELAY,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "filtering" in child.before and "4612/4612" in child.before
    piped = subprocess.run(
        [sys.executable, "-c", RUNNER, *args, "clobber=yes"],
        capture_output=True,
        text=True,
        env=NO_DELAY,
    )
    assert piped.returncode == 0
    assert piped.stderr == "" and piped.stdout == ""
    quiet = pexpect.spawn(
        sys.executable,
        ["-c", RUNNER, *args, "clobber=yes", "verbose=0"],
        encoding="utf-8",
        timeout=60,
        env=NO_DELAY,
    )
    quiet.expect(pexpect.EOF)
    assert "filtering" not in quiet.before


def test_quiet_script_keeps_its_copies_quiet(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    events = Path(__file__).parent / "data" / "events" / "chandra_test.fits"
    script = tmp_path / "job.xdm"
    script.write_text(
        f'dmcopy "{events}[bin sky=8]" {tmp_path / "a.fits"} clobber=yes\n'
    )
    runs = {
        "script --quiet": ["run", str(script), "--quiet"],
        "script verbose=0": ["run", str(script), "verbose=0"],
        "copy --quiet": [
            "copy",
            f"{events}[bin sky=8]",
            str(tmp_path / "b.fits"),
            "--quiet",
        ],
        "script": ["run", str(script)],
    }
    shown = {}
    for label, args in runs.items():
        child = pexpect.spawn(
            sys.executable,
            ["-c", RUNNER, *args],
            encoding="utf-8",
            timeout=60,
            env=NO_DELAY,
        )
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, (label, child.before)
        shown[label] = "filtering" in child.before
    assert shown == {
        "script --quiet": False,
        "script verbose=0": False,
        "copy --quiet": False,
        "script": True,
    }
    assert fits.getdata(tmp_path / "b.fits").sum() == len(
        fits.getdata(events, "EVENTS")
    )
