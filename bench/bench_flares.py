"""dmgti on an event file and the [@gti] filter, against plain numpy, at 1e7 rows.

    python bench/bench_flares.py [--rows 1e7] [--dir /tmp/xdm-bench-flares]

dmgti streams the rows through the engine (one pass, flat memory); the numpy
reference reads TIME and ENERGY whole with astropy (memory map), masks them and
merges the rows' frame spans. The GTI filter case writes ``evt[@clean.gti]``
with ``xdm.copy`` against numpy selecting the rows and astropy writing them.
Outputs are compared (intervals equal, rows equal) before timings are printed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--dir", default="/tmp/xdm-bench-flares")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from astropy.io import fits

    import xdm
    import xdm.tools
    from xdm.demo import make_events
    from xdm.io.intervals import normalise

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    evt = folder / f"evt_{int(args.rows):d}.fits"
    if not evt.exists():
        make_events(evt, n_rows=int(args.rows), seed=1)
    with fits.open(evt) as hdul:  # warm the page cache
        np.asarray(hdul[1].data["time"]).sum()
        frame = hdul[1].header["TIMEDEL"]
        t0 = hdul[1].header["TSTART"]

    out = folder / "hard.gti"
    for cut in (9000, 500):

        def xdm_dmgti(cut: int = cut) -> object:
            return xdm.tools.dmgti(
                infile=str(evt),
                outfile=str(out),
                userlimit=f"energy>{cut}",
                clobber=True,
            )

        def numpy_dmgti(cut: int = cut) -> object:
            with fits.open(evt, memmap=True) as hdul:
                d = hdul[1].data
                t = np.asarray(d["time"], dtype=float)
                keep = np.asarray(d["energy"]) > cut
            lo = t[keep] - 0.5 * frame
            return normalise(np.column_stack((lo, lo + frame)))

        got = xdm_dmgti()
        want = numpy_dmgti()
        assert np.array_equal(got.intervals, want)  # type: ignore[attr-defined]
        a = _best(xdm_dmgti, args.repeat)
        b = _best(numpy_dmgti, args.repeat)
        kept = got.kept  # type: ignore[attr-defined]
        print(
            f"dmgti energy>{cut} ({kept} rows, {len(want)} intervals): "
            f"xdm {a:.2f} s, numpy {b:.2f} s"
        )

    clean = folder / "clean.gti"
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="START", format="D", array=[t0, t0 + 37500.0]),
            fits.Column(name="STOP", format="D", array=[t0 + 34000.0, t0 + 5e4]),
        ],
        name="GTI",
    )
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(clean, overwrite=True)
    filtered = folder / "clean_evt.fits"

    def xdm_filter() -> object:
        return xdm.copy(f"{evt}[@{clean}]", filtered, clobber=True)

    def numpy_filter() -> object:
        with fits.open(evt, memmap=True) as hdul:
            d = hdul[1].data
            t = np.asarray(d["time"])
            keep = (t < t0 + 34000.0) | (t >= t0 + 37500.0)
            rows = d[keep]
            fits.BinTableHDU(rows, header=hdul[1].header).writeto(
                folder / "np_evt.fits", overwrite=True
            )
        return int(keep.sum())

    xdm_filter()
    n = numpy_filter()
    with fits.open(filtered) as hdul:
        assert len(hdul[1].data) == n
    c = _best(xdm_filter, args.repeat)
    d = _best(numpy_filter, args.repeat)
    print(f"evt[@clean.gti] ({n} rows kept): xdm {c:.2f} s, numpy+astropy {d:.2f} s")
    for path in (filtered, folder / "np_evt.fits"):
        path.unlink(missing_ok=True)
    if "xdm-bench-flares" in str(folder):
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
