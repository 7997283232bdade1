"""``xdm copy IN OUT [clobber=yes]`` (alias ``dmcopy``): write a virtual file.

Accepts CIAO's ``infile=... outfile=... clobber=yes verbose=0`` form as well as
positional arguments. A filtered table, a column selection or a binned image
is written like CIAO ``dmcopy`` does (see ``xdm.api.copy``).
"""

from __future__ import annotations

from xdm.errors import XdmSemanticError

USAGE = 'usage: xdm copy "IN[...]" OUT [clobber=yes] [verbose=N | --quiet]'
KEYS = ("infile", "outfile", "clobber", "verbose", "option", "mode")
TRUE = ("yes", "y", "true", "t", "1")
FALSE = ("no", "n", "false", "f", "0")


def parse_args(argv: list[str]) -> dict[str, str]:
    """Split positional, ``--flag`` and CIAO ``key=value`` arguments."""
    values: dict[str, str] = {}
    positional: list[str] = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.strip().lower() in KEYS and "[" not in key:
            values[key.strip().lower()] = value
        elif arg in ("--clobber", "-c"):
            values["clobber"] = "yes"
        elif arg in ("-h", "--help"):
            values["help"] = "yes"
        else:
            positional.append(arg)
    for key in ("infile", "outfile"):
        if key not in values and positional:
            values[key] = positional.pop(0)
    if positional:
        raise XdmSemanticError(f"unexpected argument {positional[0]!r}", hint=USAGE)
    return values


def _flag(values: dict[str, str], key: str, default: bool) -> bool:
    text = values.get(key)
    if text is None:
        return default
    if text.strip().lower() in TRUE:
        return True
    if text.strip().lower() in FALSE:
        return False
    raise XdmSemanticError(f"{key}= takes yes or no, got {text!r}", hint=USAGE)


def run(argv: list[str]) -> int:
    from xdm.progress import get_verbosity, verbosity_from_args

    argv, level = verbosity_from_args(argv)  # verbose=N, --quiet, -v
    values = parse_args(argv)
    if "help" in values:
        print(USAGE)
        return 0
    if "infile" not in values or "outfile" not in values:
        raise XdmSemanticError("copy needs an input and an output file", hint=USAGE)
    verbose = get_verbosity() if level is None else level  # a script's --quiet holds
    clobber = _flag(values, "clobber", False)
    from xdm.api import copy
    from xdm.progress import verbosity

    infile, outfile = values["infile"], values["outfile"]
    history = f"xdm copy infile={infile} outfile={outfile}"
    with verbosity(verbose):
        copy(infile, outfile, clobber=clobber, history=history)
    return 0
