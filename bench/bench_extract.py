"""Light curves and spectra, whole process: xdm dmextract vs stingray vs hand numpy.

    python bench/bench_extract.py --rows 1e7 [--repeat 3] [--dir /tmp/xdm-bench]

Makes a seeded demo evt2 file (``xdm.demo.make_events``, 60 bytes a row) in
``--dir`` (kept for reuse; delete it afterwards), reads it once to warm the page
cache, then runs every case in its own fresh process ``--repeat`` times and
prints the median wall time (cases run round robin) and the peak resident memory (``wait4`` rusage) of
each. Cases:

* light curve, whole file, 100 s bins: ``xdm dmextract evt[bin time=::100]
  opt=ltc1`` (counts, per-bin GTI exposure, FITS output); stingray
  ``EventList.read(evt, "hea")`` + ``to_lc(100)``; numpy: astropy memmap of the
  time column + ``np.histogram`` (counts only, nothing written);
* light curve of a region (xdm only: stingray has no region filter);
* spectrum: ``xdm dmextract evt[sky=circle(...)][bin pi]`` (OGIP PHA file) vs
  numpy (memmap x, y, pi + mask + ``np.bincount``, nothing written).

The counts of the xdm and peer light curves are compared bin by bin.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable

STINGRAY = """
import sys
import numpy as np
from stingray import EventList
ev = EventList.read(sys.argv[1], "hea")
lc = ev.to_lc({dt})
np.save(sys.argv[2], np.asarray(lc.counts, dtype=np.int64))
"""

NUMPY_LC = """
import sys
import numpy as np
from astropy.io import fits
with fits.open(sys.argv[1], memmap=True) as h:
    t = h["EVENTS"].data["time"]
    t0, t1 = h["EVENTS"].header["TSTART"], h["EVENTS"].header["TSTOP"]
    n = int(np.ceil((t1 - t0) / {dt}))
    edges = t0 + {dt} * np.arange(n + 1)
    counts = np.histogram(t, bins=edges)[0]
np.save(sys.argv[2], counts)
"""

NUMPY_PHA = """
import sys
import numpy as np
from astropy.io import fits
with fits.open(sys.argv[1], memmap=True) as h:
    d = h["EVENTS"].data
    x, y, pi = d["x"].astype(np.float64), d["y"].astype(np.float64), d["pi"]
    keep = (x - {xc}) ** 2 + (y - {yc}) ** 2 <= {r} ** 2
    counts = np.bincount(pi[keep], minlength=1025)[1:1025]
np.save(sys.argv[2], counts)
"""


def run(argv: list[str]) -> tuple[float, float]:
    """Wall time [s] and peak RSS [MB] of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{err}")
    return wall, usage.ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="1e7")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/xdm-bench-extract")
    ap.add_argument("--dt", type=float, default=100.0)
    ap.add_argument("--no-stingray", action="store_true")
    ap.add_argument(
        "--xdm-only",
        action="store_true",
        help="only the xdm cases (1e8: the peers need GBs)",
    )
    args = ap.parse_args()
    rows = int(float(args.rows))
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    evt = folder / f"evt2_{rows:.0e}.fits".replace("+", "")
    if not evt.exists():
        from xdm.demo import make_events

        t0 = time.perf_counter()
        make_events(evt, n_rows=rows, seed=11)
        print(f"made {evt} in {time.perf_counter() - t0:.1f} s", flush=True)
    with evt.open("rb") as f:  # warm the page cache
        while f.read(1 << 24):
            pass
    dt = args.dt
    xc, yc, r = 4110.3, 4085.7, 60.0
    lc_out, pha_out = folder / "x.lc", folder / "x.pi"
    cases = {
        "light curve: xdm dmextract": [
            PY,
            "-m",
            "xdm",
            "dmextract",
            f"{evt}[bin time=::{dt}]",
            str(lc_out),
            "opt=ltc1",
            "clobber=yes",
        ],
        "light curve: numpy (histogram only)": [
            PY,
            "-c",
            NUMPY_LC.format(dt=dt),
            str(evt),
            str(folder / "numpy_lc.npy"),
        ],
        "region light curve: xdm dmextract": [
            PY,
            "-m",
            "xdm",
            "dmextract",
            f"{evt}[sky=circle({xc},{yc},{r})][bin time=::{dt}]",
            str(folder / "r.lc"),
            "opt=ltc1",
            "clobber=yes",
        ],
        "spectrum: xdm dmextract": [
            PY,
            "-m",
            "xdm",
            "dmextract",
            f"{evt}[sky=circle({xc},{yc},{r})][bin pi]",
            str(pha_out),
            "clobber=yes",
        ],
        "spectrum: numpy (bincount only)": [
            PY,
            "-c",
            NUMPY_PHA.format(xc=xc, yc=yc, r=r),
            str(evt),
            str(folder / "numpy_pha.npy"),
        ],
    }
    if args.xdm_only:
        cases = {k: v for k, v in cases.items() if k.endswith("xdm dmextract")}
        args.no_stingray = True
    if not args.no_stingray:
        cases["light curve: stingray EventList.read + to_lc"] = [
            PY,
            "-c",
            STINGRAY.format(dt=dt),
            str(evt),
            str(folder / "stingray_lc.npy"),
        ]
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(args.repeat):  # round robin: a load change hits every case alike
        for name, argv in cases.items():
            runs[name].append(run(argv))
    results = {}
    for name, got in runs.items():
        walls = [g[0] for g in got]
        med, rss = statistics.median(walls), max(g[1] for g in got)
        results[name] = med
        print(
            f"{name:48s} {med:7.2f} s ({min(walls):.2f}-{max(walls):.2f})  "
            f"peak RSS {rss:7.0f} MB",
            flush=True,
        )
    import numpy as np
    from astropy.io import fits

    ours = np.asarray(fits.getdata(lc_out, "LIGHTCURVE")["COUNTS"])
    print(f"light curve: {int(ours.sum())} counts in {len(ours)} bins")
    if args.xdm_only:
        return
    mine = np.load(folder / "numpy_lc.npy")
    print(
        f"light-curve counts equal numpy's: {np.array_equal(ours, mine[: len(ours)])}"
    )
    if not args.no_stingray:
        theirs = np.load(folder / "stingray_lc.npy")
        n = min(len(theirs), len(ours))
        # stingray bins from the first GTI start; compare the overlapping bins
        print(
            f"stingray bins: {len(theirs)}, xdm bins: {len(ours)}, total counts "
            f"{int(theirs.sum())} vs {int(ours.sum())}; first {n} equal: "
            f"{np.array_equal(theirs[:n], ours[:n])}"
        )
        ratio = (
            results["light curve: stingray EventList.read + to_lc"]
            / results["light curve: xdm dmextract"]
        )
        print(f"stingray / xdm (light curve, whole process): {ratio:.2f}x")
    pha = np.asarray(fits.getdata(pha_out, "SPECTRUM")["COUNTS"])
    print(
        f"spectrum counts equal numpy's: {np.array_equal(pha, np.load(folder / 'numpy_pha.npy'))}"
    )


if __name__ == "__main__":
    main()
