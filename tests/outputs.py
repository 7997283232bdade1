"""What a written product holds, for the reliability tests that kill or interrupt runs.

``events_digest(path)`` is (rows, SHA-256 of the EVENTS data bytes): equal for two
complete outputs of the same query (their headers differ by the time of writing);
``temporaries(folder)`` lists the ``*.xdm-tmp`` files a run left behind;
``interrupt_while_writing(run, folder, delay)`` sends SIGINT once the run's
temporary output exists.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path


def events_digest(path: Path) -> tuple[int, str]:
    """(rows, SHA-256 of the EVENTS data bytes) of a complete, valid output."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        hdul.verify("exception")
        info = hdul.fileinfo(hdul.index_of("EVENTS"))
        nrows = int(hdul["EVENTS"].header["NAXIS2"])
        width = int(hdul["EVENTS"].header["NAXIS1"])
    with open(path, "rb") as fh:
        fh.seek(int(info["datLoc"]))
        data = fh.read(nrows * width)
    assert len(data) == nrows * width
    return nrows, hashlib.sha256(data).hexdigest()


def temporaries(folder: Path) -> list[str]:
    """The temporary outputs (``*.xdm-tmp``) in ``folder``."""
    return sorted(n for n in os.listdir(folder) if n.endswith(".xdm-tmp"))


def interrupt_while_writing(
    run: subprocess.Popen[str], folder: Path, delay: float, *, wait: float = 60
) -> str:
    """SIGINT to ``run`` ``delay`` seconds after its temporary output appears in
    ``folder`` (or it ended, or ``wait`` passed); its stderr once it is over."""
    deadline = time.monotonic() + wait
    while (
        not temporaries(folder) and run.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.001)
    time.sleep(delay)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=2 * wait)
    return err
