"""A lean FITS header: 80-character cards parsed and formatted without astropy.

``Cards`` answers the part of ``astropy.io.fits.Header`` the engine uses
(``get``, ``[]``, ``in``, iteration, ``copy``, ``remove``, ``append``,
``update``, ``add_history``, ``tostring``) with astropy's rules for where a
new card goes, so a product written from it equals astropy's card for card.
Unchanged cards keep their original 80 characters, as astropy keeps them.

A string card continued on CONTINUE cards is read as one card and a long
string is written on CONTINUE cards, both as astropy does. Anything else
outside the plain fixed format (HIERARCH, complex or undefined values, a
comment astropy would truncate) raises ``LeanUnsupported``: the caller falls
back to astropy, it never guesses.
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
        """The card as 80 characters (the FITS fixed format, as astropy writes
        it), or a multiple of 80 for a long string on CONTINUE cards."""
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
        if not out.isascii():
            raise LeanUnsupported(f"card {key} is not ASCII")
        if len(out) <= CARD:
            return f"{out:80}"
        value = self.value
        long = isinstance(value, str) and len(_format_value(value)) > CARD - 10
        if long and key not in COMMENTARY:  # astropy's test
            return _long_image(key, value, self.comment)
        raise LeanUnsupported(f"card {key} does not fit in 80 characters")


def _long_image(key: str, value: str, comment: str) -> str:
    """A long string on CONTINUE cards, as astropy writes it (``Card.
    _format_long_image``): the value in 67-character parts ending in ``&``
    (but the last, when there is no comment), then the comment in 64-character
    parts on ``CONTINUE  '&' / `` cards (the last ``CONTINUE  '' / ``)."""
    parts = _words(value.replace("'", "''"), 67)
    out = []
    for n, part in enumerate(parts):
        head = f"{key:8}= " if n == 0 else "CONTINUE  "
        amp = "" if not comment and n == len(parts) - 1 else "&"
        out.append(f"{head}'{part}{amp}'")
    if comment:
        notes = _words(comment, 64)
        for n, note in enumerate(notes):
            amp = "" if n == len(notes) - 1 else "&"
            out.append(f"CONTINUE  '{amp}' / {note}")
    return "".join(f"{card:80}" for card in out)


def _words(text: str, width: int) -> list[str]:
    """``text`` in parts of at most ``width`` characters, broken after a blank
    where one is near enough, else inside a word (astropy's ``_words_group``)."""
    blanks = [i for i, ch in enumerate(text + " ") if ch == " "]
    parts: list[str] = []
    offset = start = 0
    while True:
        loc = next((k for k, b in enumerate(blanks) if b >= width + offset), None)
        loc = len(blanks) if loc is None else loc
        offset = blanks[loc - 1] + 1 if loc > 0 else -1
        if offset <= start:  # one word longer than the width: cut it
            offset = min(start + width, len(text))
        parts.append(text[start:offset])
        if offset >= len(text):
            return parts
        start = offset


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
    m = _VALUE_CARD.fullmatch(image)
    if m is not None:  # a plain string, logical or number: one regex match
        key, text, logical, integer, real, comment = m.groups()
        if key not in _NOT_PLAIN:
            comment = comment.strip() if comment else ""
            if text is not None:
                value = text.replace("''", "'").rstrip()
                if not value.endswith("&"):
                    return Card(key, value, comment, image)
            elif logical is not None:
                return Card(key, logical == "T", comment, image)
            elif integer is not None:
                return Card(key, int(integer), comment, image)
            else:
                number = float(real.replace("D", "E").replace("d", "e"))
                return Card(key, number, comment, image)
    return _parse_card(image)


_VALUE_CARD = re.compile(
    r"(?=[A-Z0-9_ -]{8}= )([A-Z0-9_-]+) *= (?: *'([^']*(?:''[^']*)*)'"
    r"| *(?:(T|F)|([+-]?\d+)|([+-]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][+-]?\d+)?))) *"
    r"(?:/(.*))?",
    re.DOTALL,
)
"""A keyword, ``= `` in columns 9-10, a quoted string, logical, integer or real,
and a comment: the cards ``parse_card`` reads in one match (``_INT`` and
``_FLOAT`` in order); any other card is read by ``_parse_card``."""
_NOT_PLAIN = COMMENTARY | {"HIERARCH", "CONTINUE"}


def _parse_card(image: str) -> Card:
    """``parse_card`` card by card rules: commentary cards, and the refusals."""
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
    """An ordered list of header cards with astropy ``Header`` placement rules.

    A keyword is found through a dict of each keyword's first card, built on the
    first look-up and kept up to date by the methods here (a header is read
    hundreds of times per plan). Change ``cards`` through these methods; a list
    edited directly is indexed again when its length changes.
    """

    def __init__(self, cards: Iterable[Card] = ()) -> None:
        self.cards: list[Card] = list(cards)
        self._first: dict[str, Card] | None = None
        self._count = 0

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
        if "CONTINUE" not in text:
            return cls([parse_card(image) for image in images])
        out, i = [], 0
        while i < len(images):
            j = i + 1
            while j < len(images) and images[j].startswith("CONTINUE"):
                j += 1
            out.append(parse_card(images[i]) if j == i + 1 else _long(images[i:j]))
            i = j
        return cls(out)

    # ------------------------------------------------------------ reading
    def _card(self, key: str) -> Card | None:
        """The first card named ``key`` (upper case), or None."""
        first = self._first
        if first is None or self._count != len(self.cards):
            first = {}
            for card in self.cards:
                first.setdefault(card.keyword, card)
            self._first, self._count = first, len(self.cards)
        return first.get(key)

    def card(self, key: str) -> Card | None:
        """The first card named ``key`` (any case), or None."""
        return self._card(key.upper())

    def _index(self, key: str) -> int:
        card = self._card(key.upper())
        if card is None:
            return -1
        return next(i for i, c in enumerate(self.cards) if c is card)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._card(key.upper()) is not None

    def __getitem__(self, key: str) -> Any:
        upper = key.upper()
        card = self._card(upper)
        if card is None:
            raise KeyError(f"Keyword '{key}' not found.")
        if upper in COMMENTARY:
            return [c.value for c in self.cards if c.keyword == upper]
        return card.value

    def get(self, key: str, default: Any = None) -> Any:
        upper = key.upper()
        card = self._card(upper)
        if card is None:
            return default
        if upper in COMMENTARY:
            return [c.value for c in self.cards if c.keyword == upper]
        return card.value

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
    def _insert(self, at: int, card: Card) -> None:
        """Put ``card`` at position ``at``, keeping the index of first cards."""
        self.cards.insert(at, card)
        first = self._first
        if first is None or self._count != len(self.cards) - 1:
            self._first = None
            return
        self._count += 1
        found = first.get(card.keyword)
        if found is None or not any(c is found for c in self.cards[:at]):
            first[card.keyword] = card

    def _delete(self, at: int) -> None:
        """Drop the card at position ``at``, keeping the index of first cards."""
        card = self.cards.pop(at)
        first = self._first
        if first is None or self._count != len(self.cards) + 1:
            self._first = None
            return
        self._count -= 1
        if first.get(card.keyword) is card:
            later = next((c for c in self.cards if c.keyword == card.keyword), None)
            if later is None:
                del first[card.keyword]
            else:
                first[card.keyword] = later

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
        self._first = None

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
            self._delete(i)

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
            self._insert(len(self.cards), card)
            return
        self._insert_tail(card, bottom=False)

    def _insert_tail(self, card: Card, *, bottom: bool) -> None:
        i = len(self.cards) - 1
        while i >= 0 and self.cards[i].is_blank:
            i -= 1
        if not bottom and card.keyword not in COMMENTARY:
            while i >= 0 and self.cards[i].keyword in COMMENTARY:
                i -= 1
        self._insert(i + 1, card)
        self._use_blank()

    def _use_blank(self) -> None:
        if len(self.cards) > 1 and self.cards[-1].is_blank:
            self._delete(len(self.cards) - 1)

    def _update(self, key: str, value: Any, comment: str | None) -> None:
        key = key.strip().upper()
        if key not in COMMENTARY:
            card = self._card(key)
            if card is not None:
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
                self._insert(last + offset, Card(key, part))
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
