"""Syntax errors in the user's words.

Given where parsing stopped (offset, the token found, the terminals the parser
would have accepted, the token before), build an ``XdmSyntaxError``: name the
expected things as the user writes them (``']'``, ``a number``; never ``RSQB``),
put the caret on the offending character (one past the end when the input ran
out), and recognise common mistakes (``MISTAKES``) with their own message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from difflib import get_close_matches

from xdm.errors import Span, XdmSyntaxError
from xdm.lang.fastparse import Stuck

__all__ = [
    "MISTAKES",
    "REGEX_WORDS",
    "Stuck",
    "describe_expected",
    "from_lark",
    "syntax_error",
]

# regex terminals of grammar/xdm.lark, named by hand; string terminals are
# shown as themselves ("']'")
REGEX_WORDS: dict[str, str] = {
    "PATH": "a file name",
    "NAME": "a name",
    "COLNAME": "a column name",
    "AXISCOL": "an axis like #1",
    "AXISNUM": "an axis like #1",
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
    "FILTER_KW": "filter",
    "EXCLUDE_KW": "exclude",
    "BIN_KW": "bin",
    "COLS_KW": "cols",
    "OPT_KW": "opt",
    "SUBSPACE_KW": "subspace",
    "$END": "the end",
}

# listed first, in this order; anything else follows alphabetically
_ORDER = ("':'", "','", "'='", "']'", "')'", "'['", "'('", "a number", "a column name")
# continuations that are always possible after a complete item; they only add
# noise to a list that has other entries
_NOISE = {"'||'", "'&&'", "'+'", "'*' or '-'", "'<' or '>'", "the end", "'['"}

KEYWORDS = ("bin", "cols", "opt", "filter", "exclude", "subspace")
# words people write for a keyword
KEYWORD_TYPOS = {
    "bins": "bin",
    "binning": "bin",
    "column": "cols",
    "columns": "cols",
    "option": "opt",
    "options": "opt",
    "opts": "opt",
    "filters": "filter",
    "excl": "exclude",
    "subspaces": "subspace",
}


def _terminal_words(literals: Mapping[str, str]) -> dict[str, str]:
    words = dict(REGEX_WORDS)
    for name, value in literals.items():
        if name not in words:
            words[name] = f"'{value}'"
    return words


def describe_expected(
    expected: Iterable[str], literals: Mapping[str, str]
) -> tuple[str, ...]:
    """Terminal names -> the user's words, de-duplicated, most useful first;
    ``literals`` are the grammar's string terminals (``RSQB`` -> ``]``)."""
    words = _terminal_words(literals)
    seen = {words.get(name, name.lower()) for name in expected}
    rank = {w: i for i, w in enumerate(_ORDER)}
    return tuple(sorted(seen, key=lambda w: (rank.get(w, len(rank)), w)))


def _join_or(words: tuple[str, ...]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


# ---------------------------------------------------------------- mistakes
# Each rule looks at the stuck point and returns (message, span, hint) or None.

Rule = Callable[[str, Stuck], "tuple[str, Span, str | None] | None"]


def _dash_range(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``energy=300-2000``: '-' where ':' makes a range."""
    rest = text[s.pos :]
    if (
        "COLON" in s.expected
        and s.previous_kind == "NUMBER"
        and rest[:1] == "-"
        and rest[1:2].isdigit()
    ):
        hi = rest[1:].split(",")[0].split("]")[0]
        return (
            f"use ':' for a range: '{s.previous}:{hi}', not '{s.previous}-{hi}'",
            Span(s.pos, s.pos + 1),
            None,
        )
    return None


def _keyword_typo(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``[bins x=::8]``: a near-miss of bin, cols, opt, ..."""
    if s.previous_kind != "NAME" or s.before != "[" or s.at_end or s.next_char == "]":
        return None
    word = (s.previous or "").lower()
    guess = KEYWORD_TYPOS.get(word) or next(
        iter(get_close_matches(word, KEYWORDS, n=1, cutoff=0.75)), None
    )
    if guess is None:
        return None
    start = text.rfind(s.previous or "", 0, s.pos)
    return (
        f"unknown keyword '{s.previous}'; did you mean '{guess}'?",
        Span(start, start + len(s.previous or "")),
        None,
    )


def _empty_brackets(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``evt.fits[]``."""
    if s.next_char == "]" and s.previous == "[":
        return (
            "empty brackets '[]'",
            Span(s.pos - 1, s.pos + 1),
            "write a block name, a filter like [energy=300:2000], or [bin ...], "
            "[cols ...], [opt ...]",
        )
    return None


def _missing_close(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """The input ended (or a new '[' began) while a bracket was still open."""
    for kind, char in (("RPAR", ")"), ("RSQB", "]")):
        if kind not in s.expected:
            continue
        if s.at_end:
            return f"missing '{char}' at the end", Span(s.pos, s.pos + 1), None
        if s.next_char == "[" and char == "]":
            return "missing ']' before '['", Span(s.pos, s.pos + 1), None
        if s.next_char == "]" and char == ")" and "RSQB" not in s.expected:
            return "missing ')' before ']'", Span(s.pos, s.pos + 1), None
    return None


def _extra_close(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``evt.fits[a=1]]``: a closing bracket with nothing open."""
    parens, brackets = _open_brackets(text, s.pos)
    if (s.next_char == "]" and brackets <= 0) or (s.next_char == ")" and parens <= 0):
        return f"unmatched '{s.next_char}'", Span(s.pos, s.pos + 1), None
    return None


def _subspace_dash(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``[subspace time]``: subspace entries remove columns and need '-'."""
    if s.previous and s.previous.lower() == "subspace" and s.expected == {"MINUS"}:
        return (
            "expected '-' before the column name after 'subspace'",
            Span(s.pos, s.pos + 1),
            "[subspace -time] removes a column from the data subspace",
        )
    return None


def _unclosed_quote(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``[object="3C 273]``."""
    if s.found is None and s.next_char == '"' and '"' not in text[s.pos + 1 :]:
        return "unclosed '\"'", Span(s.pos, s.pos + 1), None
    return None


def _in_bin(text: str, pos: int) -> bool:
    """Is ``pos`` inside a ``[bin ...]`` bracket?"""
    start = text.rfind("[", 0, pos)
    return start >= 0 and text[start + 1 : start + 4].lower() == "bin"


def _step_in_filter(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``[energy=300:2000:10]``: a bin step written in a filter."""
    if s.next_char != ":" or s.previous_kind != "NUMBER" or s.before != ":":
        return None
    if _in_bin(text, s.pos):
        return (
            "a bin spec is lo:hi:step; found one ':' too many",
            Span(s.pos, s.pos + 1),
            None,
        )
    return (
        "a filter range is lo:hi and has no step",
        Span(s.pos, s.pos + 1),
        "a step belongs in a bin spec: [bin energy=300:2000:10]",
    )


def _missing_equals(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``[energy 300:2000]``: a column name, a blank, then a value."""
    nxt = s.next_char
    if (
        s.previous_kind in ("NAME", "STRING")
        and "EQUAL" not in s.expected
        and (nxt.isdigit() or (nxt and nxt in ":.+-"))
    ):
        return (
            f"expected '=' after '{s.previous}'",
            Span(s.pos, s.pos + 1),
            f"a filter is name=value, e.g. [{s.previous}=300:2000]",
        )
    return None


def _block_and_filter(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``[events,energy=500:7000]``: ds9 style, block and filter in one bracket."""
    if s.previous_kind == "NAME" and s.before == "[" and s.next_char == ",":
        rest = text[s.pos + 1 :].split("]")[0].strip()
        return (
            "a block name and a filter go in separate brackets",
            Span(s.pos, s.pos + 1),
            f"write [{s.previous}][{rest}]",
        )
    return None


def _computed_column(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``[cols rate=counts/exposure]``: arithmetic in a column list."""
    start = text.rfind("[", 0, s.pos)
    in_cols = text[start + 1 : start + 4].lower() == "col"
    if in_cols and s.before == "=" and s.next_char and s.next_char in "*+-/()":
        return (
            "[cols] renames columns (new=old) but cannot compute new ones",
            Span(s.pos, s.pos + 1),
            "the DM syntax has no column arithmetic; [cols] selects, drops (-name) "
            "and renames (new=old)",
        )
    return None


_CLAUSE_START = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*\s*(?:=|<|>|!=)|#row\s*=|#[0-9]+\s*="
)


def _missing_comma(text: str, s: Stuck) -> tuple[str, Span, str | None] | None:
    """``[ccd_id=7 energy=300:2000]``: two clauses without ',' between them."""
    if "COMMA" in s.expected and _CLAUSE_START.match(text, s.pos):
        return (
            f"missing ',' before '{text[s.pos :].split('=')[0].strip()}'",
            Span(s.pos, s.pos + 1),
            "clauses in one bracket are separated by ','",
        )
    return None


MISTAKES: tuple[tuple[str, Rule], ...] = (
    ("empty brackets", _empty_brackets),
    ("extra close", _extra_close),
    ("subspace dash", _subspace_dash),
    ("dash range", _dash_range),
    ("keyword typo", _keyword_typo),
    ("block and filter", _block_and_filter),
    ("computed column", _computed_column),
    ("unclosed quote", _unclosed_quote),
    ("step in filter", _step_in_filter),
    ("missing close", _missing_close),
    ("missing equals", _missing_equals),
    ("missing comma", _missing_comma),
)


# When a state accepts many kinds of token, say what kind of thing comes next
# instead of listing them: (terminals that identify the place, summary).
SUMMARIES: tuple[tuple[frozenset[str], str], ...] = (
    (
        frozenset({"BIN_KW", "COLS_KW"}),
        "a block name, a filter (name=value) or bin, cols, opt, exclude, subspace",
    ),
    (frozenset({"SHAPE", "NUMBER", "STRING"}), "a value, a range lo:hi or a region"),
    (frozenset({"COLNAME", "NUMBER"}), "a value or a new clause name=value"),
    (frozenset({"NUMBER", "STRING", "BOOL"}), "a value"),
    (frozenset({"SHAPE", "REGION_KW"}), "a region shape, region(file) or mask(file)"),
    (frozenset({"COLNAME", "ROWKW", "AXISCOL"}), "a filter clause like name=value"),
)


def _open_brackets(text: str, pos: int) -> tuple[int, int]:
    """How many '(' and '[' are open before ``pos`` (quoted text skipped)."""
    parens = brackets = 0
    quoted = False
    for char in text[:pos]:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            parens += (char == "(") - (char == ")")
            brackets += (char == "[") - (char == "]")
    return parens, brackets


def syntax_error(
    text: str, stuck: Stuck, start: str, literals: Mapping[str, str]
) -> XdmSyntaxError:
    """The worded error for ``text`` stopped at ``stuck`` (``start``: the start
    rule; ``literals``: the grammar's string terminals, name -> text)."""
    # LALR states are shared between contexts: drop closers with nothing open
    parens, brackets = _open_brackets(text, stuck.pos)
    expected = set(stuck.expected)
    if parens <= 0:
        expected.discard("RPAR")
    if brackets <= 0:
        expected.discard("RSQB")
        if parens <= 0 and start == "start":  # outside brackets: only '[' or the end
            expected &= {"LSQB", "$END", "PATH", "STACK"}
    if "COLNAME" in expected:
        expected.discard("NAME")
    if not _in_bin(text, stuck.pos):
        expected.discard("SEMICOLON")
    stuck = replace(stuck, expected=frozenset(expected))
    words = describe_expected(expected, literals)
    for _label, rule in MISTAKES:
        found = rule(text, stuck)
        if found is not None:
            message, span, hint = found
            return XdmSyntaxError(
                message, source=text, span=span, expected=words, hint=hint
            )
    summary = next((text for keys, text in SUMMARIES if keys <= expected), None)
    shown = tuple(w for w in words if w not in _NOISE) or words
    wanted = summary or _join_or(shown)
    after = f" after '{stuck.previous}'" if stuck.previous is not None else ""
    if stuck.at_end:
        message = f"input ended early; expected {wanted}{after}"
        span = Span(len(text), len(text) + 1)
    else:
        message = f"expected {wanted}{after}"
        span = Span(stuck.pos, stuck.pos + 1)
    return XdmSyntaxError(message, source=text, span=span, expected=words)


def from_lark(text: str, exc: object) -> Stuck:
    """A lark ``UnexpectedInput`` as a ``Stuck`` (used by ``parse_tree``)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(exc, UnexpectedToken):
        token = exc.token
        end = token.type == "$END"
        return Stuck(
            pos=len(text) if end else token.start_pos,
            found=None if end else str(token),
            found_kind=None if end else token.type,
            expected=frozenset(exc.expected),
            at_end=end,
            next_char="" if end else text[token.start_pos : token.start_pos + 1],
        )
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        return Stuck(
            pos=pos,
            found=None,
            found_kind=None,
            expected=frozenset(exc.allowed or ()),
            next_char=text[pos : pos + 1],
        )
    return Stuck(
        pos=len(text), found=None, found_kind=None, expected=frozenset(), at_end=True
    )
