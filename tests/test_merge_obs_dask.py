"""merge_obs and scan_many on dask: bit-identical to the serial run.

A LocalCluster of 2 workers (threads, to keep 2 shared cores quick) serves
``scheduler=ADDRESS`` and ``client=``; one run starts its own cluster of worker
processes (``parallel=yes nproc=2``). Oracles: the serial run's files, byte for
byte, and a numpy histogram of every event's RA/Dec (``test_merge_obs``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm.tools
from xdm.tools.merge_obs import MergeResult, counts_on_grid, scan_many

distributed = pytest.importorskip("distributed")

from test_merge_obs import events_on, write_obs  # noqa: E402


@pytest.fixture(scope="module")
def obs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("merge_obs_dask")
    return [write_obs(folder / f"obs{k}.fits", k, n_bkg=8000, seed=5) for k in range(3)]


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=":0",
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def same_files(a: Path, b: Path) -> list[str]:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and len(names) > 10
    for name in names:
        da, db = fits.getdata(a / name), fits.getdata(b / name)
        assert da.dtype == db.dtype and da.tobytes() == db.tobytes(), name
    return names


def run(obs: list[Path], out: Path, **extra: object) -> MergeResult:
    return xdm.tools.merge_obs(
        infiles=",".join(map(str, obs)),
        outroot=f"{out}/",
        units="time",
        bands="broad,soft",
        **extra,
    )


def test_a_running_cluster_gives_the_serial_bits(
    obs: list[Path], client: object, tmp_path: Path
) -> None:
    serial = run(obs, tmp_path / "serial")
    address = client.scheduler.address  # type: ignore[attr-defined]
    dask = run(obs, tmp_path / "dask", parallel=True, scheduler=address)
    assert dask.executor.startswith("dask ") and serial.executor == "serial"
    assert serial.counts == dask.counts
    same_files(tmp_path / "serial", tmp_path / "dask")


def test_a_local_cluster_of_processes_gives_the_serial_bits(
    obs: list[Path], tmp_path: Path
) -> None:
    run(obs, tmp_path / "serial")
    result = run(obs, tmp_path / "procs", parallel=True, nproc=2)
    assert result.executor.startswith("dask tcp://")
    same_files(tmp_path / "serial", tmp_path / "procs")


def test_row_chunks_on_workers_sum_to_the_numpy_histogram(
    obs: list[Path], client: object, tmp_path: Path
) -> None:
    run(obs, tmp_path, expmapthresh="0")
    image = tmp_path / "broad.img"
    h = fits.getheader(image)
    step = 1 / h["LTM1_1"]
    xlo = (0.5 - h["LTV1"]) * step
    ylo = (0.5 - h["LTV2"]) * step
    grid = f"{xlo}:{xlo + h['NAXIS1'] * step}:#{h['NAXIS1']},"
    grid += f"{ylo}:{ylo + h['NAXIS2'] * step}:#{h['NAXIS2']}"
    vfs = list(map(str, obs))
    serial = counts_on_grid(vfs, grid, task_rows=997)
    remote = counts_on_grid(vfs, grid, client=client, task_rows=997)
    whole = counts_on_grid(vfs, grid)
    assert serial.tobytes() == remote.tobytes() == whole.tobytes()
    np.testing.assert_array_equal(remote[0], fits.getdata(image))
    np.testing.assert_array_equal(remote[0], events_on(image, obs, (500.0, 7000.0)))


def energy_sum(index: int, records: np.ndarray, kept: np.ndarray) -> float:
    """A float reduction whose bits depend on the order of additions."""
    return float(np.sum(np.asarray(records["energy"][kept], np.float64) ** 1.5))


def add(a: float, b: float) -> float:
    return a + b


def test_scan_many_float_sums_are_the_serial_bits(
    obs: list[Path], client: object
) -> None:
    vfs = [*map(str, obs), f"{obs[1]}[ccd_id=1,energy=2000:]"]
    serial = scan_many(vfs, energy_sum, add, task_rows=1234, chunk_rows=321)
    remote = scan_many(
        vfs, energy_sum, add, client=client, task_rows=1234, chunk_rows=321
    )
    assert serial == remote  # exact: the same cut and the same tree
    for k, o in enumerate(obs):
        e = fits.getdata(o, "EVENTS")["energy"].astype(np.float64)
        assert remote[k] == pytest.approx(np.sum(e**1.5), rel=1e-12)
    d = fits.getdata(obs[1], "EVENTS")
    keep = (d["ccd_id"] == 1) & (d["energy"] >= 2000)
    assert remote[3] == pytest.approx(
        np.sum(d["energy"][keep].astype(np.float64) ** 1.5)
    )


def test_an_unreachable_scheduler_is_a_user_error(
    obs: list[Path], tmp_path: Path
) -> None:
    with pytest.raises(xdm.XdmSemanticError, match="cannot reach the dask scheduler"):
        run(obs, tmp_path, parallel=True, scheduler="tcp://127.0.0.1:9")
