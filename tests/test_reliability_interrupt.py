"""Ctrl-C at any moment of a run: status 130, one line, no temporary file.

Oracles: the exit status and the exact stderr (``interrupted``, nothing else),
the directory listing (no ``*.xdm-tmp`` left), and the output's bytes: the old
file (a SHA-256 taken before) or the complete new one (the rows of a reference
run). The moments are fractions of a run's own length, measured first in an
unsignalled run, so they land in the planning, the reading, the write and
after the rename on a fast or a slow machine.

The clock starts once the program's entry point is loaded (``ready`` on
stdout): a signal before that lands in Python's own start-up (``site``,
``import xdm``), where no code of xdm runs yet.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from outputs import events_digest, interrupt_while_writing, temporaries

import xdm

FILTER = "[energy=300:8000]"
FRACTIONS = (0.02, 0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0, 1.1, 1.3)
"""Of a run's length, from ``ready``; not 0: a signal that lands before
``main()``'s first line is the calling script's own (its traceback)."""

# the program as the ``xdm`` script runs it (main() with no argv), after a
# line saying its entry point is loaded
PROGRAM = (
    "import sys\n"
    "from xdm.cli.main import main\n"
    "sys.argv = ['xdm', *sys.argv[1:]]\n"
    "print('ready', flush=True)\n"
    "raise SystemExit(main())\n"
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _start(*words: str) -> tuple[subprocess.Popen[str], float]:
    """The program running ``words``, and the moment its entry point was loaded."""
    run = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, *words],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stdout is not None
    assert run.stdout.readline() == "ready\n"
    return run, time.monotonic()


@pytest.fixture(scope="module")
def big_events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6e5 rows (36 MB): a run lasts long enough to be interrupted in each stage."""
    from xdm.demo import make_events

    return make_events(
        tmp_path_factory.mktemp("interrupt") / "big.fits", n_rows=600_000, seed=23
    )


def _interrupt_at_fractions(
    words: tuple[str, ...], out: Path, complete: tuple[int, str], remake_old: str
) -> dict[str, int]:
    """Run ``words`` once to time it, then once per fraction with SIGINT at
    that fraction of the time: checks every run, counts the outcomes."""
    run, start = _start(*words)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    length = time.monotonic() - start
    assert events_digest(out) == complete
    kinds = {"interrupted": 0, "finished": 0}
    for fraction in FRACTIONS:
        xdm.copy(remake_old, out, clobber=True)
        old = _sha(out)
        run, start = _start(*words)
        time.sleep(max(0.0, start + fraction * length - time.monotonic()))
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=120)
        where = f"SIGINT at {fraction} of {length:.2f} s: {run.returncode} {err!r}"
        assert temporaries(out.parent) == [], where
        if run.returncode == 130:
            kinds["interrupted"] += 1
            assert err == "interrupted\n", where
            # stopped before the rename: the old file; after it: the new one
            assert _sha(out) == old or events_digest(out) == complete, where
        else:
            kinds["finished"] += 1
            assert run.returncode == 0, where
            assert err == "", where
            assert events_digest(out) == complete, where
    return kinds


def test_dmcopy_interrupted_at_any_moment(big_events: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.fits"
    reference = tmp_path / "reference.fits"
    xdm.copy(f"{big_events}{FILTER}", reference)
    words = ("dmcopy", f"{big_events}{FILTER}", str(out), "clobber=yes")
    kinds = _interrupt_at_fractions(
        words, out, events_digest(reference), f"{big_events}[energy=300:500]"
    )
    print(f"\nSIGINT at {len(FRACTIONS)} moments: {kinds}")
    assert kinds["interrupted"] >= 3  # the early moments land mid-run


def test_interrupt_while_the_output_is_written(
    big_events: Path, tmp_path: Path
) -> None:
    """``python -m xdm``, SIGINT while the temporary file exists: 130 and the
    one line, the temporary file gone, the old output kept."""
    out = tmp_path / "out.fits"
    xdm.copy(f"{big_events}[energy=300:500]", out)
    old = _sha(out)
    words = (f"{big_events}{FILTER}", str(out), "clobber=yes")
    interrupted = 0
    for delay in (0.0, 0.01, 0.03, 0.06):
        run = subprocess.Popen(
            [sys.executable, "-m", "xdm", "dmcopy", *words],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        err = interrupt_while_writing(run, tmp_path, delay)
        assert temporaries(tmp_path) == [], err
        if run.returncode == 130:
            interrupted += 1
            assert err == "interrupted\n"
            if _sha(out) != old:  # interrupted after the rename: complete
                xdm.copy(f"{big_events}[energy=300:500]", out, clobber=True)
        else:
            assert (run.returncode, err) == (0, "")
            xdm.copy(f"{big_events}[energy=300:500]", out, clobber=True)
    assert interrupted > 0


def test_a_late_interrupt_keeps_the_status(tmp_path: Path) -> None:
    """A Ctrl-C after the work is done (here: raised by the program itself as
    its last act) is ignored, not death by SIGINT (-2) in Python's shutdown."""
    program = (
        "import os, signal, sys\n"
        "from xdm.cli.main import main\n"
        "sys.argv = ['xdm', '--version']\n"
        "status = main()\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "raise SystemExit(status)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.startswith("xdm ")


def test_library_main_keeps_the_callers_handler() -> None:
    """``main([...])`` in a caller's process (tests, notebooks) leaves the
    caller's SIGINT handler as it was; only the program installs its own."""
    from xdm.cli.main import main

    handler = signal.getsignal(signal.SIGINT)
    assert main(["--version"]) == 0
    assert signal.getsignal(signal.SIGINT) is handler


def test_an_interrupt_inside_a_callback_is_not_lost() -> None:
    """A Ctrl-C that lands in a weakref callback (where an import's module
    lock dies), which Python cannot raise out of, prints no "Exception
    ignored" and is not lost: it comes back in the code that follows."""
    program = (
        "import os, signal, sys, time, weakref\n"
        "from xdm.cli.main import Interrupts\n"
        "ctrl_c = Interrupts()\n"
        "class Lock: pass\n"
        "def callback(ref):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    sum(range(1000))\n"
        "lock = Lock()\n"
        "ref = weakref.ref(lock, callback)\n"
        "try:\n"
        "    del lock\n"
        "    time.sleep(5)\n"
        "    print('lost')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', ctrl_c.seen)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, "interrupted True\n", "")
