"""Shared pytest fixtures and the ``--regen`` option.

Fixtures: the synthetic event file and the real test data. ``pytest --regen``
rewrites generated expectations from what the code now produces (see
tests/casefiles.py) and prints what changed at the end of the run.
"""

from __future__ import annotations

from pathlib import Path

import casefiles
import pytest

DATA = Path(__file__).parent / "data"
EVENTS = DATA / "events"

SYNTHETIC_ROWS = 100_000
SYNTHETIC_SEED = 7


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen",
        action="store_true",
        help="rewrite generated expectations (tests/cases/parse.txt, errors.txt, "
        "tests/golden/**) from what the code now produces, and print what changed",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """With --regen, rewrite the generated case files before they are collected."""
    if session.config.getoption("--regen"):
        casefiles.regen_all()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if terminalreporter.config.getoption("--regen"):
        terminalreporter.section("--regen")
        for line in casefiles.CHANGES or ["nothing changed"]:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def regen(request: pytest.FixtureRequest) -> bool:
    """True under ``pytest --regen``: pass it to ``casefiles.check_golden``."""
    return bool(request.config.getoption("--regen"))


@pytest.fixture(scope="session")
def synthetic_events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded synthetic Chandra ACIS evt2 file (1e5 rows, five chips, GTI blocks)."""
    from xdm.demo import make_events

    path = tmp_path_factory.mktemp("synthetic") / "evt2.fits"
    return make_events(path, n_rows=SYNTHETIC_ROWS, seed=SYNTHETIC_SEED)


@pytest.fixture(scope="session")
def events_dir() -> Path:
    """The folder of real event files (chandra_test.fits, chandra_time.fits, xte)."""
    return EVENTS
