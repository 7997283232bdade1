"""The parser case table (tests/cases/parse.txt): canonical text, round trip, spans.

Each line is a virtual file from the spec or from real use; see the file header
(read by tests/casefiles.py; ``pytest --regen`` rewrites the canonical texts).
The lark-tree path (``parse_slow``) is the reference for the fast driver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import casefiles
import pytest

from xdm.lang.parser import parse, parse_slow
from xdm.lang.unparse import unparse

CASES = casefiles.PARSE.params(lambda case: (case.text, case.expected[0]))


def spans(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (position in tree, span) pair, for comparing spans as well as values."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        yield path, getattr(node, "span", None)
        for f in dataclasses.fields(node):
            if f.name != "span":
                yield from spans(getattr(node, f.name), f"{path}.{f.name}")
    elif isinstance(node, tuple):
        for i, item in enumerate(node):
            yield from spans(item, f"{path}[{i}]")


def test_case_table_is_large_enough() -> None:
    assert len(CASES) >= 150


@pytest.mark.parametrize(("source", "canonical"), CASES)
def test_case(source: str, canonical: str) -> None:
    tree = parse(source)
    assert unparse(tree) == canonical
    assert parse(canonical) == tree
    assert unparse(parse(canonical)) == canonical
    reference = parse_slow(source)
    assert tree == reference
    assert list(spans(tree)) == list(spans(reference))


@pytest.mark.parametrize(("source", "canonical"), CASES)
def test_spans_cover_their_text(source: str, canonical: str) -> None:
    """The root spans the whole text (blanks trimmed); children lie inside parents."""
    tree = parse(source)
    assert tree.span is not None
    assert source[tree.span.start : tree.span.end] == source.strip()
    for where, span in spans(tree):
        if span is not None:
            assert tree.span.start <= span.start <= span.end <= tree.span.end, where
