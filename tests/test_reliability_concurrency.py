"""Concurrency: eight runs at once on one input give what eight runs one after
the other give, as processes (``xdm dmcopy``) and as threads (the API).

Oracle: the serial runs' results (the bytes of every data unit, and the rows
and images read back), plus the clean state afterwards (no temporary files).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xdm

SUFFIXES = [
    "[energy=300:2000]",
    "[energy=2000:8000][bin sky=8]",
    "[ccd_id=7][sky=circle(4096.5,4096.5,200)]",
    "[bin x=3500.5:4700.5:4,y=3500.5:4700.5:4][energy=500:7000]",
    "[pi=1:100,grade=0,2:4,6]",
    "[sky=box(4096,4096,600,300,30)][bin sky=2]",
    "[time=:%TMID%][cols time,x,y,energy]",
    "[energy>1000][bin energy=300:11000:100]",
]


def _texts(events: Path) -> list[str]:
    from astropy.io import fits

    with fits.open(events) as hdul:
        tmid = (hdul["EVENTS"].header["TSTART"] + hdul["EVENTS"].header["TSTOP"]) / 2
    return [f"{events}{s.replace('%TMID%', repr(tmid))}" for s in SUFFIXES]


def _data_digest(path: Path) -> list[str]:
    """SHA-256 of every HDU's data bytes (headers hold dates and file names)."""
    from astropy.io import fits

    out = []
    with fits.open(path) as hdul:
        infos = [hdul.fileinfo(i) for i in range(len(hdul))]
    raw = path.read_bytes()
    for i, info in enumerate(infos):
        end = infos[i + 1]["hdrLoc"] if i + 1 < len(infos) else len(raw)
        out.append(hashlib.sha256(raw[info["datLoc"] : end]).hexdigest())
    return out


def _value(result: Any) -> Any:
    if hasattr(result, "data") and not hasattr(result, "colnames"):
        return ("image", np.asarray(result.data).copy())
    return ("table", {c: np.asarray(result[c]).copy() for c in result.colnames})


def _same(a: Any, b: Any) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "image":
        return bool(np.array_equal(a[1], b[1]))
    return a[1].keys() == b[1].keys() and all(
        np.array_equal(a[1][k], b[1][k]) for k in a[1]
    )


def test_eight_processes_equal_serial(synthetic_events: Path, tmp_path: Path) -> None:
    texts = _texts(synthetic_events)
    serial = tmp_path / "serial"
    parallel = tmp_path / "parallel"
    serial.mkdir()
    parallel.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMEXPR_NUM_THREADS="1")
    for i, text in enumerate(texts):  # serial: one after the other, in process
        xdm.copy(text, serial / f"{i}.fits")
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "xdm", "dmcopy", text, str(parallel / f"{i}.fits")],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, text in enumerate(texts)
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    for i in range(len(texts)):
        assert _data_digest(parallel / f"{i}.fits") == _data_digest(
            serial / f"{i}.fits"
        )
    assert sorted(os.listdir(parallel)) == sorted(
        f"{i}.fits" for i in range(len(texts))
    )


@pytest.mark.parametrize("same", [False, True], ids=["eight-texts", "one-text"])
def test_eight_threads_equal_serial(synthetic_events: Path, same: bool) -> None:
    """xdm.read from eight threads at once (the parse cache, the header cache and
    the kernels' worker pool are shared): each result equals the serial one."""
    texts = _texts(synthetic_events)
    if same:
        texts = [texts[3]] * 8
    serial = [_value(xdm.read(t)) for t in texts]
    for _ in range(3):
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda t: _value(xdm.read(t)), texts))
        for got, want in zip(results, serial, strict=True):
            assert _same(got, want)


def test_eight_threads_copy_equal_serial(
    synthetic_events: Path, tmp_path: Path
) -> None:
    texts = _texts(synthetic_events)
    for i, text in enumerate(texts):
        xdm.copy(text, tmp_path / f"serial{i}.fits")

    def copy(i: int) -> None:
        xdm.copy(texts[i], tmp_path / f"thread{i}.fits")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(copy, range(len(texts))))
    for i in range(len(texts)):
        assert _data_digest(tmp_path / f"thread{i}.fits") == _data_digest(
            tmp_path / f"serial{i}.fits"
        )
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".xdm-tmp")]


def test_eight_threads_one_output(synthetic_events: Path, tmp_path: Path) -> None:
    """Eight threads writing one output with clobber: one valid file, equal to
    one of the products, and no temporary file left."""
    texts = _texts(synthetic_events)
    events_only = [t for t in texts if "[bin" not in t]
    for i, text in enumerate(events_only):
        xdm.copy(text, tmp_path / f"ref{i}.fits")
    refs = [_data_digest(tmp_path / f"ref{i}.fits") for i in range(len(events_only))]
    out = tmp_path / "out.fits"

    def copy(text: str) -> None:
        xdm.copy(text, out, clobber=True)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(copy, (events_only * 2)[:8]))
    assert _data_digest(out) in refs
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".xdm-tmp")]
