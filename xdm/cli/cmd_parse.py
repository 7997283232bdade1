"""``xdm parse "VF"``: show the AST of a virtual file and its canonical text.

Prints a rich tree (node types, fields, source spans) and the canonical text;
``--json`` prints the same as JSON, ``--tree`` the raw lark parse tree.
``--region`` and ``--filter`` parse a region expression or filter text instead.
CIAO-style ``infile=VF`` and ``json=yes`` are accepted too.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from xdm.errors import XdmSemanticError

USAGE = 'usage: xdm parse "VF" [--json] [--tree] [--region | --filter]'

# flag -> the CIAO-style parameter it sets (``--json`` is ``json=yes``)
FLAGS = {f"--{name}": (name, "yes") for name in ("json", "tree", "region", "filter")}


def run(argv: list[str]) -> int:
    """Parse one virtual file given on the command line; exit 0 or raise XdmError."""
    from xdm.cli.args import split_args, yes_no

    args = split_args(
        argv,
        command="parse",
        usage=USAGE,
        params=("infile", "json", "tree", "region", "filter"),
        flags=FLAGS,
        positional=("infile",),
        text_may_look_like_params=True,  # filter text: energy=300:2000
    )
    if args.help:
        print(USAGE)
        return 0
    if "infile" not in args.params:
        raise XdmSemanticError("parse takes one virtual file", hint=USAGE)
    flags = {
        flag for flag, (name, _) in FLAGS.items() if yes_no(args, name, False, USAGE)
    }
    if {"--region", "--filter"} <= flags:
        raise XdmSemanticError("give at most one of --region and --filter", hint=USAGE)
    text = args.params["infile"]
    start = (
        "region_start"
        if "--region" in flags
        else "filter_start"
        if "--filter" in flags
        else "start"
    )

    from xdm.lang import parser
    from xdm.lang.unparse import unparse

    if "--tree" in flags:
        print(parser.parse_tree(text, start).pretty(), end="")
        return 0
    if start == "region_start":
        node: Any = parser.parse_region(text)
    elif start == "filter_start":
        node = parser.parse_filter(text)
    else:
        node = parser.parse(text)
    canonical = unparse(node)
    if "--json" in flags:
        doc = {"input": text, "canonical": canonical, "ast": to_json(node)}
        print(json.dumps(doc, indent=2))
        return 0
    from rich.text import Text

    from xdm.cli.render import make_console

    console = make_console()
    console.print(to_rich_tree(node, text))
    console.print(
        Text.assemble(("canonical: ", "dim"), (canonical, "bold")), soft_wrap=True
    )
    return 0


def to_json(value: Any) -> Any:
    """Nodes -> plain JSON data: ``{"type": ..., "span": [start, end], field: ...}``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": type(value).__name__}
        span = getattr(value, "span", None)
        out["span"] = None if span is None else [span.start, span.end]
        for f in dataclasses.fields(value):
            if f.name != "span":
                out[f.name] = to_json(getattr(value, f.name))
        return out
    if isinstance(value, tuple):
        return [to_json(v) for v in value]
    return value


def to_rich_tree(node: Any, source: str) -> Any:
    """A ``rich.tree.Tree`` of the nodes: type, scalar fields, span and its text."""
    from rich.text import Text
    from rich.tree import Tree

    def label(value: Any, name: str | None, *, root: bool = False) -> Text:
        text = Text()
        if name:
            text.append(f"{name}: ", style="dim")
        text.append(type(value).__name__, style="bold cyan")
        scalars = [
            (f.name, getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "span" and not _is_branch(getattr(value, f.name))
        ]
        for key, v in scalars:
            if v is None or v is False or v == ():
                continue
            text.append(f" {key}=", style="dim")
            text.append(repr(v), style="green")
        span = value.span
        if span is not None and not root:
            text.append(f"  [{span.start}:{span.end}] ", style="dim")
            text.append(source[span.start : span.end], style="yellow")
        return text

    def grow(branch: Any, value: Any, name: str | None) -> None:
        child = branch.add(label(value, name))
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if f.name == "span" or not _is_branch(v):
                continue
            if isinstance(v, tuple):
                for i, item in enumerate(v):
                    grow(child, item, f"{f.name}[{i}]")
            else:
                grow(child, v, f.name)

    root = Tree(label(node, None, root=True))
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if f.name == "span" or not _is_branch(v):
            continue
        items = v if isinstance(v, tuple) else (v,)
        for i, item in enumerate(items):
            grow(root, item, f"{f.name}[{i}]" if isinstance(v, tuple) else f.name)
    return root


def _is_branch(value: Any) -> bool:
    """Nodes and tuples of nodes become branches; everything else is a label field."""
    if isinstance(value, tuple):
        return any(dataclasses.is_dataclass(v) for v in value)
    return dataclasses.is_dataclass(value) and not isinstance(value, type)
