"""Which columns a plan reads and which it writes.

``read_columns``: the columns each chunk reads for the fused filter and its
vectorised tests (bin axes and weights have operands too); ``select_columns``:
the ``[cols]`` brackets resolved against the block's columns into ``(old, new)``
pairs in output order (dm-syntax 6: vectors, ``#n``, ``-drop``, ``new=old``, ``*``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xdm.errors import XdmSemanticError
from xdm.lang import nodes as n

if TYPE_CHECKING:
    from xdm.engine.exprgen import CompiledFilter
    from xdm.io.blocks import Block

__all__ = ["read_columns", "select_columns"]


def read_columns(compiled: CompiledFilter) -> tuple[str, ...]:
    seen: list[str] = []
    for op in compiled.operands:
        if op.how != "row" and op.column not in seen:
            seen.append(op.column)
    for t in compiled.tests:
        for c in (*t.columns, t.chip_column):
            if c is not None and c not in seen:
                seen.append(c)
    return tuple(seen)


def select_columns(
    block: Block, quals: Sequence[n.ColsQualifier], source: str | None
) -> tuple[tuple[str, str], ...]:
    """``[cols]`` items -> (old, new) pairs in output order; brackets apply in turn."""
    current: list[tuple[str, str]] = [(c.name, c.name) for c in block.columns]

    def find(name: str, node: Any) -> list[tuple[str, str]]:
        key = name.lower()
        hit = [p for p in current if p[1].lower() == key]
        if hit:
            return hit
        vec = block.vectors.get(key)
        if vec is not None:
            parts = [p for p in current if p[1].lower() in vec]
            if len(parts) == 2:
                return sorted(parts, key=lambda p: vec.index(p[1].lower()))
        import difflib

        names = [p[1] for p in current]
        near = difflib.get_close_matches(key, [x.lower() for x in names], 1)
        raise XdmSemanticError(
            f"unknown column '{name}' in [cols]"
            + (f" (did you mean '{near[0]}'?)" if near else ""),
            source=source,
            span=getattr(node, "span", None),
            expected=tuple(names),
        )

    for q in quals:
        drops = [i for i in q.items if isinstance(i, n.ColumnDrop)]
        if drops and len(drops) != len(q.items):
            raise XdmSemanticError(
                "[cols] mixes kept and dropped columns; use one kind per bracket",
                source=source,
                span=q.span,
            )
        if drops:
            gone = {p for d in drops for p in find(d.name, d)}
            current = [p for p in current if p not in gone]
            continue
        out: list[tuple[str, str]] = []
        for item in q.items:
            match item:
                case n.ColumnSelect():
                    picked = find(item.name, item)
                case n.ColumnRename():
                    old = find(item.old, item)
                    if len(old) != 1:
                        raise XdmSemanticError(
                            f"cannot rename vector '{item.old}'; rename its components",
                            source=source,
                            span=item.span,
                        )
                    picked = [(old[0][0], item.new)]
                case n.ColumnNumber():
                    groups = _dm_columns(block, current)
                    if not 1 <= item.number <= len(groups):
                        raise XdmSemanticError(
                            f"no column #{item.number} (there are {len(groups)})",
                            source=source,
                            span=item.span,
                        )
                    picked = groups[item.number - 1]
                case n.ColumnStar():
                    taken = {p[0] for p in out}
                    picked = [p for p in current if p[0] not in taken]
                case _:
                    raise XdmSemanticError("unsupported [cols] item", source=source)
            for p in picked:
                if all(p[0] != o[0] for o in out):
                    out.append(p)
        current = out
    if not current:
        raise XdmSemanticError(
            "[cols] leaves no columns", source=source, span=quals[-1].span
        )
    return tuple(current)


def _dm_columns(
    block: Block, current: list[tuple[str, str]]
) -> list[list[tuple[str, str]]]:
    """Columns as the DM counts them for ``#n``: a vector (adjacent components
    named by the header's MTYPE/MFORM) is one column (dm-syntax 6)."""
    pairs = {}
    for key in block.cards:
        if key.startswith("MTYPE") and key[5:].isdigit():
            parts = str(block.cards.get("MFORM" + key[5:], "")).lower().split(",")
            if len(parts) == 2:
                pairs[parts[0].strip()] = parts[1].strip()
    groups: list[list[tuple[str, str]]] = []
    i = 0
    while i < len(current):
        here = current[i]
        after = current[i + 1] if i + 1 < len(current) else None
        if after is not None and pairs.get(here[1].lower()) == after[1].lower():
            groups.append([here, after])
            i += 2
        else:
            groups.append([here])
            i += 1
    return groups
