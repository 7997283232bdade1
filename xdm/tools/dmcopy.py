"""``xdm dmcopy infile outfile``: write what a virtual file gives, like CIAO's dmcopy.

A filtered table, a column selection or a binned image of
``evt2.fits[energy=300:2000][bin sky=8]`` goes to ``outfile`` (``xdm.api.copy``:
one fused pass, an atomic write). This module holds dmcopy's parameter table
and the copy with its advice; the command line (``xdm dmcopy``/``xdm copy``,
``@list`` stacks, ``--png``) is ``xdm.cli.cmd_copy``, which reads this table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["TOOL", "copy_file", "dmcopy", "run"]

TOOL = Tool(
    "dmcopy",
    "filter, bin or select the columns of a virtual file into a new file",
    (
        Param(
            "infile",
            "f",
            "",
            "input virtual file: evt2.fits[energy=300:2000][bin sky=8]",
            required=True,
        ),
        Param("outfile", "f", "", "output file", required=True),
        Param("kernel", "s", "default", "output format", choices=("default", "fits")),
        Param("option", "s", "", "CIAO's output option (accepted, not used)"),
        VERBOSE,
        CLOBBER,
    ),
    positional=("infile", "outfile"),
    flags={"--clobber": ("clobber", "yes"), "-c": ("clobber", "yes")},
    notes=(
        "xdm writes FITS (`kernel=default` or `fits`). At `verbose=1` and up it "
        "warns, before the work, of a filter that cannot select anything (a range "
        "outside the column's limits, keV on an eV column) and, after it, of an "
        "empty output. `xdm copy` is the same command; `--png` also draws the "
        "output, and `infile=@in.lis outfile=@out.lis` copies each pair."
    ),
)


def dmcopy(**params: Any) -> Path:
    """``xdm.tools.dmcopy(infile=..., outfile=..., clobber=True)``: the path written."""
    return TOOL.call(run, params)


def run(p: Values) -> Path:
    """Copy ``infile`` to ``outfile`` (the table's values, checked)."""
    return copy_file(p["infile"], p["outfile"], clobber=bool(p["clobber"]))


def copy_file(infile: str, outfile: str, *, clobber: bool) -> Path:
    """The copy with its advice at the current verbosity; the path written.

    The advice reads what the header says is wrong before the work and what
    the values say after it, when the output came out empty; both share the
    plan's header read (``shared_headers``)."""
    from xdm.advice import output_is_empty, warn
    from xdm.api import copy
    from xdm.io.blocks import shared_headers
    from xdm.progress import get_verbosity

    history = f"xdm copy infile={infile} outfile={outfile}"
    with shared_headers():
        if get_verbosity() >= 1:
            warn(infile)
        written = copy(infile, outfile, clobber=clobber, history=history)
        if get_verbosity() >= 1 and output_is_empty(written):
            warn(infile, empty=True, values_only=True)
    return written
