"""The engine's helper threads: the writer one chunk behind, and the row split
of the numpy kernels, give the same bytes and results as working in line."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from astropy.io import fits

import xdm.api
from xdm.engine import executor, kernels
from xdm.engine.write import WriteBehind
from xdm.plan import planner


def test_behind_runs_jobs_in_order_off_the_caller_thread():
    seen, threads = [], set()

    def job(k):
        threads.add(threading.get_ident())
        seen.append(k)

    with WriteBehind() as behind:
        for k in range(50):
            behind.run(job, k)
    assert seen == list(range(50))
    assert threading.get_ident() not in threads


def test_behind_raises_a_failed_job():
    def job():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), WriteBehind() as behind:
        behind.run(job)


def test_split_rows_equals_one_part():
    got = kernels.split_rows(1001, lambda a, b: np.arange(a, b), subchunk=100)
    assert np.array_equal(got, np.arange(1001))


def test_events_written_behind_equal_the_rows_selected(synthetic_events, tmp_path):
    vf = f"{synthetic_events}[energy=500:7000][sky=polygon(3950,3950,4300,3980,4250,4280,3990,4200)]"
    out = tmp_path / "sel.fits"
    executor.write(planner.plan(vf, chunk_rows=7_001), out)  # 15 chunks
    mask = xdm.api.select(vf)
    with fits.open(synthetic_events) as src, fits.open(out) as got:
        want = np.asarray(src["EVENTS"].data)[mask]
        rows = np.asarray(got["EVENTS"].data)
        assert 0 < len(rows) == len(want) == int(mask.sum())
        assert rows.tobytes() == want.tobytes()


@pytest.mark.parametrize(
    "suffix",
    [
        "[#row=1001:60000]",  # one run across chunk seams
        "[#row=1:10,500:30000,40000:40005][energy=500:7000]",  # runs and scatter
        "[time=:]",  # every row
        "[energy=-5:-1]",  # no row
        "[energy=500:7000]",  # scattered: copied out
    ],
)
@pytest.mark.parametrize("limit", [1, 64])
def test_events_written_from_the_map_equal_the_rows_selected(
    synthetic_events, tmp_path, suffix, limit
):
    vf = f"{synthetic_events}{suffix}"
    out = tmp_path / "sel.fits"
    executor.write(planner.plan(vf, chunk_rows=7_001), out, runs_in_place=limit)
    mask = xdm.api.select(vf)
    with fits.open(synthetic_events) as src, fits.open(out) as got:
        want = np.asarray(src["EVENTS"].data)[mask]
        rows = np.asarray(got["EVENTS"].data)
        assert len(rows) == len(want) == int(mask.sum())
        assert rows.tobytes() == want.tobytes()


def test_kept_runs():
    m = np.zeros(20, dtype=bool)
    assert kernels.kept_runs(m, 4) == []
    m[3:7] = m[9] = m[15:] = True
    assert kernels.kept_runs(m, 4) == [(3, 7), (9, 10), (15, 20)]
    assert kernels.kept_runs(m, 2) is None
    assert kernels.kept_runs(np.ones(5, dtype=bool), 1) == [(0, 5)]
