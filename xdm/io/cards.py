"""A lean FITS header: 80-character cards parsed and formatted without astropy.

``Cards`` answers the part of ``astropy.io.fits.Header`` the engine uses
(``get``, ``[]``, ``in``, iteration, ``copy``, ``remove``, ``append``,
``update``, ``add_history``, ``tostring``) with astropy's rules for where a
new card goes, so a product written from it equals astropy's card for card.
Unchanged cards keep their original 80 characters, as astropy keeps them.

Anything outside the plain fixed format (HIERARCH, CONTINUE long strings,
complex or undefined values, a value astropy would truncate) raises
``LeanUnsupported``: the caller falls back to astropy, it never guesses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CARD",
    "RECORD",
    "Card",
    "Cards",
    "LeanUnsupported",
    "as_header",
    "parse_card",
]

RECORD = 2880
CARD = 80
COMMENTARY = frozenset(("COMMENT", "HISTORY", ""))
_KEYWORD = re.compile(r"^[A-Z0-9_-]{0,8}$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$")


class LeanUnsupported(ValueError):
    """A header the lean path does not handle; use astropy instead."""


@dataclass(slots=True)
class Card:
    """One card; ``image`` is its original 80 characters until it changes."""

    keyword: str
    value: Any
    comment: str = ""
    image: str | None = None

    @property
    def is_blank(self) -> bool:
        return self.keyword == "" and self.value == "" and not self.comment

    def text(self) -> str:
        """The card as 80 characters (the FITS fixed format, as astropy writes it)."""
        if self.image is not None:
            return self.image
        key = self.keyword
        if not _KEYWORD.match(key):
            raise LeanUnsupported(f"keyword {key!r}")
        if key in COMMENTARY:
            out = f"{key:8}{self.value}"
        else:
            out = f"{key:8}= {_format_value(self.value)}"
            if self.comment:
                out += f" / {self.comment}"
        if len(out) > CARD or not out.isascii():
            raise LeanUnsupported(f"card {key} does not fit in 80 characters")
        return f"{out:80}"


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        if value == "":
            return "''"
        quoted = "'" + f"{value.replace(chr(39), chr(39) * 2):8}" + "'"
        return f"{quoted:20}"
    if isinstance(value, bool | np.bool_):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, int | np.integer):
        return f"{int(value):>20d}"
    if isinstance(value, float | np.floating):
        text = str(float(value) if isinstance(value, np.float64) else value)
        text = text.replace("e", "E")
        if len(text) > 20 or not np.isfinite(value):
            raise LeanUnsupported(f"float {text}")
        return f"{text:>20}"
    raise LeanUnsupported(f"value {value!r}")


def parse_card(image: str) -> Card:
    """One 80-character card, read as astropy reads it."""
    key = image[:8].rstrip()
    if key == "HIERARCH" or key == "CONTINUE" or not _KEYWORD.match(key):
        raise LeanUnsupported(f"keyword {key!r}")
    if key in COMMENTARY or image[8:10] != "= ":
        if key not in COMMENTARY:
            raise LeanUnsupported(f"card {key} without a value")
        return Card(key, image[8:].rstrip(), "", image)
    field = image[10:]
    rest = field.lstrip()
    if rest.startswith("'"):
        i, chars = 1, []
        while True:
            j = rest.find("'", i)
            if j < 0:
                raise LeanUnsupported(f"unterminated string in {key}")
            chars.append(rest[i:j])
            if rest[j + 1 : j + 2] == "'":
                chars.append("'")
                i = j + 2
                continue
            break
        value: Any = "".join(chars).rstrip()
        tail = rest[j + 1 :].strip()
        if value.endswith("&"):
            raise LeanUnsupported(f"long string in {key}")
    else:
        text, _, tail = rest.partition("/")
        tail = "/" + tail if _ else ""
        token = text.strip()
        if token == "T":
            value = True
        elif token == "F":
            value = False
        elif _INT.match(token):
            value = int(token)
        elif _FLOAT.match(token):
            value = float(token.replace("D", "E").replace("d", "e"))
        else:
            raise LeanUnsupported(f"value {token!r} of {key}")
        tail = tail.strip()
    if tail and not tail.startswith("/"):
        raise LeanUnsupported(f"text after the value of {key}")
    return Card(key, value, tail[1:].strip(), image)


def _quoted(field: str, key: str) -> tuple[str, str]:
    """The text between the quotes (doubled quotes kept) and the comment after."""
    rest = field.lstrip()
    if not rest.startswith("'"):
        raise LeanUnsupported(f"long value of {key} is not a string")
    i = 1
    while True:
        j = rest.find("'", i)
        if j < 0:
            raise LeanUnsupported(f"unterminated string in {key}")
        if rest[j + 1 : j + 2] == "'":
            i = j + 2
            continue
        break
    tail = rest[j + 1 :].strip()
    if tail and not tail.startswith("/"):
        raise LeanUnsupported(f"text after the value of {key}")
    return rest[1:j], tail[1:].rstrip()


def _long(images: list[str]) -> Card:
    """A string card continued on CONTINUE cards (the OGIP long-string rule)."""
    key = images[0][:8].rstrip()
    if not _KEYWORD.match(key) or key in COMMENTARY or images[0][8:10] != "= ":
        raise LeanUnsupported(f"CONTINUE after {key!r}")
    values, comments = [], []
    for n, image in enumerate(images):
        raw, comment = _quoted(image[10:] if n == 0 else image[9:], key)
        raw = raw.rstrip()
        values.append(raw[:-1] if raw.endswith("&") else raw)
        if comment.lstrip(" /"):
            comments.append(comment.lstrip(" /").rstrip())
    value = "".join(values).replace("''", "'").rstrip()
    return Card(key, value, " ".join(comments).strip(), "".join(images))


class Cards:
    """An ordered list of header cards with astropy ``Header`` placement rules."""

    def __init__(self, cards: Iterable[Card] = ()) -> None:
        self.cards: list[Card] = list(cards)

    @classmethod
    def parse(cls, text: str) -> Cards:
        """Cards of a header's text (80-character cards, up to END); a card
        followed by CONTINUE cards is one long-string card, as astropy reads it."""
        images = []
        for start in range(0, len(text), CARD):
            image = text[start : start + CARD]
            if image.rstrip() == "END":
                break
            images.append(image)
        out, i = [], 0
        while i < len(images):
            j = i + 1
            while j < len(images) and images[j][:8].rstrip() == "CONTINUE":
                j += 1
            out.append(parse_card(images[i]) if j == i + 1 else _long(images[i:j]))
            i = j
        return cls(out)

    # ------------------------------------------------------------ reading
    def _index(self, key: str) -> int:
        key = key.upper()
        for i, card in enumerate(self.cards):
            if card.keyword == key:
                return i
        return -1

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._index(key) >= 0

    def __getitem__(self, key: str) -> Any:
        i = self._index(key)
        if i < 0:
            raise KeyError(f"Keyword '{key}' not found.")
        if key.upper() in COMMENTARY:
            return [c.value for c in self.cards if c.keyword == key.upper()]
        return self.cards[i].value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return (c.keyword for c in self.cards)

    def __len__(self) -> int:
        return len(self.cards)

    def keys(self) -> list[str]:
        return [c.keyword for c in self.cards]

    def items(self) -> list[tuple[str, Any]]:
        return [(c.keyword, c.value) for c in self.cards]

    def values(self) -> list[Any]:
        return [c.value for c in self.cards]

    def copy(self) -> Cards:
        return Cards(Card(c.keyword, c.value, c.comment, c.image) for c in self.cards)

    # ------------------------------------------------------------ changing
    def __setitem__(self, key: str, value: Any) -> None:
        comment = None
        if isinstance(value, tuple):
            value, comment = value
            comment = comment or ""
        self._update(key, value, comment)

    def __delitem__(self, key: str) -> None:
        key = key.upper()
        if key not in self:
            raise KeyError(f"Keyword '{key}' not found.")
        self.cards = [c for c in self.cards if c.keyword != key]

    def remove(
        self, keyword: str, ignore_missing: bool = False, remove_all: bool = False
    ) -> None:
        i = self._index(keyword)
        if i < 0:
            if not ignore_missing:
                raise KeyError(f"Keyword '{keyword}' not found.")
            return
        if remove_all:
            del self[keyword]
        else:
            del self.cards[i]

    def add_history(self, value: str) -> None:
        self._update("HISTORY", value, None)

    def add_comment(self, value: str) -> None:
        self._update("COMMENT", value, None)

    def update(self, other: Any) -> None:
        """Set every card of ``other`` (``Cards``, astropy ``Header`` or a mapping)."""
        if hasattr(other, "cards"):
            for card in other.cards:
                self._update(card.keyword, card.value, card.comment)
            return
        for key, value in other.items():
            self[key] = value

    def append(self, card: Any, end: bool = False) -> None:
        """Add a card after the last keyword card (``end``: at the very end);
        ``card`` is a ``Card`` or a ``(keyword, value[, comment])`` tuple."""
        if isinstance(card, tuple):
            card = Card(str(card[0]).upper(), *card[1:])
        elif not isinstance(card, Card):
            raise LeanUnsupported(f"card {card!r}")
        if end or card.is_blank:
            self.cards.append(card)
            return
        self._insert_tail(card, bottom=False)

    def _insert_tail(self, card: Card, *, bottom: bool) -> None:
        i = len(self.cards) - 1
        while i >= 0 and self.cards[i].is_blank:
            i -= 1
        if not bottom and card.keyword not in COMMENTARY:
            while i >= 0 and self.cards[i].keyword in COMMENTARY:
                i -= 1
        self.cards.insert(i + 1, card)
        self._use_blank()

    def _use_blank(self) -> None:
        if len(self.cards) > 1 and self.cards[-1].is_blank:
            del self.cards[-1]

    def _update(self, key: str, value: Any, comment: str | None) -> None:
        key = key.strip().upper()
        if key not in COMMENTARY:
            i = self._index(key)
            if i >= 0:
                card = self.cards[i]
                if type(card.value) is not type(value) or card.value != value:
                    card.value, card.image = value, None
                if comment is not None and comment != card.comment:
                    card.comment, card.image = comment, None
                return
            self.append(Card(key, value, comment or ""))
            return
        text = str(value)
        parts = [text[i : i + 72] for i in range(0, len(text), 72)] or [""]
        last = max(
            (i for i, c in enumerate(self.cards) if c.keyword == key), default=-1
        )
        if last >= 0:
            for offset, part in enumerate(parts, start=1):
                self.cards.insert(last + offset, Card(key, part))
                if not (key == "" and part == ""):
                    self._use_blank()
        else:
            for part in parts:
                self._insert_tail(Card(key, part), bottom=True)

    # ------------------------------------------------------------ writing
    def tostring(self) -> str:
        """The header as FITS text: the cards, END, blanks to a 2880-byte record."""
        text = "".join(c.text() for c in self.cards) + f"{'END':80}"
        return text + " " * ((-len(text)) % RECORD)


def as_header(header: Any) -> Any:
    """An astropy ``Header`` for ``header`` (``Cards`` are converted card by card,
    unchanged cards from their original text); anything else is returned as is."""
    if not isinstance(header, Cards):
        return header
    from astropy.io import fits

    out = fits.Header()
    for c in header.cards:
        if c.image is not None:
            out.append(fits.Card.fromstring(c.image), end=True)
        elif c.keyword in COMMENTARY:
            out.append(fits.Card(c.keyword, c.value), end=True)
        else:
            out.append(fits.Card(c.keyword, c.value, c.comment), end=True)
    return out
