"""Run one benchmark case with one tool in this process; print its time as JSON.

    python bench/worker.py TOOL CASE EVENTS OUT

TOOL is xdm, fitsio (CFITSIO extended file names), numpy (hand-written,
np.bincount over memory-mapped rows in chunks), fitscopy or funtools (these two
are timed as whole processes by run.py; the worker only execs them). Imports are
done before the clock starts; the output file is written inside the timing.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CX, CY, GRADES, HOLES, POLY, SUB, T1, T2, Case, cases

CHUNK = 2_000_000


# ---------------------------------------------------------------- hand-written numpy


def _events(path: str):
    """Header info, and a reader of the EVENTS rows (big-endian records) in chunks."""
    from astropy.io import fits

    from xdm.demo import EVENT_DTYPE

    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        hdu = hdul["EVENTS"]
        offset = hdu.fileinfo()["datLoc"]
        header = hdu.header.copy()
        primary = hdul[0].header.copy()
        gtis = [(h.header.copy(), np.array(h.data)) for h in hdul[2:]]
    assert header["NAXIS1"] == EVENT_DTYPE.itemsize
    nrows = header["NAXIS2"]

    def chunks():
        """Read into one reused buffer: flat memory, no page-cache mapping."""
        buf = np.empty(CHUNK, dtype=EVENT_DTYPE)
        with open(path, "rb") as f:
            f.seek(offset)
            for first in range(0, nrows, CHUNK):
                c = buf[: min(CHUNK, nrows - first)]
                f.readinto(c.view(np.uint8))
                yield c

    return primary, header, gtis, chunks


def _polygon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even-odd crossing test; points on an edge count as inside (as CIAO, CFITSIO)."""
    px, py = POLY[0::2], POLY[1::2]
    inside = np.zeros(x.shape, dtype=bool)
    for i in range(len(px)):
        x1, y1, x2, y2 = px[i], py[i], px[(i + 1) % len(px)], py[(i + 1) % len(px)]
        if y1 != y2:
            crosses = (y1 > y) != (y2 > y)
            inside ^= crosses & (x < x1 + (y - y1) * (x2 - x1) / (y2 - y1))
        on_line = (x - x1) * (y2 - y1) == (y - y1) * (x2 - x1)
        inside |= (
            on_line
            & (x >= min(x1, x2))
            & (x <= max(x1, x2))
            & (y >= min(y1, y2))
            & (y <= max(y1, y2))
        )
    return inside


_GRADE_OK = np.isin(np.arange(256), GRADES)


def _row_mask(case: str, c: np.ndarray) -> np.ndarray:
    if case == "b":
        e = c["energy"]
        m = (c["ccd_id"] <= 3) & (e >= 500) & (e < 7000) & (c["status"] == 0)
        m &= _GRADE_OK[c["grade"] & 255]
        dx = c["x"].astype(np.float64) - CX
        dy = c["y"].astype(np.float64) - CY
        return m & (dx * dx + dy * dy <= 400.0**2)
    if case == "d":
        x, y = c["x"].astype(np.float64), c["y"].astype(np.float64)
        m = _polygon(x, y)
        for hx, hy, r in HOLES:
            m &= (x - hx) ** 2 + (y - hy) ** 2 > r * r
        return m
    t = c["time"]
    return (t >= T1) & (t < T2)


def _write_events(out: str, primary, header, gtis, selected) -> None:
    """Stream the selected records; NAXIS2 is patched in place at the end."""
    from astropy.io import fits

    with open(out, "wb") as f:
        f.write(primary.tostring().encode())
        at = f.tell()
        header["NAXIS2"] = 0
        f.write(header.tostring().encode())
        n = 0
        for s in selected:
            f.write(s.tobytes())
            n += len(s)
        f.write(b"\0" * (-n * header["NAXIS1"] % 2880))
        for h, data in gtis:
            hdu = fits.BinTableHDU(data=data, header=h)
            f.write(hdu.header.tostring().encode())
            raw = hdu.data.tobytes() if len(data) else b""
            f.write(raw + b"\0" * (-len(raw) % 2880))
        header["NAXIS2"] = n
        f.seek(at)
        f.write(header.tostring().encode())  # same length: one fixed-width card


def _numpy_image(case: str, chunks) -> np.ndarray:
    if case == "a":
        lo, step, nx, ny = (0.5, 0.5), 8.0, 1024, 1024
    elif case == "c":
        n = round((SUB[1] - SUB[0]) / SUB[2])
        lo, step, nx, ny = (SUB[0], SUB[0]), SUB[2], n, n
    else:
        counts = np.zeros(1025, dtype=np.int64)
        for c in chunks():
            dx = c["x"].astype(np.float64) - CX  # float64, as every peer does
            dy = c["y"].astype(np.float64) - CY
            m = dx * dx + dy * dy <= 60.0**2
            counts += np.bincount(c["pi"][m], minlength=1025)
        return counts[1:].astype(np.int32)
    counts = np.zeros(nx * ny, dtype=np.int64)
    for c in chunks():
        x, y = c["x"], c["y"]
        m = np.ones(len(c), dtype=bool)
        if case == "a":
            e = c["energy"]
            m = (e >= 300) & (e < 2000)
        ix = np.floor((x[m] - lo[0]) / step).astype(np.int64)
        iy = np.floor((y[m] - lo[1]) / step).astype(np.int64)
        ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        counts += np.bincount(iy[ok] * nx + ix[ok], minlength=nx * ny)
    return counts.reshape(ny, nx).astype(np.int32)


def run_numpy(case: Case, events: str, out: str) -> None:
    from astropy.io import fits

    primary, header, gtis, chunks = _events(events)
    if case.kind == "image":
        fits.writeto(out, _numpy_image(case.key, chunks), overwrite=True)
        return
    selected = (c[_row_mask(case.key, c)] for c in chunks())
    if case.key == "f":  # intersect every GTI block with [T1, T2)
        gtis = [
            (
                h,
                np.array(
                    [(max(a, T1), min(b, T2)) for a, b in d if min(b, T2) > max(a, T1)],
                    dtype=d.dtype,
                ),
            )
            for h, d in gtis
        ]
    _write_events(out, primary, header, gtis, selected)


# ---------------------------------------------------------------- libraries


def run_fitsio(case: Case, events: str, out: str) -> None:
    import fitsio

    with fitsio.FITS(events + case.cfitsio) as f:
        if case.kind == "image":
            fitsio.write(out, f[0].read(), clobber=True)
        else:
            fitsio.write(out, f[1].read(), header=f[1].read_header(), clobber=True)


def run_xdm(case: Case, events: str, out: str) -> None:
    import xdm

    xdm.copy(events + case.xdm, out, clobber=True)


def parse_plan_seconds(case: Case, events: str, repeat: int = 200) -> dict[str, float]:
    """Median wall times of ``xdm.plan(xdm.parse(text))`` for a case (warm):
    ``without_cache`` reads the file's headers each time (a one-off call, the
    default); ``with_cache`` passes a caller's ``HeaderCache`` (a session's)."""
    import xdm
    from xdm.io.blocks import HeaderCache

    text = events + case.xdm
    out = {}
    for name, cache in (("without_cache", None), ("with_cache", HeaderCache())):
        xdm.plan(xdm.parse(text), cache=cache)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            xdm.plan(xdm.parse(text), cache=cache)
            times.append(time.perf_counter() - t)
        out[name] = float(np.median(times))
    return out


RUNNERS = {"xdm": run_xdm, "fitsio": run_fitsio, "numpy": run_numpy}


def main(argv: list[str]) -> int:
    tool, key, events, out = argv
    case = next(c for c in cases(Path(out).parent) if c.key == key)
    if tool == "parse_plan":
        print(json.dumps(parse_plan_seconds(case, events)))
        return 0
    # warm the imports (and xdm's parser) so only the work is timed
    import astropy.io.fits
    import numexpr  # noqa: F401

    if tool == "fitsio":
        import fitsio  # noqa: F401
    if tool == "xdm":
        import astropy.wcs  # noqa: F401

        import xdm
        import xdm.api
        import xdm.engine.executor
        import xdm.plan.planner

        xdm.parse("warm.fits[energy=1:2][bin x=::8,y=::8]")  # builds the LALR tables

    if os.path.exists(out):
        os.unlink(out)
    t = time.perf_counter()
    RUNNERS[tool](case, events, out)
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds if math.isfinite(seconds) else None}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
