"""The benchmark cases (a)-(f), spelled for each tool.

Every tool gets the same explicit grid and the same selection, so the outputs
can be compared exactly: images pixel for pixel, event files row for row.
Peers that cannot express a case get ``None`` (reported as n/a).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xdm import demo

T1 = demo.TSTART + 10_000.0
T2 = demo.TSTART + 30_000.0
CX, CY = demo.TARGET
POLY = (3700, 3650, 4550, 3700, 4600, 4500, 3650, 4450)
HOLES = ((CX, CY, 30.0), (4210.4, 4031.2, 20.0))
SUB = (3600.5, 4600.5, 0.5)  # 2000 x 2000 pixels of 0.5
GRADES = (0, 2, 3, 4, 6)
STATUS0 = "b" + "0" * 32


@dataclass(frozen=True)
class Case:
    """One benchmark: what it does, its output kind, and each tool's spelling."""

    key: str
    title: str
    kind: str  # "image" or "events"
    xdm: str  # virtual-file suffix
    cfitsio: str | None  # CFITSIO extended-file-name suffix (fitsio and fitscopy)
    funtools: str | None  # funtools bracket suffix (funimage / funtable)


def _poly_text() -> str:
    return ",".join(str(v) for v in POLY)


def region_file(cache: Path) -> Path:
    """ds9 region (physical) for CFITSIO's regfilter: the polygon minus two circles."""
    path = cache / "poly_minus_2.reg"
    lines = ["physical", f"polygon({_poly_text()})"]
    lines += [f"-circle({x},{y},{r})" for x, y, r in HOLES]
    path.write_text("\n".join(lines) + "\n")
    return path


def cases(cache: Path) -> list[Case]:
    poly = _poly_text()
    minus = "".join(f"-circle({x},{y},{r})" for x, y, r in HOLES)
    not_holes = "".join(f"&&!circle({x},{y},{r})" for x, y, r in HOLES)
    grades_c = "||".join(f"grade=={g}" for g in GRADES)
    lo, hi, step = SUB
    return [
        Case(
            "a",
            "energy 300:2000, bin 8 (1024 x 1024)",
            "image",
            "[energy=300:2000][bin x=::8,y=::8][opt type=i4]",
            "[EVENTS][energy>=300&&energy<2000][bin x=0.5:8192.5:8,y=0.5:8192.5:8]",
            "[EVENTS,1:8192,1:8192,8,energy>=300&&energy<2000]",
        ),
        Case(
            "b",
            "ccd_id, energy, status=0, grades, circle -> events",
            "events",
            "[ccd_id=0:3,energy=500:7000,status=0,grade=0,2,3,4,6]"
            f"[sky=circle({CX},{CY},400)]",
            f"[EVENTS][ccd_id>=0&&ccd_id<=3&&energy>=500&&energy<7000&&status=={STATUS0}"
            f"&&({grades_c})&&circle({CX},{CY},400,x,y)]",
            "[EVENTS,ccd_id>=0&&ccd_id<=3&&energy>=500&&energy<7000&&status==0"
            f"&&({grades_c})&&circle({CX},{CY},400)]",
        ),
        Case(
            "c",
            "bin 0.5 of a 2000 x 2000 window",
            "image",
            f"[bin x={lo}:{hi}:{step},y={lo}:{hi}:{step}][opt type=i4]",
            f"[EVENTS][bin x={lo}:{hi}:{step},y={lo}:{hi}:{step}]",
            None,  # funtools blocks by integer factors only
        ),
        Case(
            "d",
            "polygon minus two circles -> events",
            "events",
            f"[sky=polygon({poly}){minus}]",
            f'[EVENTS][regfilter("{region_file(cache)}",x,y)]',
            f"[EVENTS,polygon({poly}){not_holes}]",
        ),
        Case(
            "e",
            "[bin pi] spectrum inside a circle",
            "image",
            f"[sky=circle({CX},{CY},60)][bin pi=1:1024:1][opt type=i4]",
            f"[EVENTS][circle({CX},{CY},60,x,y)][bin pi=1:1024:1]",
            None,
        ),
        Case(
            "f",
            "time filter with GTI update -> events",
            "events",
            f"[time={T1!r}:{T2!r}]",
            f"[EVENTS][time>={T1!r}&&time<{T2!r}]",
            f"[EVENTS,time>={T1!r}&&time<{T2!r}]",
        ),
    ]
