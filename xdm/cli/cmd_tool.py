"""``xdm TOOL key=value ...``: any CIAO tool of ``xdm.tools`` from the command line.

The tool's parameter table (``TOOL``) parses the words; ``-h``/``--help``
prints the table; ``--json`` prints the result as JSON when the result offers
``as_dict()``; ``--png`` also draws the tool's ``outfile`` (an image, a light
curve, a spectrum or a profile) as ``<outfile stem>.png``. The tool runs at the
``verbose=`` level asked for (its CIAO default otherwise).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def run_tool(name: str, argv: list[str]) -> int:
    """Run tool ``name`` with command-line words; returns the exit status."""
    from xdm.progress import verbosity
    from xdm.tools import load

    module = load(name)
    tool = module.TOOL
    given, extra = tool.split(argv)
    if "-h" in extra or "--help" in extra:
        print(tool.help_text())
        return 0
    from xdm.stacks import runs

    files = [p.name for p in tool.params if p.type == "f"]
    # infile=@in.lis: once per member, unless the tool reads the whole stack itself
    # (dmregrid sums it, dmimgcalc names its members img1..imgN): STACK_INPUT
    own_stack = getattr(module, "STACK_INPUT", False)
    stacked = None if own_stack else runs(given, files=files)
    results = []
    for one in stacked or [given]:
        values = tool.bind(one, python=False)
        shot = _png_target(name, values) if "--png" in extra else None
        level = values.get("verbose")
        as_json = "--json" in extra
        with verbosity(1 if level is None else int(level)), _quiet_stdout(as_json):
            if stacked:
                from xdm.progress import note

                note(f"{name}: {one.get('infile')}", level=2)
            results.append(module.run(values))
        if shot is not None:
            from xdm.plots import png_of_product

            png_of_product(*shot, clobber=bool(values.get("clobber")))
    if as_json:
        dicts = []
        for result in results:
            as_dict = getattr(result, "as_dict", None)
            if as_dict is None:
                from xdm.errors import XdmSemanticError

                raise XdmSemanticError(f"xdm {name} has no --json output")
            dicts.append(as_dict())
        json.dump(_plain(dicts if stacked else dicts[0]), sys.stdout, indent=2)
        print()
    return 0


def _png_target(name: str, values: Any) -> tuple[str, str]:
    """``--png``: the tool's ``outfile`` and the PNG beside it; refuse an existing PNG."""
    from xdm.errors import XdmIOError, XdmSemanticError
    from xdm.plots import png_name

    out = str(values.get("outfile") or "").strip()
    if not out:
        raise XdmSemanticError(f"xdm {name} --png needs a tool with an outfile=")
    png = png_name(out)
    if Path(png).exists() and not values.get("clobber"):
        raise XdmIOError(
            f"output file {png} exists", hint="add clobber=yes to replace it"
        )
    return out, png


@contextlib.contextmanager
def _quiet_stdout(quiet: bool) -> Iterator[None]:
    """With ``--json`` the tool's printed report is held back: stdout is JSON only."""
    if not quiet:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, NaN -> JSON-friendly values (NaN as null)."""
    import math

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_plist(argv: list[str]) -> int:
    """``xdm plist TOOL``: the tool's parameters as CIAO ``.par`` lines."""
    from xdm.errors import XdmSemanticError
    from xdm.tools import TOOLS, available, load

    if len(argv) != 1 or argv[0] not in TOOLS:
        import difflib

        word = argv[0] if argv else ""
        near = difflib.get_close_matches(word, list(TOOLS), n=1)
        raise XdmSemanticError(
            f"usage: xdm plist TOOL (tools: {', '.join(available())})",
            hint=f"did you mean {near[0]}?" if near else None,
        )
    print(load(argv[0]).TOOL.plist())
    return 0
