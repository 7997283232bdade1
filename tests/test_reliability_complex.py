"""Very wide filters: a 10^4-term ``||`` runs, and gives numpy's rows.

Oracle: the rows of the events whose energy falls in one of the ranges, found
with ``np.searchsorted`` over the sorted range edges (no xdm code). The ranges
are ``[i + 0.25, i + 0.75)``, so no float energy sits on an edge and the
inclusive/exclusive reading of the upper bound cannot matter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
from xdm.api import scan
from xdm.cli.main import main


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2e5 rows: above the sub-chunk size, so the numpy passes run too."""
    from xdm.demo import make_events

    return make_events(
        tmp_path_factory.mktemp("complex") / "evt.fits", n_rows=200_000, seed=7
    )


def _wide_or(terms: int, first: int = 300) -> str:
    return "||".join(
        f"energy={i + 0.25}:{i + 0.75}" for i in range(first, first + terms)
    )


def _want(energy: np.ndarray, terms: int, first: int = 300) -> np.ndarray:
    """Kept rows by numpy: energy - floor(energy) in [0.25, 0.75), in range."""
    whole = np.floor(energy)
    frac = energy - whole
    return (frac >= 0.25) & (frac < 0.75) & (whole >= first) & (whole < first + terms)


@pytest.mark.parametrize("terms", [130, 1_000, 10_000])
def test_wide_or_equals_numpy(events: Path, tmp_path: Path, terms: int) -> None:
    out = tmp_path / "out.fits"
    # main() and not a subprocess: 10^4 terms are more than one argv word may hold
    assert main(["dmcopy", f"{events}[{_wide_or(terms)}]", str(out)]) == 0
    with fits.open(events) as hdul:
        energy = np.asarray(hdul["EVENTS"].data["energy"], dtype=np.float64)
        time = np.asarray(hdul["EVENTS"].data["time"])
    keep = _want(energy, terms)
    assert 0 < keep.sum() < len(keep)
    with fits.open(out) as hdul:
        assert hdul["EVENTS"].data["time"].tolist() == time[keep].tolist()


def test_wide_or_in_small_chunks(events: Path) -> None:
    """Several chunks, each under the sub-chunk size: numexpr and its parts."""
    with fits.open(events) as hdul:
        energy = np.asarray(hdul["EVENTS"].data["energy"], dtype=np.float64)
    kept = 0
    with scan(f"{events}[{_wide_or(2_000)}]", chunk_rows=30_000) as stream:
        for _, mask in stream.chunks:
            kept += int(mask.sum())
    assert kept == int(_want(energy, 2_000).sum())


def test_wide_and_of_many_brackets(events: Path, tmp_path: Path) -> None:
    """300 brackets (an ``&`` of 300 conjuncts) still equal numpy's rows."""
    brackets = "".join(f"[energy!={i + 0.5}]" for i in range(300)) + "[energy=500:900]"
    with fits.open(events) as hdul:
        energy = np.asarray(hdul["EVENTS"].data["energy"], dtype=np.float64)
    keep = (energy >= 500) & (energy < 900)
    for i in range(300):
        keep &= energy != i + 0.5
    table = xdm.read(f"{events}{brackets}")
    assert len(table) == int(keep.sum())
