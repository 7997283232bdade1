"""One run of a plan: the opened block, the per-chunk stages its steps added,
and the output block the steps shape.

A ``Plan``'s steps fill a ``Run`` in order (``step.run(run)``): ``OpenBlock``
opens the block, ``ReadColumns``, ``FilterRows`` and ``Histogram`` add per-chunk
stages, ``SelectColumns``, ``UpdateGti`` and ``UpdateSubspace`` shape the output
block, and a write step drains ``Run.rows()`` into the product. The array work
of each stage is in ``kernels``; this module only moves chunks between them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from xdm.engine import kernels
from xdm.errors import XdmError, XdmExecutionError, XdmSemanticError
from xdm.expr import conjuncts
from xdm.io.blocks import DEFAULT_CHUNK_ROWS, Block
from xdm.io.columns import bit_values, column_values
from xdm.progress import get_verbosity, note, progress

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from xdm.engine.steps import FilterRows, Histogram, Plan, VectorTest
    from xdm.io.columns import ColumnMeta
    from xdm.io.hdus import Header

__all__ = ["Chunk", "Rows", "Run", "failures_named"]

Stage = Callable[["Rows"], None]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A slice of the block's rows and which of them the plan's filters keep.

    ``start`` is the 0-based number of the first row; ``records`` the raw FITS
    records of rows ``start`` .. ``start + len(records) - 1`` (unscaled,
    big-endian: a memory-mapped view, valid while the stream runs); ``keep`` the
    boolean mask of the kept rows; ``columns`` the values of the columns the plan
    reads (``ReadColumns``: numeric columns as numexpr takes them, bit columns as
    integers) by name; ``operands`` the numexpr operands the filter bound (column
    values, row numbers and test results by variable name).
    """

    start: int
    records: NDArray[Any]
    keep: NDArray[np.bool_]
    columns: Mapping[str, Any]
    operands: Mapping[str, Any]

    @property
    def kept(self) -> NDArray[Any]:
        """The kept rows' records (a copy)."""
        return self.records[self.keep]


Part = Callable[[int, int], "NDArray[np.bool_]"]
"""The mask of rows ``start:stop`` of a chunk (``kernels.predicate_parts``)."""


class Rows:
    """One chunk in flight: its records, the columns read, the operands bound and
    (computed on first use, by the filter's predicate) the mask of kept rows."""

    __slots__ = ("_keep", "_mask", "_parts", "env", "records", "start", "values")

    def __init__(self, start: int, records: NDArray[Any]) -> None:
        self.start = start
        self.records = records
        self.values: dict[str, Any] = {}  # column name -> values read
        self.env: dict[str, Any] = {}  # numexpr variable -> operand
        self._mask: Callable[[Rows], NDArray[np.bool_]] | None = None
        self._parts: Callable[[Rows], Part | None] | None = None
        self._keep: NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return len(self.records)

    def filter_by(
        self,
        mask: Callable[[Rows], NDArray[np.bool_]] | None,
        parts: Callable[[Rows], Part | None] | None = None,
    ) -> None:
        """Keep the rows ``mask`` gives (None: every row), once it is asked for;
        ``parts`` gives the same mask a row range at a time, or None."""
        self._mask = mask
        self._parts = parts
        self._keep = None

    def keep_in_parts(self) -> tuple[NDArray[np.bool_], Part] | None:
        """For a stage that reads the rows in cache-sized parts: the mask to be
        filled and the function filling rows ``start:stop`` of it (and returning
        them), or None (ask ``keep``: it is known, or not computable by parts).
        Once the stage has asked for every row, it hands the mask to ``kept``."""
        if self._keep is not None or self._mask is None or self._parts is None:
            return None
        part = self._parts(self)
        if part is None:
            return None
        keep = np.empty(len(self.records), dtype=bool)

        def fill(start: int, stop: int) -> NDArray[np.bool_]:
            got = keep[start:stop]
            got[...] = part(start, stop)
            return got

        return keep, fill

    def kept(self, keep: NDArray[np.bool_]) -> None:
        """The mask ``keep_in_parts`` gave, every row of it filled."""
        self._keep = keep

    @property
    def keeps_all(self) -> bool:
        """No predicate: every row is kept (the mask is never computed)."""
        return self._mask is None

    @property
    def keep(self) -> NDArray[np.bool_]:
        """The kept rows, evaluated once, when a stage first asks."""
        if self._keep is None:
            if self._mask is None:
                self._keep = np.ones(len(self.records), dtype=bool)
            else:
                self._keep = self._mask(self)
        return self._keep


class Run:
    """The state of one run of a plan, filled in by its steps in order.

    ``sink`` is where the product goes: ``memory`` (``result`` is a
    ``TableResult`` or ``ImageResult``), ``file`` (written to ``out``, a
    temporary file the caller renames) or ``stream`` (``result`` is a
    ``TableStream`` the caller iterates while the run is open).
    """

    def __init__(
        self,
        plan: Plan,
        *,
        sink: Literal["memory", "file", "stream"] = "memory",
        out: str | None = None,
        history: str | None = None,
    ) -> None:
        self.plan = plan
        self.source = plan.source
        self.sink = sink
        self.out = out
        self.history = history
        self.chunk_rows = DEFAULT_CHUNK_ROWS
        self.stages: list[tuple[str, Stage]] = []
        self.header: Header | None = None  # the output block's header
        self.columns: tuple[tuple[str, str], ...] | None = None  # [cols] (old, new)
        self.histogram: tuple[Histogram, Callable[[], NDArray[Any]]] | None = None
        self.result: Any = None
        self.wrote = ""  # what the file holds, for the closing note
        self.runs_in_place: int | None = None  # None: write.RUNS_WRITTEN_IN_PLACE
        self._gti: dict[int, Any] | None = None
        self._block: Block | None = None
        self._exit = contextlib.ExitStack()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    # ------------------------------------------------------------ the block
    @property
    def block(self) -> Block:
        """The opened block (``OpenBlock`` comes first in every plan)."""
        if self._block is None:
            raise XdmExecutionError(
                "the plan reads rows before it opens a block", source=self.source
            )
        return self._block

    def open(self, block: Block) -> None:
        """Take the opened table block (closed when the run ends)."""
        self._exit.callback(block.close)
        self._block = block
        note(f"opened {block.path} block {block.name}: {block.nrows:,} rows", level=5)
        if not block.is_table:
            raise XdmSemanticError(
                f"block {block.name} is an image; it is evaluated by xdm.engine.images",
                source=self.source,
            )

    def output_header(self) -> Header:
        """The output block's header as the steps so far left it (a copy of the
        block's, made on first use: a run that only streams rows makes none)."""
        if self.header is None:
            header = self.block.cards.copy()  # lean Cards for a plain file
            for key in ("CHECKSUM", "DATASUM"):
                header.remove(key, ignore_missing=True)
            self.header = header
        return self.header

    @property
    def gti(self) -> dict[int, Any]:
        """The GTI blocks to write, by HDU index (the input's, read on first use)."""
        if self._gti is None:
            from xdm.io import gti

            self._gti = gti.gti_blocks(self.block)
        return self._gti

    @gti.setter
    def gti(self, blocks: dict[int, Any]) -> None:
        self._gti = blocks

    def histogram_counts(self) -> tuple[Histogram, Callable[[], NDArray[Any]]]:
        """The ``Histogram`` step of this run and the function giving its counts."""
        if self.histogram is None:
            raise XdmExecutionError(
                "the plan writes an image but bins nothing", source=self.source
            )
        return self.histogram

    # ------------------------------------------------------------ the pass
    def add_stage(self, step: str, stage: Stage) -> None:
        """Run ``stage`` on every chunk, after the stages added before it."""
        self.stages.append((step, stage))

    def rows(self) -> Iterator[Rows]:
        """The block's chunks, each through every stage, in one pass."""
        block = self.block
        stages = self.stages
        with progress(block.nrows, "filtering") as bar:
            for start, records in block.iter_chunks(self.chunk_rows):
                rows = Rows(start, records)
                for step, stage in stages:
                    with failures_named(step, self.source):
                        stage(rows)
                yield rows
                bar.advance(len(records))

    def chunks(self) -> Iterator[Chunk]:
        """The chunks with the mask of the rows the filters keep."""
        narrate = get_verbosity() >= 5  # verbose=5 tells each step
        for rows in self.rows():
            keep = rows.keep
            if narrate:
                kept = int(np.count_nonzero(keep))
                note(
                    f"read rows {rows.start + 1:,}-{rows.start + len(rows):,}: "
                    f"{kept:,} kept",
                    level=5,
                )
            yield Chunk(rows.start, rows.records, keep, rows.values, rows.env)


@contextlib.contextmanager
def failures_named(step: str, source: str) -> Iterator[None]:
    """A failure that is not the user's input becomes ``XdmExecutionError``
    naming the step it happened in."""
    try:
        yield
    except XdmError:
        raise
    except MemoryError:
        raise XdmExecutionError(
            f"out of memory in step {step}",
            source=source,
            hint="use smaller chunks or a coarser binning",
        ) from None
    except Exception as exc:
        raise XdmExecutionError(
            f"step {step} failed: {type(exc).__name__}: {exc}", source=source
        ) from exc


# ---------------------------------------------------------------- reading


def column_reader(metas: Sequence[ColumnMeta]) -> Stage:
    """A stage reading each column once per chunk: numeric values as numexpr
    takes them (``numeric_values``), bit columns as one integer per row, string
    columns as stored."""
    readers: list[tuple[str, Callable[[NDArray[Any]], Any]]] = []
    for col in metas:
        if col.kind == "bit":
            readers.append((col.name, functools.partial(bit_values, col=col)))
        elif col.kind == "string":
            readers.append((col.name, functools.partial(_stored, name=col.name)))
        else:
            readers.append((col.name, functools.partial(numeric_values, col=col)))

    def read(rows: Rows) -> None:
        records = rows.records
        values = rows.values
        for name, reader in readers:
            values[name] = reader(records)

    return read


def _stored(records: NDArray[Any], name: str) -> NDArray[Any]:
    return records[name]


def numeric_values(records: NDArray[Any], col: ColumnMeta) -> NDArray[Any]:
    """A column's values in a type numexpr has (it has no unsigned or 1-byte ones)."""
    values = column_values(records, col)
    if values.dtype.kind == "u" and values.dtype.itemsize >= 4:
        values = values.astype(np.int64)
    elif values.dtype.kind == "u" or values.dtype.itemsize == 1:
        values = values.astype(np.int32)
    return values


# ---------------------------------------------------------------- filtering


def row_filter(filt: FilterRows, source: str) -> Stage:
    """A stage binding the filter's operands, computing its vectorised tests, and
    leaving the predicate to be evaluated when a later stage asks for the mask."""
    binds = [(op.var, op.column, op.how) for op in filt.operands]
    tests = filt.tests
    mask = parts = None
    if filt.predicate != "True":
        mask = functools.partial(_mask, filt, source)
        parts = functools.partial(_mask_parts, filt, source)

    def bind(rows: Rows) -> None:
        env = rows.env
        values = rows.values
        for var, column, how in binds:
            if how == "row":
                env[var] = np.arange(
                    rows.start + 1, rows.start + len(rows) + 1, dtype=np.int64
                )
            else:
                env[var] = values[column]
        for test in tests:
            env[test.var] = vector_test(test, rows)
        rows.filter_by(mask, parts)

    return bind


def _mask(filt: FilterRows, source: str, rows: Rows) -> NDArray[np.bool_]:
    n = len(rows)
    with failures_named("FilterRows", source):
        try:
            result = kernels.evaluate(filt.expression, rows.env)
        except kernels.TooComplexError:
            # beyond numexpr's 255 registers: one numexpr call per top-level conjunct
            # (and per slice of a wide one: a 10^4-term ``||``)
            result = np.ones(n, dtype=bool)
            for term in conjuncts(filt.expression):
                result &= full(kernels.evaluate_parts(term, rows.env), n)
        return full(result, n)


def _mask_parts(filt: FilterRows, source: str, rows: Rows) -> Part | None:
    """``_mask`` a row range at a time, where the predicate runs as numpy passes."""
    part = kernels.predicate_parts(filt.expression, rows.env)
    if part is None:
        return None

    def named(start: int, stop: int) -> NDArray[np.bool_]:
        with failures_named("FilterRows", source):
            return part(start, stop)

    return named


def full(result: Any, n: int) -> NDArray[Any]:
    """numexpr gives a scalar for a constant expression (``True``): broadcast it."""
    return np.full(n, result) if np.ndim(result) == 0 else result


def vector_test(test: VectorTest, rows: Rows) -> NDArray[np.bool_]:
    """A row test numexpr cannot express (``VectorTest``), on the columns read."""
    values = rows.values
    if test.kind == "region":
        x, y = (values[c] for c in test.columns)
        candidates = None  # the bbox prefilter, evaluated only if it is used
        if test.prefilter is not None:
            candidates = functools.partial(kernels.evaluate, test.prefilter, rows.env)
        return kernels.region_contains(test.payload, x, y, candidates)
    if test.kind == "gti":
        times = np.asarray(values[test.columns[0]], dtype=np.float64)
        keep: dict[int | None, NDArray[np.float64]] = test.payload
        if test.chip_column is None:
            iv = keep[None]
            return kernels.in_intervals(times, iv[:, 0].copy(), iv[:, 1].copy())
        chips = np.asarray(values[test.chip_column])
        out = np.zeros(len(times), dtype=bool)
        listed = np.zeros(len(times), dtype=bool)
        for chip, iv in keep.items():
            if chip is None:
                continue
            on = chips == chip
            listed |= on
            out |= on & kernels.in_intervals(times, iv[:, 0].copy(), iv[:, 1].copy())
        if None in keep:
            iv = keep[None]
            out |= ~listed & kernels.in_intervals(
                times, iv[:, 0].copy(), iv[:, 1].copy()
            )
        return out
    if test.kind == "ranges":
        intervals, singles = test.payload
        numbers = np.asarray(values[test.columns[0]], dtype=np.float64)
        out = kernels.in_intervals(
            numbers, intervals[:, 0].copy(), intervals[:, 1].copy()
        )
        if len(singles):
            out |= np.isin(numbers, singles)
        return out
    wanted, fold = test.payload
    return kernels.strings_equal(values[test.columns[0]], wanted, fold=fold)


# ---------------------------------------------------------------- histogram


def padded_counter(hist: Histogram) -> tuple[Stage, Callable[[], NDArray[Any]]]:
    """A stage binning each chunk with ``kernels.padded_index`` (numpy bin
    indices on a grid with a spare cell at each end of every axis, the kept
    rows as a mask), and the function giving the counts inside the border."""
    axes = hist.padded
    assert axes is not None
    padded_shape = tuple(n + 2 for _, _, n, _ in reversed(axes))
    counts = np.zeros(int(np.prod(padded_shape)), dtype=hist.accumulator)
    index = np.empty(0, dtype=np.intp)
    variables = [g.var for g in hist.axes]
    weight_var = hist.weight_var if hist.weight is not None else None

    def count(rows: Rows) -> None:
        nonlocal index
        n = len(rows)
        if len(index) < n:
            index = np.empty(n, dtype=np.intp)
        env = rows.env
        values = [env[v] for v in variables]
        parts = rows.keep_in_parts()  # the predicate part by part, records in cache
        if parts is not None:
            flat = kernels.padded_index(values, axes, parts[1], index[:n])
            rows.kept(parts[0])
        else:
            keep = None if rows.keeps_all else rows.keep
            flat = kernels.padded_index(values, axes, keep, index[:n])
        weights = None
        if weight_var is not None:
            weights = np.asarray(env[weight_var], dtype=np.float64)
        kernels.accumulate(counts, flat, weights)

    def inner() -> NDArray[Any]:
        cut = tuple(slice(1, -1) for _ in padded_shape)
        return counts.reshape(padded_shape)[cut]

    return count, inner


def expression_counter(hist: Histogram) -> tuple[Stage, Callable[[], NDArray[Any]]]:
    """A stage binning each chunk with the fused numexpr index expression (the
    predicate and the axis bounds inside it), and the function giving the counts."""
    # one extra slot at the end collects the rows that are not kept
    counts = np.zeros(hist.size + 1, dtype=hist.accumulator)
    steps = {name: np.float64(step) for name, step in hist.step_operands}
    weight_var = hist.weight_var if hist.weight is not None else None

    def count(rows: Rows) -> None:
        env = rows.env
        env.update(steps)
        try:
            flat = kernels.evaluate(hist.index, env)
        except kernels.TooComplexError:
            env["_keep"] = rows.keep
            assert hist.index_of_kept is not None  # the planner sets it
            flat = kernels.evaluate(hist.index_of_kept, env)
        flat = full(flat, len(rows))
        weights = None
        if weight_var is not None:
            weights = np.asarray(env[weight_var], dtype=np.float64)
        kernels.accumulate(counts, flat, weights)

    return count, lambda: counts[: hist.size]
