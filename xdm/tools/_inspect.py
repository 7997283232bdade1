"""Shared pieces of the inspection tools (dmlist, dmstat): headers, types, output.

``output_header`` gives the header of what a virtual file selects (the block's
own header when nothing is filtered; the engine's output header otherwise), so
``dmlist "evt.fits[bin sky=8]" header`` shows the image's keywords as CIAO does.
``Sink`` sends report lines to stdout (at ``verbose >= 1``), to an output file
and/or keeps them for the Python caller; on a terminal tables are drawn by rich.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xdm.io.tforms import TFORMS
from xdm.lang.options import IMAGE_TYPES

if TYPE_CHECKING:
    from xdm.api import Image
    from xdm.engine.steps import Plan
    from xdm.io.hdus import Header
    from xdm.lang.nodes import VirtualFile

RULE = "-" * 80
_TFORM = re.compile(r"\s*(\d*)([A-Za-z])")
_BITPIX = {t.bitpix: t.label for t in IMAGE_TYPES}


def ciao_type(tform: str, zero: float = 0.0) -> str:
    """CIAO's type name for a TFORM (``1E`` -> ``Real4``, ``8A`` -> ``String[8]``)."""
    m = _TFORM.match(tform)
    if not m:
        return tform
    repeat = int(m.group(1)) if m.group(1) else 1
    code = m.group(2).upper()
    known = TFORMS.get(code)
    name = known.ciao if known is not None and known.ciao else tform
    if code == "I" and zero == 32768:
        name = "Uint2"
    elif code == "J" and zero == 2147483648:
        name = "Uint4"
    if code in "AX":
        return f"{name}[{repeat}]"
    return name if repeat == 1 else f"{name}[{repeat}]"


def image_type(header: Any) -> str:
    """CIAO's type of an image block: ``Int4(1024x1024)``."""
    bitpix = int(header.get("BITPIX", 8))
    naxis = int(header.get("NAXIS", 0))
    dims = "x".join(str(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1))
    name = _BITPIX.get(bitpix, str(bitpix))
    if bitpix == 16 and header.get("BZERO") == 32768:
        name = "Uint2"
    return f"{name}({dims})"


def is_plain(vf: VirtualFile) -> bool:
    """Whether the virtual file names a block and nothing else (no filter, bin, cols)."""
    from xdm.lang.nodes import BlockRef

    return all(isinstance(q, BlockRef) for q in vf.qualifiers)


@dataclass(frozen=True, slots=True)
class Selected:
    """The header of what a virtual file selects and its kind (table or image)."""

    header: Header
    kind: str  # "table", "image" or "null"
    name: str
    path: str


def output_header(text: str) -> Selected:
    """The header of the block the virtual file selects, after its filters.

    A plain ``file[block]`` gives the block's header as stored; a filter, column
    list or ``[bin]`` gives the engine's output header (the one dmcopy writes).
    """
    from xdm.engine.executor import scan
    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse
    from xdm.plan.planner import plan

    vf = parse(text)
    with open_vf_block(vf) as block:
        path = block.path
        if is_plain(vf):
            kind = "table" if block.is_table else "image" if block.is_image else "null"
            return Selected(block.header.copy(), kind, block.name, path)
    p = plan(vf)
    if p.gives_image:
        image = planned_image(vf, p)
        return Selected(image.header, "image", image.name or "IMAGE", path)
    with scan(p) as rows:
        header = rows.header.copy()
    name = str(header.get("EXTNAME", "")).strip() or str(header.get("HDUNAME", ""))
    return Selected(header, "table", name, path)


def planned_image(vf: VirtualFile, plan: Plan) -> Image:
    """The image of ``vf`` from the plan the caller made to learn that it is one
    (``xdm.read`` with that ``plan``, so it is not planned again)."""
    from xdm.api import Image, read

    image = read(vf, plan=plan)
    assert isinstance(image, Image)
    return image


class Sink:
    """Where report lines go: stdout (verbose >= 1), ``outfile``, the kept text.

    ``keep``: collect the lines for the result (a Python call at verbose=0, or
    ``--json``). On a terminal ``table`` draws with rich; otherwise plain text in
    CIAO's layout.
    """

    def __init__(self, *, echo: bool, keep: bool, outfile: Any = None) -> None:
        self.echo = echo
        self.keep = keep
        self._kept = io.StringIO()
        self._file = outfile
        self.rich = echo and outfile is None and sys.stdout.isatty()
        self.lines = 0

    def line(self, text: str = "") -> None:
        """One line of the report."""
        self.lines += 1
        if self.echo:
            sys.stdout.write(text + "\n")
        if self._file is not None:
            self._file.write(text + "\n")
        if self.keep:
            self._kept.write(text + "\n")

    def text(self) -> str | None:
        """The kept lines, or None when they were not kept."""
        return self._kept.getvalue() if self.keep else None

    def table(
        self,
        title: str,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        plain: Sequence[str],
    ) -> None:
        """A table: a rich table on a terminal, else the ``plain`` CIAO lines."""
        if self.rich:
            from rich.console import Console
            from rich.table import Table
            from rich.text import Text

            t = Table(title=title, title_justify="left", header_style="bold")
            for i, h in enumerate(headings):
                cells = [row[i] for row in rows if i < len(row)]
                numeric = bool(cells) and all(_numeric(c) for c in cells)
                t.add_column(h, justify="right" if numeric else "left")
            for row in rows:
                t.add_row(*(Text(c) for c in row))
            Console(highlight=False).print(t)
            self.echo, echo = False, self.echo
            try:
                for text in plain:
                    self.line(text)
            finally:
                self.echo = echo
            return
        for text in plain:
            self.line(text)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def banner(sink: Sink, title: str) -> None:
    """CIAO's section heading: a rule, the title, a rule."""
    sink.line(RULE)
    sink.line(title)
    sink.line(RULE)


def number(value: Any) -> str:
    """A value as CIAO prints it in listings: integers whole, reals to 11 digits."""
    import numpy as np

    if isinstance(value, bytes):
        return value.decode("ascii", "replace").rstrip()
    if isinstance(value, np.ndarray):
        return "[" + " ".join(number(v) for v in value.ravel()) + "]"
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.11g}"
    return str(value).rstrip()


def gti_ranges(path: str) -> dict[str, list[tuple[float, float]]]:
    """Every GTI-like block's intervals, keyed by HDUNAME and EXTNAME+EXTVER."""
    from xdm.io.hdus import open_fits

    found: dict[str, list[tuple[float, float]]] = {}
    with open_fits(path, memmap=True) as hdul:
        for hdu in hdul[1:]:
            columns: Any = getattr(hdu, "columns", None)
            names = [c.lower() for c in (columns.names if columns else None) or ()]
            if "start" not in names or "stop" not in names:
                continue
            data = hdu.data
            pairs = [
                (float(a), float(b))
                for a, b in zip(data.field("start"), data.field("stop"))
            ]
            h = hdu.header
            for key in (
                str(h.get("HDUNAME", "")).strip().upper(),
                f"{str(h.get('EXTNAME', '')).strip().upper()}{h.get('EXTVER', '')}",
            ):
                if key:
                    found.setdefault(key, pairs)
    return found
