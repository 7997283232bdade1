"""The ``xdm`` command: dispatches subcommands, maps errors to exit statuses.

Each subcommand lives in its own module ``xdm.cli.cmd_<name>`` exposing
``run(argv: list[str]) -> int``; it is imported only when used so that
``xdm --version`` stays fast. User errors exit 2, failures 1, and no traceback
is shown unless ``--debug`` is given.
"""

from __future__ import annotations

import importlib
import sys

# subcommand -> module; aliases share a module
COMMANDS: dict[str, str] = {
    "parse": "xdm.cli.cmd_parse",
    "copy": "xdm.cli.cmd_copy",
    "dmcopy": "xdm.cli.cmd_copy",
    "explain": "xdm.cli.cmd_explain",
    "demo": "xdm.cli.cmd_demo",
    "run": "xdm.cli.cmd_run",
    "repl": "xdm.cli.cmd_repl",
    "plist": "xdm.cli.cmd_plist",
}
TOOL_MODULE = "xdm.cli.cmd_tool"
"""Every CIAO tool of ``xdm.tools`` runs through this module (``run_tool``)."""


def _with_tools() -> dict[str, str]:
    from xdm.tools import available

    return {**COMMANDS, **dict.fromkeys(available(), TOOL_MODULE)}


def commands() -> dict[str, str]:
    """Built-in subcommands and the installed CIAO tools: name -> module."""
    global _ALL
    if _ALL is None:
        _ALL = _with_tools()
    return _ALL


_ALL: dict[str, str] | None = None


def run_command(name: str, argv: list[str]) -> int:
    """Run subcommand or tool ``name`` with ``argv``; returns its exit status."""
    if name == "summary":
        from xdm.cli.cmd_summary import run

        return run(argv)
    module_name = commands()[name]
    if module_name == TOOL_MODULE:
        from xdm.cli.cmd_tool import run_tool

        return run_tool(name, argv)
    module = importlib.import_module(module_name)
    return int(module.run(argv) or 0)


def unknown_command(name: str) -> str:
    """The message for an unknown command: the nearest name and what exists."""
    import difflib

    names = sorted(commands())
    near = difflib.get_close_matches(name, names, n=1)
    guess = f"; did you mean {near[0]!r}?" if near else ""
    from xdm.tools import available

    return (
        f"error: unknown command {name!r}{guess}\n"
        f"commands: {', '.join(sorted(COMMANDS))}\n"
        f"CIAO tools: {', '.join(available())}\n"
    )


USAGE = """\
usage: xdm [--debug] [--version] COMMAND [ARGS...]

commands:
  demo [DIR]                    make example event data and the tutorial images
  parse "VF" [--json]           show the AST and canonical text of a virtual file
  copy "IN[...]" OUT [clobber=yes]
                                filter / bin / select like CIAO dmcopy (alias: dmcopy)
  explain "IN[...]"             print the evaluation plan
  run FILE.xdm [name=value ...] run a script
  repl                          interactive prompt (also: xdm with no arguments)
  plist TOOL                    a CIAO tool's parameters as .par lines
  TOOL key=value ...            a CIAO tool (dmextract, deflare, srcflux, ...);
                                xdm TOOL --help lists its parameters
"""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    if args and args[0] in ("--version", "-V"):
        from xdm import __version__

        print(f"xdm {__version__}")
        return 0
    if args and args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    command = args.pop(0) if args else "repl"
    if command not in COMMANDS and command not in commands():
        from xdm.cli.cmd_summary import looks_like_virtual_file

        if looks_like_virtual_file(command):  # xdm "evt2.fits[...]": its summary
            args.insert(0, command)
            command = "summary"
    if command == "summary":
        pass
    elif command not in COMMANDS and command not in commands():
        print(unknown_command(command), file=sys.stderr, end="")
        return 2
    from xdm.errors import XdmError

    try:
        return run_command(command, args)
    except XdmError as exc:
        if debug:
            raise
        print(exc.render(), file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug or an environment failure: short message, exit 1
        if debug:
            raise
        print(
            f"error: {type(exc).__name__}: {exc}\n(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
