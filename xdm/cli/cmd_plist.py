"""``xdm plist TOOL``: a tool's parameter table as CIAO ``.par`` lines."""

from __future__ import annotations


def run(argv: list[str]) -> int:
    from xdm.cli.cmd_tool import run_plist

    return run_plist(argv)
