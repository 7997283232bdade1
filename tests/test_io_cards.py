"""Headers read once per open (xdm.io.fitscheck, cards, plainfits) against astropy.

``check_file`` reads each header once and parses it with ``Cards`` when it
can; ``scan_plain`` takes those headers instead of reading the file again.
Oracles: astropy's header of every real file in tests/data (card by card), the
file read again by ``scan_plain`` alone, and the refusal of the same damage in
a header ``Cards`` reads and in one it cannot (walked card by card): the same
words at the same byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from astropy.io import fits

from xdm.errors import XdmIOError
from xdm.io.cards import Card, Cards, LeanUnsupported, parse_card
from xdm.io.fitscheck import check_file
from xdm.io.plainfits import scan_plain

DATA = Path(__file__).parent / "data"
REAL = DATA / "events" / "chandra_test.fits"
FILES = sorted(
    p
    for p in DATA.rglob("*")
    if p.is_file() and p.suffix in (".fits", ".pi", ".arf", ".rmf", ".gz")
)


PLAIN = (
    "chandra_test.fits",
    "chandra_time.fits",
    "chandra_noener_test.fits",
    "3c273.pi",
)


def _cards(header: Any) -> list[tuple[str, Any, str, type]]:
    return [(c.keyword, c.value, c.comment, type(c.value)) for c in header.cards]


def _hdus(hdus: Any) -> Any:
    if hdus is None:
        return None
    return [(_cards(h.cards), h.header_start, h.data_start, h.data_size) for h in hdus]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_checked_headers_are_astropy_headers(path: Path) -> None:
    """Every header the check parsed equals astropy's, card by card, and the
    lean HDUs made from them equal those read from the file again."""
    checked = check_file(path, path.name)
    if path.suffix == ".gz":
        assert checked is None  # offsets in a compressed stream are not file offsets
        return
    assert checked is not None
    with fits.open(path) as hdul:
        assert len(checked) == len(hdul)
        for i, (mine, theirs) in enumerate(zip(checked, hdul)):
            info = hdul.fileinfo(i)
            assert mine.start == info["hdrLoc"]
            assert mine.start + mine.length == info["datLoc"]
            assert mine.data_size == theirs.header.data_size
            if mine.cards is not None:
                assert _cards(mine.cards) == _cards(theirs.header), (path, i)
    assert _hdus(scan_plain(path, checked)) == _hdus(scan_plain(path))
    if path.name in PLAIN:
        assert all(h.cards is not None for h in checked)
        assert scan_plain(path, checked) is not None


def _header_span(hdu: int) -> tuple[int, int]:
    with fits.open(REAL) as hdul:
        info = hdul.fileinfo(hdu)
    return int(info["hdrLoc"]), int(info["datLoc"])


def _card_at(raw: bytes, hdu: int, key: str) -> int:
    start, end = _header_span(hdu)
    for off in range(start, end, 80):
        if raw[off : off + 8].decode("ascii").rstrip() == key:
            return off
    raise KeyError(key)


def _refusal(path: Path) -> str:
    with pytest.raises(XdmIOError) as info:
        check_file(path, path.name)
    return info.value.message


def _not_lean(raw: bytearray) -> None:
    """Make the events header one ``Cards`` cannot read (a complex value),
    keeping every card where it is."""
    at = _card_at(bytes(raw), 1, "HDUNAME") if b"HDUNAME " in raw else None
    if at is None:
        at = _card_at(bytes(raw), 1, "CREATOR")
    raw[at : at + 80] = b"CPLX    = (1.0, 2.0)".ljust(80)


DAMAGES = {
    "required twice": lambda raw: raw.__setitem__(
        slice(_card_at(raw, 1, "TTYPE1"), _card_at(raw, 1, "TTYPE1") + 80),
        raw[_card_at(raw, 1, "NAXIS2") : _card_at(raw, 1, "NAXIS2") + 80],
    ),
    "END card damaged": lambda raw: raw.__setitem__(
        slice(_card_at(raw, 1, "END") + 10, _card_at(raw, 1, "END") + 11), b"x"
    ),
    "bad keyword": lambda raw: raw.__setitem__(
        slice(_card_at(raw, 1, "TFORM1"), _card_at(raw, 1, "TFORM1") + 2), b"t$"
    ),
    "no value indicator": lambda raw: raw.__setitem__(
        slice(_card_at(raw, 1, "TFORM1") + 8, _card_at(raw, 1, "TFORM1") + 9), b":"
    ),
    "no TTYPE": lambda raw: raw.__setitem__(
        slice(_card_at(raw, 1, "TTYPE2"), _card_at(raw, 1, "TTYPE2") + 80),
        b"COMMENT".ljust(80),
    ),
    "NAXIS1 wrong": lambda raw: raw.__setitem__(
        slice(_card_at(raw, 1, "NAXIS1"), _card_at(raw, 1, "NAXIS1") + 80),
        b"NAXIS1  =                    7".ljust(80),
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_refusals_same_whether_cards_read_the_header(
    tmp_path: Path, damage: str
) -> None:
    """A damaged header is refused with the same words at the same byte when
    ``Cards`` reads it (one parse) and when it does not (card by card)."""
    raw = bytearray(REAL.read_bytes())
    DAMAGES[damage](raw)
    lean = tmp_path / "lean.fits"
    lean.write_bytes(bytes(raw))
    walked = tmp_path / "walked.fits"
    _not_lean(raw)
    walked.write_bytes(bytes(raw))
    message = _refusal(lean)
    assert message == _refusal(walked).replace("walked.fits", "lean.fits")
    words = {
        "required twice": "NAXIS2 twice",
        "END card damaged": "END card",
        "bad keyword": "'t$ORM1'",
        "no value indicator": "without '= '",
        "no TTYPE": "no name (TTYPE2)",
        "NAXIS1 wrong": "NAXIS1 = 7",
    }[damage]
    assert words in message, message


def test_sound_headers_cards_cannot_read_still_pass(tmp_path: Path) -> None:
    """HIERARCH, complex values and a long string on CONTINUE cards: checked,
    left to astropy (no cards) or read as astropy reads them."""
    path = tmp_path / "odd.fits"
    header = fits.Header()
    header["HIERARCH ESO DET CHIP"] = 1
    header["LONGSTR"] = ("x" * 100 + "'quoted'", "a comment " * 8)
    fits.PrimaryHDU(header=header).writeto(path)
    checked = check_file(path, path.name)
    assert checked is not None and len(checked) == 1
    assert checked[0].cards is None  # HIERARCH: astropy reads it
    assert scan_plain(path, checked) is None
    del header["HIERARCH ESO DET CHIP"]
    fits.PrimaryHDU(header=header).writeto(path, overwrite=True)
    checked = check_file(path, path.name)
    assert checked is not None and checked[0].cards is not None
    with fits.open(path) as hdul:
        assert _cards(checked[0].cards) == _cards(hdul[0].header)


def test_trailing_padding_leaves_the_file_to_astropy(tmp_path: Path) -> None:
    """Bytes after the last block pass the check but the file is not plain,
    from the checked headers as from a fresh read."""
    path = tmp_path / "padded.fits"
    path.write_bytes(REAL.read_bytes() + b"\0" * 2880)
    checked = check_file(path, path.name)
    assert checked is not None
    assert scan_plain(path, checked) is None
    assert scan_plain(path) is None


# ---------------------------------------------------------------- Cards look-ups


def _abc() -> Cards:
    return Cards(
        [
            Card("A", 1),
            Card("B", "first"),
            Card("COMMENT", "one"),
            Card("B", "second"),
            Card("COMMENT", "two"),
        ]
    )


def test_the_first_card_of_a_keyword_wins() -> None:
    cards = _abc()
    assert cards["b"] == "first" and cards.get("B") == "first"
    assert cards["COMMENT"] == ["one", "two"] == cards.get("comment")
    assert "A" in cards and "a" in cards and "Z" not in cards and 5 not in cards
    assert cards.get("Z", "none") == "none"
    with pytest.raises(KeyError):
        cards["Z"]
    cards.remove("B")
    assert cards["B"] == "second"
    cards["B"] = "changed"
    assert [c.value for c in cards.cards if c.keyword == "B"] == ["changed"]
    cards.remove("B")
    assert "B" not in cards and cards.get("B") is None


def test_index_follows_every_change() -> None:
    """Look-ups after appends, inserts, deletions and direct list edits."""
    cards = _abc()
    assert cards["A"] == 1
    cards.append(("C", 3))
    cards.append(Card("", "", ""))  # a blank card: at the end
    cards.append(("A", 9))  # a second A goes after the last keyword card
    assert cards["A"] == 1 and cards["C"] == 3
    cards.add_history("h")
    assert cards["HISTORY"] == ["h"]
    del cards["A"]
    assert "A" not in cards
    cards.cards.append(Card("D", 4))  # edited directly: indexed again
    assert cards["D"] == 4
    cards.cards.insert(0, Card("C", 0))
    assert cards["C"] == 0
    copy = cards.copy()
    copy["C"] = 5
    assert copy["C"] == 5 and cards["C"] == 0
    cards.remove("COMMENT", remove_all=True)
    assert "COMMENT" not in cards and cards["HISTORY"] == ["h"]


def test_index_matches_a_scan_after_random_changes() -> None:
    """Against the definition: the first card with the keyword in list order."""
    import random

    rng = random.Random(3)
    cards = Cards()
    keys = ["A", "B", "C", "COMMENT", "HISTORY", ""]
    for _ in range(3000):
        key = rng.choice(keys)
        op = rng.random()
        if op < 0.35:
            cards.append((key, rng.randrange(9)), end=rng.random() < 0.3)
        elif op < 0.5:
            cards[key] = rng.randrange(9)
        elif op < 0.65:
            cards.remove(key, ignore_missing=True)
        elif op < 0.7 and key in cards:
            del cards[key]
        elif op < 0.8:
            cards.add_comment(str(rng.randrange(9)))
        elif op < 0.85:
            cards.append(Card("", "", ""))
        for k in keys:
            first = next((c for c in cards.cards if c.keyword == k), None)
            assert (k in cards) == (first is not None)
            if first is not None and k not in ("COMMENT", "HISTORY", ""):
                assert cards[k] is first.value


# ---------------------------------------------------------------- parse_card


@pytest.mark.parametrize(
    "image",
    [
        "TTYPE1  = 'time    '           / S/C TT corresponding to mid-exposure",
        "Q       = 'it''s'",
        "Q       = ''''",
        "Q       = 'a/b' / c / d",
        "EMPTY   = ''",
        "SPACES  = '   '",
        "FLAG    =                    T / yes",
        "FLAG    = F",
        "INT     =                  -42",
        "REAL    =   1.0D+02 / fortran",
        "REAL    = .5",
        "REAL    = 5.",
        "REAL    = 1E-3/tight",
        "COMMENT = 'not a value'",
        "HISTORY   any text",
        "        blank keyword text",
    ],
)
def test_cards_read_as_astropy_reads(image: str) -> None:
    card = parse_card(f"{image:80}")
    theirs = fits.Card.fromstring(f"{image:80}")
    assert (card.keyword, card.value, type(card.value)) == (
        theirs.keyword,
        theirs.value,
        type(theirs.value),
    )
    assert card.comment == theirs.comment
    assert card.image == f"{image:80}"


@pytest.mark.parametrize(
    "image",
    [
        "LONG    = 'abc&'",
        "OPEN    = 'unterminated",
        "AFTER   = 'x' junk",
        "CPLX    = (1.0, 2.0)",
        "UNDEF   =",
        "UNDEF   =           / only a comment",
        "WORD    = nan",
        "AB CD   = 1",
        "lower   = 1",
        "HIERARCH= 1",
        "CONTINUE= 'x'",
        "NOEQ      1",
    ],
)
def test_cards_refuse_what_astropy_reads_otherwise(image: str) -> None:
    with pytest.raises(LeanUnsupported):
        parse_card(f"{image:80}")


# ---------------------------------------------------------------- CONTINUE cards


def _long_values() -> list[tuple[str, str, str]]:
    out = []
    for n in (69, 70, 71, 72, 134, 135, 136, 137, 201, 300):
        for comment in ("", "short", "a comment " * 9, "y" * 130):
            out.append(("DSVAL3", "x" * n, comment))
            out.append(("LONGKEY8", ("word " * 80)[:n], comment))
            out.append(("K", ("it's " * 80)[:n], comment))
    out.append(("Q", "a" * 65 + "'" + "b" * 20, "c"))
    out.append(("Q", "a" * 65 + "  " + "b" * 90, ""))
    return out


@pytest.mark.parametrize(("key", "value", "comment"), _long_values())
def test_long_strings_are_written_on_continue_cards_as_astropy(
    key: str, value: str, comment: str
) -> None:
    """Byte for byte astropy's CONTINUE cards, and read back as astropy reads them."""
    image = Card(key, value, comment).text()
    theirs = fits.Card(key, value, comment)
    assert image == theirs.image
    assert len(image) % 80 == 0 and len(image) > 80
    back = Cards.parse(image + f"{'END':80}").cards
    assert len(back) == 1
    card = fits.Card.fromstring(image)
    assert (back[0].keyword, back[0].value, back[0].comment) == (
        card.keyword,
        card.value,
        card.comment,
    )


def test_doubled_quotes_cut_at_the_break_as_astropy_cuts_them() -> None:
    """astropy may split a doubled quote between two cards; so does the lean
    writer (the bytes are astropy's; ``Cards`` leaves reading them to astropy)."""
    for n in (35, 36, 40):
        assert Card("Q", "'" * n, "").text() == fits.Card("Q", "'" * n, "").image
    value = "a" * 66 + "'" + "b" * 20
    assert Card("Q", value, "c").text() == fits.Card("Q", value, "c").image


def test_short_strings_with_long_comments_are_still_refused() -> None:
    """astropy truncates such a comment (with a warning): the lean path refuses."""
    with pytest.raises(LeanUnsupported):
        Card("K", "x" * 68, "a comment that no longer fits").text()


def test_polygon_region_image_written_lean_equals_astropy(tmp_path: Path) -> None:
    """A polygon's DSVAL (a long string) no longer sends the copy to astropy:
    the product equals astropy's byte for byte, and astropy is not imported."""
    import gzip
    import shutil
    import subprocess
    import sys

    packed = tmp_path / "evt.fits.gz"
    with open(REAL, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    poly = (
        "polygon(4327.1030273,3741.8984375,4437.1030273,3751.8984375,"
        "4417.1030273,3861.8984375,4347.1030273,3836.8984375)"
    )
    query = f"[sky={poly}][bin sky=4]"
    lean, astro = tmp_path / "lean.fits", tmp_path / "astro.fits"
    code = (
        "import sys, xdm\n"
        f"xdm.copy({str(REAL) + query!r}, {str(lean)!r}, history='h')\n"
        "assert 'astropy.io.fits' not in sys.modules, 'astropy imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    import xdm

    xdm.copy(f"{packed}{query}", astro, history="h")
    header = fits.getheader(lean)
    assert any(len(str(header[k])) > 68 for k in header if k.startswith("DSVAL"))
    assert lean.read_bytes() == astro.read_bytes()
