"""``xdm run FILE.xdm [name=value ...] [verbose=N | --quiet]``: run a script.

Statements run in order and the first error stops the script, cited as
``FILE.xdm:LINE:COL`` with a caret (exit status 2 for user errors).
"""

from __future__ import annotations

import re

from xdm.errors import XdmSyntaxError

USAGE = """\
usage: xdm run FILE.xdm [name=value ...] [verbose=0..5] [--quiet]

Runs the statements of FILE.xdm: tool lines (dmcopy "IN[...]" OUT clobber=yes,
explain, parse, demo), `set name = value`, `echo`, and bare virtual files
(summarised). name=value pairs set $name and win over `set` in the script.
"""

ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)


def run(argv: list[str]) -> int:
    """Run a script; returns 0 or raises the located error."""
    from xdm.progress import verbosity, verbosity_from_args

    if any(a in ("-h", "--help") for a in argv):
        print(USAGE, end="")
        return 0
    args, level = verbosity_from_args(argv)
    script, variables = _split(args)
    from xdm.cli.render import print_summary
    from xdm.cli.script import Session, run_script

    session = Session(summarise=print_summary)
    with verbosity(1 if level is None else level):
        run_script(script, variables, session)
    return 0


def _split(args: list[str]) -> tuple[str, dict[str, str]]:
    script: str | None = None
    variables: dict[str, str] = {}
    for arg in args:
        m = ASSIGNMENT.fullmatch(arg)
        if m and script is not None:
            variables[m.group(1)] = m.group(2)
        elif script is None and not arg.startswith("-"):
            script = arg
        else:
            raise XdmSyntaxError(
                f"unexpected argument {arg!r}",
                expected=("FILE.xdm", "name=value"),
                hint="usage: xdm run FILE.xdm [name=value ...]",
            )
    if script is None:
        raise XdmSyntaxError(
            "no script given",
            expected=("FILE.xdm",),
            hint="usage: xdm run FILE.xdm [name=value ...]",
        )
    return script, variables
