"""``xdm copy IN OUT [clobber=yes]`` (alias ``dmcopy``): write a virtual file.

Accepts CIAO's ``infile=... outfile=... clobber=yes verbose=0`` form as well as
positional arguments. A filtered table, a column selection or a binned image
is written like CIAO ``dmcopy`` does (see ``xdm.api.copy``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from xdm.errors import XdmSemanticError
from xdm.tools.dmcopy import TOOL

USAGE = 'usage: xdm copy "IN[...]" OUT [clobber=yes] [verbose=N | --quiet] [--png]'
KEYS = (*(p.name for p in TOOL.params), "mode")
"""dmcopy's parameters (its table, ``xdm.tools.dmcopy.TOOL``) and CIAO's ``mode``."""


def parse_args(argv: list[str]) -> dict[str, str]:
    """Split positional, ``--flag`` and CIAO ``key=value`` arguments (``xdm.cli.args``)."""
    from xdm.cli.args import split_args

    args = split_args(
        argv,
        command="copy",
        usage=USAGE,
        params=KEYS,
        flags={"--clobber": ("clobber", "yes"), "-c": ("clobber", "yes")},
        positional=("infile", "outfile"),
    )
    return {**args.params, "help": "yes"} if args.help else args.params


def _flag(values: dict[str, str], key: str, default: bool) -> bool:
    """CIAO's boolean spellings, as every tool takes them (yes/no, y/n, +/-, 1/0)."""
    from xdm.tools.params import to_bool

    if key not in values:
        return default
    try:
        return to_bool(values[key], key)
    except XdmSemanticError:
        raise XdmSemanticError(
            f"{key}= takes yes or no, got {values[key]!r}",
            expected=("yes", "no"),
            hint=USAGE,
        ) from None


def run(argv: list[str]) -> int:
    from xdm.progress import get_verbosity, verbosity_from_args

    _one_blas_thread()
    argv, level = verbosity_from_args(argv)  # verbose=N, --quiet, -v
    switches = {"clobber+": "clobber=yes", "clobber-": "clobber=no"}
    argv = [switches.get(a, a) for a in argv]  # CIAO's key+ / key- switches
    png = "--png" in argv  # also a quick-look PNG beside each FITS output
    argv = [a for a in argv if a != "--png"]
    values = parse_args(argv)
    if "help" in values:
        print(f"{USAGE}\n\n{TOOL.help_text()}")  # both forms, then the table
        return 0
    if "infile" not in values or "outfile" not in values:
        raise XdmSemanticError("copy needs an input and an output file", hint=USAGE)
    for key in ("kernel", "option"):  # checked against the table (FITS only)
        if key in values:
            TOOL.param(key).convert(values[key], TOOL.name)
    verbose = get_verbosity() if level is None else level  # a script's --quiet holds
    clobber = _flag(values, "clobber", False)
    return _copy_each(values, verbose=verbose, clobber=clobber, png=png)


def _copy_each(
    values: dict[str, str], *, verbose: int, clobber: bool, png: bool
) -> int:
    """Copy the input to the output, or each member of ``@lists`` in turn."""
    from xdm.progress import note, verbosity
    from xdm.stacks import runs
    from xdm.tools.dmcopy import copy_file

    pairs = runs(values, files=("infile", "outfile")) or [values]
    for one in pairs:  # infile=@in.lis: once per member (xdm.stacks)
        infile, outfile = one["infile"], one["outfile"]
        if png and _png_name(Path(outfile)).exists() and not clobber:
            from xdm.errors import XdmIOError

            raise XdmIOError(  # refused before the FITS file is written
                f"output file {_png_name(Path(outfile))} exists",
                hint="add clobber=yes to replace it",
            )
        with verbosity(verbose):
            written = copy_file(infile, outfile, clobber=clobber)
            if png and written.suffix.lower() != ".png":
                from xdm.quicklook import png_of_fits

                shot = png_of_fits(written, _png_name(written), clobber=clobber)
                note(f"wrote {shot}", level=1)
    return 0


def _one_blas_thread() -> None:
    """Ask numpy's OpenBLAS for one thread, unless the user chose a number.

    OpenBLAS starts a thread per core when numpy is imported, and each spins for
    a while before it sleeps: CPU time taken from xdm's own kernel threads
    (``xdm.engine.kernels``), for a command that does no linear algebra larger
    than a WCS matrix (1e7-row case (a): 0.65 -> 0.61 s of CPU, bench/RESULTS.md).
    No effect once numpy is imported (a session or script runs the command).
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _png_name(path: Path) -> Path:
    """``img.fits`` -> ``img.png``, ``img.fits.gz`` -> ``img.png``."""
    name = path.name
    for ext in (".gz", ".fits", ".fit", ".fts", ".img"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    return path.with_name(name + ".png")
