"""Text -> xdm nodes: builds the LALR parser once and translates lark errors.

``parse`` reads a virtual file, ``parse_region`` a region expression and
``parse_filter`` the text of a ``@filter.lis`` file. Every failure is an
``XdmSyntaxError`` (or its region flavour) carrying the source, a span and a
message in the user's words; lark exceptions never escape this module.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from xdm.errors import XdmSyntaxError

if TYPE_CHECKING:
    from lark import Lark, Tree

    from xdm.nodes import FilterExpr, RegionExpr, VirtualFile

__all__ = ["get_parser", "parse", "parse_filter", "parse_region", "parse_tree"]

START_RULES = ("start", "region_start", "filter_start")


@lru_cache(maxsize=1)
def get_parser() -> Lark:
    """The one LALR parser (built on first use, then reused)."""
    from lark import Lark

    return Lark.open_from_package(
        "xdm.grammar",
        "xdm.lark",
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        start=list(START_RULES),
    )


def parse_tree(text: str, start: str = "start") -> Tree[Any]:
    """The raw lark tree of ``text`` (for ``xdm parse --tree`` and debugging)."""
    from lark.exceptions import UnexpectedInput

    try:
        return get_parser().parse(text, start=start)
    except UnexpectedInput as exc:
        from xdm.friendly import syntax_error

        raise syntax_error(text, exc, start) from None


def _to_ast(text: str, start: str) -> Any:
    from xdm.transform import Transform

    if not text.strip():
        what = {"start": "a file name", "region_start": "a region"}.get(
            start, "a filter"
        )
        raise XdmSyntaxError(
            f"empty input; expected {what}", source=text, span=_end(text)
        )
    from lark.exceptions import VisitError

    tree = parse_tree(text, start)
    try:
        return Transform(text).transform(tree)
    except VisitError as exc:  # an XdmSyntaxError raised inside a rule method
        raise exc.orig_exc from None


def _end(text: str) -> Any:
    from xdm.errors import Span

    return Span(len(text), len(text))


def parse(text: str) -> VirtualFile:
    """Parse a virtual file: ``evt2.fits[energy=300:2000][bin sky=8]``.

    Raises
    ------
    XdmSyntaxError
        With the source, a span and what was expected.
    """
    return _to_ast(text, "start")  # type: ignore[no-any-return]


def parse_region(text: str) -> RegionExpr:
    """Parse a region expression: ``circle(4096,4096,20)-box(4100,4100,4,4)``."""
    return _to_ast(text, "region_start")  # type: ignore[no-any-return]


def parse_filter(text: str) -> FilterExpr:
    """Parse filter text as written inside brackets (``@filter.lis`` files).

    Lines are joined with ``,``; blank lines and ``#`` comment lines are skipped.
    """
    lines = [ln.strip() for ln in text.splitlines()]
    joined = ",".join(ln for ln in lines if ln and not ln.startswith("#"))
    return _to_ast(joined, "filter_start")  # type: ignore[no-any-return]
