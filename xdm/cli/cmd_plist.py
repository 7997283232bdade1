"""``xdm plist TOOL``: a tool's parameter table as CIAO ``.par`` lines."""

from __future__ import annotations

USAGE = "usage: xdm plist TOOL    (a CIAO tool's parameters as .par lines)"


def run(argv: list[str]) -> int:
    from xdm.cli.args import split_args
    from xdm.cli.cmd_tool import run_plist

    args = split_args(argv, command="plist", usage=USAGE, positional=("tool",))
    if args.help:
        print(USAGE)
        return 0
    return run_plist([args.params["tool"]] if "tool" in args.params else [])
