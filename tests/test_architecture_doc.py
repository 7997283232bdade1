"""docs/architecture.md: its walk of one query shows what xdm really prints.

The page's ``$ xdm explain ...`` line is run on the file ``xdm demo`` writes and
its output must be the block the page shows, line for line; every module the
page names in backticks as ``stage/module.py`` exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import docpages

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"


def _shown_output(text: str, command: str) -> list[str]:
    """The lines after ``$ command`` up to the end of its code block, dedented."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"$ {command}")
    indent = len(lines[start]) - len(lines[start].lstrip())
    out = []
    for line in lines[start + 1 :]:
        if line.strip().startswith("```"):
            break
        out.append(line[indent:])
    return out


def test_the_walked_query_prints_what_the_page_shows(tmp_path: Path) -> None:
    text = PAGE.read_text()
    [command] = docpages.commands(PAGE)
    done = docpages.shell(f"xdm demo . > /dev/null\n{command}\n", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == _shown_output(text, command)


def test_the_modules_the_page_names_exist() -> None:
    named = set(re.findall(r"`((?:[a-z]+/)+[a-z_]+\.py)`", PAGE.read_text()))
    assert named, "the page names no module"
    missing = [
        rel
        for rel in sorted(named)
        if not (ROOT / "xdm" / rel).exists() and not (ROOT / rel).exists()
    ]
    assert missing == []
