"""Every shell command shown in the docs runs, in order, on the demo data.

Each page's ``$ ...`` lines (console blocks, and indented ones) become one bash
script run with ``set -e`` in a folder holding the demo event file under the
names the pages use; a page whose commands need their own checks has a test of
its own, and the last test makes sure no page with commands is left untested.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import docpages
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "events"
PAGES = ("README.md", "docs/cli.md", "docs/engine.md", "docs/syntax.md")
SKIP = ("pip install",)
PRODUCTS = {  # what a page's commands say they write
    "docs/cli.md": (
        "src.pi",
        "bg_lc.fits",
        "clean.gti",
        "evt2_clean.fits",
        "rates.par",
        "out/a_broad_flux.img",
        "band_1.fits",
        "band_2.fits",
    ),
}  # installing is the README's own first line, run by CI


def commands(page: Path) -> list[str]:
    """The shell lines a page shows after a ``$`` prompt."""
    return [
        line for line in docpages.commands(page) if not any(s in line for s in SKIP)
    ]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from xdm.demo import make_events

    folder = tmp_path_factory.mktemp("docs")
    make_events(folder / "evt2.fits", n_rows=20_000, seed=3)
    return folder


def _prepare(sandbox: Path, here: Path, page: str) -> None:
    """The files the pages name: the demo file under several names, the examples.

    The README makes its own ``xdm-demo`` folder: its first line is the main job.
    """
    for name in ("evt2.fits", "big_evt2.fits", "other_evt2.fits"):
        (here / name).symlink_to(sandbox / "evt2.fits")
    (here / "chandra_test.fits").symlink_to(DATA / "chandra_test.fits")
    if page != "README.md":
        (here / "xdm-demo").mkdir()
        (here / "xdm-demo" / "evt2.fits").symlink_to(sandbox / "evt2.fits")
    shutil.copy(ROOT / "examples" / "imaging.xdm", here / "imaging.xdm")
    (here / "examples").symlink_to(ROOT / "examples")
    (here / "obs.lis").write_text("evt2.fits\nother_evt2.fits\n")


@pytest.mark.parametrize("page", PAGES)
def test_the_commands_of_a_page_run(page: str, sandbox: Path, tmp_path: Path) -> None:
    lines = commands(ROOT / page)
    assert lines, f"{page} shows no commands"
    _prepare(sandbox, tmp_path, page)
    script = "\n".join(lines) + "\n"
    done = docpages.shell(script, tmp_path)
    assert done.returncode == 0, f"{page}:\n{script}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    for name in PRODUCTS.get(page, ()):
        assert (tmp_path / name).stat().st_size > 0, f"{page} made no {name}"


def test_every_page_with_commands_is_run_by_a_test() -> None:
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    pages = [*ROOT.glob("docs/**/*.md"), ROOT / "README.md"]
    for page in pages:
        rel = page.relative_to(ROOT).as_posix()
        if commands(page):
            assert rel in tests or page.name in tests, f"no test runs {rel}"
