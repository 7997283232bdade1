"""docs/merging.md runs: its shell commands in order, then its Python examples.

The commands start a dask scheduler and workers in the background (on a free
port here); they are stopped with the shell's process group. The page's own
checks are oracles: pixels of the parallel runs compared with the serial run's,
sums against astropy reads of the events.
"""

from __future__ import annotations

import contextlib
import doctest
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "merging.md"
PROMPT = re.compile(r"^\s*\$ (.+)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_commands_and_examples_of_the_merging_page_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = PROMPT.findall(PAGE.read_text())
    assert len(lines) >= 10
    port = str(free_port())
    script = "set -e\n" + "\n".join(line.replace("8786", port) for line in lines)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the background scheduler, workers
    assert proc.returncode == 0, f"{script}\n{out}\n{err}"
    assert "Traceback" not in err
    for folder in ("merged", "par", "cluster"):
        data = {f.name: fits.getdata(f) for f in (tmp_path / folder).iterdir()}
        assert len(data) == 13
        if folder != "merged":
            for name, pixels in data.items():
                assert (
                    pixels.tobytes()
                    == fits.getdata(tmp_path / "merged" / name).tobytes()
                )
    report = json.loads((tmp_path / "par.json").read_text())
    assert report["merged"][-1] == "par/broad_flux.img"
    assert report["executor"].startswith("dask tcp://")
    assert {f.name for f in (tmp_path / "deep").iterdir()} >= {
        f"m_{b}{t}"
        for b in ("soft", "medium", "hard")
        for t in ("_thresh.img", "_flux.img")
    }

    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(
        str(PAGE),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted >= 15
    assert result.failed == 0
