"""``docs/tools/TOOL.md`` from each tool's parameter table, and their index.

``python -m xdm.tools.docs`` rewrites the pages; the tests check that the
checked-in pages equal what the tables give, so the docs cannot drift.
"""

from __future__ import annotations

from pathlib import Path

from xdm.tools import TOOLS, available, load

__all__ = ["index", "pages", "write"]


def pages() -> dict[str, str]:
    """File name -> text for every installed tool, plus ``README.md``."""
    out = {f"{name}.md": load(name).TOOL.markdown() for name in available()}
    out["README.md"] = index()
    return out


def index() -> str:
    """The index page: one line per installed tool."""
    lines = [
        "# CIAO tools in xdm",
        "",
        "Each tool takes CIAO's parameter names and defaults: `xdm TOOL key=value ...`",
        "(positional values fill the first parameters in order), `xdm TOOL --help`,",
        "`xdm plist TOOL`, and from Python `xdm.tools.TOOL(key=value, ...)`.",
        "These pages are generated from the tools' parameter tables",
        "(`python -m xdm.tools.docs`).",
        "",
        "| tool | what it does |",
        "|---|---|",
    ]
    lines += [f"| [`{n}`]({n}.md) | {TOOLS[n]} |" for n in available()]
    return "\n".join([*lines, ""])


def write(folder: Path) -> list[Path]:
    """Write the pages into ``folder``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in pages().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(__file__).resolve().parents[2] / "docs" / "tools"):
        print(path)
