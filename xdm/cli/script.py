"""``.xdm`` statements: lexing, ``$variable`` expansion, dispatch, located errors.

A script is read line by line (``\\`` continues a line, ``#`` starts a comment)
into ``Statement``s; ``lex`` splits one into ``Word``s the way a shell would but
keeps a bracketed virtual file whole and remembers, for every character, where
in the source it came from. ``Session.execute`` runs a statement: ``set``,
``echo``, a subcommand of the ``xdm`` command line (``dmcopy "in[...]" out``),
or a bare virtual file, which is summarised. Errors raised while running come
back as ``ScriptError``, anchored at ``file.xdm:LINE:COL`` of the script text.
The REPL uses the same ``Session``.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from xdm.errors import (
    Span,
    XdmError,
    XdmExecutionError,
    XdmIOError,
    XdmSyntaxError,
    render_caret,
)
from xdm.progress import get_verbosity

if TYPE_CHECKING:
    from xdm.io.blocks import HeaderCache

__all__ = [
    "ScriptError",
    "Session",
    "Statement",
    "Word",
    "is_complete",
    "lex",
    "read_statements",
    "run_command",
    "run_script",
]

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SET_STATEMENT = re.compile(r"\s*set\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*")

# Commands of the command line that make no sense inside a script.
NOT_IN_SCRIPTS = frozenset({"repl"})


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Statement:
    """One logical line: physical lines joined at ``\\`` + newline.

    ``segments`` maps offsets in ``text`` back to the script: each entry is
    ``(offset, line_number, column)`` for the start of a physical line's piece.
    """

    text: str
    segments: tuple[tuple[int, int, int], ...]
    lines: tuple[str, ...]
    file: str | None = None

    @property
    def line(self) -> int:
        """1-based number of the first physical line."""
        return self.segments[0][1]

    def locate(self, offset: int) -> tuple[int, int, str]:
        """``(line, column, physical line text)`` of an offset, both 1-based."""
        for start, line, col in reversed(self.segments):
            if offset >= start:
                text = self.lines[line - self.line]
                return line, col + offset - start + 1, text
        line, col = self.segments[0][1:]
        return line, col + 1, self.lines[0]

    @classmethod
    def from_text(cls, text: str, file: str | None = None, line: int = 1) -> Statement:
        """A single-line statement (the REPL's input)."""
        return cls(text=text, segments=((0, line, 0),), lines=(text,), file=file)


def read_statements(
    source: str, file: str | None = None, *, join_open: bool = False
) -> Iterator[Statement]:
    """Split script text into logical statements, joining ``\\`` continuations.

    With ``join_open`` (typed input) a line that leaves a quote or bracket open
    also continues; the lines are joined with a blank.
    """
    physical = source.splitlines()
    i = 0
    while i < len(physical):
        first = i
        pieces: list[str] = []
        segments: list[tuple[int, int, int]] = []
        offset = 0
        while True:
            line = physical[i]
            more = i + 1 < len(physical)
            if more and _ends_with_continuation(line):
                piece = line[:-1]
            elif more and join_open and not is_complete("".join(pieces) + line):
                piece = line + " "
            else:
                piece, more = line, False
            segments.append((offset, i + 1, 0))
            pieces.append(piece)
            offset += len(piece)
            i += 1
            if not more:
                break
        text = "".join(pieces)
        if text.strip():
            yield Statement(
                text=text,
                segments=tuple(segments),
                lines=tuple(physical[first:i]),
                file=file,
            )


def _ends_with_continuation(line: str) -> bool:
    stripped = len(line) - len(line.rstrip("\\"))
    return stripped % 2 == 1  # an odd run: the last backslash is not escaped


def is_complete(text: str) -> bool:
    """False while typed input needs more lines: an open quote or bracket, or a
    trailing ``\\`` (the REPL then continues the input on a new line)."""
    lines = text.splitlines() or [""]
    if _ends_with_continuation(lines[-1]):
        return False
    depth = 0
    quote: str | None = None
    escaped = False
    comment = False
    for c in text:
        if comment:
            comment = c != "\n"
        elif escaped:
            escaped = False
        elif c == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if c == quote else quote
        elif c in "'\"" and depth == 0:
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])" and depth:
            depth -= 1
        elif c == "#" and depth == 0:
            comment = True
    return quote is None and depth == 0


# ---------------------------------------------------------------- lexing


@dataclass(frozen=True, slots=True)
class Word:
    """A word after quote removal and expansion.

    ``origin[i]`` is the ``(start, end)`` source span that produced ``text[i]``:
    one character for literal text, the whole ``$name`` for expanded text.
    """

    text: str
    origin: tuple[tuple[int, int], ...]
    span: Span

    def source_span(self, span: Span) -> Span:
        """Map a span inside ``text`` to a span of the statement text."""
        n = len(self.origin)
        if n == 0:
            return self.span
        if span.start >= n:  # just past the end of the word
            return Span(self.span.end, self.span.end + 1)
        lo = max(0, span.start)
        chunk = self.origin[lo : min(n, max(span.end, lo + 1))]
        return Span(min(s for s, _ in chunk), max(e for _, e in chunk))


Lookup = Callable[[str], "str | None"]


def lex(text: str, lookup: Lookup, *, split: bool = True, start: int = 0) -> list[Word]:
    """Split ``text`` (from offset ``start``) into words, expanding ``$name``.

    Whitespace separates words except inside quotes or ``[...]``/``(...)``;
    quotes are removed outside brackets (inside them they belong to the virtual
    file, ``[object="3C 273"]``). ``'...'`` suppresses expansion; ``\\x`` is a
    literal ``x``. A ``#`` that starts a word outside brackets starts a comment.
    With ``split=False`` the rest of the text is one word (a ``set`` value).
    ``lookup(name)`` returns a variable's value or ``None`` when it is unknown.
    """
    words: list[Word] = []
    chars: list[str] = []
    origin: list[tuple[int, int]] = []
    word_start: int | None = None
    depth = 0
    i = start
    n = len(text)

    def finish() -> None:
        nonlocal chars, origin, word_start
        if word_start is not None:
            # trailing blanks of an unsplit word are not part of it
            while not split and chars and chars[-1] in " \t":
                chars.pop()
                origin.pop()
            end = origin[-1][1] if origin else word_start
            words.append(Word("".join(chars), tuple(origin), Span(word_start, end)))
        chars, origin, word_start = [], [], None

    def put(s: str, src: tuple[int, int]) -> None:
        chars.extend(s)
        origin.extend([src] * len(s))

    while i < n:
        c = text[i]
        if c in " \t" and depth == 0 and split:
            finish()
            i += 1
            continue
        if (
            c == "#"
            and depth == 0
            and (word_start is None or (not split and _blank_before(text, i)))
        ):
            break
        if word_start is None:
            word_start = i
        if c == "\\" and i + 1 < n:
            put(text[i + 1], (i, i + 2))
            i += 2
        elif c == "$":
            i = _expand(text, i, lookup, put)
        elif c in "'\"" and depth == 0:
            i = _quoted(text, i, lookup, put)
        else:
            if c in "[(":
                depth += 1
            elif c in "])" and depth > 0:
                depth -= 1
            put(c, (i, i + 1))
            i += 1
    finish()
    return words


def _blank_before(text: str, i: int) -> bool:
    return i > 0 and text[i - 1] in " \t"


def _quoted(
    text: str, i: int, lookup: Lookup, put: Callable[[str, tuple[int, int]], None]
) -> int:
    quote = text[i]
    j = i + 1
    while j < len(text) and text[j] != quote:
        if (
            quote == '"'
            and text[j] == "\\"
            and j + 1 < len(text)
            and text[j + 1] in '"\\$'
        ):
            put(text[j + 1], (j, j + 2))
            j += 2
        elif quote == '"' and text[j] == "$":
            j = _expand(text, j, lookup, put)
        else:
            put(text[j], (j, j + 1))
            j += 1
    if j >= len(text):
        raise XdmSyntaxError(
            f"unclosed {quote} quote",
            source=text,
            span=Span(i, i + 1),
            expected=(quote,),
            hint=f"close the string with {quote}; use '...' around text holding \"",
        )
    return j + 1


def _expand(
    text: str, i: int, lookup: Lookup, put: Callable[[str, tuple[int, int]], None]
) -> int:
    """Expand ``$name`` or ``${name}`` at ``i``; a lone ``$`` stays literal."""
    if text.startswith("${", i):
        close = text.find("}", i + 2)
        name = text[i + 2 : close] if close > 0 else ""
        if close < 0 or not NAME.fullmatch(name):
            raise XdmSyntaxError(
                "bad variable reference",
                source=text,
                span=Span(i, close + 1 if close > 0 else len(text)),
                expected=("${name}",),
                hint="a variable name is letters, digits and _",
            )
        end = close + 1
    else:
        m = NAME.match(text, i + 1)
        if m is None:
            put("$", (i, i + 1))
            return i + 1
        name, end = m.group(), m.end()
    value = lookup(name)
    if value is None:
        raise XdmSyntaxError(
            f"undefined variable ${name}",
            source=text,
            span=Span(i, end),
            hint=f"define it first with: set {name} = VALUE"
            " (or give it on the command line: NAME=VALUE)",
        )
    put(value, (i, end))
    return end


# ---------------------------------------------------------------- errors


class ScriptError(XdmError):
    """An error met while running a statement, located in the script.

    ``cause`` is the original error; when it points into a word of the
    statement the caret is moved onto the script text, otherwise the cause is
    shown as it is after the located first line.
    """

    def __init__(
        self,
        cause: XdmError,
        statement: Statement,
        span: Span,
        *,
        relocated: bool,
    ) -> None:
        line, col, physical = statement.locate(span.start)
        width = max(1, span.end - span.start)
        super().__init__(
            cause.message,
            source=physical,
            span=Span(col - 1, col - 1 + width),
            expected=cause.expected,
            hint=cause.hint,
        )
        self.cause = cause
        self.statement = statement
        self.line = line
        self.column = col
        self.relocated = relocated
        self.exit_status = cause.exit_status

    @property
    def location(self) -> str:
        """``file:LINE:COL`` (``LINE:COL`` for typed input)."""
        where = f"{self.line}:{self.column}"
        return f"{self.statement.file}:{where}" if self.statement.file else where

    def render(self) -> str:
        prefix = f"{self.location}: " if self.statement.file else ""
        if not self.relocated:
            return f"{prefix}{self.cause.render()}"
        lines = [f"{prefix}error: {self.message}"]
        assert self.source is not None and self.span is not None
        lines.append(render_caret(self.source.expandtabs(1), self.span))
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


def _anchor(exc: XdmError, statement: Statement, words: list[Word]) -> ScriptError:
    """Re-anchor an error raised by a subcommand onto the statement's text."""
    if exc.source is not None and exc.span is not None:
        for word in words:
            offset = _find_source(word.text, exc.source)
            if offset is not None:
                inner = Span(exc.span.start + offset, exc.span.end + offset)
                return ScriptError(
                    exc, statement, word.source_span(inner), relocated=True
                )
    at = _mentioned(exc.message, words) or (words[0].span if words else Span(0, 1))
    has_caret = exc.source is not None and exc.span is not None
    return ScriptError(exc, statement, at, relocated=not has_caret)


FILE_LIKE = re.compile(r"[\w./~$+-]*[./][\w./~$+-]*\w")


def _mentioned(message: str, words: list[Word]) -> Span | None:
    """The argument an error message names (``output file o.fits exists``), or
    the file name it mentions inside an argument (``bad.reg:1: ...``)."""
    arguments = words[1:]
    for word in arguments:
        if len(word.text) > 1 and word.text in message:
            return word.span
    for token in FILE_LIKE.findall(message):
        for word in arguments:
            at = word.text.find(token)
            if at >= 0:
                return word.source_span(Span(at, at + len(token)))
    return None


def _find_source(word: str, source: str) -> int | None:
    if not source:
        return None
    if word == source:
        return 0
    key, eq, value = word.partition("=")  # CIAO key=value argument
    if eq and value == source and NAME.fullmatch(key):
        return len(key) + 1
    offset = word.find(source)
    return offset if offset >= 0 else None


# ---------------------------------------------------------------- running


def run_command(name: str, argv: list[str]) -> int:
    """Run the ``xdm`` subcommand ``name`` exactly as the command line does."""
    from xdm.cli.main import run_command as run

    return run(name, argv)


def _header_cache() -> HeaderCache:
    from xdm.io.blocks import HeaderCache

    return HeaderCache()


@dataclass
class Session:
    """Variables and state shared by the statements of a script or a REPL.

    ``pinned`` names were given on the command line and win over ``set``, so a
    script's ``set band = 300:2000`` is a default that ``band=500:7000`` on the
    command line replaces.
    """

    variables: dict[str, str] = field(default_factory=dict)
    pinned: frozenset[str] = frozenset()
    current_file: str | None = None
    summarise: Callable[[str], None] | None = None
    run_command: Callable[[str, list[str]], int] = run_command
    builtins: dict[str, Callable[[Session, list[Word], Statement], None]] = field(
        default_factory=dict
    )
    headers: HeaderCache = field(default_factory=lambda: _header_cache())
    """The session's ``xdm.io.blocks.HeaderCache``: each statement runs inside
    it, so the headers of a file the script keeps using are read once."""

    def lookup(self, name: str) -> str | None:
        """A script variable, else an environment variable, else ``None``."""
        if name in self.variables:
            return self.variables[name]
        return os.environ.get(name)

    def execute(self, statement: Statement) -> None:
        """Run one statement; errors come back as ``ScriptError``."""
        words: list[Word] = []
        try:
            if self._set(statement):
                return
            words = lex(statement.text, self.lookup)
            if not words:
                return
            with self.headers.active():
                self._dispatch(words, statement)
        except ScriptError:
            raise
        except XdmError as exc:
            if words:
                raise _anchor(exc, statement, words) from exc
            # a lexing error: its span is already an offset into the statement
            span = exc.span or Span(0, 1)
            raise ScriptError(exc, statement, span, relocated=True) from exc

    def _set(self, statement: Statement) -> bool:
        m = SET_STATEMENT.match(statement.text)
        if m is None:
            return False
        name = m.group(1)
        value = lex(statement.text, self.lookup, split=False, start=m.end())
        if name not in self.pinned:
            self.variables[name] = value[0].text if value else ""
        return True

    def _dispatch(self, words: list[Word], statement: Statement) -> None:
        from xdm.cli.main import commands as all_commands

        known = all_commands()
        if words[0].text == "xdm" and len(words) > 1:  # a pasted shell line
            words = words[1:]
        name = words[0].text
        argv = [w.text for w in words[1:]]
        if get_verbosity() >= 2:  # a trace of what runs, like sh -x
            print("+ " + shlex.join([name, *argv]), file=sys.stderr)
        if name in self.builtins:
            self.builtins[name](self, words, statement)
        elif name == "echo":
            print(" ".join(argv))
        elif name in known and name not in NOT_IN_SCRIPTS:
            self._remember_file(argv)
            status = self.run_command(name, argv)
            if status != 0:
                raise _failed(name, status)
        elif name == "set":
            if len(words) > 1:
                raise XdmSyntaxError(
                    "expected set NAME = VALUE",
                    source=statement.text,
                    span=words[1].span,
                    expected=("NAME = VALUE",),
                )
            for key, value in sorted(self.variables.items()):
                print(f"{key} = {value}")
        elif len(words) == 1 and self.summarise is not None and _looks_like_file(name):
            self._remember_file([name])
            self.summarise(name)
        else:
            raise XdmSyntaxError(
                f"unknown command {name!r}",
                source=name,
                span=Span(0, len(name)),
                expected=tuple(sorted({*known, "set", "echo"} - NOT_IN_SCRIPTS)),
                hint='quote a virtual file that holds spaces: "evt2.fits[...]"',
            )

    def _remember_file(self, argv: list[str]) -> None:
        """Note the first input file named, for completion of its columns."""
        for arg in argv:
            value = arg.partition("=")[2] if arg.startswith("infile=") else arg
            path = value.split("[", 1)[0]
            if _is_fits_name(path):
                self.current_file = path
                return


FITS_SUFFIXES = frozenset({".fits", ".fit", ".fts", ".evt", ".img", ".pha", ".lc"})


def _is_fits_name(path: str) -> bool:
    return any(s.lower() in FITS_SUFFIXES for s in Path(path).suffixes)


def _looks_like_file(text: str) -> bool:
    return "[" in text or _is_fits_name(text)


def _failed(name: str, status: int) -> XdmError:
    error = XdmExecutionError(
        f"{name} failed with exit status {status}", hint="the messages above say why"
    )
    error.exit_status = status
    return error


def run_script(
    path: str | Path,
    variables: dict[str, str] | None = None,
    session: Session | None = None,
) -> Session:
    """Run the statements of ``path`` in order; stop at the first error.

    ``variables`` (from the command line) are pinned: ``set`` does not change
    them; ``$SCRIPT_DIR`` is the script's folder. Raises ``ScriptError``
    located at ``path:LINE:COL``.
    """
    path = Path(path)
    try:
        source = path.read_text()
    except OSError as exc:
        raise XdmIOError(
            f"cannot read script {str(path)!r}: {exc.strerror or exc}",
            hint="check the file name",
        ) from None
    session = session or Session()
    session.variables["SCRIPT_DIR"] = str(path.resolve().parent)
    session.variables.update(variables or {})
    session.pinned = session.pinned | frozenset(variables or {})
    for statement in read_statements(source, file=str(path)):
        session.execute(statement)
    return session
