"""merge_obs: serial against dask workers on many observations.

Makes ``--obs`` synthetic ACIS observations of ``--rows`` events (``xdm.demo``,
one seed each, the tangent point of observation k moved by k x 1.5 arcmin so
every observation is reprojected), then times ``xdm.tools.merge_obs`` with
``units=time`` (counts, footprint exposure maps, thresholds, flux; 5 files per
observation and 3 merged files per band):

* serial (``parallel=no``),
* on a running LocalCluster of N single-threaded worker processes
  (``scheduler=ADDRESS``: the cluster's start-up is timed apart),
* ``parallel=yes nproc=N`` (a cluster started and stopped by the call).

It checks that every output file of a parallel run has the serial run's bytes,
and prints the per-observation costs the cluster estimate in docs/merging.md
uses. On a 2-core machine 4 workers oversubscribe the cores: expect no gain.

    python bench/bench_merge.py --obs 16 --rows 1000000 --workers 2,4
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from functools import partial
from pathlib import Path

import numpy as np


def make_observations(folder: Path, n_obs: int, rows: int) -> list[Path]:
    """``n_obs`` demo files (kept between runs) with their own tangent points."""
    from astropy.io import fits

    from xdm.demo import make_events

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n_obs):
        path = folder / f"obs{k:03d}_{rows}.fits"
        if not path.exists():
            make_events(path, n_rows=rows, seed=100 + k)
            with fits.open(path, mode="update") as hdul:
                h = hdul["EVENTS"].header
                for n in range(1, h["TFIELDS"] + 1):
                    if h.get(f"TTYPE{n}", "").lower() == "x":
                        h[f"TCRVL{n}"] += k * 1.5 / 60 / np.cos(np.radians(2.2))
                    if h.get(f"TTYPE{n}", "").lower() == "y":
                        h[f"TCRVL{n}"] += k * 0.7 / 60
                h["OBS_ID"] = str(30000 + k)
        paths.append(path)
    return paths


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def same_bytes(a: Path, b: Path) -> bool:
    from astropy.io import fits

    for f in sorted(a.iterdir()):
        if fits.getdata(f).tobytes() != fits.getdata(b / f.name).tobytes():
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--obs", type=int, default=16)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workers", default="2,4")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/merge/bench")
    ap.add_argument("--keep", action="store_true", help="keep the event files")
    args = ap.parse_args()

    import distributed

    import xdm.tools

    folder = Path(args.dir)
    t0 = time.perf_counter()
    print(f"load average before: {os.getloadavg()}")
    paths = make_observations(folder / "events", args.obs, args.rows)
    print(
        f"{args.obs} observations x {args.rows:,} events ready in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    infiles = ",".join(map(str, paths))

    def merge(out: str, **extra: object) -> None:
        xdm.tools.merge_obs(
            infiles=infiles,
            outroot=f"{folder}/{out}/",
            units="time",
            clobber=True,
            **extra,
        )

    merge("serial")  # warm the page cache and the imports
    cpu0 = time.process_time()
    serial = timed(lambda: merge("serial"), args.repeat)
    cpu = (time.process_time() - cpu0) / args.repeat
    s = statistics.median(serial)
    print(
        f"serial CPU time (this process): {cpu:.2f} s per run, "
        f"{cpu / args.obs * 1000:.0f} ms per observation (less sensitive to a loaded machine)"
    )
    print(
        f"serial: median {s:.2f} s of {args.repeat} "
        f"({', '.join(f'{v:.2f}' for v in serial)}); "
        f"{s / args.obs * 1000:.0f} ms per observation, "
        f"{args.obs * args.rows / s / 1e6:.1f} M events/s"
    )

    # the parts of one observation's cost
    from astropy.io import fits

    from xdm.tools.merge_obs import counts_on_grid

    h = fits.getheader(folder / "serial" / "broad_thresh.img")
    step = 1 / h["LTM1_1"]
    xlo, ylo = (0.5 - h["LTV1"]) * step, (0.5 - h["LTV2"]) * step
    grid = (
        f"{xlo}:{xlo + h['NAXIS1'] * step}:#{h['NAXIS1']},"
        f"{ylo}:{ylo + h['NAXIS2'] * step}:#{h['NAXIS2']}"
    )
    one = [str(paths[1])]
    ref = str(paths[0])  # observation 1 reprojected onto observation 0's plane
    count = statistics.median(
        timed(partial(counts_on_grid, one, grid, refcoord=ref), args.repeat)
    )
    print(
        f"one observation's counts pass (read, reproject, bin): {count * 1000:.0f} ms "
        f"({args.rows / count / 1e6:.1f} M events/s); grid {h['NAXIS1']} x {h['NAXIS2']}"
    )
    size = sum(f.stat().st_size for f in (folder / "serial").iterdir()) / (args.obs + 1)
    print(f"output per observation: {size / 1e6:.1f} MB")

    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    for n in workers:
        t0 = time.perf_counter()
        with (
            distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                dashboard_address=":0",
                silence_logs=50,
            ) as cl,
            distributed.Client(cl) as client,
        ):
            start = time.perf_counter() - t0
            addr = client.scheduler.address
            merge(f"dask{n}", parallel=True, scheduler=addr)  # warm the workers
            runs = timed(
                partial(merge, f"dask{n}", parallel=True, scheduler=addr), args.repeat
            )
        d = statistics.median(runs)
        ok = same_bytes(folder / "serial", folder / f"dask{n}")
        cold = timed(partial(merge, f"cold{n}", parallel=True, nproc=n), 1)[0]
        print(
            f"{n} workers: median {d:.2f} s ({', '.join(f'{v:.2f}' for v in runs)}), "
            f"speed-up {s / d:.2f}x; cluster start {start:.1f} s; "
            f"parallel=yes nproc={n} (start + run + stop) {cold:.2f} s; "
            f"bytes equal to serial: {ok}"
        )
    for sub in [
        "serial",
        *(f"dask{w}" for w in workers),
        *(f"cold{w}" for w in workers),
    ]:
        shutil.rmtree(folder / sub, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(folder / "events", ignore_errors=True)


if __name__ == "__main__":
    main()
