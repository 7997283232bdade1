"""Plan steps: frozen values describing one fused pass over a block, and ``Plan``.

Made by ``planner``; each step type has one ``run`` method, which fills the
``engine.run.Run`` of one run of the plan (the executor calls them in step
order), and one ``describe`` method, which ``Plan.explain()`` prints. Steps hold
vetted column names, numbers and generated numexpr text, never user text; the
array work and the FITS bytes are done by ``engine.run`` and ``engine.write``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from xdm.lang.options import DEFAULT_IMAGE_TYPE, describe_options

if TYPE_CHECKING:
    from xdm.engine.run import Chunk, Run
    from xdm.expr import Expr
    from xdm.io.blocks import BlockHandle

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
    prefilter: Expr | None = None
    """The bounding-box test (an ``xdm.expr`` tree; ``str()`` is its text)."""
    chip_column: str | None = None
    payload: Any = field(default=None, compare=False)


class _Runs:
    """What every step type has: ``run`` (fill a ``Run``) and ``describe``."""

    __slots__ = ()

    makes_rows: ClassVar[bool] = False
    """The step makes the stream of kept rows (open, read, filter) rather than
    consuming or shaping it: ``Plan.stream()`` runs the leading such steps."""

    def run(self, run: Run) -> None:
        raise NotImplementedError

    def describe(self, plan: Plan) -> list[str]:
        """The step's ``explain`` text: a head line, then detail lines."""
        raise NotImplementedError


@dataclass(**_STEP)
class OpenBlock(_Runs):
    """Open ``path`` at CIAO block ``number`` (1-based, counting the primary)."""

    path: str
    number: int
    name: str
    nrows: int
    kind: Literal["table", "image"] = "table"
    handle: BlockHandle | None = field(default=None, compare=False, repr=False)
    """The block as the planner opened it: the run maps its rows from this,
    without reading the headers or choosing the block again."""

    makes_rows: ClassVar[bool] = True

    def run(self, run: Run) -> None:
        """Reopen the planned block for this run (an image block is refused: it
        is evaluated by ``xdm.engine.images``)."""
        if self.handle is None:
            from xdm.errors import XdmExecutionError

            raise XdmExecutionError(
                f"block {self.name} of {self.path} was not opened by the planner",
                source=run.source,
            )
        run.open(self.handle.open(source=run.source))

    def describe(self, plan: Plan) -> list[str]:
        if self.kind == "image":
            return [
                f"{self.path} block {self.number} {self.name} (image)",
                "filters, [bin] and [opt] on pixels are evaluated by xdm.engine.images",
            ]
        return [f"{self.path} block {self.number} {self.name} ({self.nrows} rows)"]


@dataclass(**_STEP)
class ReadColumns(_Runs):
    """Read only these columns, ``chunk_rows`` rows at a time from a memory map.

    Each is read once per chunk: numeric columns as numexpr takes them, bit
    columns as one integer per row, string columns as stored.
    """

    columns: tuple[str, ...]
    chunk_rows: int

    makes_rows: ClassVar[bool] = True

    def run(self, run: Run) -> None:
        from xdm.engine.run import column_reader

        run.chunk_rows = self.chunk_rows
        metas = [run.block.require_column(c) for c in self.columns]
        run.add_stage("ReadColumns", column_reader(metas))

    def describe(self, plan: Plan) -> list[str]:
        cols = ", ".join(self.columns) if self.columns else "(no columns to test)"
        return [f"{cols}  [chunks of {self.chunk_rows} rows, memory-mapped]"]


@dataclass(**_STEP)
class FilterRows(_Runs):
    """Keep rows where the fused numexpr ``predicate`` holds (``True``: keep all).

    Per chunk the operands are bound to the columns read and the vectorised
    ``tests`` computed; the predicate is evaluated when a later step first asks
    for the kept rows (a numexpr-indexed ``Histogram`` has it inside its index).
    """

    predicate: str
    expression: Expr
    """The predicate as the tree the kernels evaluate (``predicate`` is its text)."""
    operands: tuple[Operand, ...]
    tests: tuple[VectorTest, ...] = ()
    terms: tuple[str, ...] = ()
    """The top-level conjuncts of ``predicate``, evaluated one by one when the
    fused text exceeds what numexpr can compile (255 registers/constants)."""

    makes_rows: ClassVar[bool] = True

    def run(self, run: Run) -> None:
        from xdm.engine.run import row_filter
        from xdm.progress import note

        note(f"filters fused into one predicate: {self.predicate}", level=5)
        run.add_stage("FilterRows", row_filter(self, run.source))

    def describe(self, plan: Plan) -> list[str]:
        out = [f"numexpr: {self.predicate}"]
        if self.predicate == "True":
            out = ["every row kept (no predicate)"]
        for n, step in enumerate(plan.steps, start=1):
            if (
                isinstance(step, Histogram)
                and step.padded is None
                and self.predicate != "True"
            ):
                out.append(f"(evaluated inside the index expression of step {n})")
        how = {"values": "", "bits": " (bits as integer)", "row": " (row number)"}
        for op in self.operands:
            if op.var != op.column or op.how != "values":
                out.append(f"{op.var} = {op.column}{how[op.how]}")
        for t in self.tests:
            pre = f" behind bbox {t.prefilter}" if t.prefilter else ""
            out.append(f"{t.var} = {t.kind} test {t.describe}{pre}")
        return out


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
class Histogram(_Runs):
    """Count (or sum ``weight`` over) the kept rows on a grid; axis 1 is ``axes[0]``.

    Bin indices come from numpy on a padded grid when ``padded`` is set, else
    from the fused numexpr ``index_expression`` (the predicate inside it).
    """

    axes: tuple[BinGrid, ...]
    index_expression: str
    index: Expr
    """``index_expression`` as the tree the kernels evaluate."""
    index_of_kept: Expr | None = None
    """The index over a precomputed ``_keep`` mask: the fallback when the fused
    index exceeds what numexpr can compile (255 registers/constants)."""
    step_operands: tuple[tuple[str, float], ...] = ()
    """Bin sizes the index expressions divide by as named operands (not literals)."""
    weight: str | None = None
    weight_var: str | None = None
    dtype: str = DEFAULT_IMAGE_TYPE
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

    def run(self, run: Run) -> None:
        """Count each chunk's kept rows as it passes (the counts are read by
        ``WriteImage``)."""
        from xdm.engine.run import expression_counter, failures_named, padded_counter

        with failures_named("Histogram", run.source):  # the accumulator
            if self.padded is not None:
                stage, counts = padded_counter(self)
            else:
                stage, counts = expression_counter(self)
        run.add_stage("Histogram", stage)
        run.histogram = (self, counts)

    def describe(self, plan: Plan) -> list[str]:
        shape = " x ".join(str(g.nbins) for g in self.axes)
        weight = f", weight {self.weight}" if self.weight else ""
        out = [f"np.bincount over {shape} bins -> {self.dtype}{weight}"]
        if self.padded is None:
            out.append(f"index (numexpr): {self.index_expression}")
        else:
            grid = " x ".join(str(n + 2) for _, _, n, _ in self.padded)
            terms = []
            for g, (lo, scale, _, first) in zip(self.axes, self.padded):
                if first is not None:
                    terms.append(f"{g.var} - {first}")
                else:
                    terms.append(f"floor(({g.var} - {_num(lo)}) * {_num(scale)})")
            out.append(
                f"index (numpy, padded {grid} grid): {', '.join(terms)}; "
                "out-of-range and dropped rows land in the border"
            )
        out.extend(
            f"{g.column}: {_num(g.lo)}:{_num(g.hi)}:{_num(g.step)} "
            f"({g.nbins} bins, range from {g.origin})"
            for g in self.axes
        )
        return out


@dataclass(**_STEP)
class SelectColumns(_Runs):
    """Keep columns ``(old, new)`` in this order (``[cols ...]``)."""

    columns: tuple[tuple[str, str], ...]

    def run(self, run: Run) -> None:
        run.columns = self.columns

    def describe(self, plan: Plan) -> list[str]:
        return [
            ", ".join(
                old if old == new else f"{new}={old}" for old, new in self.columns
            )
        ]


@dataclass(**_STEP)
class UpdateGti(_Runs):
    """Intersect the output's GTI blocks with new time intervals, recompute exposure.

    ``intervals`` maps a chip (``None``: every chip) to an ``(n, 2)`` array; an
    empty mapping with ``refresh`` re-derives the keys unchanged (``[time=:]``).
    """

    summary: str
    intervals: Any = field(default=None, compare=False)

    def run(self, run: Run) -> None:
        from xdm.engine.write import intersect_gti

        intersect_gti(run, self.intervals)

    def describe(self, plan: Plan) -> list[str]:
        return [self.summary]


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
class UpdateSubspace(_Runs):
    """Record the filters in the output's DSTYP/DSVAL keys; drop ``removed`` columns."""

    entries: tuple[SubspaceEntry, ...] = ()
    removed: tuple[str, ...] = ()

    def run(self, run: Run) -> None:
        from xdm.engine.write import narrow_subspace

        narrow_subspace(run, self.entries, self.removed)

    def describe(self, plan: Plan) -> list[str]:
        out = [f"{e.column} = {e.ranges}" for e in self.entries]
        out.extend(f"remove {name}" for name in self.removed)
        return out or ["(unchanged)"]


@dataclass(**_STEP)
class WriteEvents(_Runs):
    """Write the kept rows as table block ``name``; every other block is copied."""

    name: str

    def run(self, run: Run) -> None:
        """The one pass: kept rows to the file, to memory or to the caller."""
        from xdm.engine.write import events

        events(run, self.name)

    def describe(self, plan: Plan) -> list[str]:
        return [
            f"table block {self.name} (kept rows copied as raw records), "
            "other blocks copied"
        ]


@dataclass(**_STEP)
class WriteImage(_Runs):
    """Write the histogram as the primary image ``name`` (``EVENTS_IMAGE``)."""

    name: str
    dtype: str

    def run(self, run: Run) -> None:
        """The one pass: every chunk through the stages, then the image."""
        from xdm.engine.run import failures_named
        from xdm.engine.write import image

        hist, counts = run.histogram_counts()
        for _ in run.rows():
            pass
        with failures_named("Histogram", run.source):
            data = counts()
        image(run, hist, data, self.name)

    def describe(self, plan: Plan) -> list[str]:
        return [f"primary image {self.name} ({self.dtype}), GTI blocks copied"]


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

    @property
    def image_block(self) -> bool:
        """The block is an image: ``xdm.engine.images`` evaluates it (the plan
        only names it)."""
        first = self.steps[0] if self.steps else None
        return isinstance(first, OpenBlock) and first.kind == "image"

    @property
    def gives_image(self) -> bool:
        """The plan makes an image: an image block, or ``[bin ...]`` of a table."""
        return self.image_block or any(isinstance(s, Histogram) for s in self.steps)

    def start(self, run: Run) -> None:
        """Run the leading steps that make the row stream (``makes_rows``:
        open, read, filter) into ``run``."""
        for step in self.steps:
            if not step.makes_rows:
                break
            step.run(run)

    def stream(self) -> Iterator[Chunk]:
        """The block's rows as ``Chunk`` values, with the mask the filters keep.

        One pass over memory-mapped chunks (``ReadColumns.chunk_rows`` rows
        each), the fused predicate evaluated per chunk: memory stays at about one
        chunk whatever the block's size. Only the steps that make the rows run
        (open, read, filter); what a plan then makes of them (a histogram,
        ``[cols]``, the written file) does not. A chunk's ``records`` are views of
        the memory map, valid until the stream ends; the block is closed when
        the iterator is exhausted or closed::

            for chunk in xdm.plan("evt2.fits[energy=500:7000]").stream():
                energy = chunk.records["energy"][chunk.keep]
        """
        from xdm.engine.run import Run

        with Run(self) as run:
            self.start(run)
            yield from run.chunks()

    def explain(self) -> str:
        """Deterministic text: one numbered line (or block) per step, saying what
        runs (which columns are read, which path computes bin indices)."""
        lines = [f"plan for {self.source}"]
        for n, step in enumerate(self.steps, start=1):
            head, *rest = step.describe(self)
            lines.append(f"  {n}. {type(step).__name__:<15}{head}")
            lines.extend(f"{'':<20}{line}" for line in rest)
        if self.options:  # what each [opt] does here (xdm.lang.options)
            said = describe_options(
                dict(self.options), "image" if self.image_block else "table"
            )
            lines += ["  options", *(f"{'':<5}{line}" for line in said)]
        return "\n".join(lines)


def _num(v: float) -> str:
    return (
        repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))
    )
