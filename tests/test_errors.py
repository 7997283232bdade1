"""Syntax errors: exact messages for a table of bad inputs (tests/cases/errors.txt).

The table is read by tests/casefiles.py; ``pytest --regen`` rewrites its messages.
"""

from __future__ import annotations

import re
from typing import Any

import casefiles
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xdm.errors import Span, XdmRegionError, XdmSyntaxError
from xdm.lang.parser import parse, parse_filter, parse_region, parse_slow

CASES = casefiles.ERRORS.params(lambda case: (case.text, list(case.expected)))
# lark's internal terminal names must never reach the user
INTERNAL = re.compile(
    r"\b(?:[A-Z]+_[A-Z_]+|RSQB|LSQB|LPAR|RPAR|COMMA|COLON|\$END|__ANON\w*)\b"
)


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_error_message(source: str, expected: list[str]) -> None:
    with pytest.raises(XdmSyntaxError) as info:
        parse(source)
    rendered = info.value.render()
    assert rendered.splitlines() == expected
    assert not INTERNAL.search(rendered)
    assert info.value.source == source and info.value.span is not None


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_reference_path_rejects_too(source: str, expected: list[str]) -> None:
    with pytest.raises(XdmSyntaxError) as info:
        parse_slow(source)
    assert not INTERNAL.search(info.value.render())


def test_caret_one_past_the_end() -> None:
    text = "evt.fits[energy=300:2000"
    with pytest.raises(XdmSyntaxError) as info:
        parse(text)
    assert info.value.span == Span(len(text), len(text) + 1)
    assert info.value.render().splitlines()[-1] == "  " + " " * len(text) + "^"


def test_region_errors_are_both_kinds() -> None:
    with pytest.raises(XdmRegionError):
        parse_region("circle(1,2)")
    with pytest.raises(XdmSyntaxError):
        parse_region("circle(1,2)")


@pytest.mark.parametrize(
    ("function", "text", "message"),
    [
        (parse, "", "error: empty input; expected a file name"),
        (parse_region, "  ", "error: empty input; expected a region"),
        (parse_filter, "# only a comment\n", "error: empty input; expected a filter"),
        (
            parse_region,
            "circle(1,2,3)-",
            "error: input ended early; expected a region shape, region(file) or mask(file) after '-'",
        ),
        (
            parse_filter,
            "energy=300-2000",
            "error: use ':' for a range: '300:2000', not '300-2000'",
        ),
    ],
)
def test_other_entry_points(function: Any, text: str, message: str) -> None:
    with pytest.raises(XdmSyntaxError) as info:
        function(text)
    assert info.value.render().splitlines()[0] == message


def test_expected_is_in_user_words() -> None:
    with pytest.raises(XdmSyntaxError) as info:
        parse("evt.fits[energy=300 2000]")
    assert info.value.expected[:3] == ("':'", "','", "']'")


PIECES = [
    *"[](),:=;*+-|&!@#<>/\"' .x01tf",
    "energy",
    "sky",
    "bin ",
    "cols ",
    "opt ",
    "circle(",
    "region(",
    "#row",
    "evt.fits",
    "300",
    "2000",
    "::8",
    "||",
    "&&",
    "exclude ",
    "filter ",
    "subspace -",
    "field()",
    "12:26:51",
    "#1",
    "T",
    "nan",
    "  ",
    "é",
    "\n",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join))
def test_bad_input_never_hurts(tail: str) -> None:
    """Any text: a tree or an XdmSyntaxError, never another exception; the fast
    driver accepts exactly what lark accepts, with the same tree."""
    text = "evt.fits" + tail
    try:
        fast: Any = parse(text, cached=False)
    except XdmSyntaxError as exc:
        assert exc.span is not None and not INTERNAL.search(exc.render())
        fast = None
    try:
        slow: Any = parse_slow(text)
    except XdmSyntaxError:
        slow = None
    assert fast == slow
