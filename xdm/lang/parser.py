"""Text -> xdm nodes: builds the LALR parser once and translates lark errors.

``parse`` reads a virtual file, ``parse_region`` a region expression and
``parse_filter`` the text of a ``@filter.lis`` file. Every failure is an
``XdmSyntaxError`` (or its region flavour) carrying the source, a span and a
message in the user's words; lark exceptions never escape this module.

Speed: lark builds the grammar analysis and the LALR tables (``get_parser``);
``xdm.lang.fastparse`` runs those tables in a small driver that gives the same nodes
as lark's parser plus ``xdm.lang.transform.from_tree`` (``parse_slow``, the
reference), 2.5-5x faster and without importing lark once its tables are saved.
Where it gets stuck it reports the offset, the token and the terminals the
state accepts; ``xdm.lang.friendly`` words that for the user.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from xdm.errors import Span, XdmSyntaxError
from xdm.lang.fastparse import Machine, StuckError, load_tables

if TYPE_CHECKING:
    from lark import Lark, Tree

    from xdm.lang.nodes import FilterExpr, RegionExpr, VirtualFile

__all__ = [
    "cache_folder",
    "get_parser",
    "grammar_cache_file",
    "parse",
    "parse_filter",
    "parse_region",
    "parse_slow",
    "parse_tree",
]

START_RULES = ("start", "region_start", "filter_start")


@lru_cache(maxsize=1)
def get_parser() -> Lark:
    """The one lark LALR parser (built on first use, then reused)."""
    from lark import Lark

    return Lark.open_from_package(
        "xdm.grammar",
        "xdm.lark",
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        start=list(START_RULES),
        cache=grammar_cache_file(),  # saved LALR tables: cold start 150 -> 15 ms
    )


def cache_folder() -> str | None:
    """The user's own cache folder for xdm (None if it cannot be written).

    Not lark's default for its cache (a predictable name in the shared temp
    folder, loaded with pickle)."""
    import os
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    folder = Path(base) / "xdm"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    return str(folder)


def grammar_cache_file() -> str | bool:
    """Where lark keeps the analysed grammar, in ``cache_folder()``.

    lark checks the grammar's hash on load and rebuilds a stale file; without
    a writable cache folder it builds the tables every time (False).
    """
    from lark import __version__ as lark_version

    folder = cache_folder()
    if folder is None:
        return False
    python = f"{sys.version_info[0]}{sys.version_info[1]}"
    return f"{folder}/grammar-lark{lark_version}-py{python}.cache"


# The driver's tables are kept in the same folder as lark's cache
# (``xdm.lang.fastparse.load_tables``): a fresh process parses without lark.
@lru_cache(maxsize=1)
def _machine() -> Machine:
    return Machine(load_tables(get_parser, cache_folder()))


def string_terminals() -> dict[str, str]:
    """The grammar's string terminals, name -> text (``RSQB`` -> ``]``), for
    messages; read from the driver's tables, so lark need not be imported."""
    return _machine().literals


def parse_tree(text: str, start: str = "start") -> Tree[Any]:
    """The raw lark tree of ``text`` (for ``xdm parse --tree`` and tests)."""
    from lark.exceptions import UnexpectedInput

    try:
        return get_parser().parse(text, start=start)
    except UnexpectedInput as exc:
        from xdm.lang.friendly import from_lark, syntax_error

        err = syntax_error(text, from_lark(text, exc), start, string_terminals())
        err.lark_error = exc  # type: ignore[attr-defined]
        raise err from None


def _check_empty(text: str, start: str) -> None:
    if not text.strip():
        what = {"start": "a file name", "region_start": "a region"}.get(
            start, "a filter"
        )
        raise XdmSyntaxError(
            f"empty input; expected {what}",
            source=text,
            span=Span(len(text), len(text)),
        )


# Nodes are immutable, so a text parsed before can hand back the same tree:
# scripts, the REPL and the planner parse the same strings again and again.
CACHE_SIZE = 1024


def _to_ast(text: str, start: str, cached: bool = True) -> Any:
    try:
        if cached:
            return _run_cached(text, start)
        return _run(text, start)
    except StuckError as exc:
        from xdm.lang.friendly import syntax_error

        raise syntax_error(text, exc.stuck, start, string_terminals()) from None


MAX_NESTING = 100
"""Deepest tree a text may give (``!!!...circle``, ``(a||(b||(...``): deeper
trees would overflow the recursion of the later stages and numexpr's own
parser (200 nested parentheses), so they are refused here with a clean error."""


def _run(text: str, start: str) -> Any:
    _check_empty(text, start)
    tree = _machine().run(text, start)
    if len(text) > MAX_NESTING:  # a shorter text cannot nest deeper
        _check_nesting(text, tree)
    return tree


def _check_nesting(text: str, tree: Any) -> None:
    """Raise XdmSyntaxError if ``tree`` is nested deeper than ``MAX_NESTING``
    (walked without recursion; nodes are dataclasses, children in tuples)."""
    fields: dict[type, tuple[str, ...]] = {}
    stack: list[tuple[Any, int]] = [(tree, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        kind = type(node)
        if kind is tuple or kind is list:
            for item in node:
                push((item, depth))
            continue
        names = fields.get(kind)
        if names is None:
            found = getattr(kind, "__dataclass_fields__", None)
            names = fields[kind] = () if found is None or kind is Span else tuple(found)
        if not names:
            continue
        if depth > MAX_NESTING:
            span = getattr(node, "span", None)
            raise XdmSyntaxError(
                f"expression nested too deeply (more than {MAX_NESTING} levels)",
                source=text,
                span=span if isinstance(span, Span) else Span(0, len(text)),
                hint="write the filter or region with fewer nested levels",
            )
        for name in names:
            child = getattr(node, name)
            if child is not None and not isinstance(child, str | int | float | Span):
                push((child, depth + 1))


_run_cached = lru_cache(maxsize=CACHE_SIZE)(_run)


def parse_slow(text: str, start: str = "start") -> Any:
    """The reference path: lark Tree, then ``xdm.lang.transform.from_tree``."""
    from xdm.lang.transform import from_tree

    _check_empty(text, start)
    return from_tree(parse_tree(text, start), text)


def parse(text: str, *, cached: bool = True) -> VirtualFile:
    """Parse a virtual file: ``evt2.fits[energy=300:2000][bin sky=8]``.

    ``cached=False`` parses again even if ``text`` was seen before (the result is
    equal either way; the cache holds the last ``CACHE_SIZE`` texts).

    Raises
    ------
    XdmSyntaxError
        With the source, a span and what was expected.
    """
    return _to_ast(text, "start", cached)  # type: ignore[no-any-return]


def parse_region(text: str, *, cached: bool = True) -> RegionExpr:
    """Parse a region expression: ``circle(4096,4096,20)-box(4100,4100,4,4)``."""
    return _to_ast(text, "region_start", cached)  # type: ignore[no-any-return]


def _is_comment(line: str) -> bool:
    return line.startswith("#") and not (
        line[1:2].isdigit() or line[1:4].lower() == "row"
    )


def parse_filter(text: str) -> FilterExpr:
    """Parse filter text as written inside brackets (``@filter.lis`` files).

    Lines are joined with ``,``; blank lines and ``#`` comment lines are skipped
    (``#row=...`` and ``#1=...`` are filters, not comments).
    """
    lines = [ln.strip() for ln in text.splitlines()]
    joined = ",".join(ln for ln in lines if ln and not _is_comment(ln))
    return _to_ast(joined, "filter_start")  # type: ignore[no-any-return]
