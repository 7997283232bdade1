"""``xdm dmhedit infile filelist operation key value``: edit one block's header.

``operation=add`` sets ``key`` to ``value`` (adding it, or changing it in place),
``delete`` removes it, ``move`` moves it to just after the keyword named by
``value`` (to the end of the header when ``value`` is empty). ``datatype``
(indef, boolean, short, long, float, double, string) fixes the value's type;
``indef`` guesses it from the text as CIAO does. ``unit`` is written CIAO's way,
as ``[unit]`` at the start of the comment.

``filelist`` names a text file of edits, one per line:
``add KEY = VALUE [/ comment]``, ``delete KEY``, ``move KEY [AFTER]``
(``#`` lines are comments). The file is changed atomically: the edited header
and the untouched bytes of every block are written to a temporary file beside
it, which replaces the original (permissions kept) only when all is written.
Compressed (``.gz``) files are refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xdm.errors import XdmIOError, XdmSemanticError
from xdm.io.keywords import is_layout
from xdm.tools.params import VERBOSE, Param, Tool, Values

__all__ = ["TOOL", "Edit", "HeaderEdits", "dmhedit", "run"]

DATATYPES = ("indef", "boolean", "short", "long", "float", "double", "string")
_NAME = re.compile(r"^[A-Z0-9_-]{1,8}$|^HIERARCH .+$")

TOOL = Tool(
    "dmhedit",
    "add, change or delete a header keyword",
    (
        Param("infile", "f", "", "file and block to edit (file[block])", required=True),
        Param("filelist", "f", "", "text file of edits (or empty / none)"),
        Param(
            "operation",
            "s",
            "add",
            "what to do with key",
            choices=("add", "delete", "move"),
        ),
        Param("key", "s", "", "keyword name"),
        Param("value", "s", "", "new value (move: the keyword to follow)"),
        Param("datatype", "s", "indef", "type of value", choices=DATATYPES),
        Param("unit", "s", "", "unit, written as [unit] in the comment"),
        Param("comment", "s", "", "comment of the keyword"),
        VERBOSE,
    ),
    positional=("infile", "filelist", "operation", "key", "value"),
    notes=(
        "The block's header is rewritten and every block's data copied byte for "
        "byte into a temporary file that replaces the original atomically. "
        "Structural keywords (BITPIX, NAXISn, TFORMn, TTYPEn, ...) are refused. "
        "`move` places the keyword after the one named by `value` (xdm's "
        "reading of CIAO's move). A CHECKSUM keyword is removed (it covered the "
        "old header); DATASUM stays valid."
    ),
)


@dataclass(frozen=True, slots=True)
class Edit:
    """One header edit: operation, key, value (text), datatype, unit, comment."""

    operation: str
    key: str
    value: str = ""
    datatype: str = "indef"
    unit: str = ""
    comment: str = ""


@dataclass(frozen=True, slots=True)
class HeaderEdits:
    """What dmhedit did: the file, the block and the edits applied."""

    path: str
    block: str
    edits: tuple[Edit, ...]

    def as_dict(self) -> dict[str, Any]:
        """The edits as a dictionary (``--json``)."""
        return {
            "path": self.path,
            "block": self.block,
            "edits": [
                {"operation": e.operation, "key": e.key, "value": e.value}
                for e in self.edits
            ],
        }


def dmhedit(**params: Any) -> HeaderEdits:
    """``xdm.tools.dmhedit(infile=..., operation=..., key=..., value=...)``."""
    return TOOL.call(run, params)


def run(p: Values) -> HeaderEdits:
    """Apply the edit (or the file of edits) to the block, atomically."""
    from xdm.progress import note

    edits: list[Edit] = []
    filelist = str(p["filelist"]).strip()
    if filelist and filelist.lower() not in ("none", "-"):
        edits += _read_edits(filelist)
    if p["key"]:
        edits.append(
            Edit(
                str(p["operation"]),
                str(p["key"]).strip().upper(),
                str(p["value"]),
                str(p["datatype"]),
                str(p["unit"]),
                str(p["comment"]),
            )
        )
    if not edits:
        raise XdmSemanticError(
            "dmhedit: nothing to do: give key= (and value=) or a filelist",
            hint="xdm dmhedit evt2.fits[EVENTS] none add OBJECT 'M 82'",
        )
    for e in edits:
        _check_key(e.key)
    path, block = _edit_file(str(p["infile"]), edits)
    for e in edits:
        note(f"dmhedit: {e.operation} {e.key} in {path}[{block}]", level=2)
    return HeaderEdits(path, block, tuple(edits))


def _check_key(key: str) -> None:
    if not _NAME.match(key):
        raise XdmSemanticError(
            f"dmhedit: {key!r} is not a FITS keyword name (1-8 of A-Z 0-9 _ -)"
        )
    if key == "END" or is_layout(key):
        raise XdmSemanticError(
            f"dmhedit: {key} describes the data layout and cannot be edited",
            hint="use xdm dmcopy with [cols ...] to change columns",
        )


def _read_edits(name: str) -> list[Edit]:
    try:
        lines = Path(name).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise XdmIOError(f"dmhedit: cannot read filelist {name}: {exc}") from None
    edits = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        op, _, rest = text.partition(" ")
        op = op.lower()
        rest = rest.strip()
        if op == "add":
            key, eq, value = rest.partition("=")
            if not eq:
                raise XdmSemanticError(
                    f"dmhedit: {name}:{number}: write add KEY = VALUE [/ comment]"
                )
            value, _, comment = value.partition(" / ")
            edits.append(
                Edit("add", key.strip().upper(), value.strip(), comment=comment.strip())
            )
        elif op in ("delete", "move") and rest:
            words = rest.split()
            edits.append(
                Edit(op, words[0].upper(), words[1].upper() if len(words) > 1 else "")
            )
        else:
            raise XdmSemanticError(
                f"dmhedit: {name}:{number}: {text!r}: expected add, delete or move",
                hint="lines: add KEY = VALUE [/ comment], delete KEY, move KEY [AFTER]",
            )
    return edits


def _typed(e: Edit) -> Any:
    """The edit's value as the Python type of its datatype (indef: guessed)."""
    text = e.value.strip()
    kind = e.datatype
    try:
        if kind == "boolean":
            from xdm.tools.params import to_bool

            return to_bool(text, f"dmhedit {e.key}")
        if kind in ("short", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError:
        raise XdmSemanticError(
            f"dmhedit: {e.key}: {text!r} is not a {kind} value"
        ) from None
    if kind == "string":
        return _unquote(text)
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?", text):
        return float(text.replace("d", "e").replace("D", "E"))
    if text.upper() in ("T", "F", "TRUE", "FALSE"):
        return text.upper().startswith("T")
    return _unquote(text)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _apply(header: Any, e: Edit) -> None:
    if e.operation == "delete":
        if e.key not in header:
            raise XdmSemanticError(
                f"dmhedit: keyword {e.key} not found; nothing deleted"
            )
        while e.key in header:
            del header[e.key]
        return
    if e.operation == "move":
        if e.key not in header:
            raise XdmSemanticError(f"dmhedit: keyword {e.key} not found; nothing moved")
        card = header.cards[e.key]
        value, comment = card.value, card.comment
        del header[e.key]
        after = e.value.strip().upper()
        if after:
            if after not in header:
                raise XdmSemanticError(
                    f"dmhedit: keyword {after} not found to move after"
                )
            header.set(e.key, value, comment, after=after)
        else:
            header.set(e.key, value, comment)
        return
    value = _typed(e)
    comment = e.comment
    if e.unit:
        comment = f"[{e.unit}] {comment}".strip()
    if e.key in ("HISTORY", "COMMENT"):
        header.add_history(str(value)) if e.key == "HISTORY" else header.add_comment(
            str(value)
        )
        return
    if e.key in header and not comment:
        header[e.key] = value  # keep the existing comment
    else:
        header[e.key] = (value, comment)


def _edit_file(text: str, edits: list[Edit]) -> tuple[str, str]:
    """Rewrite the block's header; copy every other byte; replace the file."""
    import shutil

    from xdm.io.atomic import atomic_output
    from xdm.io.blocks import open_vf_block
    from xdm.io.hdus import open_fits
    from xdm.lang.parser import parse
    from xdm.tools._inspect import is_plain

    vf = parse(text)
    if not is_plain(vf):
        raise XdmSemanticError(
            f"dmhedit: {text} has filters; name a file and block only",
            hint="e.g. evt2.fits[EVENTS]",
        )
    with open_vf_block(vf) as block:
        path, index, name = block.path, block.index, block.name
    if path.endswith((".gz", ".Z", ".bz2")):
        raise XdmIOError(
            f"dmhedit: {path} is compressed and cannot be edited in place",
            hint="gunzip it first",
        )
    with open_fits(path, memmap=True) as hdul:
        hdu = hdul[index]
        info = hdu.fileinfo()
        header = hdu.header.copy()
        for e in edits:
            _apply(header, e)
        if "CHECKSUM" in header and not any(e.key == "CHECKSUM" for e in edits):
            from xdm.progress import note

            del header["CHECKSUM"]  # it covered the old header; DATASUM stays true
            note(f"dmhedit: CHECKSUM of block {name} removed (header changed)", 1)
        start, data_at = int(info["hdrLoc"]), int(info["datLoc"])
    block_bytes = header.tostring().encode("ascii")
    mode = os.stat(path).st_mode
    with atomic_output(path, clobber=True) as tmp:
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            _copy_range(src, dst, 0, start, shutil)
            dst.write(block_bytes)
            src.seek(data_at)
            shutil.copyfileobj(src, dst, 1 << 22)
        os.chmod(tmp, mode & 0o7777)
    return path, name


def _copy_range(src: Any, dst: Any, start: int, stop: int, shutil: Any) -> None:
    src.seek(start)
    left = stop - start
    while left > 0:
        chunk = src.read(min(left, 1 << 22))
        if not chunk:
            break
        dst.write(chunk)
        left -= len(chunk)
