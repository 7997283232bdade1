"""The interactive prompt: the statements of ``.xdm`` scripts, typed one at a time.

prompt_toolkit gives history (kept across sessions), Tab completion (commands,
file names, block and column names read from the file at hand, keywords, shape
names, ``$variables``), syntax colouring and multi-line input (an open quote,
bracket or trailing ``\\`` continues the input). Statements run through the
same ``script.Session`` as ``xdm run``; a typed virtual file is summarised, and
an error is shown with its caret while the session goes on.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xdm.cli.script import Session, Statement, Word, is_complete, read_statements
from xdm.errors import XdmError
from xdm.lang.options import completions as option_completions
from xdm.lang.shapes import SHAPE_NAMES

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent, Completion
    from prompt_toolkit.document import Document

__all__ = [
    "KEYWORDS",
    "SHAPES",
    "FileSchema",
    "Repl",
    "complete",
    "file_schema",
    "history_path",
    "main_loop",
]

KEYWORDS = ("bin", "cols", "opt", "filter", "exclude", "subspace")
SHAPES = (*SHAPE_NAMES, "region", "mask")
"""Completed after a vector column's ``=``: the shapes, then region and mask files."""
REPL_COMMANDS = ("help", "quit", "exit", "set", "echo")

HELP = """\
Type a virtual file to see what it selects, e.g.
  evt2.fits[energy=300:2000]               rows kept, column ranges, good time
  evt2.fits[energy=300:2000][bin sky=8]    image shape, sum, min/max, preview
Commands (the same as in .xdm scripts and on the command line):
  copy "IN[...]" OUT [clobber=yes]  (alias dmcopy)   write the result to a file
  explain "IN[...]"                                   show the evaluation plan
  parse "IN[...]"                                     show the syntax tree
  run FILE.xdm [name=value ...]                       run a script
  set NAME = VALUE      then use $NAME or ${NAME};  `set` alone lists them
  echo TEXT             help             quit (or Ctrl-D)
Tab completes commands, files, blocks, columns, keywords and shapes.
An open quote or bracket, or a trailing \\, continues the input on a new line.
Language reference: docs/syntax.md"""


def history_path() -> Path:
    """``$XDM_HISTORY``, else ``~/.xdm_history``."""
    return Path(os.environ.get("XDM_HISTORY") or Path.home() / ".xdm_history")


# ---------------------------------------------------------------- file schemas


@dataclass(frozen=True, slots=True)
class FileSchema:
    """Block names of a file; column and vector names of each (keys upper case)."""

    blocks: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]
    vectors: dict[str, tuple[str, ...]]
    default_block: str

    def block(self, name: str | None) -> str:
        """The block ``name`` refers to (case-insensitive), else the default one."""
        key = (name or "").upper()
        return key if key in self.columns else self.default_block


_SCHEMAS: dict[tuple[str, float], FileSchema | None] = {}


def file_schema(path: str) -> FileSchema | None:
    """Headers only, cached per (path, mtime); ``None`` if it is not a FITS file."""
    real = Path(os.path.expanduser(os.path.expandvars(path)))
    try:
        key = (str(real.resolve()), real.stat().st_mtime)
    except OSError:
        return None
    if not real.is_file():
        return None
    if key not in _SCHEMAS:
        _SCHEMAS[key] = _read_schema(str(real))
    return _SCHEMAS[key]


def _read_schema(path: str) -> FileSchema | None:
    from xdm.io.blocks import HeaderCache, block_names, open_block

    cache = HeaderCache()  # the file's headers are read once for all its blocks
    try:
        with open_block(path, cache=cache) as default:
            names = block_names(default.hdul)
            default_name = default.name.upper()
        columns: dict[str, tuple[str, ...]] = {}
        vectors: dict[str, tuple[str, ...]] = {}
        for i, name in enumerate(names):
            with open_block(path, block_number=i + 1, cache=cache) as block:
                columns[name.upper()] = tuple(c.name for c in block.columns)
                vectors[name.upper()] = tuple(sorted(block.vectors))
        return FileSchema(tuple(names), columns, vectors, default_name)
    except (XdmError, OSError, ValueError):
        return None


# ---------------------------------------------------------------- completion

IDENT_TAIL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$|$")
VARIABLE_TAIL = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)?$")
VECTOR_NAMES = ("sky", "pos", "chip", "det", "tdet", "eqpos")


def complete(text: str, session: Session) -> tuple[int, list[str]]:
    """Completions for the input ``text`` (cursor at its end).

    Returns how many characters before the cursor are replaced and the
    candidates, in the order they are offered.
    """
    word, first = _current_word(text)
    m = VARIABLE_TAIL.search(word)
    if m:
        stem = m.group(1) or ""
        return len(stem), sorted(n for n in session.variables if n.startswith(stem))
    depth, groups = _groups(word)
    if depth == 0:
        return _outside(word, first)
    inside = groups[-1]
    prefix = IDENT_TAIL.search(inside).group()  # type: ignore[union-attr]
    before = inside[: len(inside) - len(prefix)]
    if not prefix and re.search(r"[0-9.]$", before):
        return 0, []  # in the middle of a number
    if re.search(r"(@|(region|mask)\()$", before):
        return len(prefix), _paths(prefix)
    schema = file_schema(_path_part(word) or session.current_file or "")
    names = _bracket_names(before, groups, schema)
    lowered = prefix.lower()
    unique = dict.fromkeys(n for n in names if n.lower().startswith(lowered))
    return len(prefix), list(unique)


def _outside(word: str, first: bool) -> tuple[int, list[str]]:
    """A command or a file name (also after a CIAO ``infile=``)."""
    from xdm.cli.main import commands as all_commands

    known = all_commands()

    key = re.match(r"[A-Za-z_]+=", word)
    stem = word[key.end() :] if key else word
    candidates = _paths(stem)
    if first:
        commands = sorted({*known, *REPL_COMMANDS} - {"repl"})
        candidates = [c for c in commands if c.startswith(word)] + candidates
    return len(stem), candidates


def _bracket_names(
    before: str, groups: list[str], schema: FileSchema | None
) -> list[str]:
    """What may follow ``before`` inside the last open bracket group."""
    block = schema.block(groups[0].strip()) if schema and len(groups) > 1 else None
    if schema is not None:
        block = block or schema.default_block
        columns = list(schema.columns.get(block, ()))
        vectors = [
            v
            for v in schema.vectors.get(block, ())
            if v.lower() not in {c.lower() for c in columns}
        ]
    else:
        columns, vectors = [], []
    head = before.lstrip().split(" ", 1)[0].lower()
    if head in ("cols", "col", "subspace") and " " in before.lstrip():
        return columns
    if head == "opt" and " " in before.lstrip():
        return option_completions(before)
    if head == "bin" and " " in before.lstrip():
        return [*vectors, *columns]
    vector_names = {*VECTOR_NAMES, *(v.lower() for v in vectors)}
    assigned = re.search(r"([A-Za-z_][A-Za-z0-9_]*|\))\s*=\s*[!(]*$", before)
    if assigned and (
        assigned.group(1) == ")" or assigned.group(1).lower() in vector_names
    ):
        return list(SHAPES)
    if re.search(r"\)\s*[-+*&|]\s*!?$", before):
        return list(SHAPES)
    if assigned or re.search(r"[=<>:]\s*$", before):
        return []  # a value is expected
    if not before.strip() and len(groups) == 1 and schema is not None:
        return [*schema.blocks, *KEYWORDS, *vectors, *columns]
    if not before.strip():
        return [*KEYWORDS, *vectors, *columns]
    return [*vectors, *columns]


def _current_word(text: str) -> tuple[str, bool]:
    """The word the cursor is in (quotes removed) and whether it is the first."""
    start = 0
    depth = 0
    quote: str | None = None
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])" and depth:
            depth -= 1
        elif c in " \t\n" and depth == 0:
            start = i + 1
    word = text[start:]
    return word.replace('"', "").replace("'", ""), not text[:start].strip()


def _groups(word: str) -> tuple[int, list[str]]:
    """Bracket depth at the end of ``word`` and the texts of its top-level groups."""
    depth = 0
    groups: list[str] = []
    opened = 0
    for i, c in enumerate(word):
        if c == "[":
            if depth == 0:
                opened = i + 1
            depth += 1
        elif c == "]" and depth > 0:
            depth -= 1
            if depth == 0:
                groups.append(word[opened:i])
    if depth:
        groups.append(word[opened:])
    return depth, groups


def _path_part(word: str) -> str | None:
    path = word.split("[", 1)[0]
    key = re.match(r"[A-Za-z_]+=", path)
    return (path[key.end() :] if key else path) or None


def _paths(prefix: str) -> list[str]:
    """File names starting with ``prefix`` (directories end with ``/``)."""
    folder, slash, stem = prefix.rpartition("/")
    base = Path(os.path.expanduser(folder + slash)) if slash else Path(".")
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return []
    return [
        f"{folder}{slash}{entry.name}" + ("/" if entry.is_dir() else "")
        for entry in entries
        if entry.name.startswith(stem) and (stem or not entry.name.startswith("."))
    ]


class _Completer:
    """prompt_toolkit adapter for ``complete``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        from prompt_toolkit.completion import Completion

        replace, candidates = complete(document.text_before_cursor, self.session)
        for candidate in candidates:
            yield Completion(candidate, start_position=-replace)

    async def get_completions_async(
        self, document: Document, complete_event: CompleteEvent
    ) -> Any:
        for completion in self.get_completions(document, complete_event):
            yield completion


# ---------------------------------------------------------------- colouring

TOKEN = re.compile(
    r"""(?P<comment>(?<![\S])\#.*$)
      |(?P<string>"[^"]*"?|'[^']*'?)
      |(?P<variable>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
      |(?P<bracket>[\[\]()])
      |(?P<number>(?<![A-Za-z_0-9.])[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)
      |(?P<word>[A-Za-z_][A-Za-z0-9_/]*)
      |(?P<operator>[=:,;<>!&|*+-]+)
    """,
    re.VERBOSE,
)
STYLES = {
    "comment": "#888888 italic",
    "string": "#8fbf6f",
    "variable": "#d7875f bold",
    "bracket": "#5fafd7 bold",
    "number": "#af87ff",
    "keyword": "#ffaf00 bold",
    "shape": "#5fd7af",
    "command": "bold",
    "operator": "#5fafd7",
}


def highlight(line: str) -> list[tuple[str, str]]:
    """Style fragments for one line of input (prompt_toolkit's format)."""
    from xdm.cli.main import commands as all_commands

    known = all_commands()

    fragments: list[tuple[str, str]] = []
    pos = 0
    first_word = True
    for m in TOKEN.finditer(line):
        if m.start() > pos:
            fragments.append(("", line[pos : m.start()]))
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "word":
            lower = text.lower()
            if first_word and (lower in known or lower in REPL_COMMANDS):
                kind = "command"
            elif lower in KEYWORDS:
                kind = "keyword"
            elif lower in SHAPES:
                kind = "shape"
            else:
                kind = ""
        if kind != "comment":
            first_word = False
        fragments.append((STYLES.get(kind, ""), text))
        pos = m.end()
    if pos < len(line):
        fragments.append(("", line[pos:]))
    return fragments


class _Lexer:
    """prompt_toolkit lexer over ``highlight``."""

    def lex_document(self, document: Document) -> Any:
        lines = document.lines

        def get_line(number: int) -> list[tuple[str, str]]:
            return highlight(lines[number]) if number < len(lines) else []

        return get_line

    def invalidation_hash(self) -> int:
        return id(self)


# ---------------------------------------------------------------- the loop


class Repl:
    """One interactive session: variables, the current file, and the error count."""

    def __init__(self) -> None:
        from xdm.cli.render import make_console

        self.console = make_console()
        self.errors = 0
        self.done = False
        self.session = Session(
            summarise=self._summarise,
            run_command=self._run_command,
            builtins={"help": self._help, "quit": self._quit, "exit": self._quit},
        )

    def _run_command(self, name: str, argv: list[str]) -> int:
        """Run a subcommand; after a copy, say what was written (dmcopy is silent)."""
        from xdm.cli.script import run_command

        status = run_command(name, argv)
        if status == 0 and name in ("copy", "dmcopy"):
            from rich.text import Text

            from xdm.cli.cmd_copy import parse_args

            outfile = parse_args(argv).get("outfile")
            if outfile:
                self.console.print(Text(f"wrote {outfile}", style="dim"))
        return status

    def _summarise(self, text: str) -> None:
        from xdm.cli.cmd_summary import show  # the summary, then any advice

        show(text, self.console)

    def _help(self, session: Session, words: list[Word], statement: Statement) -> None:
        print(HELP)

    def _quit(self, session: Session, words: list[Word], statement: Statement) -> None:
        self.done = True

    def execute(self, text: str, *, keep_going: bool = False) -> None:
        """Run typed input (one or more statements); show errors and go on.

        An error ends the typed input; ``keep_going`` (piped input) runs the
        statements after it too, as at the prompt line by line.
        """
        from xdm.cli.render import print_error

        for statement in read_statements(text, join_open=True):
            try:
                self.session.execute(statement)
            except XdmError as exc:
                self.errors += 1
                print_error(exc)
                if keep_going:
                    continue
                return
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                return
            except Exception as exc:  # a bug: report it, keep the session
                self.errors += 1
                print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
                if keep_going:
                    continue
                return
            if self.done:
                return


def _key_bindings() -> Any:
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    @bindings.add("enter")
    def _(event: Any) -> None:
        buffer = event.current_buffer
        if is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return bindings


def main_loop(repl: Repl | None = None) -> int:
    """Prompt until ``quit`` or Ctrl-D; exit status 0 (2 if input came from a pipe
    and some statement failed)."""
    repl = repl or Repl()
    if not sys.stdin.isatty():
        return _piped(repl, sys.stdin)
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from xdm import __version__

    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    prompt: PromptSession[str] = PromptSession(
        history=FileHistory(str(path)),
        completer=_Completer(repl.session),  # type: ignore[arg-type]
        lexer=_Lexer(),  # type: ignore[arg-type]
        multiline=True,
        key_bindings=_key_bindings(),
        prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ",
        complete_while_typing=False,
        rprompt=lambda: waiting_for(prompt.default_buffer.text),  # why Enter waits
    )
    print(f"xdm {__version__} - type a virtual file, `help`, or `quit`")
    while not repl.done:
        try:
            text = prompt.prompt("xdm> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        repl.execute(text)
    return 0


def waiting_for(text: str) -> str:
    """What an incomplete input waits for (shown at the right of the prompt).

    >>> waiting_for("evt.fits[sky=circle(1,2")
    "waiting for ')' and ']' (Esc Enter runs it as typed)"
    >>> waiting_for("evt.fits[energy=300:2000]")
    ''
    """
    if is_complete(text):
        return ""
    closers = {"(": ")", "[": "]"}
    stack: list[str] = []
    quote: str | None = None
    for c in text:
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"" and not stack:
            quote = c
        elif c in closers:
            stack.append(closers[c])
        elif c in ")]" and stack:
            stack.pop()
    if quote:
        wanted = f"the closing {quote}"
    elif stack:
        wanted = " and ".join(f"'{c}'" for c in reversed(stack))
    else:
        wanted = "the line after the trailing \\"
    return f"waiting for {wanted} (Esc Enter runs it as typed)"


def _piped(repl: Repl, lines: Iterable[str]) -> int:
    repl.execute("".join(lines), keep_going=True)  # every statement, as typed
    return 2 if repl.errors else 0
