"""The REPL summary of a table is one streaming pass: numbers against astropy+numpy,
good time from GTI blocks when there is no ONTIME (RXTE), and flat memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm import switches
from xdm.api import scan
from xdm.errors import XdmSemanticError
from xdm.summary import TableSummary, describe

EVENTS = Path(__file__).parent / "data" / "events"
CHANDRA = EVENTS / "chandra_test.fits"
XTE = EVENTS / "xte_test.evt.gz"


def oracle_columns(path: Path, keep: np.ndarray) -> dict[str, tuple[float, float]]:
    """Min/max of every numeric column over the kept rows, as astropy reads them."""
    out = {}
    with fits.open(path) as hdul:
        data = hdul[1].data
        for name in data.columns.names:
            values = np.asarray(data[name])[keep]
            if values.dtype.kind in "biuf" and values.size:
                out[name] = (float(np.nanmin(values)), float(np.nanmax(values)))
    return out


@pytest.mark.parametrize("chunk_rows", [None, 333])
def test_streamed_summary_equals_numpy_on_the_real_file(chunk_rows: int | None) -> None:
    with fits.open(CHANDRA) as hdul:
        events = hdul["EVENTS"].data
        energy = np.asarray(events["energy"], dtype=np.float64)
        ccd = np.asarray(events["ccd_id"])
        header = hdul["EVENTS"].header
        units = {
            header[f"TTYPE{n}"]: header.get(f"TUNIT{n}")
            for n in range(1, header["TFIELDS"] + 1)
        }
    keep = (energy >= 500) & (energy < 7000) & (ccd == 7)
    summary = describe(f"{CHANDRA}[energy=500:7000,ccd_id=7]", chunk_rows=chunk_rows)
    assert isinstance(summary, TableSummary)
    assert (summary.rows, summary.total_rows) == (int(keep.sum()), len(energy))
    assert summary.good_time_s == pytest.approx(header["ONTIME"])
    expected = oracle_columns(CHANDRA, keep)
    assert [c.name for c in summary.columns] == list(units)
    for col in summary.columns:
        assert (col.lo, col.hi) == expected[col.name], col.name
        assert col.unit == units[col.name]


def test_column_selection_renames_and_keeps_units() -> None:
    with fits.open(CHANDRA) as hdul:
        energy = np.asarray(hdul["EVENTS"].data["energy"], dtype=np.float64)
    keep = (energy >= 300) & (energy < 2000)
    summary = describe(f"{CHANDRA}[energy=300:2000][cols x,en=energy]", chunk_rows=97)
    assert isinstance(summary, TableSummary)
    assert [(c.name, c.unit) for c in summary.columns] == [
        ("x", "pixel"),
        ("en", "eV"),
    ]
    expected = oracle_columns(CHANDRA, keep)
    assert (summary.columns[1].lo, summary.columns[1].hi) == expected["energy"]
    assert summary.rows == int(keep.sum())


def test_scan_streams_tables_only() -> None:
    with (
        pytest.raises(XdmSemanticError, match="needs a table"),
        scan(f"{CHANDRA}[bin x=::8,y=::8]"),
    ):
        pass


# ---------------------------------------------------------------- RXTE good time


def block_intervals(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    with fits.open(path) as hdul:
        return [
            (np.asarray(h.data["START"], float), np.asarray(h.data["STOP"], float))
            for h in hdul[1:]
            if h.name == "GTI"
        ]


def good_in_all_or_any(blocks: list[tuple[np.ndarray, np.ndarray]], how: str) -> float:
    """Plain numpy: cut the time line at every START/STOP and sum the pieces good
    in all blocks (``intersect``) or in any block (``union``)."""
    edges = np.unique(np.concatenate([np.concatenate(b) for b in blocks]))
    mids = (edges[:-1] + edges[1:]) / 2
    good = [
        ((start[:, None] <= mids) & (mids < stop[:, None])).any(axis=0)
        for start, stop in blocks
    ]
    combined = np.logical_and.reduce(good) if how == "intersect" else np.any(good, 0)
    return float(np.diff(edges)[combined].sum())


def test_rxte_good_time_comes_from_its_two_gti_blocks() -> None:
    with fits.open(XTE) as hdul:
        assert not any(k in hdul[1].header for k in ("ONTIME", "TOTAL_GTI", "EXPOSURE"))
    blocks = block_intervals(XTE)
    assert len(blocks) == 2
    sums = [float(np.sum(stop - start)) for start, stop in blocks]
    assert sums == [1226.0, 1230.0]  # the two blocks disagree
    summary = describe(str(XTE))
    assert isinstance(summary, TableSummary)
    # multi_block_combine = "intersect": good where both blocks are good; here the
    # shorter block lies inside the longer one
    assert switches.current().multi_block_combine == "intersect"
    assert summary.good_time_s == good_in_all_or_any(blocks, "intersect") == min(sums)


def test_rxte_good_time_follows_the_combine_switch() -> None:
    with switches.using(multi_block_combine="union"):
        summary = describe(str(XTE))
    assert summary.good_time_s == good_in_all_or_any(block_intervals(XTE), "union")


def test_rxte_good_time_after_a_time_filter() -> None:
    lo, hi = 442846000.0, 442847000.0
    blocks = [*block_intervals(XTE), (np.array([lo]), np.array([hi]))]
    summary = describe(f"{XTE}[time={lo:.0f}:{hi:.0f}]")
    assert summary.good_time_s == pytest.approx(good_in_all_or_any(blocks, "intersect"))
    with fits.open(XTE) as hdul:
        time = np.asarray(hdul[1].data["TIME"], dtype=np.float64)
    assert summary.rows == int(np.count_nonzero((time >= lo) & (time < hi)))


# ---------------------------------------------------------------- flat memory


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    from xdm.demo import make_events

    folder = tmp_path_factory.mktemp("big")
    return {
        n: make_events(folder / f"evt{n}.fits", n_rows=n, seed=5)
        for n in (500_000, 2_500_000)
    }


def peak_bytes(text: str, **options: int) -> tuple[TableSummary, int]:
    describe(text, **options)  # imports and caches are not the summary's memory
    tracemalloc.start()
    try:
        summary = describe(text, **options)
        return summary, tracemalloc.get_traced_memory()[1]  # type: ignore[return-value]
    finally:
        tracemalloc.stop()


def test_memory_stays_at_one_chunk_whatever_the_rows(
    big_files: dict[int, Path],
) -> None:
    small, large = (big_files[n] for n in sorted(big_files))
    columns_bytes = fits.getheader(large, "EVENTS")["NAXIS1"] * 2_500_000  # 150 MB
    query = "[energy=300:7000]"  # keeps most rows
    _, peak_small = peak_bytes(f"{small}{query}", chunk_rows=100_000)
    s_large, peak_large = peak_bytes(f"{large}{query}", chunk_rows=100_000)
    assert s_large.rows > 0.6 * s_large.total_rows  # type: ignore[operator]
    assert peak_large < 1.5 * peak_small  # 5x the rows, about the same memory
    assert peak_large < columns_bytes / 50
    # the default chunk (2e6 rows) too: far below the kept rows' size
    _, peak_default = peak_bytes(f"{large}{query}")
    assert peak_default < columns_bytes / 4


def test_big_file_numbers_against_numpy(big_files: dict[int, Path]) -> None:
    path = big_files[2_500_000]
    summary = describe(f"{path}[energy=300:7000,ccd_id=2:3]", chunk_rows=300_000)
    with fits.open(path, memmap=True) as hdul:
        events = hdul["EVENTS"].data
        energy = np.asarray(events["energy"], dtype=np.float64)
        ccd = np.asarray(events["ccd_id"])
        keep = (energy >= 300) & (energy < 7000) & (ccd >= 2) & (ccd <= 3)
        time = np.asarray(events["time"])[keep]
        ontime = hdul["EVENTS"].header["ONTIME"]
    assert summary.rows == int(keep.sum())
    by_name = {c.name: c for c in summary.columns}
    assert (by_name["time"].lo, by_name["time"].hi) == (time.min(), time.max())
    assert summary.good_time_s == pytest.approx(ontime)
