"""Command-line arguments shared by the subcommands.

Every subcommand takes positional arguments, ``--flags`` and CIAO-style
``key=value`` parameters in any order (``xdm copy infile=IN outfile=OUT
clobber=yes``). ``split_args`` sorts them, fills missing parameters from the
positionals in order, and raises one clear ``XdmSemanticError`` (exit 2) for an
unknown parameter, flag or extra argument. ``-h``/``--help`` is always known,
and so are ``verbose=N``, ``-q``/``--quiet`` and ``-v``/``--verbose`` (read by
``xdm.progress.verbosity_from_args`` into ``Args.verbose``).

Only identifier keys make a parameter, so a virtual file such as
``evt2.fits[energy=300:2000]`` stays positional; only ``-x``/``--word`` make a
flag, so ``-1:5`` stays positional too; ``--`` ends the flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from xdm.errors import XdmSemanticError

__all__ = ["HELP_FLAGS", "Args", "split_args", "yes_no"]

HELP_FLAGS = ("-h", "--help")
PARAMETER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)
FLAG = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*")
TRUE = ("yes", "y", "true", "t", "1")
FALSE = ("no", "n", "false", "f", "0")


@dataclass(frozen=True, slots=True)
class Args:
    """Sorted arguments: ``params`` by (lower-case) name, the leftover positionals."""

    params: dict[str, str] = field(default_factory=dict)
    positional: tuple[str, ...] = ()
    help: bool = False
    verbose: int | None = None
    """The ``verbose=`` level asked for; None when not given."""


def split_args(
    argv: Iterable[str],
    *,
    command: str,
    usage: str,
    params: Iterable[str] | None = (),
    flags: Mapping[str, tuple[str, str]] | None = None,
    positional: Iterable[str] = (),
    extra_positional: bool = False,
    text_may_look_like_params: bool = False,
) -> Args:
    """Sort ``argv`` for ``xdm COMMAND``.

    ``params`` are the accepted ``key=value`` names (``None``: any name, kept as
    typed, e.g. script variables); ``flags`` maps a flag to the parameter it sets
    (``{"--clobber": ("clobber", "yes")}``); ``positional`` names the parameters
    that positionals fill, in order, when not given as ``key=value``. Positionals
    left over are an error unless ``extra_positional``. With
    ``text_may_look_like_params`` an unknown ``key=value`` is positional text
    (``xdm parse --filter energy=300:2000``).
    """
    from xdm.progress import verbosity_from_args

    argv, level = verbosity_from_args(list(argv))
    known = None if params is None else {p.lower() for p in params} | {"verbose"}
    flags = dict(flags or {})
    values: dict[str, str] = {}
    rest: list[str] = []
    wants_help = False
    only_positional = False
    for arg in argv:
        match = PARAMETER.fullmatch(arg)
        if only_positional:
            rest.append(arg)
        elif arg == "--":
            only_positional = True
        elif arg in HELP_FLAGS:
            wants_help = True
        elif arg in flags:
            key, value = flags[arg]
            values[key] = value
        elif FLAG.fullmatch(arg):
            known_flags = [*flags, "--quiet", "--verbose", "--help"]
            raise _unknown(command, usage, "option", arg, known_flags)
        elif match:
            key = match.group(1) if known is None else match.group(1).lower()
            if known is None or key in known:
                values[key] = match.group(2)
            elif text_may_look_like_params:
                rest.append(arg)
            else:
                raise _unknown(command, usage, "parameter", key, sorted(known))
        else:
            rest.append(arg)
    for name in positional:
        if name not in values and rest:
            values[name] = rest.pop(0)
    if rest and not extra_positional and not wants_help:
        raise XdmSemanticError(
            f"xdm {command}: unexpected argument {rest[0]!r}", hint=usage
        )
    return Args(params=values, positional=tuple(rest), help=wants_help, verbose=level)


def yes_no(args: Args, key: str, default: bool, usage: str) -> bool:
    """A ``key=yes|no`` parameter as a bool (CIAO's spellings: yes/no, y/n, 1/0)."""
    text = args.params.get(key)
    if text is None:
        return default
    if text.strip().lower() in TRUE:
        return True
    if text.strip().lower() in FALSE:
        return False
    raise XdmSemanticError(
        f"{key}= takes yes or no, got {text!r}", expected=("yes", "no"), hint=usage
    )


def _unknown(
    command: str, usage: str, what: str, word: str, choices: list[str]
) -> XdmSemanticError:
    import difflib

    near = difflib.get_close_matches(word.lower(), choices, n=1)
    known = f"; did you mean {near[0]!r}?" if near else ""
    listed = f" (known: {', '.join(choices)})" if choices else ""
    return XdmSemanticError(
        f"xdm {command}: unknown {what} {word!r}{known}{listed if not near else ''}",
        expected=tuple(choices),
        hint=usage.splitlines()[0],
    )
