"""``xdm repl`` (also plain ``xdm``): the interactive prompt, see ``xdm.cli.repl``."""

from __future__ import annotations

USAGE = """\
usage: xdm repl [verbose=0..5] [--quiet]

Type virtual files to see what they select; `help` lists the commands.
History is kept in $XDM_HISTORY (default ~/.xdm_history).
"""


def run(argv: list[str]) -> int:
    """Start the prompt; returns its exit status."""
    from xdm.errors import XdmSyntaxError
    from xdm.progress import verbosity, verbosity_from_args

    if any(a in ("-h", "--help") for a in argv):
        print(USAGE, end="")
        return 0
    args, level = verbosity_from_args(argv)
    if args:
        raise XdmSyntaxError(
            f"unexpected argument {args[0]!r}", hint="usage: xdm repl [verbose=N]"
        )
    from xdm.cli.repl import main_loop

    with verbosity(1 if level is None else level):
        return main_loop()
