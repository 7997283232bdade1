"""rich output for the REPL and ``xdm run``: summaries, image previews, coloured errors.

Takes values from ``xdm.summary`` and ``XdmError``; prints nothing it did not
get. User text is wrapped in ``rich.text.Text`` (never markup), so the brackets
of a virtual file are shown as typed. Off a terminal rich drops the colours and
the preview falls back to ASCII shading.
"""

from __future__ import annotations

import itertools
import math
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from xdm.errors import XdmError
    from xdm.summary import ImageSummary, TableSummary

__all__ = [
    "format_value",
    "make_console",
    "print_error",
    "print_summary",
    "render_preview",
    "render_summary",
]

ASCII_RAMP = " .:-=+*#%@"
HEAT = (
    (0.0, (0, 0, 0)),
    (0.35, (150, 20, 0)),
    (0.7, (255, 170, 0)),
    (1.0, (255, 255, 230)),
)
"""Colour stops of the preview (ds9's "heat"-like), by scaled brightness."""


def make_console(*, stderr: bool = False, **options: Any) -> Console:
    """A rich console on stdout (or stderr), highlighting off: we colour explicitly."""
    from rich.console import Console

    return Console(
        file=sys.stderr if stderr else sys.stdout, highlight=False, **options
    )


def format_value(value: float | None, digits: int = 10) -> str:
    """Short text for a number: integers whole, others to ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def render_summary(
    summary: TableSummary | ImageSummary, console: Console
) -> RenderableType:
    """A rich renderable for a table or image summary."""
    from xdm.summary import TableSummary

    if isinstance(summary, TableSummary):
        return _table(summary)
    return _image(summary, console)


def print_summary(text: str, console: Console | None = None) -> None:
    """Read the virtual file ``text`` and print its summary."""
    from xdm.summary import describe

    console = console or make_console()
    console.print(render_summary(describe(text), console), soft_wrap=True)


def _title(source: str, block: str | None, kind: str) -> Any:
    from rich.text import Text

    title = Text(source, style="bold")
    if block:
        title.append(f"  {kind} {block}", style="dim")
    return title


def _table(summary: TableSummary) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    line = Text(summary.rows_text, style="bold green")
    if summary.good_time_s is not None:
        line.append(
            f"   good time {summary.good_time_s:,.1f} s",
            style="cyan",
        )
    columns = Table(box=None, pad_edge=False, header_style="bold")
    for heading, justify in (
        ("column", "left"),
        ("unit", "left"),
        ("type", "left"),
        ("min", "right"),
        ("max", "right"),
    ):
        columns.add_column(heading, justify=justify)  # type: ignore[arg-type]
    for col in summary.columns:
        kind = col.dtype if col.width == 1 else f"{col.dtype}[{col.width}]"
        digits = 8 if col.dtype in ("float32", "float16") else 10
        columns.add_row(
            Text(col.name),
            Text(col.unit or ""),
            Text(kind, style="dim"),
            format_value(col.lo, digits),
            format_value(col.hi, digits),
        )
    return Group(_title(summary.source, summary.block, "block"), line, columns)


def _image(summary: ImageSummary, console: Console) -> RenderableType:
    from rich.console import Group
    from rich.text import Text

    shape = " x ".join(str(n) for n in reversed(summary.shape))
    line = Text(f"image {shape}", style="bold green")
    if summary.has_wcs:
        line.append("  (WCS)", style="dim")
    unit = f" {summary.unit}" if summary.unit else ""
    stats = Text(
        f"sum {format_value(summary.total)}{unit}   "
        f"min {format_value(summary.lo)}   max {format_value(summary.hi)}"
    )
    parts: list[Any] = [_title(summary.source, summary.block, "block"), line, stats]
    if summary.thumbnail is not None and summary.thumbnail.size:
        if summary.thumbnail_box is not None:
            x0, x1, y0, y1 = summary.thumbnail_box
            note = f"preview of pixels x {x0}:{x1}, y {y0}:{y1}"
            parts.append(Text(note, style="dim"))
        colour = console.color_system is not None
        parts.append(render_preview(summary.thumbnail, colour=colour))
    return Group(*parts)


def render_preview(thumbnail: Any, *, colour: bool) -> Any:
    """The thumbnail as text, north up: coloured half blocks, else ASCII shading.

    Brightness is ``log1p(v) / log1p(max)`` so faint structure stays visible.
    """
    import numpy as np
    from rich.text import Text

    cells = np.flipud(
        np.asarray(thumbnail, dtype=np.float64)
    )  # FITS row 1 at the bottom
    top = float(cells.max()) if cells.size else 0.0
    scaled = (
        np.log1p(np.clip(cells, 0, None)) / math.log1p(top) if top > 0 else cells * 0
    )
    text = Text()
    if colour:
        if len(scaled) % 2:
            scaled = np.vstack([scaled, np.zeros((1, scaled.shape[1]))])
        for upper, lower in zip(scaled[0::2], scaled[1::2]):
            for a, b in zip(upper, lower):
                text.append("▀", style=f"{_heat(a)} on {_heat(b)}")
            text.append("\n")
    else:
        if len(scaled) % 2:  # a character is about two pixels tall
            scaled = np.vstack([scaled, np.zeros((1, scaled.shape[1]))])
        pairs = (scaled[0::2] + scaled[1::2]) / 2
        last = len(ASCII_RAMP) - 1
        for row in pairs:
            text.append("".join(ASCII_RAMP[round(v * last)] for v in row) + "\n")
    text.rstrip()
    return text


def _heat(v: float) -> str:
    for (x0, c0), (x1, c1) in itertools.pairwise(HEAT):
        if v <= x1:
            t = 0.0 if x1 == x0 else (v - x0) / (x1 - x0)
            r, g, b = (round(a + (b - a) * t) for a, b in zip(c0, c1))
            return f"rgb({r},{g},{b})"
    r, g, b = HEAT[-1][1]
    return f"rgb({r},{g},{b})"


def print_error(error: XdmError, console: Console | None = None) -> None:
    """Print ``error.render()`` with colour: message red, caret red, hint cyan."""
    from rich.text import Text

    console = console or make_console(stderr=True)
    for line in error.render().splitlines():
        stripped = line.strip()
        if "error: " in line and not line.startswith("  "):
            where, _, message = line.partition("error: ")
            text = Text(where, style="bold")
            text.append("error: ", style="bold red")
            text.append(message)
        elif line.startswith("hint: "):
            text = Text("hint: ", style="bold cyan")
            text.append(line[6:])
        elif stripped and set(stripped) <= {"^", "~"}:
            text = Text(line, style="bold red")
        else:
            text = Text(line)
        console.print(text, soft_wrap=True)
