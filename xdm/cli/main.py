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
}

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
    module_name = COMMANDS.get(command)
    if module_name is None:
        print(f"error: unknown command {command!r}\n\n{USAGE}", file=sys.stderr, end="")
        return 2
    from xdm.errors import XdmError

    try:
        module = importlib.import_module(module_name)
        return int(module.run(args) or 0)
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
