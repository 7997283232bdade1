"""``xdm explain "IN[...]"``: print the evaluation plan of a virtual file."""

from __future__ import annotations

from xdm.errors import XdmSemanticError

USAGE = 'usage: xdm explain "IN[...]"'


def run(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        if argv and argv[0] in ("-h", "--help"):
            print(USAGE)
            return 0
        raise XdmSemanticError("explain takes one virtual file", hint=USAGE)
    from xdm.planner import plan

    print(plan(argv[0]).explain())
    return 0
