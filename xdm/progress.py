"""Progress feedback for long work: a hook the engine calls, quiet unless useful.

``with progress(total_rows, "filtering") as bar: bar.advance(n)`` costs one clock
read per call. A rich bar appears on stderr only when stderr is a terminal, the
work has already taken longer than the delay (``DELAY_S``, or ``XDM_PROGRESS_DELAY``
seconds from the environment) and the verbosity is at least 1;
in pipes, scripts and tests nothing is printed. rich is imported only then.

Verbosity follows CIAO's ``verbose=`` (0 silent .. 5 chatty; default 1) and is
set per command with ``verbosity(level)``; ``--quiet`` means ``verbose=0``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = [
    "DELAY_S",
    "Progress",
    "bar_delay",
    "get_verbosity",
    "note",
    "progress",
    "verbosity",
    "verbosity_from_args",
]

DELAY_S = 1.0
"""Work shorter than this never shows a bar (see ``bar_delay``)."""

DEFAULT_VERBOSITY = 1

_verbosity: ContextVar[int] = ContextVar("xdm_verbosity", default=DEFAULT_VERBOSITY)


def get_verbosity() -> int:
    """The current verbosity level (CIAO ``verbose=``)."""
    return _verbosity.get()


@contextmanager
def verbosity(level: int) -> Iterator[None]:
    """Run a block at ``level`` (0 = quiet: no bars, no notes)."""
    token = _verbosity.set(int(level))
    try:
        yield
    finally:
        _verbosity.reset(token)


def bar_delay() -> float:
    """Seconds before a bar shows: ``$XDM_PROGRESS_DELAY`` when set (0 in tests and
    demos that want the bar at once), else ``DELAY_S``."""
    text = os.environ.get("XDM_PROGRESS_DELAY", "")
    try:
        return max(0.0, float(text)) if text.strip() else DELAY_S
    except ValueError:
        return DELAY_S


def note(message: str, level: int = 2) -> None:
    """Print ``message`` to stderr when the verbosity is at least ``level``."""
    if get_verbosity() >= level:
        print(message, file=sys.stderr)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Counts work done; shows a rich bar once the work has lasted ``delay`` seconds.

    ``total`` is the amount of work (rows, chunks); ``None`` when unknown. When
    enabled, a timer thread shows the bar even if no ``advance`` comes after the
    delay (one long chunk); ``advance`` checks the clock too.
    """

    def __init__(
        self,
        total: int | None,
        description: str,
        *,
        enabled: bool,
        delay: float = DELAY_S,
    ) -> None:
        self.total = total
        self.description = description
        self.done = 0
        self._enabled = enabled
        self._closed = False
        self._start = time.monotonic()
        self._delay = delay
        self._bar: Any = None
        self._task: Any = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        if enabled:
            self._timer = threading.Timer(delay, self._show)
            self._timer.daemon = True
            self._timer.start()

    def advance(self, n: int = 1) -> None:
        """Record ``n`` more units of work done."""
        self.done += n
        bar = self._bar
        if bar is not None:
            bar.update(self._task, completed=self.done)
        elif self._enabled and time.monotonic() - self._start >= self._delay:
            self._show()

    def _show(self) -> None:
        with self._lock:
            if self._closed or self._bar is not None:
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=True,
            )
            bar.start()
            self._task = bar.add_task(
                self.description, total=self.total, completed=self.done
            )
            self._bar = bar

    @property
    def is_shown(self) -> bool:
        """True once the bar is on screen."""
        return self._bar is not None

    def close(self) -> None:
        """Remove the bar (it is transient) and stop refreshing."""
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._closed = True
            if self._bar is not None:
                self._bar.stop()
                self._bar = None


@contextmanager
def progress(
    total: int | None, description: str, *, delay: float | None = None
) -> Iterator[Progress]:
    """Track ``total`` units of work called ``description``; the bar shows after
    ``delay`` seconds (default ``bar_delay()``).

    Examples
    --------
    >>> with progress(1000, "filtering rows") as bar:
    ...     for _ in range(10):
    ...         bar.advance(100)
    >>> bar.done
    1000
    """
    bar = Progress(
        total,
        description,
        enabled=get_verbosity() >= 1 and _stderr_is_terminal(),
        delay=bar_delay() if delay is None else delay,
    )
    try:
        yield bar
    finally:
        bar.close()


def verbosity_from_args(argv: list[str]) -> tuple[list[str], int | None]:
    """Take ``verbose=N``, ``-v``/``--verbose`` (2), ``-q``/``--quiet`` (0) out of ``argv``.

    Returns the other arguments and the level asked for (``None``: not given).

    >>> verbosity_from_args(["in.fits", "out.fits", "verbose=0"])
    (['in.fits', 'out.fits'], 0)
    """
    rest: list[str] = []
    level: int | None = None
    for arg in argv:
        if arg in ("-q", "--quiet"):
            level = 0
        elif arg.startswith("verbose=") or arg.startswith("--verbose="):
            level = _level(arg.partition("=")[2])
        elif arg in ("-v", "--verbose"):
            level = 2
        else:
            rest.append(arg)
    return rest, level


def _level(text: str) -> int:
    from xdm.errors import XdmSemanticError

    try:
        level = int(text)
    except ValueError:
        level = -1
    if not 0 <= level <= 5:
        raise XdmSemanticError(
            f"verbose must be an integer from 0 to 5, not {text!r}",
            expected=("0", "1", "2", "3", "4", "5"),
        )
    return level
