"""Region filtering speed: events per second per shape.

Five ways to decide which of N events fall in a region:

* ``xdm numexpr``  the fused predicate text from ``Region.to_numexpr`` (what the
  engine runs); polygons have none and use the next path
* ``xdm contains`` ``Region.contains`` (numpy, CIAO bounds + per-component tests)
* ``xdm table``    the region's cell table (``xdm.regions.raster``), which the
  engine uses for chunks of 50,000+ rows of regions made of segments and circles
  (exact test only near the boundaries; n/a for ellipses and pies)
* ``numpy ref``    a brute-force numpy formula written here, independently
* ``CFITSIO``      ``regfilter("shape.reg")`` row filter via the ``fitsio`` package
  (``FITS[1].where(...)``: CFITSIO evaluates the region on the table rows)

Every method's selected count is checked against ``xdm contains``. Run:
``python bench/bench_regions.py [--events 4000000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable

import numexpr as ne
import numpy as np

import xdm
from xdm.regions import raster

# name, CIAO text, ds9 text for CFITSIO (None: CFITSIO has no equivalent), reference
SHAPES: list[tuple[str, str, str | None]] = [
    ("circle", "circle(4096.5,4096.5,300)", "circle(4096.5,4096.5,300)"),
    ("annulus", "annulus(4096.5,4096.5,100,300)", "annulus(4096.5,4096.5,100,300)"),
    ("box", "box(4000,4100,500,300)", "box(4000,4100,500,300,0)"),
    ("rotbox", "rotbox(4000,4100,500,300,30)", "box(4000,4100,500,300,30)"),
    ("ellipse", "ellipse(4100,4000,400,150,30)", "ellipse(4100,4000,400,150,30)"),
    (
        "polygon",
        "polygon(3700,3700,4500,3800,4200,4100,4500,4500,3800,4300)",
        "polygon(3700,3700,4500,3800,4200,4100,4500,4500,3800,4300)",
    ),
    ("pie", "pie(4096,4096,100,400,30,120)", "panda(4096,4096,30,120,1,100,400,1)"),
    (
        "compound",
        "circle(4096,4096,300)-box(4096,4096,200,100)+ellipse(3700,3700,100,50,30)",
        "circle(4096,4096,300)\nellipse(3700,3700,100,50,30)\n-box(4096,4096,200,100,0)",
    ),
]


def _rot(x: np.ndarray, y: np.ndarray, xc: float, yc: float, deg: float):
    t = math.radians(deg)
    dx, dy = x - xc, y - yc
    return dx * math.cos(t) + dy * math.sin(t), -dx * math.sin(t) + dy * math.cos(t)


def _poly(x: np.ndarray, y: np.ndarray, v: list[float]) -> np.ndarray:
    """Even-odd ray casting."""
    xs, ys = v[0::2], v[1::2]
    inside = np.zeros(x.shape, dtype=bool)
    j = len(xs) - 1
    for i in range(len(xs)):
        xi, yi, xj, yj = xs[i], ys[i], xs[j], ys[j]
        cross = ((yi > y) != (yj > y)) & (
            x < (xj - xi) * (y - yi) / (yj - yi + 1e-300) + xi
        )
        inside ^= cross
        j = i
    return inside


def reference(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Independent brute-force numpy formulas for the SHAPES above."""
    if name == "circle":
        return lambda x, y: (x - 4096.5) ** 2 + (y - 4096.5) ** 2 <= 300.0**2
    if name == "annulus":

        def annulus(x, y):
            d2 = (x - 4096.5) ** 2 + (y - 4096.5) ** 2
            return (d2 >= 100.0**2) & (d2 <= 300.0**2)

        return annulus
    if name == "box":
        return lambda x, y: (np.abs(x - 4000) <= 250) & (np.abs(y - 4100) <= 150)
    if name == "rotbox":

        def rotbox(x, y):
            u, v = _rot(x, y, 4000, 4100, 30)
            return (np.abs(u) <= 250) & (np.abs(v) <= 150)

        return rotbox
    if name == "ellipse":

        def ellipse(x, y):
            u, v = _rot(x, y, 4100, 4000, 30)
            return (u / 400) ** 2 + (v / 150) ** 2 <= 1

        return ellipse
    if name == "polygon":
        verts = [3700, 3700, 4500, 3800, 4200, 4100, 4500, 4500, 3800, 4300]
        return lambda x, y: _poly(x, y, verts)
    if name == "pie":

        def pie(x, y):
            d2 = (x - 4096) ** 2 + (y - 4096) ** 2
            ang = np.degrees(np.arctan2(y - 4096, x - 4096)) % 360
            return (d2 >= 100**2) & (d2 <= 400**2) & (ang >= 30) & (ang <= 120)

        return pie

    def compound(x, y):
        c = (x - 4096) ** 2 + (y - 4096) ** 2 <= 300**2
        b = (np.abs(x - 4096) <= 100) & (np.abs(y - 4096) <= 50)
        u, v = _rot(x, y, 3700, 3700, 30)
        e = (u / 100) ** 2 + (v / 50) ** 2 <= 1
        return (c & ~b) | e

    return compound


def best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=4_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-cfitsio", action="store_true")
    args = ap.parse_args()

    n = args.events
    rng = np.random.default_rng(12345)
    # Chandra-like: float32 sky x/y over a 1024 x 1024 pixel patch
    x32 = rng.uniform(3584.5, 4608.5, n).astype(np.float32)
    y32 = rng.uniform(3584.5, 4608.5, n).astype(np.float32)
    x, y = x32.astype(np.float64), y32.astype(np.float64)

    tmp = tempfile.mkdtemp(prefix="xdm-bench-regions-")
    evt = os.path.join(tmp, "events.fits")
    fitsio = None
    if not args.no_cfitsio:
        try:
            import fitsio
        except ImportError:
            fitsio = None
    if fitsio is not None:
        table = np.zeros(n, dtype=[("x", "f4"), ("y", "f4")])
        table["x"], table["y"] = x32, y32
        fitsio.write(evt, table, extname="EVENTS", clobber=True)

    print(
        f"# {n:,} events, best of {args.repeat}; {platform.processor() or platform.machine()}"
    )
    print(
        f"# numexpr {ne.__version__}, threads {ne.get_num_threads()}, numpy {np.__version__}"
    )
    head = (
        "| shape | selected | xdm numexpr | xdm contains | xdm table | numpy ref"
        " | CFITSIO | mismatches (ref, cfitsio) |"
    )
    print(head)
    print("|" + "---|" * 8)
    for name, ciao, ds9 in SHAPES:
        region = xdm.region(ciao)
        t_contains, mask = best(lambda r=region: r.contains(x, y), args.repeat)
        want = np.asarray(mask)
        text = region.to_numexpr("x", "y")
        if text is not None:
            t_ne, got = best(
                lambda t=text: ne.evaluate(t, local_dict={"x": x, "y": y}), args.repeat
            )
            assert np.array_equal(got, want), name
            ne_cell = f"{n / t_ne / 1e6:.0f} M/s"
        else:
            ne_cell = "(contains)"
        table = raster.for_region(region)
        table_cell = "n/a"
        if table is not None:
            t_table, got = best(lambda t=table: t.contains(x32, y32), args.repeat)
            assert np.array_equal(got, want), name
            table_cell = f"{n / t_table / 1e6:.0f} M/s"
        ref = reference(name)
        t_ref, got_ref = best(lambda f=ref: f(x, y), args.repeat)
        bad_ref = int(np.count_nonzero(got_ref != want))
        cf_cell, bad_cf = "n/a", "-"
        if fitsio is not None and ds9 is not None:
            reg = os.path.join(tmp, f"{name}.reg")
            with open(reg, "w") as fh:
                fh.write(ds9 + "\n")

            def cfitsio_rows(path: str = reg) -> np.ndarray:
                with fitsio.FITS(evt) as f:
                    return f[1].where(f'regfilter("{path}")')

            t_cf, rows = best(cfitsio_rows, args.repeat)
            cf_mask = np.zeros(n, dtype=bool)
            cf_mask[np.asarray(rows)] = True
            bad_cf = str(int(np.count_nonzero(cf_mask != want)))
            cf_cell = f"{n / t_cf / 1e6:.1f} M/s"
        print(
            f"| {name} | {int(want.sum()):,} | {ne_cell} | {n / t_contains / 1e6:.0f} M/s"
            f" | {table_cell} | {n / t_ref / 1e6:.0f} M/s | {cf_cell} | {bad_ref}, {bad_cf} |"
        )


if __name__ == "__main__":
    main()
