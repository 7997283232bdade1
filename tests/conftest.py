"""Shared pytest fixtures: the synthetic event file and the real test data."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
EVENTS = DATA / "events"

SYNTHETIC_ROWS = 100_000
SYNTHETIC_SEED = 7


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
