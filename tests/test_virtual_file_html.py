"""A parsed virtual file shows its tree in a notebook (``VirtualFile._repr_html_``).

Oracle: the HTML is read back with the standard library's ``HTMLParser`` and must
hold the same tree as ``xdm parse --json`` (``xdm.cli.cmd_parse.to_json``), for
every string of tests/cases/parse.txt: node types, fields and children in order,
with the user's text escaped.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import casefiles
import pytest

from xdm.cli.cmd_parse import to_json
from xdm.lang.parser import parse

TEXTS = casefiles.PARSE.params(lambda case: (case.text,))


class _Tree(HTMLParser):
    """Rebuilds ``(label, type, scalars, children)`` from the nested lists."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: dict[str, Any] = {"children": [], "text": ""}
        self.stack = [self.root]
        self.tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "li" or (tag == "div" and len(self.stack) == 1):
            node: dict[str, Any] = {"children": [], "text": "", "type": None}
            self.stack[-1]["children"].append(node)
            self.stack.append(node)
        self.tag = tag

    def handle_endtag(self, tag: str) -> None:
        if tag in ("li", "div"):
            self.stack.pop()
        self.tag = None

    def handle_data(self, data: str) -> None:
        node = self.stack[-1]
        if self.tag == "b":
            node["type"] = data
        elif self.tag == "i":
            node["label"] = data.removesuffix(":")
        else:
            node["text"] += data


def _expected(value: dict[str, Any], label: str | None) -> dict[str, Any]:
    """The shape ``_Tree`` gives, from the JSON tree (empty fields left out)."""
    scalars, children = [], []
    for key, v in value.items():
        if key in ("type", "span") or v is None or v is False or v == []:
            continue
        if isinstance(v, dict):
            children.append(_expected(v, key))
        elif isinstance(v, list) and all(isinstance(x, dict) for x in v):
            children += [_expected(x, f"{key}[{i}]") for i, x in enumerate(v)]
        else:
            shown = tuple(v) if isinstance(v, list) else v
            scalars.append(f" {key}={shown!r}")
    return {
        "label": label,
        "type": value["type"],
        "text": "".join(scalars).strip(),
        "children": children,
    }


def _shape(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": node.get("label"),
        "type": node["type"],
        "text": node["text"].strip(),
        "children": [_shape(c) for c in node["children"]],
    }


@pytest.mark.parametrize("text", TEXTS)
def test_the_html_tree_is_the_parse_tree(text: str) -> None:
    vf = parse(text)
    page = vf._repr_html_()
    reader = _Tree()
    reader.feed(page)
    reader.close()
    (top,) = reader.root["children"]
    assert _shape(top) == _expected(to_json(vf), None)


def test_user_text_is_escaped() -> None:
    page = parse('evt.fits[count_rate<5,object="<b>&"]')._repr_html_()
    assert "op=&#x27;&lt;&#x27;" in page
    assert "&lt;b&gt;&amp;" in page and "<b>&" not in page
