"""``xdm repl`` (also plain ``xdm``): the interactive prompt, see ``xdm.cli.repl``."""

from __future__ import annotations

USAGE = """\
usage: xdm repl [verbose=0..5] [--quiet]

Type virtual files to see what they select; `help` lists the commands.
History is kept in $XDM_HISTORY (default ~/.xdm_history).
"""


def run(argv: list[str]) -> int:
    """Start the prompt; returns its exit status."""
    from xdm.cli.args import split_args
    from xdm.progress import verbosity

    args = split_args(argv, command="repl", usage=USAGE)
    if args.help:
        print(USAGE, end="")
        return 0
    from xdm.cli.repl import main_loop

    with verbosity(1 if args.verbose is None else args.verbose):
        return main_loop()
