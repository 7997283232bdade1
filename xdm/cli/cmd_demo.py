"""``xdm demo [DIR] [clobber=yes] [rows=N] [seed=N]``: the X-ray imaging tutorial.

Makes ``DIR/evt2.fits`` (a seeded synthetic Chandra ACIS event file, see
``xdm.demo``) and runs the imaging steps of the tutorial through the engine:
energy bands, bin factors 8 and 4 over the field, and 1, 0.5 and 0.25 over a
window around the target. Needs no user file.
"""

from __future__ import annotations

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


def _parse_args(argv: list[str]) -> tuple[Path, bool, int, int]:
    directory, clobber, rows, seed = DEFAULT_DIR, False, DEFAULT_ROWS, 0
    for arg in argv:
        key, eq, value = arg.partition("=")
        key = key.lower()
        try:
            if not eq:
                if arg in ("-h", "--help"):
                    raise XdmSemanticError(
                        "usage: xdm demo [DIR] [clobber=yes] [rows=N] [seed=N]"
                    )
                directory = arg
            elif key in ("dir", "outdir"):
                directory = value
            elif key == "clobber":
                clobber = value.lower() in ("yes", "y", "true", "1")
            elif key == "rows":
                rows = int(float(value))
            elif key == "seed":
                seed = int(value)
            else:
                raise XdmSemanticError(
                    f"unknown demo parameter {key!r}",
                    expected=("dir", "clobber", "rows", "seed"),
                )
        except ValueError:
            raise XdmSemanticError(
                f"{key}={value!r} is not a number", hint="e.g. rows=200000 seed=1"
            ) from None
    if not 1 <= rows <= 100_000_000:
        raise XdmSemanticError(f"rows={rows} is out of range 1..1e8")
    return Path(directory), clobber, rows, seed


def _describe(path: Path) -> tuple[tuple[int, ...], int]:
    """Shape and total counts of the first image in a FITS file."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        for hdu in hdul:
            if hdu.is_image and hdu.data is not None and hdu.data.size:
                return tuple(hdu.data.shape), int(hdu.data.sum(dtype="int64"))
    raise XdmIOError(f"{path} holds no image")


def run(argv: list[str]) -> int:
    """Make the event file and the tutorial images; print what was written."""
    import xdm
    from xdm.demo import WINDOW, make_events

    directory, clobber, rows, seed = _parse_args(argv)
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
        xdm.copy(base + suffix, str(out), clobber=True)
        shape, counts = _describe(out)
        dims = " x ".join(map(str, shape[::-1]))  # FITS order: NAXIS1 x NAXIS2
        table.add_row(name, escape(suffix), dims, f"{counts:,}")
    console.print(table)
    return 0
