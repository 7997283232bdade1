"""Error classes for xdm, source spans, and the plain-text caret renderer.

Every error about user input carries the source text, a span, a message in the
user's words, what was expected and a hint. Rendering is a separate function so
the CLI, the REPL and the script runner show errors the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Span",
    "XdmError",
    "XdmExecutionError",
    "XdmIOError",
    "XdmRegionError",
    "XdmRegionSyntaxError",
    "XdmSemanticError",
    "XdmSyntaxError",
    "render_caret",
]


@dataclass(frozen=True, slots=True)
class Span:
    """Half-open character offsets ``[start, end)`` into the source text."""

    start: int
    end: int


class XdmError(Exception):
    """Base of every xdm error. ``exit_status`` is 2 for user errors, 1 for failures."""

    exit_status = 2

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        span: Span | None = None,
        expected: tuple[str, ...] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.span = span
        self.expected = expected
        self.hint = hint

    def render(self) -> str:
        """The message, the source with a caret under the span, and the hint."""
        lines = [f"error: {self.message}"]
        if self.source is not None and self.span is not None:
            lines.append(render_caret(self.source, self.span))
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class XdmSyntaxError(XdmError):
    """The grammar rejects the input."""


class XdmSemanticError(XdmError):
    """Valid syntax, invalid meaning: unknown column, wrong type, bad range."""


class XdmRegionError(XdmError):
    """A bad region: unknown shape, wrong argument count, unreadable file."""


class XdmRegionSyntaxError(XdmSyntaxError, XdmRegionError):
    """A region written wrongly: unknown shape name, wrong argument count.

    Both a syntax error (the parser raises it) and a region error, so either
    ``except`` catches it.
    """


class XdmIOError(XdmError):
    """A file cannot be read or written: missing, not FITS, no such block, clobber."""


class XdmExecutionError(XdmError):
    """A plan step failed for a reason that is not the user's input."""

    exit_status = 1


def render_caret(source: str, span: Span, indent: str = "  ") -> str:
    """Show the line of ``source`` holding ``span`` with ``^~~`` under it.

    A span at the end of the input puts the caret just past the last character.
    """
    start = max(0, min(span.start, len(source)))
    end = max(start, min(span.end, len(source)))
    line_start = source.rfind("\n", 0, start) + 1
    line_end = source.find("\n", start)
    if line_end < 0:
        line_end = len(source)
    line = source[line_start:line_end]
    col = start - line_start
    width = max(1, min(end, line_end) - start)
    return f"{indent}{line}\n{indent}{' ' * col}^{'~' * (width - 1)}"
