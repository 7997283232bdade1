"""``xdm dmlist infile opt``: a file's blocks, header, columns, data, counts, subspace.

The layouts follow CIAO's dmlist (``Block    2: EVENTS   Table  18 cols x 20000
rows``, ``ColNo Name Unit Type Range``, ``ROW`` listings); on a terminal tables
are drawn with rich, piped output is plain text. ``infile`` is any virtual file:
``dmlist "evt2.fits[energy=300:2000][#row=1:10][cols time,energy]" data`` filters
through the engine in one streaming pass, so listing a few rows of a 1e8-row
file reads only what it needs. ``counts`` prints the number of rows selected
(pixels for an image).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xdm.errors import XdmSemanticError
from xdm.tools._inspect import (
    Sink,
    banner,
    ciao_type,
    gti_ranges,
    image_type,
    number,
    output_header,
    planned_image,
)
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from xdm.api import Image
    from xdm.engine.steps import Plan

__all__ = ["TOOL", "Listing", "dmlist", "run"]

OPTIONS = ("blocks", "header", "cols", "data", "counts", "subspace")
MODIFIERS = ("raw", "clean", "array")
RICH_PAGE_ROWS = 500
"""Rows per rich table when data is listed on a terminal."""

TOOL = Tool(
    "dmlist",
    "list a file's blocks, header, columns or data",
    (
        Param("infile", "f", "", "input virtual file", required=True),
        Param(
            "opt",
            "s",
            "",
            "what to list (with ,raw for header cards, ,clean for data without headings)",
            choices=(*OPTIONS, "..."),
            required=True,
        ),
        Param("outfile", "f", "", "write the listing to this file instead"),
        Param("rows", "s", "", "rows to list: lo:hi (1-based, of the selected rows)"),
        Param("cells", "s", "", "image pixels to list: x0:x1,y0:y1 (1-based)"),
        CLOBBER,
        VERBOSE,
    ),
    positional=("infile", "opt"),
    notes=(
        "Options: blocks, header (`header,raw`: the FITS cards as stored), cols, "
        "data (`data,clean`: no headings), counts, subspace. The listing goes to "
        "stdout at verbose=1 and up, to `outfile` when given (an existing file "
        "needs clobber=yes, which CIAO's dmlist does not have), and, from Python "
        "at verbose=0, into the result's `text`. On a terminal tables are drawn "
        "with rich; piped output keeps CIAO's plain layout."
    ),
)


@dataclass(frozen=True, slots=True)
class Listing:
    """What dmlist listed: the option, the text (when kept) and the values."""

    infile: str
    opt: str
    text: str | None
    values: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The listing as a dictionary (``--json``)."""
        return {"infile": self.infile, "opt": self.opt, **self.values}


def dmlist(**params: Any) -> Listing:
    """``xdm.tools.dmlist(infile=..., opt=...)``: the listing (``.text``, ``.values``)."""
    return TOOL.call(run, params)


def run(p: Values) -> Listing:
    """List what ``opt`` asks for."""
    from xdm.io.atomic import atomic_output
    from xdm.progress import get_verbosity, note

    words = [w.strip().lower() for w in str(p["opt"]).split(",") if w.strip()]
    main = [w for w in words if w in OPTIONS]
    unknown = [w for w in words if w not in OPTIONS and w not in MODIFIERS]
    if len(main) != 1 or unknown:
        import difflib

        bad = unknown[0] if unknown else str(p["opt"])
        near = difflib.get_close_matches(bad, OPTIONS, n=1)
        raise XdmSemanticError(
            f"dmlist: opt={p['opt']!r}: give one of {', '.join(OPTIONS)}",
            expected=OPTIONS,
            hint=f"did you mean {near[0]!r}?" if near else None,
        )
    opt, mods = main[0], set(words) - {main[0]}
    echo = get_verbosity() >= 1 and not p["outfile"]
    with contextlib.ExitStack() as stack:
        fh = None
        if p["outfile"]:
            tmp = stack.enter_context(atomic_output(p["outfile"], clobber=p["clobber"]))
            fh = stack.enter_context(open(tmp, "w", encoding="utf-8"))
        sink = Sink(echo=echo, keep=not echo and fh is None, outfile=fh)
        note(f"dmlist: {opt} of {p['infile']}", level=2)
        values = _LISTERS[opt](p, sink, mods)
    return Listing(str(p["infile"]), opt, sink.text(), values)


# ---------------------------------------------------------------- blocks


def _blocks(p: Values, sink: Sink, mods: set[str]) -> dict[str, Any]:
    from xdm.io.blocks import open_vf_block
    from xdm.io.hdus import open_fits
    from xdm.lang.parser import parse

    vf = parse(p["infile"])
    with open_vf_block(vf) as block:
        path = block.path
    rows: list[dict[str, Any]] = []
    with open_fits(path, memmap=True) as hdul:
        for i, hdu in enumerate(hdul):
            h = hdu.header
            name = str(h.get("EXTNAME", "PRIMARY" if i == 0 else f"HDU{i + 1}"))
            name = name.strip()
            if h.get("XTENSION", "").strip() in ("BINTABLE", "TABLE"):
                ncols, nrows = int(h.get("TFIELDS", 0)), int(h.get("NAXIS2", 0))
                kind, dims = "Table", f"{ncols:2d} cols x {nrows:<8d} rows"
            elif int(h.get("NAXIS", 0)) > 0:
                kind, dims = "Image", image_type(h)
            else:
                kind, dims = "Null", ""
            rows.append({"number": i + 1, "name": name, "type": kind, "dims": dims})
    plain = [
        "",
        "-" * 80,
        f"Dataset: {path}",
        "-" * 80,
        "",
        f"     {'Block Name':<36}{'Type':<13}Dimensions",
        "-" * 80,
    ] + [
        f"Block {r['number']:4d}: {r['name']:<30} {r['type']:<12} {r['dims']}".rstrip()
        for r in rows
    ]
    sink.table(
        f"Dataset: {path}",
        ("Block", "Name", "Type", "Dimensions"),
        [(str(r["number"]), r["name"], r["type"], r["dims"]) for r in rows],
        plain,
    )
    return {"blocks": rows}


# ---------------------------------------------------------------- header


def _header(p: Values, sink: Sink, mods: set[str]) -> dict[str, Any]:
    from xdm.io.keywords import is_structural

    sel = output_header(p["infile"])
    cards: list[dict[str, Any]] = []
    raw = "raw" in mods
    for card in sel.header.cards:
        key = card.keyword
        if not raw and (is_structural(key) or key in ("", "END")):
            continue
        cards.append(
            {"key": key, "value": card.value, "comment": str(card.comment or "")}
        )
    if raw:
        plain = [card.image.rstrip() for card in sel.header.cards]
    else:
        plain = [
            "",
            "-" * 80,
            f"File: {p['infile']}",
            f"Block: {sel.name}",
            "-" * 80,
            "",
        ]
        for n, c in enumerate(cards, start=1):
            plain.append(_card_line(n, c))
    sink.table(
        f"Header of {p['infile']} (block {sel.name})",
        ("#", "Key", "Value", "Type", "Comment"),
        [
            (str(n), c["key"], _value(c["value"]), _kind(c["value"]), c["comment"])
            for n, c in enumerate(cards, start=1)
        ],
        plain,
    )
    return {"block": sel.name, "header": cards}


def _card_line(n: int, c: dict[str, Any]) -> str:
    key, value = c["key"], c["value"]
    if key in ("HISTORY", "COMMENT"):
        return f"{n:04d} {key:<20} {value}".rstrip()
    return (
        f"{n:04d} {key:<20} {_value(value):<30} {_kind(value):<12} {c['comment']}"
    ).rstrip()


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value).rstrip()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "Logical"
    if isinstance(value, int):
        return "Integer4" if abs(value) < 2**31 else "Integer8"
    if isinstance(value, float):
        return "Real8"
    return "String"


# ---------------------------------------------------------------- cols


def _cols(p: Values, sink: Sink, mods: set[str]) -> dict[str, Any]:
    sel = output_header(p["infile"])
    h = sel.header
    if sel.kind != "table":
        return _image_cols(p, sink, sel)
    cols = []
    for n in range(1, int(h.get("TFIELDS", 0)) + 1):
        tform = str(h.get(f"TFORM{n}", "")).strip()
        zero = float(h.get(f"TZERO{n}", 0.0))
        ctype = ciao_type(tform, zero)
        lo, hi = h.get(f"TLMIN{n}"), h.get(f"TLMAX{n}")
        cols.append(
            {
                "number": n,
                "name": str(h.get(f"TTYPE{n}", f"col{n}")).strip(),
                "unit": str(h.get(f"TUNIT{n}", "")).strip(),
                "type": ctype,
                "range": _range(ctype, lo, hi),
                "tlmin": lo,
                "tlmax": hi,
                "description": str(h.comments[f"TTYPE{n}"] or ""),
            }
        )
    plain = [
        "",
        "-" * 80,
        f"Columns for Table Block {sel.name}",
        "-" * 80,
        "",
        f"{'ColNo':<7}{'Name':<21}{'Unit':<13}{'Type':<15}Range",
    ]
    plain.extend(
        f"{c['number']:4d}   {c['name']:<20} {c['unit']:<12} {c['type']:<14} "
        f"{c['range']:<20} {c['description']}".rstrip()
        for c in cols
    )
    wcs = _column_wcs(h)
    if wcs:
        plain += [
            "",
            "-" * 80,
            f"World Coord Transforms for Columns in Table Block {sel.name}",
            "-" * 80,
            "",
            "ColNo    Name",
            *wcs,
        ]
    sink.table(
        f"Columns for Table Block {sel.name}",
        ("ColNo", "Name", "Unit", "Type", "Range", "Description"),
        [
            (
                str(c["number"]),
                c["name"],
                c["unit"],
                c["type"],
                c["range"],
                c["description"],
            )
            for c in cols
        ],
        plain,
    )
    if wcs and sink.rich:
        for line in ["", f"World Coord Transforms in Table Block {sel.name}", *wcs]:
            print(line)
    return {"block": sel.name, "columns": cols, "rows": int(h.get("NAXIS2", 0))}


def _range(ctype: str, lo: Any, hi: Any) -> str:
    import numpy as np

    if ctype.startswith(("String", "Logical", "Bit")):
        return ""
    from xdm.lang.options import IMAGE_TYPES

    limits = {t.label: t.dtype for t in IMAGE_TYPES if np.dtype(t.dtype).kind in "iu"}
    base = ctype.split("[")[0]
    if base in limits:
        info = np.iinfo(limits[base])
        lo = info.min if lo is None else lo
        hi = info.max if hi is None else hi
    left = "-Inf" if lo is None else number(lo)
    right = "+Inf" if hi is None else number(hi)
    return f"{left}:{right}"


def _column_wcs(h: Any) -> list[str]:
    lines = []
    for n in range(1, int(h.get("TFIELDS", 0)) + 1):
        if f"TCTYP{n}" in h:
            name = str(h.get(f"TTYPE{n}", "")).strip()
            lines.append(
                f"{n:<4d}: {str(h[f'TCTYP{n}']).strip()}({name}) = "
                f"({number(h.get(f'TCRVL{n}', 0.0))}) + "
                f"({number(h.get(f'TCDLT{n}', 1.0))}) * ({name} - "
                f"({number(h.get(f'TCRPX{n}', 0.0))}))"
            )
    return lines


def _image_cols(p: Values, sink: Sink, sel: Any) -> dict[str, Any]:
    h = sel.header
    naxis = int(h.get("NAXIS", 0))
    shape = [int(h.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    ctype = image_type(h).split("(")[0]
    dims = ",".join(str(n) for n in shape)
    plain = [
        "",
        "-" * 80,
        f"Columns for Image Block {sel.name}",
        "-" * 80,
        "",
        f"{'ColNo':<7}{'Name':<34}{'Unit':<13}{'Type':<15}Range",
        f"{1:4d}   {sel.name + '[' + dims + ']':<33} {h.get('BUNIT', '')!s:<12} "
        f"{ctype:<14} -Inf:+Inf".rstrip(),
    ]
    transforms = []
    for alt, label in (("P", "Physical"), ("", "World")):
        for i in range(1, naxis + 1):
            key = f"CTYPE{i}{alt}"
            if key in h:
                transforms.append(
                    f"{label} {str(h[key]).strip()} = ({number(h.get(f'CRVAL{i}{alt}', 0.0))})"
                    f" + ({number(h.get(f'CDELT{i}{alt}', 1.0))}) * "
                    f"(#{i} - ({number(h.get(f'CRPIX{i}{alt}', 0.0))}))"
                )
    if transforms:
        plain += ["", "-" * 80, f"Coordinate transforms of {sel.name}", "-" * 80]
        plain += transforms
    sink.table(
        f"Columns for Image Block {sel.name}",
        ("ColNo", "Name", "Type", "Shape"),
        [("1", sel.name, ctype, dims)],
        plain,
    )
    return {"block": sel.name, "image": {"type": ctype, "shape": shape}}


# ---------------------------------------------------------------- counts


def _counts(p: Values, sink: Sink, mods: set[str]) -> dict[str, Any]:
    import numpy as np

    from xdm.engine.executor import scan
    from xdm.lang.parser import parse
    from xdm.plan.planner import plan

    vf = parse(p["infile"])
    pl = plan(vf)
    if pl.gives_image:
        n = int(np.asarray(planned_image(vf, pl).data).size)
    else:
        n = 0
        with scan(pl) as rows:
            for _, kept in rows.chunks:
                n += int(np.count_nonzero(kept))
    sink.line(str(n))
    return {"counts": n}


# ---------------------------------------------------------------- subspace


def _subspace(p: Values, sink: Sink, mods: set[str]) -> dict[str, Any]:
    from xdm.io.subspace import Subspace

    sel = output_header(p["infile"])
    space = Subspace.from_header(sel.header)
    comps = []
    count = sum(len(c) for c in space.components)
    sink.line("")
    banner(
        sink,
        f"Data subspace for block {sel.name}: Components: "
        f"{len(space.components)} Descriptors: {count}",
    )
    gtis = gti_ranges(sel.path)
    for k, entries in enumerate(space.components, start=1):
        sink.line("")
        sink.line(f" --- Component {k} --- ")
        rows = []
        for n, e in enumerate(entries, start=1):
            kind = ciao_type(e.form or "", 0.0) if e.form else ""
            value = e.value or ""
            ref = (e.ref or "").lstrip(":")
            sink.line(f"{n:4d} {e.column:<20} {kind:<10} {value} {ref}".rstrip())
            if value.strip().upper() == "TABLE" and ref.upper() in gtis:
                for lo, hi in gtis[ref.upper()]:
                    sink.line(f"{'':36}{number(lo)}:{number(hi)}")
            rows.append(
                {
                    "column": e.column,
                    "type": kind,
                    "value": value,
                    "ref": ref or None,
                    "unit": e.unit,
                }
            )
        comps.append(rows)
    return {"block": sel.name, "components": comps}


# ---------------------------------------------------------------- data


def _span(text: str, what: str) -> tuple[int, int | None]:
    """``lo:hi`` / ``lo:`` / ``:hi`` / ``n`` (1-based inclusive) -> (lo, hi or None)."""
    text = text.strip()
    if not text:
        return 1, None
    lo_text, sep, hi_text = text.partition(":")
    try:
        lo = int(lo_text) if lo_text.strip() else 1
        hi = int(hi_text) if hi_text.strip() else None
        if not sep:
            hi = lo
    except ValueError:
        raise XdmSemanticError(
            f"dmlist: {what}={text!r} is not a range like 1:10",
            hint=f"{what}=lo:hi with whole numbers (1-based)",
        ) from None
    if lo < 1 or (hi is not None and hi < lo):
        raise XdmSemanticError(f"dmlist: {what}={text!r} is not a range like 1:10")
    return lo, hi


def _data(p: Values, sink: Sink, mods: set[str]) -> dict[str, Any]:
    from xdm.lang.parser import parse
    from xdm.plan.planner import plan

    vf = parse(p["infile"])
    pl = plan(vf)
    if pl.gives_image:
        return _image_data(p, sink, mods, planned_image(vf, pl))
    return _table_data(p, sink, mods, pl)


def _formatters(header: Any, names: list[str]) -> list[tuple[int, Any]]:
    """(width, value -> text) for each output column, from TFORM/TSCAL/TZERO."""
    import numpy as np

    out: list[tuple[int, Any]] = []
    for n, name in enumerate(names, start=1):
        tform = str(header.get(f"TFORM{n}", "")).strip()
        scale = float(header.get(f"TSCAL{n}", 1.0))
        zero = float(header.get(f"TZERO{n}", 0.0))
        code = tform.lstrip("0123456789")[:1].upper()
        repeat = int(tform[: len(tform) - len(tform.lstrip("0123456789"))] or 1)
        if code == "X":
            width = max(len(name), repeat)

            def bits(v: Any, r: int = repeat) -> str:
                return "".join(
                    map(str, np.unpackbits(np.asarray(v, np.uint8).ravel())[:r])
                )

            out.append((width, bits))
            continue
        base = {"D": 20, "E": 14, "K": 20, "J": 11, "I": 7, "B": 4, "L": 3}
        width = max(len(name), base.get(code, repeat if code == "A" else 12))
        if repeat > 1 and code not in "AX":
            width = max(len(name), min(80, repeat * (base.get(code, 8) // 2 + 2)))

        def fmt(v: Any, s: float = scale, z: float = zero, c: str = code) -> str:
            if c == "L":
                return "T" if v in (b"T", 84, True) else "F"
            if (s, z) != (1.0, 0.0) and c in "BIJK":
                v = np.asarray(v) * s + z
                if float(z).is_integer() and s == 1.0:
                    v = v.astype(np.int64)
            if c in "DE" and np.ndim(v) == 0:
                return str(np.float64(v) if c == "D" else np.float32(v))
            return number(v if not isinstance(v, np.ndarray) or v.ndim else v[()])

        out.append((width, fmt))
    return out


def _table_data(p: Values, sink: Sink, mods: set[str], pl: Plan) -> dict[str, Any]:
    """The kept rows of the table plan ``pl`` (planned once, by ``_data``)."""
    import numpy as np

    from xdm.engine.executor import scan
    from xdm.progress import note

    lo, hi = _span(p["rows"], "rows")
    clean = "clean" in mods
    row = 0
    listed = 0
    with scan(pl) as rows:
        names = [new for _, new in rows.columns]
        fmts = _formatters(rows.header, names)
        block = str(rows.header.get("EXTNAME", "")).strip()
        if sink.rich:
            pass  # the rich tables carry the title and headings
        elif not clean:
            sink.line("")
            banner(sink, f"Data for Table Block {block}")
            sink.line("")
            sink.line(
                "ROW    "
                + " ".join(n.rjust(w) for n, (w, _) in zip(names, fmts)).rstrip()
            )
            sink.line("")
        else:
            sink.line("#  " + " ".join(names))
        olds = [old for old, _ in rows.columns]
        page: list[tuple[str, ...]] = []  # rows for a rich table (a terminal)
        plain: list[str] = []

        def flush() -> None:
            if page:
                headings = ("ROW", *names) if not clean else tuple(names)
                sink.table(f"Data for Table Block {block}", headings, page, plain)
                page.clear()
                plain.clear()

        for records, kept in rows.chunks:
            n_kept = int(np.count_nonzero(kept))
            if row + n_kept < lo:
                row += n_kept
                continue
            start = max(0, lo - 1 - row)
            stop = n_kept if hi is None else min(n_kept, hi - row)
            if stop > start:
                where = np.flatnonzero(kept)[start:stop]  # only the listed rows
                columns = [records[o][where] for o in olds]
                for i in range(stop - start):
                    cells = [fmt(col[i]) for col, (_, fmt) in zip(columns, fmts)]
                    number_text = f"{row + start + i + 1:>6} " if not clean else ""
                    line = number_text + " ".join(
                        c.rjust(w) for c, (w, _) in zip(cells, fmts)
                    )
                    if sink.rich:
                        lead = (str(row + start + i + 1),) if not clean else ()
                        page.append((*lead, *cells))
                        plain.append(line.rstrip())
                        if len(page) >= RICH_PAGE_ROWS:
                            flush()
                    else:
                        sink.line(line.rstrip())
                listed += stop - start
            row += n_kept
            if hi is not None and row >= hi:
                break
        flush()
    note(f"dmlist: listed {listed:,} rows", level=3)
    return {"block": block, "columns": names, "rows": listed}


def _image_data(p: Values, sink: Sink, mods: set[str], image: Image) -> dict[str, Any]:
    import numpy as np

    data: NDArray[Any] = np.asarray(image.data)
    if data.ndim == 1:
        data = data[np.newaxis, :]
    if data.ndim != 2:
        raise XdmSemanticError(
            f"dmlist: data of a {data.ndim}-dimensional image is not supported",
            hint="list a 2-D image or a table",
        )
    ny, nx = data.shape
    (x0, x1), (y0, y1) = _cells(p["cells"], nx, ny)
    block = image.name or str(image.header.get("EXTNAME", "PRIMARY")).strip()
    part: NDArray[Any] = data[y0 - 1 : y1, x0 - 1 : x1]
    width = max(8, max((len(number(v)) for v in part.ravel()[:10000]), default=1))
    clean = "clean" in mods
    if not clean:
        sink.line("")
        banner(sink, f"Data for Image Block {block}")
        sink.line("")
        sink.line(
            f"{'LOGICAL':<8}" + "".join(f"{x:>{width + 1}d}" for x in range(x0, x1 + 1))
        )
    for j, values in _rows_of(part, y0):
        lead = f"{j:>8}" if not clean else ""
        sink.line(lead + "".join(f"{number(v):>{width + 1}}" for v in values))
    return {
        "block": block,
        "cells": [x0, x1, y0, y1],
        "values": np.asarray(part).tolist() if part.size <= 10000 else None,
    }


def _rows_of(part: NDArray[Any], y0: int) -> Iterator[tuple[int, NDArray[Any]]]:
    for j in range(part.shape[0]):
        yield y0 + j, part[j]


def _cells(text: str, nx: int, ny: int) -> tuple[tuple[int, int], tuple[int, int]]:
    text = text.strip().strip("[]")
    if not text:
        return (1, nx), (1, ny)
    parts = text.split(",")
    if len(parts) != 2:
        raise XdmSemanticError(
            f"dmlist: cells={text!r} needs x0:x1,y0:y1",
            hint="e.g. cells=1:10,1:10 (1-based logical pixels)",
        )
    xs = _span(parts[0], "cells")
    ys = _span(parts[1], "cells")
    x = (xs[0], min(nx, xs[1] if xs[1] is not None else nx))
    y = (ys[0], min(ny, ys[1] if ys[1] is not None else ny))
    if x[0] > nx or y[0] > ny:
        raise XdmSemanticError(
            f"dmlist: cells={text!r} lies outside the {nx} x {ny} image"
        )
    return x, y


_LISTERS: dict[str, Any] = {
    "blocks": _blocks,
    "header": _header,
    "cols": _cols,
    "data": _data,
    "counts": _counts,
    "subspace": _subspace,
}
