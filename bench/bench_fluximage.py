"""fluximage, blanksky and reprojection at 1e7 rows, against dmcopy and plain numpy.

    python bench/bench_fluximage.py [--rows 1e7] [--dir /tmp/xdm-bench-fluximage]

* fluximage (one band, units=time, an explicit grid) against ``xdm.copy`` of the
  same ``[energy=..][bin ...]`` (the engine pass it is built on) and a numpy
  reference (astropy memory map, mask, ``np.bincount``); the images are checked
  equal first;
* blanksky (particle scaling, blank-sky file of rows/5) against numpy per-chip
  counts in 9-12 keV, the scale factors checked equal first;
* reproject_events of rows points between two TAN frames (closed form) against
  astropy.wcs ``all_pix2world`` + ``all_world2pix``, checked to 1e-6 pixel.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--dir", default="/tmp/xdm-bench-fluximage")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from astropy.io import fits
    from astropy.wcs import WCS

    import xdm
    from xdm.demo import make_events
    from xdm.tools import blanksky, fluximage
    from xdm.tools._reproject import reproject_events

    rows = int(args.rows)
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    evt = make_events(folder / "evt2.fits", n_rows=rows, seed=1)
    blank = make_events(folder / "blank.fits", n_rows=rows // 5, seed=2)
    grid = "2000:6000:8,2000:6000:8"
    vf = f"{evt}[energy=500:7000][bin x=2000:6000:8,y=2000:6000:8]"

    def ours() -> None:
        fluximage(
            infile=str(evt),
            outroot=str(folder / "f"),
            xygrid=grid,
            units="time",
            clobber=True,
        )

    def dmcopy() -> None:
        xdm.copy(vf, folder / "dmcopy.img", clobber=True)

    def numpy_ref() -> np.ndarray:
        d = fits.getdata(evt, "EVENTS", memmap=True)
        e = d["energy"]
        keep = (e >= 500) & (e < 7000)
        ix = np.floor((d["x"][keep] - 2000.0) / 8.0).astype(np.int64)
        iy = np.floor((d["y"][keep] - 2000.0) / 8.0).astype(np.int64)
        ok = (ix >= 0) & (ix < 500) & (iy >= 0) & (iy < 500)
        return np.bincount(iy[ok] * 500 + ix[ok], minlength=250_000).reshape(500, 500)

    ours()
    dmcopy()
    assert np.array_equal(fits.getdata(folder / "f_broad_thresh.img"), numpy_ref())
    assert np.array_equal(fits.getdata(folder / "dmcopy.img"), numpy_ref())
    t_ours, t_copy, t_np = (_median(f, args.repeat) for f in (ours, dmcopy, numpy_ref))
    print(
        f"fluximage 1 band    {t_ours:6.2f} s   dmcopy {t_copy:6.2f} s "
        f"(x{t_ours / t_copy:.2f})   numpy {t_np:6.2f} s (x{t_ours / t_np:.2f})"
    )

    def bsky() -> dict[int, float]:
        return blanksky(
            evtfile=str(evt),
            blankfile=str(blank),
            outfile=str(folder / "bkg.fits"),
            clobber=True,
        ).scales

    def bsky_np() -> dict[int, float]:
        out = {}
        o = fits.getdata(evt, "EVENTS", memmap=True)
        b = fits.getdata(blank, "EVENTS", memmap=True)
        ob = (o["energy"] >= 9000) & (o["energy"] < 12000)
        bb = (b["energy"] >= 9000) & (b["energy"] < 12000)
        no = np.bincount(o["ccd_id"][ob].astype(np.int64), minlength=10)
        nb = np.bincount(b["ccd_id"][bb].astype(np.int64), minlength=10)
        for c in np.nonzero(nb)[0]:
            out[int(c)] = no[c] / nb[c]
        return out

    want = bsky_np()
    got = bsky()
    assert all(abs(got[c] - want[c]) <= 1e-12 * want[c] for c in got)
    t_b, t_bn = _median(bsky, 1), _median(bsky_np, args.repeat)
    print(
        f"blanksky particle   {t_b:6.2f} s   numpy counts only {t_bn:6.2f} s "
        "(ours also writes the background file)"
    )

    def frame(ra: float) -> WCS:
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [ra, 2.2]
        w.wcs.crpix = [4096.5, 4096.5]
        w.wcs.cdelt = [-0.492 / 3600, 0.492 / 3600]
        return w

    rng = np.random.default_rng(1)
    x, y = rng.uniform(1, 8192, rows), rng.uniform(1, 8192, rows)
    a, b = frame(150.0), frame(150.1)

    def wcslib() -> tuple[np.ndarray, np.ndarray]:
        ra, dec = a.all_pix2world(x, y, 1)
        return b.all_world2pix(ra, dec, 1)

    nx, ny = reproject_events(x, y, a, b)
    wx, wy = wcslib()
    assert np.abs(nx - wx).max() < 1e-6 and np.abs(ny - wy).max() < 1e-6
    t_r = _median(lambda: reproject_events(x, y, a, b), 1)
    t_w = _median(wcslib, 1)
    print(
        f"reproject_events    {t_r:6.2f} s   astropy.wcs {t_w:6.2f} s (x{t_r / t_w:.2f})"
    )
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
