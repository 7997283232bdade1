"""Check a file's FITS structure before astropy reads it.

``check_file`` walks the headers of every block with plain reads (80-byte
cards, 2880-byte records) and refuses, in one line naming the file and the
block, what would otherwise surface as an astropy warning, a numpy error or an
out-of-memory kill: a directory, an empty or non-FITS file, a header without
END, non-ASCII header bytes or keyword names FITS does not allow, an
impossible BITPIX or NAXISn, table columns that do not add up to NAXIS1, a
missing TTYPEn or TFORMn, data that the file is too short to hold (a NAXIS2
claim bigger than the file, a truncated copy, a cut in the last padding), and
compressed streams whose declared sizes exceed the memory budget (a gzip
bomb), since astropy inflates a compressed block into memory.

Header reading is bounded (``MAX_HEADER_RECORDS``), so a stream of zeros or a
huge header costs at most a few megabytes of reading, never unbounded data.
Plain files cost a few small reads per block (data is skipped with seek).

Each header is parsed once: with ``Cards`` when it can read it (every keyword
and ``= `` checked there), card by card otherwise. ``check_file`` returns the
headers of an uncompressed file (``CheckedHeader``) so the lean reader
(``xdm.io.plainfits.scan_plain``) neither reads nor parses them again.
"""

from __future__ import annotations

import bz2
import gzip
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from xdm.errors import Span, XdmIOError
from xdm.io.cards import Cards, LeanUnsupported
from xdm.io.keywords import is_required
from xdm.io.tforms import CODES, field_bytes
from xdm.lang.options import IMAGE_TYPES

__all__ = ["MAX_HEADER_RECORDS", "CheckedHeader", "check_file"]

RECORD = 2880
CARD = 80
MAX_HEADER_RECORDS = 1000
"""A header longer than 1000 records (36,000 cards, 2.9 MB) is refused: no
Chandra header comes near, and the bound keeps a hostile stream's reading small."""

_BITPIX = tuple(t.bitpix for t in IMAGE_TYPES)
_TFORM = re.compile(rf"^\s*(\d*)\s*([{CODES}])", re.IGNORECASE)
_PRINTABLE = bytes(range(32, 127))
_COMMENTARY = ("", "COMMENT", "HISTORY", "CONTINUE")
_KEYWORD = re.compile(r"[A-Z0-9_-]*\s*$")  # FITS 4.1.2.1: digits, capitals, - and _
_END = re.compile(rb"(?:.{80})*?END {5}", re.DOTALL)  # the first card named END


@dataclass(frozen=True, slots=True)
class CheckedHeader:
    """A block's header as the check read it, so the lean reader
    (``xdm.io.plainfits.scan_plain``) neither reads nor parses it again."""

    start: int  # the header's offset in the file
    length: int  # its bytes (whole records, END included)
    cards: Cards | None  # its cards; None when ``Cards`` cannot read them
    data_size: int  # the data's bytes, without the padding


class _Values:
    """The check's view of a header: each keyword's first value as text (a
    quoted string unquoted), decoded only when asked for (a few keywords)."""

    __slots__ = ("_field",)

    def __init__(self, field: Callable[[str], str | None]) -> None:
        self._field = field  # a keyword -> the text after its "= ", or None

    def get(self, key: str) -> str | None:
        raw = self._field(key)
        return None if raw is None else _value(raw)


class _Stream(Protocol):
    """What the walk needs of a file: plain, gzip or bzip2."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


class _Refused(Exception):
    """A structural fault, worded for the user (``check_file`` adds the file)."""


def check_file(
    real: Path, shown: str, *, source: str | None = None, span: Span | None = None
) -> tuple[CheckedHeader, ...] | None:
    """Raise XdmIOError (exit status 2) if ``real`` is not a sound FITS file.

    ``shown`` is the name the user wrote (used in the message). Returns the
    headers read, for an uncompressed file (else None: their offsets are not
    file offsets).
    """

    def refuse(what: str, hint: str | None = None) -> XdmIOError:
        return XdmIOError(f"{shown}: {what}", source=source, span=span, hint=hint)

    if real.is_dir():
        raise refuse("is a directory, not a FITS file")
    try:
        size = real.stat().st_size
        if size == 0:
            raise refuse("is empty (0 bytes), not a FITS file")
        with open(real, "rb") as fh:
            magic = fh.read(3)
            fh.seek(0)
            if magic[:2] == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=fh) as stream:
                    _walk(stream, None, f"gzip file {shown}")
            elif magic == b"BZh":
                with bz2.BZ2File(fh) as packed:
                    _walk(packed, None, f"bzip2 file {shown}")
            elif magic[:2] == b"PK":
                return None  # a zip archive: astropy reads its first member
            else:
                return _walk(fh, size, None)
    except _Refused as exc:
        raise refuse(str(exc)) from None
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, PermissionError):
            raise refuse("cannot be read (permission denied)") from None
        raise refuse(
            f"is damaged: the compressed stream ends early or is corrupt ({exc})"
        ) from None
    return None


def _walk(
    fh: _Stream, size: int | None, compression: str | None
) -> tuple[CheckedHeader, ...]:
    """Read every header; check each block's declared data fits what is there."""
    offset = 0
    index = 0
    checked: list[CheckedHeader] = []
    while True:
        found = _header(fh, index, offset)
        if found is None:
            return tuple(checked)
        cards, length, parsed = found
        header_end = offset + length
        name = _name(cards, index)
        nbytes = _data_bytes(cards, index, name)
        padded = nbytes + (-nbytes) % RECORD
        checked.append(CheckedHeader(offset, length, parsed, nbytes))
        if compression is not None:
            from xdm import budget

            budget.check(
                nbytes,
                f"block {index + 1} ({name}) of {compression}, inflated in memory,",
                hint="decompress the file first (a plain FITS file is memory-mapped)",
            )
            _skip(fh, nbytes, index, name)
            if padded > nbytes:
                fh.read(padded - nbytes)  # padding may be missing at the end
            offset = fh.tell()
        else:
            assert size is not None
            if header_end + nbytes > size:
                raise _Refused(_short(cards, index, name, nbytes, size - header_end))
            if header_end + padded > size:  # what followed may be lost too
                raise _Refused(
                    f"is truncated: it ends inside the padding of block {index + 1} "
                    f"({name}), {header_end + padded - size:,} bytes short of a "
                    "whole FITS record"
                )
            offset = header_end + padded
            fh.seek(offset)
        index += 1


def _skip(fh: _Stream, nbytes: int, index: int, name: str) -> None:
    """Read past ``nbytes`` of a compressed stream in 4 MB steps (flat memory)."""
    left = nbytes
    while left > 0:
        got = len(fh.read(min(left, 1 << 22)))
        if got == 0:
            raise _Refused(
                f"is truncated: block {index + 1} ({name}) declares {nbytes:,} bytes "
                f"of data but the stream ends after {nbytes - left:,}"
            )
        left -= got


def _short(cards: _Values, index: int, name: str, nbytes: int, have: int) -> str:
    """The message for data the file is too short to hold."""
    have = max(0, have)
    if (cards.get("XTENSION") or "").upper() == "BINTABLE":
        width = _int(cards, "NAXIS1", index, name)
        rows = _int(cards, "NAXIS2", index, name)
        fits = have // width if width else 0
        return (
            f"block {index + 1} ({name}) declares NAXIS2 = {rows:,} rows of {width} "
            f"bytes, but the file holds at most {fits:,} (truncated file or wrong NAXIS2)"
        )
    return (
        f"block {index + 1} ({name}) declares {nbytes:,} bytes of data, but only "
        f"{have:,} follow its header (truncated file or wrong NAXISn/BITPIX)"
    )


def _header(
    fh: _Stream, index: int, offset: int
) -> tuple[_Values, int, Cards | None] | None:
    """The values of the header at ``offset``, its length in bytes and its
    cards when ``Cards`` reads them (None: the file ends here).

    The records are read up to the first card named END; a header ``Cards``
    reads is sound when its END card is plain and no required keyword comes
    twice (``Cards`` has checked every keyword and ``= ``). Any other header,
    or any fault, is walked card by card (``_walk_cards``), which words the
    refusal.
    """
    records: list[bytes] = []
    end = -1
    for n in range(MAX_HEADER_RECORDS):
        record = fh.read(RECORD)
        records.append(record)
        if n == 0 and not record.startswith(b"XTENSION=" if index else b"SIMPLE  ="):
            break
        if len(record) < RECORD or record.translate(None, _PRINTABLE):
            break
        found = _END.match(record)
        if found is not None:
            end = found.end() - 8
            break
    if end >= 0 and records[-1][end + 8 : end + CARD] == b" " * (CARD - 8):
        text = b"".join(records).decode("ascii")
        try:
            cards = Cards.parse(text[: (len(records) - 1) * RECORD + end])
        except LeanUnsupported:
            cards = None
        if cards is not None and not _required_twice(cards):
            return _Values(_first_field(cards)), len(records) * RECORD, cards
    found_cards = _walk_cards(records, index, offset)
    if found_cards is None:
        return None
    return _Values(found_cards.get), len(records) * RECORD, None


def _first_field(cards: Cards) -> Callable[[str], str | None]:
    """A keyword -> the text after its first card's ``= `` (``Cards`` are
    value cards but for COMMENT, HISTORY and blank ones, which the check never
    asks for)."""

    def field(key: str) -> str | None:
        card = cards.card(key)
        if card is None or card.image is None or card.image[8:10] != "= ":
            return None
        return card.image[10:]

    return field


def _required_twice(cards: Cards) -> bool:
    seen: set[str] = set()
    for card in cards.cards:
        if card.keyword in seen and is_required(card.keyword):
            return True
        seen.add(card.keyword)
    return False


def _walk_cards(records: list[bytes], index: int, offset: int) -> dict[str, str] | None:
    """Check a header's records card by card: each keyword's first value
    field (the text after ``= ``), or a refusal naming the first fault."""
    cards: dict[str, str] = {}
    for n, record in enumerate(records):
        if n == 0:
            if index == 0:
                if not record.startswith(b"SIMPLE  ="):
                    raise _Refused(
                        "is not a FITS file (it does not begin with SIMPLE =)"
                    )
            elif not record.startswith(b"XTENSION="):
                if len(record) < RECORD or not record.strip(b"\0 "):
                    # blank or zero padding, or less than a record of bytes
                    # after the last block (a newline appended): ignored
                    return None
                raise _Refused(
                    f"has bytes that are not a FITS header after block {index} "
                    f"(at byte {offset:,}): the previous block's NAXISn or BITPIX "
                    "is wrong, or the file is damaged"
                )
        if len(record) < RECORD:
            raise _Refused(
                f"is truncated: the header of block {index + 1} has no END card"
            )
        bad = record.translate(None, _PRINTABLE)
        if bad:
            at = next(i for i, b in enumerate(record) if b < 32 or b > 126)
            raise _Refused(
                f"header of block {index + 1} has a non-ASCII byte (0x{record[at]:02x}) "
                f"at byte {offset + n * RECORD + at:,}: the file is damaged"
            )
        text = record.decode("ascii")
        for i in range(0, RECORD, CARD):
            card = text[i : i + CARD]
            key = card[:8].rstrip()
            if key == "END":
                if card.rstrip() != "END":  # astropy would read on past it
                    raise _Refused(
                        f"the END card of block {index + 1} holds other characters "
                        f"(at byte {offset + n * RECORD + i:,}): the file is damaged"
                    )
                return cards
            hierarch = card.startswith("HIERARCH ")
            if (
                key not in _COMMENTARY
                and not hierarch
                and not 0 <= card.find("= ") <= 8
            ):
                raise _Refused(
                    f"header of block {index + 1} has a card {key!r} without "
                    f"'= ' (at byte {offset + n * RECORD + i:,}): the file is "
                    "damaged"
                )
            if not _KEYWORD.match(card[:8]) and not hierarch:
                raise _Refused(
                    f"header of block {index + 1} has a card named {key!r}, which "
                    f"FITS does not allow (at byte {offset + n * RECORD + i:,}): "
                    "the file is damaged"
                )
            if card[8:10] == "= " and key not in cards:
                cards[key] = card[10:]
            elif key in cards and is_required(key):
                raise _Refused(
                    f"header of block {index + 1} has {key} twice (at byte "
                    f"{offset + n * RECORD + i:,}; a damaged END card?): the file "
                    "is damaged"
                )
    raise _Refused(
        f"header of block {index + 1} has no END card in its first "
        f"{MAX_HEADER_RECORDS * RECORD:,} bytes"
    )


def _value(text: str) -> str:
    """A card's value: a quoted string unquoted (up to its closing quote, or the
    end), else the text before any ``/``."""
    s = text.strip()
    if s.startswith("'"):
        inside = _QUOTED.match(s, 1)
        assert inside is not None  # the pattern matches any text
        return inside.group().replace("''", "'").rstrip()
    return s.split("/", 1)[0].strip()


_QUOTED = re.compile(r"[^']*(?:''[^']*)*")  # a string's characters, '' for a quote


def _name(cards: _Values, index: int) -> str:
    for key in ("HDUNAME", "EXTNAME"):
        value = cards.get(key)
        if value:
            return value
    return "PRIMARY" if index == 0 else f"BLOCK{index + 1}"


def _int(
    cards: _Values, key: str, index: int, name: str, default: int | None = None
) -> int:
    text = cards.get(key)
    if text is None:
        if default is not None:
            return default
        raise _Refused(f"block {index + 1} ({name}) has no {key} keyword")
    try:
        return int(text)
    except ValueError:
        raise _Refused(
            f"block {index + 1} ({name}) has {key} = {text[:30]}, not an integer"
        ) from None


def _data_bytes(cards: _Values, index: int, name: str) -> int:
    """The block's data size from BITPIX, NAXISn, PCOUNT, GCOUNT (FITS 4.4.1)."""
    bitpix = _int(cards, "BITPIX", index, name)
    if bitpix not in _BITPIX:
        raise _Refused(
            f"block {index + 1} ({name}) has BITPIX = {bitpix}, not a FITS value "
            "(8, 16, 32, 64, -32 or -64)"
        )
    naxis = _int(cards, "NAXIS", index, name)
    if not 0 <= naxis <= 999:
        raise _Refused(f"block {index + 1} ({name}) has NAXIS = {naxis}, not 0..999")
    axes = [_int(cards, f"NAXIS{i}", index, name) for i in range(1, naxis + 1)]
    if any(a < 0 for a in axes):
        raise _Refused(f"block {index + 1} ({name}) has a negative NAXISn")
    pcount = _int(cards, "PCOUNT", index, name, 0)
    gcount = _int(cards, "GCOUNT", index, name, 1)
    if pcount < 0 or gcount < 0:
        raise _Refused(f"block {index + 1} ({name}) has a negative PCOUNT or GCOUNT")
    if index == 0 and axes and axes[0] == 0 and cards.get("GROUPS") == "T":
        axes = axes[1:]  # random groups: NAXIS1 = 0
    count = 1
    for a in axes:
        count *= a
    if not axes:
        count = 0
    xtension = (cards.get("XTENSION") or "").upper()
    if xtension == "BINTABLE":
        _check_table(cards, axes, bitpix, index, name)
    return abs(bitpix) // 8 * gcount * (pcount + count)


def _check_table(
    cards: _Values, axes: list[int], bitpix: int, index: int, name: str
) -> None:
    """TFIELDS, TTYPEn and TFORMn present, and the columns add up to NAXIS1."""
    where = f"block {index + 1} ({name})"
    if bitpix != 8 or len(axes) != 2:
        raise _Refused(
            f"{where} is a table with BITPIX = {bitpix} and NAXIS = "
            f"{len(axes)} (a binary table has 8 and 2)"
        )
    tfields = _int(cards, "TFIELDS", index, name)
    if not 0 <= tfields <= 999:
        raise _Refused(f"{where} has TFIELDS = {tfields}, not 0..999")
    width = 0
    seen: set[str] = set()
    for n in range(1, tfields + 1):
        tform = cards.get(f"TFORM{n}")
        if tform is None:
            raise _Refused(f"{where} has TFIELDS = {tfields} but no TFORM{n}")
        m = _TFORM.match(tform)
        if m is None:
            raise _Refused(f"{where} has TFORM{n} = '{tform[:20]}', not a FITS format")
        repeat = int(m.group(1)) if m.group(1) else 1
        code = m.group(2).upper()
        width += field_bytes(code, repeat)
        ttype = (cards.get(f"TTYPE{n}") or "").strip()
        if not ttype:
            raise _Refused(f"{where}: column {n} has no name (TTYPE{n})")
        if ttype.lower() in seen:
            raise _Refused(f"{where} has two columns named '{ttype}'")
        seen.add(ttype.lower())
    if width != axes[0]:
        raise _Refused(
            f"{where} has NAXIS1 = {axes[0]}, but its columns (TFORMn) take "
            f"{width} bytes a row"
        )
