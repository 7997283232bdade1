"""Running the shell commands a docs page shows: one helper for every page test.

``commands(page)`` is the page's ``$ ...`` lines (console blocks and indented
ones); ``shell(script, cwd)`` runs a bash script with ``set -e``, this Python's
``xdm`` first on PATH, no standard input.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PROMPT = re.compile(r"^\s*\$ (.+)$", re.MULTILINE)


def commands(page: Path) -> list[str]:
    """The shell lines ``page`` shows after a ``$`` prompt, in order."""
    return PROMPT.findall(page.read_text())


def shell(
    script: str, cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` under ``bash -c 'set -e ...'`` in ``cwd``."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-c", "set -e\n" + script],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
