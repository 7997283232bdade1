"""``xdm run FILE.xdm [name=value ...] [verbose=N | --quiet]``: run a script.

Statements run in order and the first error stops the script, cited as
``FILE.xdm:LINE:COL`` with a caret (exit status 2 for user errors).
"""

from __future__ import annotations

from xdm.errors import XdmSyntaxError

USAGE = """\
usage: xdm run FILE.xdm [name=value ...] [verbose=0..5] [--quiet]

Runs the statements of FILE.xdm: tool lines (dmcopy "IN[...]" OUT clobber=yes,
explain, parse, demo), `set name = value`, `echo`, and bare virtual files
(summarised). name=value pairs set $name and win over `set` in the script.
"""


def run(argv: list[str]) -> int:
    """Run a script; returns 0 or raises the located error."""
    from xdm.cli.args import split_args
    from xdm.progress import verbosity

    parsed = split_args(
        argv,
        command="run",
        usage=USAGE,
        params=None,  # any name=value sets $name
        extra_positional=True,
    )
    if parsed.help:
        print(USAGE, end="")
        return 0
    if len(parsed.positional) > 1:
        raise XdmSyntaxError(
            f"unexpected argument {parsed.positional[1]!r}",
            expected=("name=value",),
            hint="usage: xdm run FILE.xdm [name=value ...]",
        )
    if not parsed.positional:
        raise XdmSyntaxError(
            "no script given",
            expected=("FILE.xdm",),
            hint="usage: xdm run FILE.xdm [name=value ...]",
        )
    from xdm.cli.render import print_summary
    from xdm.cli.script import Session, run_script

    session = Session(summarise=print_summary)
    with verbosity(1 if parsed.verbose is None else parsed.verbose):
        run_script(parsed.positional[0], parsed.params, session)
    return 0
