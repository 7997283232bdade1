"""Stacks: ``@in.lis`` and ``igrid`` run dmcopy and every tool once per member."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
from xdm.stacks import expand_grids, members, outputs

ROOT = Path(__file__).resolve().parents[1]
CHANDRA = ROOT / "tests" / "data" / "events" / "chandra_test.fits"


def xdm_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xdm", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


@pytest.fixture
def stack_dir(tmp_path: Path, synthetic_events: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(synthetic_events, data / "a.fits")
    shutil.copy(CHANDRA, data / "b.fits")
    (data / "in.lis").write_text("# two observations\na.fits\n\nb.fits\n")
    return tmp_path


def _energy_rows(path: Path, lo: float, hi: float) -> np.ndarray:
    d = fits.getdata(path, "EVENTS")
    return np.asarray(d["time"][(d["energy"] >= lo) & (d["energy"] < hi)])


def test_dmcopy_stack_with_filter_and_root(stack_dir: Path) -> None:
    run = xdm_cli("dmcopy", "@data/in.lis[energy=500:7000]", "out.fits", cwd=stack_dir)
    assert run.returncode == 0, run.stderr
    for i, name in ((1, "a.fits"), (2, "b.fits")):
        got = fits.getdata(stack_dir / f"out_{i}.fits", "EVENTS")["time"]
        np.testing.assert_array_equal(
            got, _energy_rows(stack_dir / "data" / name, 500, 7000)
        )


def test_output_stack_pairs_line_by_line(stack_dir: Path) -> None:
    (stack_dir / "out.lis").write_text("x.fits\ny.fits\n")
    run = xdm_cli("dmcopy", "infile=@-data/in.lis", "outfile=@-out.lis", cwd=stack_dir)
    # @- keeps entries relative to the current directory: data/in.lis says a.fits
    assert run.returncode == 2 and "a.fits" in run.stderr
    lines = "data/a.fits\ndata/b.fits\n"
    (stack_dir / "rel.lis").write_text(lines)
    run = xdm_cli("dmcopy", "@-rel.lis", "@-out.lis", cwd=stack_dir)
    assert run.returncode == 0, run.stderr
    assert len(fits.getdata(stack_dir / "y.fits", "EVENTS")) == 4612
    (stack_dir / "one.lis").write_text("z.fits\n")
    bad = xdm_cli("dmcopy", "@-rel.lis", "@-one.lis", cwd=stack_dir)
    assert bad.returncode == 2 and "1 names for 2 inputs" in bad.stderr


def test_igrid_runs_once_per_value(stack_dir: Path, synthetic_events: Path) -> None:
    run = xdm_cli(
        "dmcopy", f"{synthetic_events}[ccd_id=igrid(0:3:1)]", "c#.fits", cwd=stack_dir
    )
    assert run.returncode == 0, run.stderr
    ccd = fits.getdata(synthetic_events, "EVENTS")["ccd_id"]
    for k in range(4):
        got = fits.getdata(stack_dir / f"c{k + 1}.fits", "EVENTS")["ccd_id"]
        assert len(got) == int((ccd == k).sum()) and set(got.tolist()) <= {k}


def test_every_tool_takes_stacks(stack_dir: Path) -> None:
    run = xdm_cli("dmlist", "@data/in.lis[energy=500:7000]", "counts", cwd=stack_dir)
    assert run.returncode == 0, run.stderr
    want = [
        len(_energy_rows(stack_dir / "data" / n, 500, 7000))
        for n in ("a.fits", "b.fits")
    ]
    assert [int(w) for w in run.stdout.split()] == want
    js = xdm_cli("dmkeypar", "@data/in.lis", "TSTART", "--json", cwd=stack_dir)
    values = [r["value"] for r in json.loads(js.stdout)]
    assert values == [
        fits.getheader(stack_dir / "data" / n, "EVENTS")["TSTART"]
        for n in ("a.fits", "b.fits")
    ]


def test_grid_expansion_texts() -> None:
    assert expand_grids("e.fits[component=igrid(1:3:1)]") == [
        "e.fits[component=1]",
        "e.fits[component=2]",
        "e.fits[component=3]",
    ]
    assert expand_grids("e.fits[r=igrid(0.5:1.5:0.5)]") == [
        "e.fits[r=0.5]",
        "e.fits[r=1]",
        "e.fits[r=1.5]",
    ]
    assert members("e.fits[energy=1:2]") is None
    with pytest.raises(xdm.XdmSemanticError):
        expand_grids("e.fits[c=igrid(3:1:1)]")


def test_output_names() -> None:
    ins = ["d/a.fits[x=1]", "d/b.fits"]
    assert outputs("o.fits", ins) == ["o_1.fits", "o_2.fits"]
    assert outputs("o#.img", ins) == ["o1.img", "o2.img"]
    assert outputs("res/", ins) == ["res/a.fits", "res/b.fits"]
    assert outputs("root", ins) == ["root_1", "root_2"]


def test_missing_stack_is_a_user_error(tmp_path: Path) -> None:
    run = xdm_cli("dmcopy", "@nosuch.lis", "o.fits", cwd=tmp_path)
    assert run.returncode == 2 and "stack file not found" in run.stderr
