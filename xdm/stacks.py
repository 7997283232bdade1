"""CIAO stacks: ``@in.lis`` and ``[name=igrid(lo:hi:step)]`` run a tool once per member.

A stack is a text file of virtual files, one per line (blank lines and ``#``
comments skipped). As in CIAO, a relative entry is taken relative to the stack
file's directory; ``@-in.lis`` keeps entries as written (relative to the
current directory). A filter after the stack applies to every member:
``@in.lis[energy=500:7000]``. A stack grid ``[component=igrid(1:3:1)]`` stands
for the virtual files ``[component=1]``, ``[component=2]``, ``[component=3]``.

Outputs pair with inputs: ``@out.lis`` line by line (same count), a name with
``#`` gets the 1-based member number (``out#.fits`` -> ``out1.fits``), and a
plain name is a root: ``out.fits`` -> ``out_1.fits``, ``out_2.fits`` (a name
ending in ``/`` is a directory: ``dir/`` + the input's file name).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xdm.errors import XdmIOError, XdmSemanticError
from xdm.lang.shapes import STACK_GRID

__all__ = ["expand_grids", "members", "outputs", "read_stack", "runs"]


def read_stack(word: str) -> list[str]:
    """The members of ``@file`` (or ``@-file``), each with the trailing filter."""
    text = word[1:]
    keep_relative = text.startswith("-")
    if keep_relative:
        text = text[1:]
    cut = text.find("[")
    path, suffix = (text, "") if cut < 0 else (text[:cut], text[cut:])
    name = Path(os.path.expandvars(os.path.expanduser(path)))
    try:
        lines = name.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise XdmIOError(
            f"stack file not found: {path}",
            hint="a stack @FILE lists one virtual file per line",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise XdmIOError(f"cannot read stack {path}: {exc}") from None
    out = []
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if not keep_relative and not _absolute(entry):
            entry = str(name.parent / entry) if str(name.parent) != "." else entry
        out.append(entry + suffix)
    if not out:
        raise XdmSemanticError(f"stack {path} lists no files")
    return out


def _absolute(entry: str) -> bool:
    return entry.startswith(("/", "$", "~", "-")) or entry[:1] == "@"


def expand_grids(text: str) -> list[str]:
    """``[name=igrid(lo:hi:step)]`` -> one virtual file text per grid value."""
    if STACK_GRID not in text.lower():
        return [text]
    from dataclasses import replace

    from xdm.lang import nodes as n
    from xdm.lang.parser import parse
    from xdm.lang.unparse import unparse

    vf = parse(text)
    grids: list[tuple[int, Any, list[str]]] = []
    for i, q in enumerate(vf.qualifiers):
        if (
            isinstance(q, n.FilterQualifier)
            and isinstance(q.expr, n.RegionFilter)
            and isinstance(q.expr.region, n.Shape)
            and q.expr.region.name == STACK_GRID
        ):
            arg = q.expr.region.args[0]
            assert isinstance(arg, n.RangeArg)
            grids.append((i, q, _grid_values(arg, text)))
    if not grids:
        return [text]
    out = []
    for combo in itertools.product(*(values for _, _, values in grids)):
        qualifiers = list(vf.qualifiers)
        for (i, q, _), value in zip(grids, combo):
            number = n.Number(text=value)
            rng = n.Range(lo=number, hi=number, is_single=True)
            expr = n.RangeFilter(column=q.expr.column, ranges=(rng,))
            qualifiers[i] = replace(q, expr=expr)
        out.append(unparse(replace(vf, qualifiers=tuple(qualifiers))))
    return out


def _grid_values(arg: Any, text: str) -> list[str]:
    lo, hi, step = (float(v.text) for v in (arg.lo, arg.hi, arg.step))
    if step <= 0 or hi < lo:
        raise XdmSemanticError(
            f"igrid({arg.lo.text}:{arg.hi.text}:{arg.step.text}) needs lo <= hi and "
            "a positive step",
            source=text,
        )
    count = int((hi - lo) / step + 1e-9) + 1
    if count > 100_000:
        raise XdmSemanticError(f"igrid gives {count:,} values; at most 100,000")
    integer = all(v.is_integer for v in (arg.lo, arg.hi, arg.step))
    values = [lo + k * step for k in range(count)]
    return [str(int(v)) if integer else f"{v:.12g}" for v in values]


def members(word: str) -> list[str] | None:
    """The virtual files a parameter value stands for, or None when it is one."""
    if word.startswith("@"):
        return [m for entry in read_stack(word) for m in expand_grids(entry)]
    if STACK_GRID in word.lower():
        expanded = expand_grids(word)
        return expanded if len(expanded) > 1 or expanded[0] != word else None
    return None


def outputs(word: str, inputs: Sequence[str]) -> list[str]:
    """One output name per input (see the module for the rules)."""
    n = len(inputs)
    if word.startswith("@"):
        names = read_stack(word)
        if len(names) != n:
            raise XdmSemanticError(
                f"output stack {word} has {len(names)} names for {n} inputs",
                hint="list one output per input line",
            )
        return names
    if "#" in word:
        return [word.replace("#", str(i)) for i in range(1, n + 1)]
    if word.endswith("/"):
        return [word + _file_name(i) for i in inputs]
    head, dot, ext = word.rpartition(".")
    if not dot or "/" in ext:
        return [f"{word}_{i}" for i in range(1, n + 1)]
    return [f"{head}_{i}.{ext}" for i in range(1, n + 1)]


def _file_name(vf: str) -> str:
    cut = vf.find("[")
    return Path(vf if cut < 0 else vf[:cut]).name


def runs(
    given: Mapping[str, str],
    *,
    infile: str = "infile",
    files: Sequence[str] = (),
) -> list[dict[str, str]] | None:
    """The parameter sets of a stacked run, or None when ``infile`` is not a stack.

    ``files`` names the other file parameters: an output (name starting with
    ``out``) pairs by ``outputs``; another stack must have as many members (or
    one, used for all).
    """
    value = given.get(infile)
    if value is None:
        return None
    inputs = members(value)
    if inputs is None:
        return None
    sets = [{**given, infile: m} for m in inputs]
    for key in files:
        other = given.get(key)
        if key == infile or not other:
            continue
        if key.lower().startswith("out"):
            if other.lower() in ("none", "-", "stdout"):
                continue
            for s, name in zip(sets, outputs(other, inputs)):
                s[key] = name
            continue
        paired = members(other) if other.startswith("@") else None
        if paired is None:
            continue
        if len(paired) not in (1, len(inputs)):
            raise XdmSemanticError(
                f"{key}={other} has {len(paired)} members for {len(inputs)} inputs"
            )
        for s, m in zip(sets, itertools.cycle(paired)):
            s[key] = m
    return sets
