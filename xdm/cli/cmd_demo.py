"""``xdm demo [DIR] [clobber=yes] [rows=N] [seed=N]``: the X-ray imaging tutorial.

Makes ``DIR/evt2.fits`` (a seeded synthetic Chandra ACIS event file, see
``xdm.demo``) and runs the imaging steps of the tutorial through the engine:
energy bands, bin factors 8 and 4 over the field, and 1, 0.5 and 0.25 over a
window around the target. Needs no user file.
"""

from __future__ import annotations

import math
from pathlib import Path

from xdm.errors import XdmIOError, XdmSemanticError

DEFAULT_DIR = "xdm-demo"
DEFAULT_ROWS = 200_000


def _steps(window: str) -> list[tuple[str, str, str]]:
    """(output file, virtual-file suffix, what it shows), in tutorial order."""
    sub = f"[{window}]"
    return [
        ("full_b8.fits", "[bin x=::8,y=::8]", "full energy range"),
        (
            "supersoft_b8.fits",
            "[bin x=::8,y=::8][energy=:300]",
            "super soft E < 0.3 keV",
        ),
        (
            "veryhard_b8.fits",
            "[bin x=::8,y=::8][energy=12000:]",
            "very hard E > 12 keV",
        ),
        (
            "optimal_b8.fits",
            "[bin x=::8,y=::8][energy=300:2000]",
            "optimal 0.3-2.0 keV",
        ),
        ("optimal_b4.fits", "[bin x=::4,y=::4][energy=300:2000]", "bin 4"),
        (
            "optimal_b1.fits",
            f"{sub}[bin x=::1,y=::1][energy=300:2000]",
            "native pixels",
        ),
        (
            "optimal_b0.5.fits",
            f"{sub}[bin x=::0.5,y=::0.5][energy=300:2000]",
            "sub-pixel",
        ),
        (
            "optimal_b0.25.fits",
            f"{sub}[bin x=::0.25,y=::0.25][energy=300:2000]",
            "smooth",
        ),
        (
            "soft_b0.5.fits",
            f"{sub}[bin x=::0.5,y=::0.5][energy=300:500]",
            "soft 0.3-0.5 keV",
        ),
        (
            "medium_b0.5.fits",
            f"{sub}[bin x=::0.5,y=::0.5][energy=500:700]",
            "medium 0.5-0.7",
        ),
        (
            "hard_b0.5.fits",
            f"{sub}[bin x=::0.5,y=::0.5][energy=700:1000]",
            "hard 0.7-1.0 keV",
        ),
    ]


USAGE = "usage: xdm demo [DIR] [clobber=yes] [rows=N] [seed=N]"


def _parse_args(argv: list[str]) -> tuple[Path, bool, int, int] | None:
    """The demo's settings, or None when help was asked for."""
    from xdm.cli.args import split_args, yes_no

    args = split_args(
        argv,
        command="demo",
        usage=USAGE,
        params=("dir", "outdir", "clobber", "rows", "seed"),
        flags={"--clobber": ("clobber", "yes")},
        positional=("dir",),
    )
    if args.help:
        return None
    values = args.params
    directory = values.get("dir", values.get("outdir", DEFAULT_DIR))
    clobber = yes_no(args, "clobber", False, USAGE)
    rows = _whole_number(values, "rows", DEFAULT_ROWS)
    seed = _whole_number(values, "seed", 0)
    if not 1 <= rows <= 100_000_000:
        raise XdmSemanticError(f"rows={rows} is out of range 1..1e8")
    return Path(directory), clobber, rows, seed


def _whole_number(values: dict[str, str], key: str, default: int) -> int:
    """``rows=2e5`` and ``seed=3``; anything else is the user's error."""
    text = values.get(key)
    if text is None:
        return default
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not number.is_integer():
        raise XdmSemanticError(
            f"{key}={text!r} is not a whole number", hint="e.g. rows=200000 seed=1"
        )
    return int(number)


def _describe(path: Path) -> tuple[tuple[int, ...], int]:
    """Shape and total counts of the first image in a FITS file."""
    from xdm.io.hdus import open_fits

    with open_fits(path) as hdul:
        for hdu in hdul:
            if hdu.is_image and hdu.data is not None and hdu.data.size:
                return tuple(hdu.data.shape), int(hdu.data.sum(dtype="int64"))
    raise XdmIOError(f"{path} holds no image")


def run(argv: list[str]) -> int:
    """Make the event file and the tutorial images; print what was written."""
    import xdm
    from xdm.demo import WINDOW, make_events
    from xdm.progress import get_verbosity, verbosity, verbosity_from_args

    argv, level = verbosity_from_args(argv)
    settings = _parse_args(argv)
    if settings is None:
        print(USAGE)
        return 0
    directory, clobber, rows, seed = settings
    events = directory / "evt2.fits"
    steps = _steps(WINDOW)
    existing = [p for p in [events, *(directory / s[0] for s in steps)] if p.exists()]
    if existing and not clobber:
        raise XdmIOError(
            f"{existing[0]} exists", hint="add clobber=yes to replace the demo files"
        )

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    make_events(events, n_rows=rows, seed=seed, clobber=True)
    console.print(
        f"wrote [bold]{events}[/] ({rows:,} synthetic ACIS events, seed {seed})"
    )

    table = Table(title="X-ray imaging tutorial")
    table.add_column("image", no_wrap=True)
    table.add_column("evt2.fits + virtual-file qualifiers", overflow="fold")
    table.add_column("shape", no_wrap=True)
    table.add_column("counts", justify="right", no_wrap=True)
    base = str(events.resolve())
    for name, suffix, _ in steps:
        out = directory / name
        with verbosity(get_verbosity() if level is None else level):
            xdm.copy(base + suffix, str(out), clobber=True)
        shape, counts = _describe(out)
        dims = " x ".join(map(str, shape[::-1]))  # FITS order: NAXIS1 x NAXIS2
        table.add_row(name, escape(suffix), dims, f"{counts:,}")
    console.print(table)
    return 0
