"""lark errors -> XdmSyntaxError in the user's words.

Names the expected terminals as the user writes them (``']'``, ``a number``),
puts the caret at the offending character (one past the end when the input ran
out) and recognises common mistakes.
"""

from __future__ import annotations

from typing import Any

from xdm.errors import Span, XdmSyntaxError

__all__ = ["TERMINAL_WORDS", "syntax_error"]

# terminal name -> how the user would call it
TERMINAL_WORDS: dict[str, str] = {
    "LSQB": "'['",
    "RSQB": "']'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "COLON": "':'",
    "SEMICOLON": "';'",
    "EQUAL": "'='",
    "SLASH": "'/'",
    "STAR": "'*'",
    "MINUS": "'-'",
    "BANG": "'!'",
    "AT": "'@'",
    "STACK": "'@'",
    "__ANON_0": "'||'",
    "__ANON_1": "'&&'",
    "PATH": "a file name",
    "NAME": "a name",
    "COLNAME": "a column name",
    "AXISCOL": "an axis number like #1",
    "AXISNUM": "an axis number like #1",
    "NBINS": "a bin count like #100",
    "SHAPE": "a region shape",
    "REGION_KW": "region(",
    "MASK_KW": "mask(",
    "ROWKW": "#row",
    "NUMBER": "a number",
    "BOOL": "true or false",
    "BITS": "a bit pattern",
    "STRING": "a value",
    "QSTRING": "a quoted value",
    "COORD": "a number",
    "TRIPLE": "a number",
    "OPTVALUE": "a value",
    "CMP_OP": "'<' or '>'",
    "REGION_OR": "'+'",
    "REGION_AND": "'*' or '-'",
    "FILTER_KW": "'filter'",
    "EXCLUDE_KW": "'exclude'",
    "BIN_KW": "'bin'",
    "COLS_KW": "'cols'",
    "OPT_KW": "'opt'",
    "SUBSPACE_KW": "'subspace'",
    "$END": "the end",
}


def _words(expected: set[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for name in sorted(expected):
        word = TERMINAL_WORDS.get(name, name.lower())
        if word not in seen:
            seen.append(word)
    return tuple(seen)


def _join_or(words: tuple[str, ...]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def syntax_error(text: str, exc: Any, start: str) -> XdmSyntaxError:
    """Translate a lark ``UnexpectedInput`` for ``text`` into an XdmSyntaxError."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    expected: set[str] = set()
    pos = len(text)
    if isinstance(exc, UnexpectedToken):
        expected = set(exc.expected)
        if exc.token.type != "$END":
            pos = exc.token.start_pos
    elif isinstance(exc, UnexpectedCharacters):
        expected = set(exc.allowed or ())
        pos = exc.pos_in_stream
    elif isinstance(exc, UnexpectedEOF):
        expected = set(exc.expected)
    words = _words(expected)
    if pos >= len(text):
        message = "input ended early"
        if words:
            message += f"; expected {_join_or(words)}"
    else:
        message = f"unexpected '{text[pos]}'"
        if words:
            message = f"expected {_join_or(words)}"
    err = XdmSyntaxError(message, source=text, span=Span(pos, pos + 1), expected=words)
    err.lark_error = exc  # type: ignore[attr-defined]
    return err
