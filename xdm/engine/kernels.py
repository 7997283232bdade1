"""Array work only: fused predicates, bin indices, histograms and the vectorised
tests numexpr cannot express. The sole numexpr user.

Takes arrays and expression trees (``xdm.expr``); knows nothing about
FITS, nodes or plans. Every function works on one chunk of rows and loops over no rows.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numexpr as ne
import numpy as np

from xdm.expr import And, Expr, Group, Or, render

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "TooComplexError",
    "accumulate",
    "evaluate",
    "evaluate_parts",
    "in_intervals",
    "kept_runs",
    "padded_index",
    "predicate_parts",
    "region_contains",
    "split_rows",
    "strings_equal",
]

if "NUMEXPR_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
    ne.set_num_threads(max(1, min(ne.detect_number_of_cores(), 8)))


class TooComplexError(Exception):
    """The expression needs more registers or constants than numexpr has (255)."""


def evaluate(
    expression: Expr,
    operands: dict[str, NDArray[Any]],
    *,
    backend: Literal["auto", "numpy", "numexpr"] = "auto",
) -> NDArray[Any]:
    """Evaluate an expression tree (``xdm.expr``) over same-length operands.

    Operands may be big-endian, strided views straight from the memory map.
    ``auto``: a predicate (boolean result) over ``SUBCHUNK`` rows or more runs as
    numpy passes over cache-sized sub-chunks with numexpr's types
    (``xdm.engine.npexpr``, several times faster for comparisons and
    ``&``/``|``); anything else, or a tree ``npexpr`` does not take, goes to
    numexpr (its rendered text), which converts the operands block by block
    without a full copy. ``numpy`` and ``numexpr`` force one of the two (``numpy``
    raises ``ValueError`` for a tree npexpr does not take). Raises
    ``TooComplexError`` when the text needs more than numexpr's 255 registers.
    """
    if backend != "numexpr":
        try:
            result = _evaluate_numpy(expression, operands, forced=backend == "numpy")
        except RecursionError:  # a chain of thousands of terms: numexpr, then parts
            result = None
        if result is not None:
            return result
        if backend == "numpy":
            raise ValueError(f"npexpr does not evaluate {render(expression)}")
    try:
        value: NDArray[Any] = ne.evaluate(
            render(expression), local_dict=operands, global_dict={}
        )
        return value
    except RecursionError as exc:  # numexpr parses ``a | b | ...`` recursively
        raise TooComplexError(str(exc)) from None
    except ValueError as exc:
        if "range(0, 256)" in str(exc):
            raise TooComplexError(str(exc)) from None
        raise


PART_TERMS = 32
"""Terms of a wide ``&``/``|`` evaluated by one numexpr call in ``evaluate_parts``
(a range is two constants: 64 of numexpr's 255)."""


def evaluate_parts(expression: Expr, operands: dict[str, NDArray[Any]]) -> Any:
    """``evaluate`` for a tree too big for one numexpr program (``TooComplexError``):
    a wide ``&``/``|`` (``energy=1:2||energy=3:4||...`` with 10^4 terms) is
    evaluated ``PART_TERMS`` terms at a time (numpy passes where ``npexpr`` takes
    the part, else numexpr, halved again while still too big) and the parts
    combined with numpy's ``&``/``|``, which numexpr's are."""
    body = expression
    while isinstance(body, Group):
        body = body.body
    if not isinstance(body, And | Or) or len(body.terms) < 2:
        return evaluate(expression, operands)
    kind = type(body)
    step = PART_TERMS if len(body.terms) > PART_TERMS else len(body.terms) // 2
    combine = np.bitwise_and if kind is And else np.bitwise_or
    result: Any = None
    for start in range(0, len(body.terms), step):
        part = body.terms[start : start + step]
        tree = part[0] if len(part) == 1 else kind(part)
        try:  # numpy passes first: numexpr compiles a 32-term text in ~10 ms
            value = evaluate(tree, operands, backend="numpy")
        except ValueError:
            try:
                value = evaluate(tree, operands)
            except TooComplexError:
                value = evaluate_parts(tree, operands)
        result = value if result is None else combine(result, value)
    return result


def _evaluate_numpy(
    expression: Expr, operands: dict[str, NDArray[Any]], *, forced: bool = False
) -> NDArray[Any] | None:
    """``evaluate`` through ``npexpr``, or None to use numexpr. Unless ``forced``,
    only predicates over ``SUBCHUNK`` rows or more."""
    from xdm.engine import npexpr

    found = _numpy_program(expression, operands, forced=forced)
    if found is None:
        return None
    program, used, n = found
    if n is None:
        env = {k: npexpr.Program.convert(np.asarray(v)) for k, v in used.items()}
        with np.errstate(all="ignore"):
            return np.asarray(program.run(env), dtype=program.dtype)
    out = np.empty(n, dtype=program.dtype)
    part = _rows_of(program, used)

    def rows(start: int, stop: int) -> None:
        for j in range(start, stop, SUBCHUNK):
            k = min(stop, j + SUBCHUNK)
            out[j:k] = part(j, k)

    split_rows(n, rows)
    return out


def _numpy_program(
    expression: Expr, operands: dict[str, NDArray[Any]], *, forced: bool = False
) -> tuple[Any, dict[str, NDArray[Any]], int | None] | None:
    """The npexpr program ``evaluate`` would run, the operands it uses and their
    row count (None: no array operand); None where numexpr runs the expression.
    Unless ``forced``, only predicates over ``SUBCHUNK`` rows or more."""
    from xdm.engine import npexpr

    arrays = [v for v in operands.values() if np.ndim(v) == 1]
    if not forced and (not arrays or len(arrays[0]) < SUBCHUNK):
        return None
    program = npexpr.compile(expression, npexpr.kinds_of(operands))
    if program is None or (program.kind != "bool" and not forced):
        return None
    used = {k: operands[k] for k in program.names}
    if not arrays:
        return program, used, None
    n = len(arrays[0])
    if any(np.ndim(v) > 1 or (np.ndim(v) == 1 and len(v) != n) for v in used.values()):
        return None  # vector columns and odd shapes: numexpr says what is wrong
    return program, used, n


def _rows_of(
    program: Any, used: dict[str, NDArray[Any]]
) -> Callable[[int, int], NDArray[Any]]:
    """The npexpr program as a function of a row range of its operands."""
    from xdm.engine import npexpr

    # plain views: slicing a np.memmap runs its Python __getitem__ every part
    plain = {k: np.asarray(v) if np.ndim(v) else v for k, v in used.items()}

    def part(start: int, stop: int) -> NDArray[Any]:
        # numexpr computes inf - inf or 0/0 without a warning: so does this path
        with np.errstate(all="ignore"):
            env = {
                name: npexpr.Program.convert(v[start:stop] if np.ndim(v) else v)
                for name, v in plain.items()
            }
            return np.asarray(program.run(env))

    return part


def predicate_parts(
    expression: Expr, operands: dict[str, NDArray[Any]]
) -> Callable[[int, int], NDArray[np.bool_]] | None:
    """The predicate as a function of a row range, where ``evaluate`` would run it
    as numpy passes (the same values, by the same program); None where it would
    use numexpr. A kernel that walks the rows in cache-sized parts asks for each
    part's mask just before it reads the same records (``padded_index``), so the
    records come from memory once instead of once per pass over the chunk."""
    found = _numpy_program(expression, operands)
    if found is None:
        return None
    program, used, _ = found
    if not any(np.ndim(v) == 1 for v in used.values()):
        return None  # a constant: ``evaluate`` decides
    part = _rows_of(program, used)
    return lambda start, stop: np.asarray(part(start, stop), dtype=program.dtype)


def accumulate(
    counts: NDArray[Any],
    flat_index: NDArray[Any],
    weights: NDArray[Any] | None = None,
) -> None:
    """Add a chunk to a flat histogram whose last slot collects the dropped rows.

    ``flat_index`` is numexpr's result (float, or integer for integer-arithmetic
    grids); rows that fail the predicate carry the overflow index
    ``counts.size - 1``, so no boolean compress is needed.
    Grids up to the chunk's length use ``np.bincount``; larger grids use
    ``np.add.at`` (numpy >= 1.25 has a fast path), which touches only the hit
    bins instead of allocating and adding a grid-sized array per chunk
    (2e6 rows into 2000 x 2000 bins: 9 ms instead of 17 ms; 8192 x 8192: 0.03 s
    instead of 2 s).
    """
    index = flat_index if flat_index.dtype.kind in "iu" else flat_index.astype(np.intp)
    if counts.size > len(index):
        np.add.at(counts, index, counts.dtype.type(1) if weights is None else weights)
    elif weights is None:
        counts += np.bincount(index, minlength=counts.size)
    else:
        counts += np.bincount(index, weights=weights, minlength=counts.size)


SUBCHUNK = 65536
"""Rows per step of the numpy kernels, so their reused buffers stay in the CPU cache
(and a step's records, 3.9 MB of 60-byte rows, in the last-level cache from the
predicate's pass to the index's); also the fewest rows for which a predicate runs as
numpy passes. Smaller steps measured slower with both cores free (case (a) at 1e7
rows: 8192 rows 0.41 s, 65536 rows 0.28 s; 131072 and 262144 the same as 65536):
each numpy call holds the GIL for about a microsecond, and the kernels' threads
queue for it (bench/RESULTS.md)."""


def padded_index(
    values: list[NDArray[Any]],
    axes: tuple[tuple[float, float, int, int | None], ...],
    keep: NDArray[np.bool_] | Callable[[int, int], NDArray[np.bool_]] | None,
    out: NDArray[np.intp],
    *,
    subchunk: int | None = None,
) -> NDArray[np.intp]:
    """Each row's flat bin on a grid with one spare cell at both ends of every axis.

    Axis k's bin is ``floor((v - lo) * scale)`` (or ``v - first`` for unit bins
    of integers), clipped to ``[-1, nbins]``: a value below or above the axis
    range, NaN or infinite, lands in a spare cell, which the caller drops by
    slicing. Rows not in ``keep`` go to the spare cell 0; ``keep`` may be a
    function of a row range (``predicate_parts``), asked once for each part just
    before its rows are binned. The planner only hands over axes whose index is
    provably the binning rule's (``binindex.padded_axes``). Works ``subchunk``
    (default ``SUBCHUNK``) rows at a time in cache-resident
    buffers (about ten numpy passes a row, no Python loop per row), the chunk
    split between threads: numpy releases the GIL inside each pass.
    """
    step = subchunk or SUBCHUNK
    plain = [np.asarray(v) for v in values]  # no np.memmap __getitem__ per part
    split_rows(
        len(out),
        lambda a, b: _padded_rows(plain, axes, keep, out, a, b, step),
        subchunk=step,
    )
    return out


_POOL: list[Any] = []
_POOL_LOCK = threading.Lock()


def split_rows(
    n: int, work: Callable[[int, int], Any], *, subchunk: int | None = None
) -> Any:
    """``work(start, stop)`` over rows ``0:n`` in one part per thread numexpr may use
    (``NUMEXPR_NUM_THREADS``/``OMP_NUM_THREADS`` or ``ne.set_num_threads``; numpy
    releases the GIL inside its passes); the parts' results are concatenated if any."""
    parts = min(ne.get_num_threads(), max(1, n // (subchunk or SUBCHUNK)))
    if parts == 1:
        return work(0, n)
    bounds = [n * i // parts for i in range(parts + 1)]
    done = list(_pool().map(lambda i: work(bounds[i], bounds[i + 1]), range(parts)))
    return None if done[0] is None else np.concatenate(done)


def _pool() -> Any:
    """The kernels' worker threads (made on first use)."""
    with _POOL_LOCK:
        if not _POOL:
            from concurrent.futures import ThreadPoolExecutor

            _POOL.append(ThreadPoolExecutor(8, thread_name_prefix="xdm-kernels"))
        return _POOL[0]


def _padded_rows(
    values: list[NDArray[Any]],
    axes: tuple[tuple[float, float, int, int | None], ...],
    keep: NDArray[np.bool_] | Callable[[int, int], NDArray[np.bool_]] | None,
    out: NDArray[np.intp],
    start: int,
    stop: int,
    subchunk: int,
) -> None:
    """``padded_index`` of rows ``start:stop`` (one thread's share)."""
    size = min(stop - start, subchunk)
    work = np.empty(size)
    term = np.empty(size, dtype=np.intp)
    strides, offset, stride = [], 0, 1
    for _, _, nbins, _ in axes:
        strides.append(stride)
        offset += stride
        stride *= nbins + 2
    # NaN and inf values: no warnings (numexpr gives none)
    with np.errstate(invalid="ignore"):
        for j in range(start, stop, subchunk):
            m = min(subchunk, stop - j)
            acc = out[j : j + m]
            for k, (v, (lo, scale, nbins, first)) in enumerate(zip(values, axes)):
                dst = acc if k == 0 else term[:m]
                if first is not None:
                    np.copyto(dst, v[j : j + m], casting="unsafe")
                    dst -= first
                    # np.clip's Python checks of its bounds cost more than its pass
                    np.minimum(np.maximum(dst, -1, out=dst), nbins, out=dst)
                else:
                    w = work[:m]
                    np.copyto(w, v[j : j + m])
                    w -= lo
                    w *= scale
                    # clipped before the cast, NaN to -1 (fmax): a NaN or an
                    # out-of-range value cast to an integer is undefined in C
                    # (INT_MIN on x86, 0 on ARM, which would be a real bin)
                    np.fmin(np.fmax(w, -1.0, out=w), float(nbins), out=w)
                    np.floor(w, out=dst, casting="unsafe")
                if k:
                    dst *= strides[k]
                    acc += dst
            acc += offset
            if callable(keep):
                acc *= keep(j, j + m)
            elif keep is not None:
                acc *= keep[j : j + m]


def kept_runs(mask: NDArray[np.bool_], limit: int) -> list[tuple[int, int]] | None:
    """The ``(start, stop)`` row ranges where ``mask`` is true, or None if there are
    more than ``limit`` of them.

    A time filter on a time-ordered event list, a ``#row`` range or a GTI keeps
    a few long runs of consecutive rows; those can be written straight from the
    memory map instead of being copied out first.
    """
    changes = np.flatnonzero(np.diff(mask.view(np.int8)))
    if len(changes) > 2 * limit:
        return None
    bounds = [0, *(changes + 1).tolist(), len(mask)]
    runs = [(a, b) for a, b in itertools.pairwise(bounds) if b > a and mask[a]]
    return runs if len(runs) <= limit else None


def in_intervals(
    values: NDArray[Any], starts: NDArray[np.float64], stops: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Rows whose value lies in a union of sorted half-open ``[start, stop)`` intervals."""
    if len(starts) == 0:
        return np.zeros(len(values), dtype=bool)
    idx = np.searchsorted(starts, values, side="right") - 1
    ok = idx >= 0
    idx[~ok] = 0
    return ok & (values < stops[idx])


def region_contains(
    region: Any,
    x: NDArray[Any],
    y: NDArray[Any],
    candidates: Callable[[], NDArray[np.bool_]] | None,
) -> NDArray[np.bool_]:
    """``region.contains`` over a chunk, exactly as CIAO decides every point.

    A chunk of ``raster.MIN_POINTS`` rows or more (``raster.for_points``) goes
    through the region's cell lookup table (``xdm.regions.raster``), which runs
    the exact test only near the boundaries; otherwise the exact test runs on
    the rows ``candidates`` (the bounding-box prefilter, computed only when
    needed) keeps.
    """
    from xdm.regions import raster

    table = raster.for_points(region, len(x))
    if table is not None:
        inside: NDArray[np.bool_] = split_rows(
            len(x), lambda a, b: table.contains(x[a:b], y[a:b])
        )
        return inside
    out = np.zeros(len(x), dtype=bool)
    if candidates is None:
        out[:] = region.contains(
            np.asarray(x, dtype=np.float64), np.asarray(y, np.float64)
        )
        return out
    idx = np.flatnonzero(candidates())
    if len(idx):
        xs = np.asarray(x[idx], dtype=np.float64)
        ys = np.asarray(y[idx], dtype=np.float64)
        out[idx] = region.contains(xs, ys)
    return out


def strings_equal(
    values: NDArray[Any], wanted: tuple[bytes, ...], *, fold: bool
) -> NDArray[np.bool_]:
    """Trimmed FITS strings equal to any of ``wanted`` (optionally case-folded)."""
    trimmed = np.char.rstrip(np.asarray(values, dtype="S"))
    if fold:
        trimmed = np.char.lower(trimmed)
        wanted = tuple(w.lower() for w in wanted)
    out = np.zeros(len(values), dtype=bool)
    for w in wanted:
        out |= trimmed == w
    return out
