"""Atomic outputs: a product appears whole or not at all.

Oracles: the bytes of the old output (a SHA-256 taken before the run), a
reference run's rows (an output, when present, must hold exactly those), the
directory listing (no temporary file after success, failure, Ctrl-C, or the
run after a SIGKILL), and the mode that ``open()`` gives a new file under the
same umask (0666 less the umask).
"""

from __future__ import annotations

import ast
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from outputs import events_digest, interrupt_while_writing, temporaries

import xdm
from xdm.io.atomic import atomic_output

FILTER = "[energy=300:8000]"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dmcopy(*words: str, umask: int | None = None) -> subprocess.Popen[str]:
    def setup() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.Popen(
        [sys.executable, "-m", "xdm", "dmcopy", *words],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=setup,
    )


@pytest.fixture(scope="module")
def big_events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6e5 rows (36 MB): a dmcopy of it lasts long enough to be killed."""
    from xdm.demo import make_events

    return make_events(
        tmp_path_factory.mktemp("atomic") / "big.fits", n_rows=600_000, seed=19
    )


@pytest.mark.parametrize(
    ("what", "umask"), [("events", 0o022), ("image", 0o077), ("gzip", 0o002)]
)
def test_outputs_follow_the_umask(
    synthetic_events: Path, tmp_path: Path, umask: int, what: str
) -> None:
    suffix = {"events": FILTER, "image": "[bin sky=16]", "gzip": "[bin sky=16]"}[what]
    out = tmp_path / ("out.fits.gz" if what == "gzip" else "out.fits")
    run = _dmcopy(f"{synthetic_events}{suffix}", str(out), umask=umask)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    # what open() gives a new file under this umask, made the same way
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import os; os.umask({umask}); open({str(tmp_path / 'probe')!r}, 'w')",
        ],
        check=True,
    )
    assert probe.returncode == 0
    expected = (tmp_path / "probe").stat().st_mode & 0o777
    assert expected == 0o666 & ~umask
    assert out.stat().st_mode & 0o777 == expected
    assert temporaries(tmp_path) == []


def test_failure_leaves_the_old_output_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "out.fits"
    out.write_bytes(b"old product")
    with pytest.raises(RuntimeError), atomic_output(out, clobber=True) as tmp:
        tmp.write_bytes(b"half a new prod")
        raise RuntimeError("disk full")
    assert out.read_bytes() == b"old product"
    assert temporaries(tmp_path) == []
    with pytest.raises(KeyboardInterrupt), atomic_output(out, clobber=True) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert out.read_bytes() == b"old product"
    assert temporaries(tmp_path) == []


def test_failing_run_leaves_existing_output(
    synthetic_events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.fits"
    xdm.copy(f"{synthetic_events}{FILTER}", out)
    before = _sha(out)
    for bad in ("[energy=300:8000][bin sky=0.0001]", "[nosuch=1]", "[energy=1e999]"):
        run = _dmcopy(f"{synthetic_events}{bad}", str(out), "clobber=yes")
        _, err = run.communicate(timeout=120)
        assert run.returncode == 2, err
        assert _sha(out) == before
    assert temporaries(tmp_path) == []


def test_no_clobber_refuses_and_keeps(synthetic_events: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.fits"
    out.write_bytes(b"keep me")
    with pytest.raises(xdm.XdmIOError, match="exists"):
        xdm.copy(f"{synthetic_events}{FILTER}", out)
    assert out.read_bytes() == b"keep me"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_orphans_of_dead_runs_are_removed(
    synthetic_events: Path, tmp_path: Path
) -> None:
    """Temporary files of a dead process of this host go; a live process's
    and another host's stay (they may still be writing)."""
    out = tmp_path / "out.fits"
    host = socket.gethostname()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = tmp_path / f".out.fits.{host}-{_dead_pid()}.00aa11bb.xdm-tmp"
        alive = tmp_path / f".out.fits.{host}-{live.pid}.00aa11bb.xdm-tmp"
        elsewhere = tmp_path / ".out.fits.otherhost-1.00aa11bb.xdm-tmp"
        unrelated = tmp_path / ".other.fits.x-1.00aa11bb.xdm-tmp"
        for path in (dead, alive, elsewhere, unrelated):
            path.write_bytes(b"partial")
        xdm.copy(f"{synthetic_events}{FILTER}", out)
        assert not dead.exists()
        assert alive.exists() and elsewhere.exists() and unrelated.exists()
    finally:
        live.kill()
        live.wait()


def _kill_while_writing(
    events: Path, out: Path, after_temp: float | None, start_delay: float = 0.05
) -> subprocess.Popen[str]:
    """Start a dmcopy to ``out``; SIGKILL it ``after_temp`` seconds after its
    temporary file appears (None: ``start_delay`` after the start)."""
    run = _dmcopy(f"{events}{FILTER}", str(out), "clobber=yes")
    if after_temp is None:
        time.sleep(start_delay)
    else:
        deadline = time.monotonic() + 30
        while (
            not temporaries(out.parent)
            and run.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        time.sleep(after_temp)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    return run


def _temp_lifetime(events: Path, out: Path) -> float:
    """Seconds a dmcopy's temporary file exists before the rename, unkilled."""
    run = _dmcopy(f"{events}{FILTER}", str(out), "clobber=yes")
    deadline = time.monotonic() + 60
    while (
        not temporaries(out.parent)
        and run.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.001)
    start = time.monotonic()
    run.communicate(timeout=60)
    return time.monotonic() - start


def test_sigkill_at_any_moment_leaves_old_or_complete(
    big_events: Path, tmp_path: Path
) -> None:
    """dmcopy of 6e5 rows killed with SIGKILL at 8 moments (before it writes,
    then at fractions of the time its temporary file lives in an unkilled run,
    measured first, so the kills land mid-write on a fast or a slow machine): the
    output is always the old file byte for byte or the complete new one, never
    partial; the next run removes the orphaned temporary file."""
    out = tmp_path / "out.fits"
    reference = tmp_path / "reference.fits"
    xdm.copy(f"{big_events}{FILTER}", reference)
    new_rows = events_digest(reference)
    lifetime = _temp_lifetime(big_events, tmp_path / "probe.fits")
    (tmp_path / "probe.fits").unlink()
    moments: list[float | None] = [None] + [
        f * lifetime for f in (0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85)
    ]
    kinds: dict[str, int] = {"old": 0, "new": 0, "orphans": 0}
    xdm.copy(f"{big_events}[energy=300:500]", out)  # the old product
    old = _sha(out)
    for after in moments:
        _kill_while_writing(big_events, out, after)
        if _sha(out) == old:
            kinds["old"] += 1
        else:
            assert events_digest(out) == new_rows  # complete, never partial
            kinds["new"] += 1
        if temporaries(tmp_path):
            kinds["orphans"] += 1
            # the next run writing this output removes the orphan
            xdm.copy(f"{big_events}[energy=300:500]", out, clobber=True)
            assert temporaries(tmp_path) == []
        if _sha(out) != old:
            xdm.copy(f"{big_events}[energy=300:500]", out, clobber=True)
            old = _sha(out)
    print(f"\nSIGKILL at {len(moments)} moments: {kinds}")
    assert kinds["old"] + kinds["new"] == len(moments)
    assert kinds["orphans"] >= 1  # kills landed mid-write, and their orphans went


def test_ctrl_c_leaves_no_temporary(big_events: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.fits"
    reference = tmp_path / "reference.fits.new"
    xdm.copy(f"{big_events}{FILTER}", reference)
    new_rows = events_digest(reference)
    xdm.copy(f"{big_events}[energy=300:500]", out)
    old = _sha(out)
    interrupted = 0
    for delay in (0.0, 0.05, 0.15):
        run = _dmcopy(f"{big_events}{FILTER}", str(out), "clobber=yes")
        err = interrupt_while_writing(run, tmp_path, delay, wait=30)
        assert temporaries(tmp_path) == [], err
        if run.returncode in (130, -signal.SIGINT):
            interrupted += 1
            # stopped before the rename: the old file; after it: the new one
            assert _sha(out) == old or events_digest(out) == new_rows
            assert "Traceback" not in err
            old = _sha(out)
        else:
            assert run.returncode == 0, err
            old = _sha(out)
    assert interrupted > 0


def test_two_clobbering_runs_leave_one_valid_file(
    synthetic_events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.fits"
    soft, hard = tmp_path / "soft.fits", tmp_path / "hard.fits"
    xdm.copy(f"{synthetic_events}[energy=300:2000]", soft)
    xdm.copy(f"{synthetic_events}[energy=2000:8000]", hard)
    expected = {events_digest(soft), events_digest(hard)}
    for _ in range(2):
        runs = [
            _dmcopy(f"{synthetic_events}[energy=300:2000]", str(out), "clobber=yes"),
            _dmcopy(f"{synthetic_events}[energy=2000:8000]", str(out), "clobber=yes"),
        ]
        for run in runs:
            _, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
        assert events_digest(out) in expected
        assert temporaries(tmp_path) == []


def test_two_runs_racing_for_a_new_name(synthetic_events: Path, tmp_path: Path) -> None:
    """Without clobber exactly one of two racing runs writes the file."""
    for i in range(2):
        out = tmp_path / f"new{i}.fits"
        runs = [_dmcopy(f"{synthetic_events}{FILTER}", str(out)) for _ in range(2)]
        codes = sorted(r.wait(timeout=120) for r in runs)
        for r in runs:
            r.communicate()
        assert codes == [0, 2]
        events_digest(out)
        assert temporaries(tmp_path) == []


# ------------------------------------------------------------------ every writer

PACKAGE = Path(xdm.__file__).parent

DIRECT_WRITERS: dict[tuple[str, str], str] = {
    ("io/writer.py", "write_hdulist"): "called with atomic_output's temporary path",
    ("io/plainwrite.py", "write_image"): "called with atomic_output's temporary path",
    ("engine/write.py", "events"): "run.out is atomic_output's temporary path",
    ("io/hdus.py", "save_hdus"): "for atomic_output's temporary path (write_fits)",
    ("demo.py", "make_events"): "its own temporary name (with the pid) and os.replace",
    (
        "lang/fastparse.py",
        "load_tables",
    ): "the parser's cache: temporary name and os.replace",
    ("tools/docs.py", "write"): "regenerates docs/tools/*.md in the source tree",
}
"""(module, function) writing a file without atomic_output, and why."""


def _written(call: ast.Call) -> ast.expr | None:
    """The path a call writes to (open for writing, writeto, write_text, ...)."""
    f = call.func
    if isinstance(f, ast.Name) and f.id == "open" and call.args:
        mode = call.args[1] if len(call.args) > 1 else None
        for k in call.keywords:
            if k.arg == "mode":
                mode = k.value
        if (
            isinstance(mode, ast.Constant)
            and isinstance(mode.value, str)
            and set(mode.value) & set("wax+")
        ):
            return call.args[0]
        return None
    if isinstance(f, ast.Attribute):
        if f.attr in ("writeto", "savefig", "tofile") and call.args:
            return call.args[0]
        if f.attr in ("write_text", "write_bytes"):
            return f.value
        if (
            f.attr in ("copy", "copyfile", "copy2")
            and isinstance(f.value, ast.Name)
            and f.value.id == "shutil"
            and len(call.args) > 1
        ):
            return call.args[1]
    return None


def _is_atomic(node: ast.expr) -> bool:
    """``atomic_output(...)`` or ``stack.enter_context(atomic_output(...))``."""
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = (
        f.id
        if isinstance(f, ast.Name)
        else f.attr
        if isinstance(f, ast.Attribute)
        else ""
    )
    if name == "atomic_output":
        return True
    return name == "enter_context" and bool(node.args) and _is_atomic(node.args[0])


def _is_memory(node: ast.expr) -> bool:
    """``io.BytesIO()`` or ``io.StringIO()``: a stream in memory, not a file."""
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = (
        f.id
        if isinstance(f, ast.Name)
        else f.attr
        if isinstance(f, ast.Attribute)
        else ""
    )
    return name in ("BytesIO", "StringIO")


def _direct_writers() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(PACKAGE).as_posix()
        temps: set[str] = set()  # names bound to atomic_output's temporary path
        for node in ast.walk(tree):
            if isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    if _is_atomic(item.context_expr) and isinstance(
                        item.optional_vars, ast.Name
                    ):
                        temps.add(item.optional_vars.id)
            elif isinstance(node, ast.Assign) and (
                _is_atomic(node.value) or _is_memory(node.value)
            ):
                temps.update(t.id for t in node.targets if isinstance(t, ast.Name))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(fn):
                if isinstance(call, ast.Call):
                    target = _written(call)
                    names = (
                        {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
                        if target is not None
                        else set()
                    )
                    if target is not None and not names & temps:
                        found.add((rel, fn.name))
    return found


def test_every_writer_goes_through_atomic_output() -> None:
    """An ast scan: every open-for-writing, writeto, savefig, write_text and
    shutil.copy in xdm writes atomic_output's temporary path, or is listed."""
    found = _direct_writers()
    unexpected = sorted(found - set(DIRECT_WRITERS))
    assert not unexpected, f"writes that bypass atomic_output: {unexpected}"
    assert set(DIRECT_WRITERS) <= found, sorted(set(DIRECT_WRITERS) - found)
