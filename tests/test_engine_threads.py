"""The engine's helper threads: the writer one chunk behind, and the row split
of the numpy kernels, give the same bytes and results as working in line."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from astropy.io import fits

import xdm.api
from xdm import executor, kernels, planner


def test_behind_runs_jobs_in_order_off_the_caller_thread():
    seen, threads = [], set()

    def job(k):
        threads.add(threading.get_ident())
        seen.append(k)

    with executor._Behind() as behind:
        for k in range(50):
            behind.run(job, k)
    assert seen == list(range(50))
    assert threading.get_ident() not in threads


def test_behind_raises_a_failed_job():
    def job():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), executor._Behind() as behind:
        behind.run(job)


def test_split_rows_equals_one_part(monkeypatch):
    monkeypatch.setattr(kernels, "SUBCHUNK", 100)
    got = kernels._split_rows(1001, lambda a, b: np.arange(a, b))
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
