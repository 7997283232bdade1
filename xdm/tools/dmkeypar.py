"""``xdm dmkeypar infile keyword [echo=no]``: one header keyword of a block.

CIAO's dmkeypar stores ``value``, ``exist``, ``datatype`` and ``unit`` in its
parameter file for ``pget``; xdm has no parameter files, so it prints them:
``echo=yes`` prints the bare value (for shell scripts), ``echo=no`` a line
``KEY = value [unit] (datatype)``, and ``--json`` all four. A missing keyword
is an error (exit status 2) unless ``echo=yes``, where CIAO prints nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xdm.errors import XdmSemanticError
from xdm.tools.params import VERBOSE, Param, Tool, Values

__all__ = ["TOOL", "KeywordValue", "dmkeypar", "run"]

TOOL = Tool(
    "dmkeypar",
    "read one header keyword",
    (
        Param("infile", "f", "", "input virtual file (file[block])", required=True),
        Param("keyword", "s", "", "keyword name", required=True),
        Param("echo", "b", False, "print only the value"),
        VERBOSE,
    ),
    positional=("infile", "keyword"),
    notes=(
        "xdm prints what CIAO stores in dmkeypar.par (value, exist, datatype, "
        "unit): `echo=yes` the bare value, otherwise (at verbose=1 and up) one descriptive line; "
        "`--json` prints all four."
    ),
)


@dataclass(frozen=True, slots=True)
class KeywordValue:
    """What CIAO's dmkeypar records: the value, whether it exists, its type and unit."""

    keyword: str
    value: Any
    exist: bool
    datatype: str
    unit: str
    comment: str

    def as_dict(self) -> dict[str, Any]:
        """The CIAO output parameters as a dictionary (``--json``)."""
        return {
            "keyword": self.keyword,
            "value": self.value,
            "exist": self.exist,
            "datatype": self.datatype,
            "unit": self.unit,
        }


def dmkeypar(**params: Any) -> KeywordValue:
    """``xdm.tools.dmkeypar(infile=..., keyword=...)``: the keyword's value and type."""
    return TOOL.call(run, params)


def run(p: Values) -> KeywordValue:
    """Read the keyword from the block the virtual file names."""
    import re

    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse
    from xdm.progress import get_verbosity, note

    key = str(p["keyword"]).strip().upper()
    with open_vf_block(parse(p["infile"])) as block:
        note(f"dmkeypar: opened {block.path} block {block.name}", level=2)
        header = block.header
        exist = key in header
        value = header.get(key) if exist else None
        comment = header.comments[key] if exist else ""
    unit = ""
    m = re.match(r"\s*\[([^\]]*)\]", comment)
    if m:
        unit = m.group(1).strip()
    result = KeywordValue(key, value, exist, _datatype(value), unit, comment)
    if p["echo"]:
        if exist:
            print(_shown(value))
        return result
    if not exist:
        raise XdmSemanticError(
            f"dmkeypar: keyword {key} not found in {p['infile']}",
            hint="xdm dmlist FILE header lists the keywords",
        )
    unit_text = f" [{unit}]" if unit else ""
    if get_verbosity() >= 1:
        print(f"{key} = {_shown(value)}{unit_text} ({result.datatype})")
    return result


def _datatype(value: Any) -> str:
    """CIAO's datatype names: boolean, integer, real, string."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    return "string"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)
