"""Reduce the rows of many virtual files, serially or on a dask cluster.

The work is cut into tasks: one per row range of ``task_rows`` rows of a plain
file (read straight from its memory map), one per filtered virtual file (its
filters fused by the engine, ``xdm.api.scan``). Each task folds its chunks with
``combine`` in row order; each file's task results are combined in a fixed
binary tree (``tree_reduce``). The cut and the tree depend only on the files
and ``task_rows``, never on where tasks run, so a serial run and a run on any
number of dask workers give bit-identical results, whatever ``combine`` does
with floats.

dask is imported only when a client or a cluster is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError

__all__ = [
    "TASK_ROWS",
    "Executor",
    "Task",
    "dask_executor",
    "plan_tasks",
    "reduce_files",
    "run_task",
    "scan_many",
    "tree_reduce",
]

T = TypeVar("T")

TASK_ROWS = 2_000_000
"""Rows of a plain file per task: big enough to amortise a task, small enough to
spread one large observation over several workers."""

CHUNK_ROWS = 500_000
"""Rows handed to the reducer at a time inside a task (memory stays flat)."""

Reducer = Callable[[int, NDArray[Any], NDArray[np.bool_]], T]
Combine = Callable[[T, T], T]


@dataclass(frozen=True, slots=True)
class Task:
    """One piece of work: file ``index`` (its virtual-file text), rows ``[start, stop)``.

    ``stop`` is None for a filtered virtual file, which is scanned whole by the
    engine.
    """

    index: int
    vf: str
    start: int
    stop: int | None
    base_dir: str | None = None


def _is_plain(vf: str) -> bool:
    from xdm.lang.nodes import BlockRef
    from xdm.lang.parser import parse

    return all(isinstance(q, BlockRef) for q in parse(vf).qualifiers)


def _rows(vf: str, base_dir: str | None) -> int:
    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse

    with open_vf_block(parse(vf), base_dir=base_dir) as block:
        if not block.is_table:
            raise XdmSemanticError(f"{vf}: block {block.name} is not a table")
        return block.nrows


def plan_tasks(
    vfs: Sequence[str], *, task_rows: int = TASK_ROWS, base_dir: str | None = None
) -> list[list[Task]]:
    """The tasks of each file, in row order (what ``scan_many`` runs)."""
    out: list[list[Task]] = []
    step = max(1, int(task_rows))
    for i, vf in enumerate(vfs):
        n = _rows(vf, base_dir)
        if not _is_plain(vf):
            out.append([Task(i, vf, 0, None, base_dir)])
            continue
        starts = range(0, max(n, 1), step)
        out.append([Task(i, vf, a, min(n, a + step), base_dir) for a in starts])
    return out


def run_task(
    task: Task,
    reducer: Reducer[T],
    combine: Combine[T],
    chunk_rows: int = CHUNK_ROWS,
) -> T:
    """Fold ``reducer(index, records, kept)`` over the task's chunks with ``combine``."""
    from xdm.io.blocks import open_vf_block
    from xdm.lang.parser import parse

    acc: T | None = None
    if task.stop is None:
        from xdm.api import scan

        with scan(task.vf, base_dir=task.base_dir, chunk_rows=chunk_rows) as rows:
            for records, kept in rows.chunks:
                part = reducer(task.index, records, kept)
                acc = part if acc is None else combine(acc, part)
        if acc is None:  # an empty table: the reducer sees zero rows once
            with open_vf_block(parse(task.vf), base_dir=task.base_dir) as block:
                empty = block.raw()[:0]
            acc = reducer(task.index, empty, np.zeros(0, dtype=bool))
        return acc
    with open_vf_block(parse(task.vf), base_dir=task.base_dir) as block:
        raw = block.raw()
        step = max(1, int(chunk_rows))
        for a in range(task.start, max(task.stop, task.start + 1), step):
            records = raw[a : min(task.stop, a + step)]
            part = reducer(task.index, records, np.ones(len(records), dtype=bool))
            acc = part if acc is None else combine(acc, part)
    assert acc is not None
    return acc


def tree_reduce(items: Sequence[Any], combine: Callable[[Any, Any], Any]) -> Any:
    """Combine ``items`` pairwise, level by level, in a fixed order.

    ``((a+b)+(c+d))+e``: the same tree for the same number of items, so float
    sums come out the same bits wherever the additions run. ``combine`` may be a
    remote submission (it gets and returns futures).
    """
    level = list(items)
    if not level:
        raise ValueError("tree_reduce of nothing")
    while len(level) > 1:
        nxt = [combine(level[k], level[k + 1]) for k in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


class Executor:
    """Runs functions in process (``submit`` calls at once; ``gather`` is identity)."""

    name = "serial"

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def gather(self, items: list[Any]) -> list[Any]:
        return items


class _DaskExecutor(Executor):
    """Submits to a dask.distributed client; results stay remote until gathered."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.name = f"dask {client.scheduler.address}"

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def gather(self, items: list[Any]) -> list[Any]:
        return list(self.client.gather(items))


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise XdmSemanticError(
            "parallel runs need dask.distributed, which is not installed",
            hint="pip install 'xdm[dask]' (or run with parallel=no)",
        ) from None
    return distributed


@contextmanager
def dask_executor(
    scheduler: str = "local", nproc: int | None = None, *, processes: bool = True
) -> Any:
    """An executor on a new LocalCluster (``scheduler=local``) or a running one.

    ``nproc`` workers of one thread each (processes, unless ``processes=False``);
    ``scheduler=tcp://host:port`` connects to an existing cluster instead.
    """
    distributed = _import_distributed()
    import os

    if scheduler == "local":
        n = nproc or os.cpu_count() or 1
        with (
            distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=":0",
                silence_logs=50,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield _DaskExecutor(client)
        return
    try:
        client = distributed.Client(scheduler, timeout=5)
    except OSError as exc:
        raise XdmSemanticError(
            f"cannot reach the dask scheduler at {scheduler}: {exc}",
            hint="scheduler=local starts a cluster on this machine",
        ) from None
    with client:
        yield _DaskExecutor(client)


class _Folded(Generic[T]):
    """``run_task`` with its reducer bound: one picklable callable per scan."""

    def __init__(self, reducer: Reducer[T], combine: Combine[T], chunk_rows: int):
        self.reducer = reducer
        self.combine = combine
        self.chunk_rows = chunk_rows

    def __call__(self, task: Task) -> T:
        return run_task(task, self.reducer, self.combine, self.chunk_rows)


def scan_many(
    vfs: Sequence[str],
    reducer: Reducer[T],
    combine: Combine[T],
    *,
    client: Any = None,
    task_rows: int = TASK_ROWS,
    chunk_rows: int = CHUNK_ROWS,
    base_dir: str | None = None,
    executor: Executor | None = None,
) -> list[T]:
    """Reduce the kept rows of each virtual file; one result per file, in order.

    ``reducer(index, records, kept)`` gets the file's position in ``vfs``, a
    chunk of raw FITS records (as ``xdm.api.scan`` yields them) and the mask of
    the rows the virtual file keeps; ``combine(a, b)`` merges two partial
    results. With a dask ``client`` the tasks run on its workers (the reducer
    and combine must then be picklable: module-level functions or
    ``functools.partial`` of them); the result is bit-identical to the serial
    run, since the cut into tasks and the order of combination are fixed.
    """
    if executor is None:
        executor = Executor() if client is None else _DaskExecutor(client)
    return executor.gather(
        reduce_files(
            vfs,
            reducer,
            combine,
            executor,
            task_rows=task_rows,
            chunk_rows=chunk_rows,
            base_dir=base_dir,
        )
    )


def reduce_files(
    vfs: Sequence[str],
    reducer: Reducer[T],
    combine: Combine[T],
    executor: Executor,
    *,
    task_rows: int = TASK_ROWS,
    chunk_rows: int = CHUNK_ROWS,
    base_dir: str | None = None,
) -> list[Any]:
    """``scan_many`` without the gather: one result (or dask future) per file."""
    plans = plan_tasks(vfs, task_rows=task_rows, base_dir=base_dir)
    fold = _Folded(reducer, combine, chunk_rows)
    return [
        tree_reduce(
            [executor.submit(fold, t) for t in tasks],
            lambda a, b: executor.submit(combine, a, b),
        )
        for tasks in plans
    ]
