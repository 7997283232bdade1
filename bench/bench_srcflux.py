"""srcflux speed: 1, 100 and 10,000 positions on one event file, whole process.

Each case runs ``xdm srcflux EVT @positions.txt OUT radius=2 arffile=ARF clobber+``
as a fresh process (start-up, the one counting pass over every event, aprates
per source, model fluxes, writing the tables and the summary) and reports the
wall time, best of ``--repeat``. Positions are the demo's bright nucleus plus
random points over the chips (seeded). The counting pass is also timed alone
in process (``count_events``), and the rows read are checked: every event is
read once, whatever the number of sources.

Run: ``python bench/bench_srcflux.py [--events 10000000] [--repeat 3]``. The
event file goes to ``/tmp/xdm_bench_srcflux/`` and is deleted at the end
(``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ARF = ROOT / "tests" / "data" / "spectra" / "3c273.arf"


def _positions(evt: Path, count: int, out: Path) -> Path:
    from astropy.io import fits

    from xdm.regions.coords import wcs_from_columns

    rng = np.random.default_rng(5)
    xs = np.concatenate([[4110.3], rng.uniform(3000, 5000, count - 1)])
    ys = np.concatenate([[4085.7], rng.uniform(2500, 5200, count - 1)])
    wcs = wcs_from_columns(fits.getheader(evt, "EVENTS"), "x", "y")
    ra, dec = wcs.all_pix2world(xs, ys, 1)
    path = out / f"pos{count}.txt"
    path.write_text(
        "".join(f"{float(a)!r} {float(d)!r}\n" for a, d in zip(ra, dec, strict=True))
    )
    return path


def _run(evt: Path, pos: Path, out: Path) -> float:
    cmd = [
        sys.executable, "-m", "xdm", "srcflux", str(evt), f"@{pos}", str(out / "r"),
        "radius=2", f"arffile={ARF}", "clobber+", "verbose=0",
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=out)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--counts", default="1,100,10000")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    from xdm.demo import make_events
    from xdm.tools._bands import parse_bands
    from xdm.tools._srcflux_counts import Sources, count_events

    work = Path("/tmp/xdm_bench_srcflux")
    work.mkdir(exist_ok=True)
    evt = work / f"evt_{args.events}.fits"
    if not evt.exists():
        t0 = time.perf_counter()
        make_events(evt, n_rows=args.events, seed=1)
        print(
            f"made {evt} ({args.events:,} events) in {time.perf_counter() - t0:.1f} s"
        )
    print(
        f"{'positions':>10} {'whole process [s]':>18} {'counting pass [s]':>18} {'rows read':>12}"
    )
    try:
        for count in (int(c) for c in args.counts.split(",")):
            pos = _positions(evt, count, work)
            best = min(_run(evt, pos, work) for _ in range(args.repeat))
            rng = np.random.default_rng(5)
            xs = np.concatenate([[4110.3], rng.uniform(3000, 5000, count - 1)])
            ys = np.concatenate([[4085.7], rng.uniform(2500, 5200, count - 1)])
            r = np.full(count, 2.0 / 0.492)
            src = Sources(xs, ys, r, 1.7 * r, 5 * r, 5 * r)
            t0 = time.perf_counter()
            tally = count_events(str(evt), src, parse_bands("broad"))
            scan_s = time.perf_counter() - t0
            print(f"{count:>10,} {best:>18.2f} {scan_s:>18.2f} {tally.rows:>12,}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"cpu count {os.cpu_count()}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
