"""The ``xdm`` command: dispatches subcommands, maps errors to exit statuses.

Each subcommand lives in its own module ``xdm.cli.cmd_<name>`` exposing
``run(argv: list[str]) -> int``; it is imported only when used so that
``xdm --version`` stays fast. User errors exit 2, failures 1, and no traceback
is shown unless ``--debug`` is given. Ctrl-C exits 130 with the one line
``interrupted`` (outputs are atomic: their temporary file is gone by then).
"""

from __future__ import annotations

import _thread
import contextlib
import importlib
import os
import signal
import sys
import time
from typing import Any, NoReturn

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

    # a built-in wins: dmcopy is a tool (its table, plist, Python) run by cmd_copy
    return {**dict.fromkeys(available(), TOOL_MODULE), **COMMANDS}


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


INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    ``argv=None`` is the program itself (``xdm``, ``python -m xdm``): then a
    Ctrl-C while it works ends the process at once with status 130 and the one
    line ``interrupted`` (``Interrupts``), and one that lands after the work
    is done is ignored: the status is the run's.
    """
    try:  # the first line: a Ctrl-C in _program's first instant lands here
        return _program() if argv is None else _main(list(argv))
    except KeyboardInterrupt:
        if argv is None:
            _exit_interrupted()
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


def _program() -> int:
    """``main()`` as the process: SIGINT handled from the first line on."""
    ctrl_c: Interrupts | None = None
    try:
        try:
            args = sys.argv[1:]
            if not _interactive(args):
                ctrl_c = Interrupts()
            status = _main(args, ctrl_c)
        finally:
            _on_interrupt(signal.SIG_IGN)  # done: a Ctrl-C now changes nothing
    except KeyboardInterrupt:
        _exit_interrupted()
    if ctrl_c is not None and ctrl_c.seen:  # swallowed on the way, yet pressed
        _exit_interrupted()
    return status


class Interrupts:
    """The program's SIGINT handler: the first Ctrl-C raises KeyboardInterrupt
    and is remembered, later ones are ignored (the first is unwinding).

    Remembered because an interrupt can come back as something else: one that
    lands in a C extension's import (numpy's) surfaces as an ImportError, which
    ``_main`` then reports as the interrupt it was. Once the run is over
    SIGINT is ignored, not handled: Python's shutdown puts back the default
    action for a handled signal, which would kill the process with -2.
    """

    def __init__(self) -> None:
        self.seen = False
        self._unraisable = sys.unraisablehook
        sys.unraisablehook = self._swallowed
        _on_interrupt(self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if not self.seen:
            self.seen = True
            raise KeyboardInterrupt

    def _swallowed(self, unraisable: Any) -> None:
        """Python cannot raise out of a weakref callback or ``__del__`` (an
        import's module-lock callback is a common landing spot): it would
        print "Exception ignored in ..." and go on. Such an interrupt is sent
        again from a helper thread a moment later, to land in plain code."""
        if not (self.seen and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            self._unraisable(unraisable)
            return
        self.seen = False
        _thread.start_new_thread(_send_interrupt, (0.002,))


def _interactive(args: list[str]) -> bool:
    """The prompt, which takes Ctrl-C itself (it stops the current statement)."""
    words = [a for a in args if a != "--debug"]
    return not words or words[0] == "repl"


def _exit_interrupted() -> NoReturn:
    """End the program after Ctrl-C: one line, status 130, now.

    ``os._exit``, not a return: CPython kills itself with SIGINT (status -2)
    at exit after a KeyboardInterrupt that went through some C calls, even a
    caught one. Nothing is left to clean up: the atomic outputs removed their
    temporary files as the interrupt unwound (an interrupt after the rename
    leaves the complete product), and the writer threads are joined."""
    _on_interrupt(signal.SIG_IGN)  # a second Ctrl-C cannot cut this short
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    try:
        os.write(2, b"interrupted\n")
    finally:
        os._exit(INTERRUPTED)


def _send_interrupt(delay: float) -> None:
    time.sleep(delay)
    os.kill(os.getpid(), signal.SIGINT)


def _on_interrupt(handler: Any) -> None:
    with contextlib.suppress(ValueError):  # not the main thread: theirs stays
        signal.signal(signal.SIGINT, handler)


def _main(args: list[str], ctrl_c: Interrupts | None = None) -> int:
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
    except Exception as exc:
        if ctrl_c is not None and ctrl_c.seen:  # what a Ctrl-C turned into
            raise KeyboardInterrupt from None
        if isinstance(exc, BrokenPipeError):
            return 0
        if debug:
            raise
        if isinstance(exc, XdmError):
            print(exc.render(), file=sys.stderr)
            return exc.exit_status
        # a bug or an environment failure: short message, exit 1
        print(
            f"error: {type(exc).__name__}: {exc}\n(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
