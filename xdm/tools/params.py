"""Tool parameters declared once: the table behind every CIAO tool of xdm.

A tool declares its parameters as a ``Tool`` (CIAO name, type, default, allowed
values, help line). The same table gives the command line
``xdm TOOL key=value ...`` (``Tool.parse``), the Python call
``xdm.tools.TOOL(**params)`` (``Tool.bind``), ``xdm TOOL --help``, the
``.par``-style listing of ``xdm plist TOOL`` and ``docs/tools/TOOL.md``.

Types follow CIAO's parameter files: ``f`` file, ``s`` string, ``r`` real,
``i`` integer, ``b`` boolean. ``INDEF`` is ``None`` for ``r`` and ``i``.
CIAO habits: ``clobber=yes|no|+|-`` and ``clobber+``, ``verbose=0..5``,
``mode=`` accepted (xdm never prompts), an unknown key names the nearest one.

>>> t = Tool("demo", "an example", (Param("infile", "f", help="input"),
...      Param("nsigma", "r", 3.0, help="clip"), CLOBBER, VERBOSE))
>>> p = t.parse(["evt.fits", "nsigma=2.5", "clobber+"])
>>> (p["infile"], p["nsigma"], p["clobber"], p["verbose"])
('evt.fits', 2.5, True, 1)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from xdm.errors import XdmSemanticError

__all__ = [
    "CLOBBER",
    "VERBOSE",
    "Param",
    "Tool",
    "Values",
    "to_bool",
]

TYPES = {"f": "file", "s": "string", "r": "real", "i": "integer", "b": "boolean"}
TRUE = ("yes", "y", "true", "t", "1", "+", "on")
FALSE = ("no", "n", "false", "f", "0", "-", "off")
_KEY_VALUE = re.compile(r"(?:--)?([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)
_KEY_SWITCH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)([+-])")
_FLAG = re.compile(r"--(no-)?([A-Za-z_][A-Za-z0-9_-]*)")
_IGNORED = ("mode",)  # CIAO's prompting mode: xdm never prompts

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Param:
    """One CIAO parameter: name, type (f s r i b), default, choices, help line."""

    name: str
    type: str = "s"
    default: Any = ""
    help: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"parameter {self.name}: unknown type {self.type!r}")

    def convert(self, value: Any, tool: str) -> Any:
        """A value given as text (command line) or as a Python value -> the typed value."""
        if self.type == "b":
            return to_bool(value, f"{tool} {self.name}")
        if self.type in ("r", "i"):
            return self._number(value, tool)
        text = "" if value is None else str(value)
        known = {c.lower() for c in self.choices}
        if self.choices and text.lower() not in known and not self._free_form():
            raise _bad(
                f"{tool}: {self.name}={text!r} is not one of {', '.join(self.choices)}",
                text,
                self.choices,
            )
        if self.choices:
            for c in self.choices:
                if c.lower() == text.lower():
                    return c
        return text

    def _free_form(self) -> bool:
        # a choice list ending in "..." also takes other text (bands: lo:hi:eff)
        return bool(self.choices) and self.choices[-1] == "..."

    def _number(self, value: Any, tool: str) -> float | int | None:
        if value is None or (
            isinstance(value, str) and value.strip().upper() == "INDEF"
        ):
            return None
        if isinstance(value, bool):
            raise XdmSemanticError(f"{tool}: {self.name} takes a number, not {value!r}")
        try:
            number: float | int
            if self.type == "i":
                number = (
                    int(str(value).strip()) if isinstance(value, str) else int(value)
                )
                if not isinstance(value, str) and number != value:
                    raise ValueError(value)
            else:
                number = float(value)
        except (TypeError, ValueError):
            kind = "an integer" if self.type == "i" else "a number"
            raise XdmSemanticError(
                f"{tool}: {self.name} takes {kind} (or INDEF), not {value!r}",
                expected=(kind,),
            ) from None
        if self.minimum is not None and number < self.minimum:
            raise XdmSemanticError(
                f"{tool}: {self.name}={value} is below its minimum {self.minimum:g}"
            )
        if self.maximum is not None and number > self.maximum:
            raise XdmSemanticError(
                f"{tool}: {self.name}={value} is above its maximum {self.maximum:g}"
            )
        return number

    def shown_default(self) -> str:
        """The default as a parameter file prints it."""
        if self.default is None:
            return "INDEF"
        if self.type == "b":
            return "yes" if self.default else "no"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)


CLOBBER = Param("clobber", "b", False, "replace existing output files")
VERBOSE = Param(
    "verbose", "i", 1, "0 quiet ... 5 tells each step", minimum=0, maximum=5
)


class Values(Mapping[str, Any]):
    """A tool's parameters after conversion: read-only, keyed by CIAO name."""

    __slots__ = ("_tool", "_values")

    def __init__(self, tool: str, values: Mapping[str, Any]) -> None:
        self._tool = tool
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Values({self._tool}: {inner})"

    @property
    def tool(self) -> str:
        """The tool these values are for."""
        return self._tool

    def text(self) -> str:
        """The parameters as a CIAO command line (for HISTORY cards)."""
        words = [self._tool]
        for key, value in self._values.items():
            if value is None:
                shown = "INDEF"
            elif isinstance(value, bool):
                shown = "yes" if value else "no"
            else:
                shown = str(value)
            if shown != "":
                words.append(f"{key}={shown}")
        return " ".join(words)


@dataclass(frozen=True)
class Tool:
    """A CIAO tool's parameter table, the one source of its command-line contract."""

    name: str
    summary: str
    params: tuple[Param, ...]
    positional: tuple[str, ...] = ()
    flags: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Extra ``--flag`` spellings: flag -> (parameter, value)."""
    notes: str = ""
    """A paragraph for ``--help`` and the docs page (what differs from CIAO)."""

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a parameter is declared twice")
        unknown = set(self.positional) - set(names)
        if unknown:
            raise ValueError(f"{self.name}: positional {sorted(unknown)} not declared")

    def param(self, name: str) -> Param:
        """The declared parameter ``name`` (exact CIAO spelling or any case)."""
        for p in self.params:
            if p.name == name:
                return p
        lowered = {p.name.lower(): p for p in self.params}
        found = lowered.get(name.lower())
        if found is None:
            raise self._unknown(name)
        return found

    def _unknown(self, name: str) -> XdmSemanticError:
        names = [p.name for p in self.params]
        near = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        if not near:
            near = difflib.get_close_matches(
                name.lower(), [n.lower() for n in names], n=1, cutoff=0.6
            )
            near = [self.param(near[0]).name] if near else []
        hint = (
            f"did you mean {near[0]}=?" if near else "parameters: " + ", ".join(names)
        )
        return XdmSemanticError(
            f"xdm {self.name}: unknown parameter {name!r}",
            expected=tuple(names),
            hint=hint,
        )

    # ------------------------------------------------------------ binding

    def bind(self, given: Mapping[str, Any], *, python: bool = True) -> Values:
        """Check and convert parameters; fill defaults; refuse unknown names.

        ``python``: called from Python, where ``verbose`` defaults to 0 (a
        library call prints nothing unless asked).
        """
        values: dict[str, Any] = {}
        for key, value in given.items():
            if key.lower() in _IGNORED:
                continue
            p = self.param(key)
            values[p.name] = p.convert(value, self.name)
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in values:
                out[p.name] = values[p.name]
            elif p.required:
                raise XdmSemanticError(
                    f"xdm {self.name}: {p.name}= is required ({p.help})",
                    hint=self.usage(),
                )
            elif p.name == "verbose" and python:
                out[p.name] = 0
            else:
                out[p.name] = p.convert(p.default, self.name)
        return Values(self.name, out)

    def parse(self, argv: Sequence[str]) -> Values:
        """Command-line words -> Values (``key=value``, ``key+``, ``--key``, positionals)."""
        given, _ = self.split(argv)
        return self.bind(given, python=False)

    def split(self, argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        """Sort words into parameters (by declared name) and unused ``--flags``.

        Returns ``(given, extra_flags)``; ``extra_flags`` are ``--json``,
        ``--png`` and ``-h``/``--help``, which the caller handles.
        """
        given: dict[str, str] = {}
        rest: list[str] = []
        extra: list[str] = []
        only_positional = False
        for word in argv:
            if only_positional:
                rest.append(word)
                continue
            if word == "--":
                only_positional = True
                continue
            if word in ("-h", "--help", "--json", "--png"):
                extra.append(word)
                continue
            if word in self.flags:
                key, value = self.flags[word]
                given[key] = value
                continue
            if word in ("-q", "--quiet"):
                given["verbose"] = "0"
                continue
            m = _KEY_VALUE.fullmatch(word)
            if m and "[" not in m.group(1):
                key = m.group(1)
                if key.lower() in _IGNORED:
                    _note_ignored(key, m.group(2))
                    continue
                virtual_file = "[" in word or "(" in word
                if virtual_file and not self._declares(key) and word[:2] != "--":
                    rest.append(word)  # evt.fits[...] with an = inside: positional
                    continue
                given[self.param(key).name] = m.group(2)
                continue
            m2 = _KEY_SWITCH.fullmatch(word)
            if m2 and self._declares(m2.group(1)):
                p = self.param(m2.group(1))
                if p.type != "b":
                    raise XdmSemanticError(
                        f"xdm {self.name}: {p.name}{m2.group(2)} needs a boolean "
                        f"parameter; {p.name} is a {TYPES[p.type]}"
                    )
                given[p.name] = m2.group(2)
                continue
            m3 = _FLAG.fullmatch(word)
            if m3:
                p = self.param(m3.group(2).replace("-", "_"))
                if p.type != "b":
                    raise XdmSemanticError(
                        f"xdm {self.name}: --{p.name} needs a value: {p.name}=..."
                    )
                given[p.name] = "no" if m3.group(1) else "yes"
                continue
            rest.append(word)
        for name in self.positional:
            if name not in given and rest:
                given[name] = rest.pop(0)
        if rest and "-h" not in extra and "--help" not in extra:
            raise XdmSemanticError(
                f"xdm {self.name}: unexpected argument {rest[0]!r}", hint=self.usage()
            )
        return given, extra

    def _declares(self, name: str) -> bool:
        return any(p.name.lower() == name.lower() for p in self.params)

    def call(self, run: Callable[[Values], R], given: Mapping[str, Any]) -> R:
        """``xdm.tools.TOOL(**params)``: bind, then run at the asked verbosity."""
        from xdm.progress import verbosity

        values = self.bind(given)
        with verbosity(int(values.get("verbose") or 0)):
            return run(values)

    # ------------------------------------------------------------ text

    def usage(self) -> str:
        """One line: ``usage: xdm TOOL infile=... [key=value ...]``."""
        words = [f"{p.name}=..." for p in self.params if p.required]
        return f"usage: xdm {self.name} {' '.join(words)} [key=value ...]".replace(
            "  ", " "
        )

    def help_text(self) -> str:
        """What ``xdm TOOL --help`` prints."""
        width = max(len(p.name) for p in self.params)
        lines = [f"xdm {self.name}: {self.summary}", "", self.usage(), ""]
        for p in self.params:
            default = "(required)" if p.required else f"[{p.shown_default()}]"
            choice = f" ({'|'.join(p.choices)})" if p.choices else ""
            lines.append(f"  {p.name:<{width}}  {default:<12} {p.help}{choice}")
        if self.notes:
            lines += ["", self.notes]
        return "\n".join(lines)

    def plist(self) -> str:
        """The parameters as CIAO ``.par`` lines: ``name,type,mode,default,min,max,help``."""
        lines = []
        for p in self.params:
            mode = "a" if p.required else "h"
            low = "" if p.minimum is None else f"{p.minimum:g}"
            high = "" if p.maximum is None else f"{p.maximum:g}"
            if p.choices and p.choices[-1] != "...":
                low = "|".join(p.choices)
            default = p.shown_default()
            if p.type in "fs":
                default = f'"{default}"'
            lines.append(f'{p.name},{p.type},{mode},{default},{low},{high},"{p.help}"')
        lines.append('mode,s,h,"hl",,,')
        return "\n".join(lines)

    def markdown(self) -> str:
        """``docs/tools/TOOL.md``: generated from this table (a test keeps it current)."""
        rows = [
            f"# xdm {self.name}",
            "",
            self.summary[0].upper() + self.summary[1:] + ".",
            "",
            "```text",
            self.usage(),
            "```",
            "",
            "| parameter | type | default | meaning |",
            "|---|---|---|---|",
        ]
        for p in self.params:
            default = "required" if p.required else f"`{p.shown_default()}`"
            choice = f" ({', '.join(f'`{c}`' for c in p.choices)})" if p.choices else ""
            rows.append(
                f"| `{p.name}` | {TYPES[p.type]} | {default} | {p.help}{choice} |"
            )
        rows += [
            "",
            f"From Python: `xdm.tools.{self.name}(key=value, ...)` takes the same "
            "parameters (booleans and numbers as Python values; `verbose` defaults "
            "to 0 there).",
        ]
        if self.notes:
            rows += ["", self.notes]
        rows.append("")
        return "\n".join(rows)


def to_bool(value: Any, what: str) -> bool:
    """CIAO's boolean spellings (yes/no, y/n, +/-, true/false, 1/0) -> bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise _bad(f"{what} takes yes or no, not {value!r}", str(value), ("yes", "no"))


def _bad(message: str, text: str, choices: Sequence[str]) -> XdmSemanticError:
    listed = [c for c in choices if c != "..."]
    near = difflib.get_close_matches(text.lower(), [c.lower() for c in listed], n=1)
    hint = f"did you mean {near[0]!r}?" if near else None
    return XdmSemanticError(message, expected=tuple(listed), hint=hint)


def _note_ignored(key: str, value: str) -> None:
    from xdm.progress import note

    note(f"note: {key}={value} ignored (xdm never prompts for parameters)", level=2)
