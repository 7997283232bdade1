"""Plan steps: frozen values describing one fused pass over a block, and ``Plan``.

Made by ``planner``, run by ``executor``, printed by ``Plan.explain()``. Steps hold
vetted column names, numbers and generated numexpr text, never user text; they
know nothing about FITS I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BinGrid",
    "FilterRows",
    "Histogram",
    "OpenBlock",
    "Operand",
    "Plan",
    "ReadColumns",
    "SelectColumns",
    "Step",
    "SubspaceEntry",
    "UpdateGti",
    "UpdateSubspace",
    "VectorTest",
    "WriteEvents",
    "WriteImage",
]

_STEP = {"frozen": True, "slots": True, "kw_only": True}


@dataclass(**_STEP)
class Operand:
    """A numexpr variable bound to a column: its values, its bits, or the row number."""

    var: str
    column: str
    how: Literal["values", "bits", "row"] = "values"


@dataclass(**_STEP)
class VectorTest:
    """A row test numexpr cannot express, computed per chunk into a boolean operand.

    ``kind`` is ``region`` (``Region.contains`` on ``columns`` behind the numexpr
    ``prefilter``, the region's bounding box), ``gti`` (sorted START/STOP intervals
    searched with ``np.searchsorted``, per chip when ``chip_column`` is set) or
    ``string`` (trimmed string equality) or ``ranges`` (a long range list as sorted
    intervals plus exact values). ``payload`` holds the region object, the
    intervals or the strings; it is ignored by equality.
    """

    var: str
    kind: Literal["region", "gti", "string", "ranges"]
    columns: tuple[str, ...]
    describe: str
    prefilter: str | None = None
    chip_column: str | None = None
    payload: Any = field(default=None, compare=False)


@dataclass(**_STEP)
class OpenBlock:
    """Open ``path`` at CIAO block ``number`` (1-based, counting the primary)."""

    path: str
    number: int
    name: str
    nrows: int
    kind: Literal["table", "image"] = "table"


@dataclass(**_STEP)
class ReadColumns:
    """Read only these columns, ``chunk_rows`` rows at a time from a memory map."""

    columns: tuple[str, ...]
    chunk_rows: int


@dataclass(**_STEP)
class FilterRows:
    """Keep rows where the fused numexpr ``predicate`` holds (``True``: keep all)."""

    predicate: str
    operands: tuple[Operand, ...]
    tests: tuple[VectorTest, ...] = ()
    terms: tuple[str, ...] = ()
    """The top-level conjuncts of ``predicate``, evaluated one by one when the
    fused text exceeds what numexpr can compile (255 registers/constants)."""


@dataclass(**_STEP)
class BinGrid:
    """One bin axis: bin i covers ``lo + i*step <= v < lo + (i+1)*step``.

    ``origin`` says where the range came from (``given``, ``TLMIN/TLMAX``,
    ``filter``, ``header``, ``data``) for ``explain``.
    """

    column: str
    var: str
    lo: float
    step: float
    nbins: int
    origin: str = "given"
    unit: str | None = None
    integer: bool = False
    """The column holds integers (its values are whole numbers)."""

    @property
    def hi(self) -> float:
        return self.lo + self.nbins * self.step


@dataclass(**_STEP)
class Histogram:
    """Count (or sum ``weight`` over) the kept rows on a grid; axis 1 is ``axes[0]``."""

    axes: tuple[BinGrid, ...]
    index_expression: str
    index_of_kept: str = ""
    """The index expression over a precomputed ``_keep`` mask (split fallback)."""
    step_operands: tuple[tuple[str, float], ...] = ()
    """Bin sizes the index expressions divide by as named operands (not literals)."""
    weight: str | None = None
    weight_var: str | None = None
    dtype: str = "i2"
    dtype_explicit: bool = False
    accumulator: Literal["int32", "int64", "float64"] = "int64"
    padded: tuple[tuple[float, float, int, int | None], ...] | None = None
    """Per axis ``(lo, 1/step, nbins, first)`` when the index may be computed with
    numpy on a grid with one spare cell at each end of every axis (rows out of
    range land there; see ``kernels.padded_index``); ``first`` is the integer
    offset of unit bins on an integer column. None: use ``index_expression``."""

    @property
    def shape(self) -> tuple[int, ...]:
        """numpy shape: the last bin axis first (FITS axis 1 varies fastest)."""
        return tuple(g.nbins for g in reversed(self.axes))

    @property
    def size(self) -> int:
        n = 1
        for g in self.axes:
            n *= g.nbins
        return n


@dataclass(**_STEP)
class SelectColumns:
    """Keep columns ``(old, new)`` in this order (``[cols ...]``)."""

    columns: tuple[tuple[str, str], ...]


@dataclass(**_STEP)
class UpdateGti:
    """Intersect the output's GTI blocks with new time intervals, recompute exposure.

    ``intervals`` maps a chip (``None``: every chip) to an ``(n, 2)`` array; an
    empty mapping with ``refresh`` re-derives the keys unchanged (``[time=:]``).
    """

    describe: str
    intervals: Any = field(default=None, compare=False)


@dataclass(**_STEP)
class SubspaceEntry:
    """One data-subspace narrowing: ``column`` limited to ``ranges`` (CIAO range text,
    or region text when ``is_region``)."""

    column: str
    ranges: str
    is_region: bool = False
    unit: str | None = None
    form: str | None = None


@dataclass(**_STEP)
class UpdateSubspace:
    """Record the filters in the output's DSTYP/DSVAL keys; drop ``removed`` columns."""

    entries: tuple[SubspaceEntry, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(**_STEP)
class WriteEvents:
    """Write the kept rows as table block ``name``; every other block is copied."""

    name: str


@dataclass(**_STEP)
class WriteImage:
    """Write the histogram as the primary image ``name`` (``EVENTS_IMAGE``)."""

    name: str
    dtype: str


Step = (
    OpenBlock
    | ReadColumns
    | FilterRows
    | Histogram
    | SelectColumns
    | UpdateGti
    | UpdateSubspace
    | WriteEvents
    | WriteImage
)


@dataclass(**_STEP)
class Plan:
    """A straight pipeline of steps for one virtual file.

    ``options`` keeps the ``[opt]`` values the executor needs (``null``, ``mem``).
    """

    source: str
    steps: tuple[Step, ...]
    base_dir: str | None = None
    options: tuple[tuple[str, str | None], ...] = ()

    def find(self, kind: type[Any]) -> Any:
        """The first step of class ``kind``, or None."""
        return next((s for s in self.steps if isinstance(s, kind)), None)

    def explain(self) -> str:
        """Deterministic text: one numbered line (or block) per step."""
        lines = [f"plan for {self.source}"]
        for n, step in enumerate(self.steps, start=1):
            head, *rest = _describe(step)
            lines.append(f"  {n}. {type(step).__name__:<15}{head}")
            lines.extend(f"{'':<20}{line}" for line in rest)
        return "\n".join(lines)


def _num(v: float) -> str:
    return (
        repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))
    )


def _describe(step: Step) -> list[str]:
    match step:
        case OpenBlock():
            if step.kind == "image":
                return [
                    f"{step.path} block {step.number} {step.name} (image)",
                    "filters, [bin] and [opt] on pixels are evaluated by xdm.engine.images",
                ]
            return [f"{step.path} block {step.number} {step.name} ({step.nrows} rows)"]
        case ReadColumns():
            cols = ", ".join(step.columns) if step.columns else "(no columns to test)"
            return [f"{cols}  [chunks of {step.chunk_rows} rows, memory-mapped]"]
        case FilterRows():
            out = [f"numexpr: {step.predicate}"]
            for op in step.operands:
                how = {
                    "values": "",
                    "bits": " (bits as integer)",
                    "row": " (row number)",
                }
                if op.var != op.column or op.how != "values":
                    out.append(f"{op.var} = {op.column}{how[op.how]}")
            for t in step.tests:
                pre = f" behind bbox {t.prefilter}" if t.prefilter else ""
                out.append(f"{t.var} = {t.kind} test {t.describe}{pre}")
            return out
        case Histogram():
            shape = " x ".join(str(g.nbins) for g in step.axes)
            weight = f", weight {step.weight}" if step.weight else ""
            out = [f"np.bincount over {shape} bins -> {step.dtype}{weight}"]
            out.append(f"index: {step.index_expression}")
            out.extend(
                f"{g.column}: {_num(g.lo)}:{_num(g.hi)}:{_num(g.step)} "
                f"({g.nbins} bins, range from {g.origin})"
                for g in step.axes
            )
            return out
        case SelectColumns():
            return [
                ", ".join(
                    old if old == new else f"{new}={old}" for old, new in step.columns
                )
            ]
        case UpdateGti():
            return [step.describe]
        case UpdateSubspace():
            out = [f"{e.column} = {e.ranges}" for e in step.entries]
            out.extend(f"remove {name}" for name in step.removed)
            return out or ["(unchanged)"]
        case WriteEvents():
            return [
                f"table block {step.name} (kept rows copied as raw records), other blocks copied"
            ]
        case WriteImage():
            return [f"primary image {step.name} ({step.dtype}), GTI blocks copied"]
    return [repr(step)]
