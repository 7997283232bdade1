"""``xdm "VF"``: the prompt's summary of a virtual file, from the shell.

``xdm "evt2.fits[energy=300:2000]"`` prints what the prompt prints (rows kept
of total, good time, column ranges; or image size, sum, WCS and a preview);
``--json`` prints the same numbers as JSON for scripts. Warnings about
selections that cannot match (``xdm.advice``) follow on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from xdm.errors import XdmSemanticError

if TYPE_CHECKING:
    from rich.console import Console

    from xdm.summary import ImageSummary, TableSummary

USAGE = 'usage: xdm "FILE[...]" [--json] [verbose=0..5]'


def looks_like_virtual_file(word: str) -> bool:
    """A first argument that names a file (or a bracketed virtual file), not a command."""
    if "[" in word:
        return True
    path = os.path.expandvars(os.path.expanduser(word))
    return os.path.sep in word or os.path.isfile(path)


def as_dict(summary: TableSummary | ImageSummary) -> dict[str, Any]:
    """The summary's numbers as JSON-ready values (the preview cells left out)."""
    import dataclasses
    import math

    out = {
        f.name: getattr(summary, f.name)
        for f in dataclasses.fields(summary)
        if f.name != "thumbnail"
    }
    out["kind"] = "image" if "shape" in out else "table"
    if "columns" in out:
        out["columns"] = [dataclasses.asdict(c) for c in out["columns"]]

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    result: dict[str, Any] = clean(out)
    return result


def show(text: str, console: Console | None = None) -> TableSummary | ImageSummary:
    """Print the summary of ``text`` and any advice about its filters."""
    from xdm.advice import warn
    from xdm.cli.render import make_console, render_summary
    from xdm.summary import TableSummary, describe

    summary = describe(text)
    console = console or make_console()
    console.print(render_summary(summary, console), soft_wrap=True)
    warn(text, empty=_empty(summary, TableSummary))
    return summary


def _empty(summary: Any, table: type) -> bool:
    rows = getattr(summary, "rows", None) if isinstance(summary, table) else None
    if rows is not None:
        return bool(rows == 0)
    return bool(getattr(summary, "total", 1) == 0)


def run(argv: list[str]) -> int:
    """``xdm "VF" [--json]``: exit 0 with the summary, 2 for a bad virtual file."""
    from xdm.progress import get_verbosity, verbosity, verbosity_from_args

    argv, level = verbosity_from_args(argv)
    as_json = "--json" in argv
    words = [w for w in argv if w != "--json"]
    if len(words) != 1:
        raise XdmSemanticError("give one virtual file to summarise", hint=USAGE)
    text = words[0]
    with verbosity(get_verbosity() if level is None else level):
        if as_json:
            from xdm.advice import check
            from xdm.summary import TableSummary, describe

            summary = describe(text)
            data = as_dict(summary)
            advice = check(text, empty=_empty(summary, TableSummary))
            data["warnings"] = [a.message for a in advice]
            json.dump(data, sys.stdout, indent=2)
            print()
        else:
            show(text)
    return 0
