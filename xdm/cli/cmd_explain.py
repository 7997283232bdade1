"""``xdm explain "IN[...]"`` (or ``infile=IN[...]``): print the evaluation plan."""

from __future__ import annotations

from xdm.errors import XdmSemanticError

USAGE = 'usage: xdm explain "IN[...]"  (or infile="IN[...]")'


def run(argv: list[str]) -> int:
    from xdm.cli.args import split_args

    args = split_args(
        argv,
        command="explain",
        usage=USAGE,
        params=("infile",),  # and verbose=, like every tool
        positional=("infile",),
    )
    if args.help:
        print(USAGE)
        return 0
    if "infile" not in args.params:
        raise XdmSemanticError("explain takes one virtual file", hint=USAGE)
    from xdm.plan.planner import plan

    print(plan(args.params["infile"]).explain())
    return 0
