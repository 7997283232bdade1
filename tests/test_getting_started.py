"""docs/getting-started.md, run as a user would: every shell step from a fresh
directory outside the repository, then every writing step again (clobber=yes)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from astropy.io import fits

from xdm.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "getting-started.md"
WRITES = ("demo", "dmcopy", "run")


def _blocks(text: str, kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", text, flags=re.DOTALL)


def _run_page(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *,
    only_writes: bool = False,
) -> list[str]:
    page = PAGE.read_text()
    script = next(b for b in _blocks(page, "text") if b.startswith("# imaging.xdm"))
    monkeypatch.chdir(home)
    outputs = []
    for block in _blocks(page, "console"):
        for line in block.splitlines():
            if not line.startswith("$ "):
                continue
            words = shlex.split(line[2:].split("  #")[0])
            if words[0] == "cd":
                monkeypatch.chdir(Path.cwd() / words[1])
                continue
            if words[:3] == ["python", "-m", "pip"] or words == ["xdm"]:
                continue  # installing; the prompt (tests/test_api_docs.py types it)
            assert words[0] == "xdm", line
            if only_writes and words[1] not in WRITES:
                continue
            if words[:2] == ["xdm", "run"]:
                Path(words[2]).write_text(script)  # "save these lines as ..."
            status = main(words[1:])
            out, err = capsys.readouterr()
            assert status == 0, (line, err)
            outputs.append(out)
    exec(compile(_blocks(page, "python")[-1], str(PAGE), "exec"), {})
    return outputs


def test_every_step_works_twice_from_a_fresh_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = _run_page(tmp_path, monkeypatch, capsys)
    again = _run_page(tmp_path, monkeypatch, capsys, only_writes=True)
    assert len(first) >= 12 and len(again) >= 8
    demo = tmp_path / "xdm-demo"
    d = fits.getdata(demo / "evt2.fits", "EVENTS")
    band = (d["energy"] >= 300) & (d["energy"] < 2000)
    # the written images hold the events the page's filters select (numpy count)
    assert fits.getdata(demo / "optimal_b8.fits").sum() == int(band.sum())
    wide = (d["energy"] >= 500) & (d["energy"] < 7000)
    assert fits.getdata(demo / "band_b8.fits").sum() == int(wide.sum())
    assert fits.getdata(demo / "img.fits").sum() == int(band.sum())
    summary = f"{int(band.sum()):,} of {len(d):,} rows"  # xdm "evt2.fits[...]"
    assert any(summary in out for out in first)
    assert first[0].startswith("xdm ")  # xdm --version
