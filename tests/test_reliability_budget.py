"""Resource bombs: a product that would need more memory than the budget
(``XDM_MAX_MEMORY``, default 2 GB) is refused before anything is allocated,
with the size it would need.

Oracles: the size is recomputed here from the bin specification (bins per
axis times the 4-byte int32 accumulator); "before allocating" is proven by
running the command under an address-space limit far below the size asked
for (an allocation would die with MemoryError, exit status 1, not the clean
refusal, exit status 2).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import xdm
from xdm import budget


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500MB", 500 * 2**20),
        ("500 mb", 500 * 2**20),
        ("2GB", 2 * 2**30),
        ("1.5G", 3 * 2**29),
        ("64k", 64 * 1024),
        ("3000000000", 3_000_000_000),
        ("1TiB", 2**40),
    ],
)
def test_sizes(text: str, expected: int) -> None:
    assert budget.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "5 parsecs", "-1GB", "0", "1e9", "0.1"])
def test_bad_sizes_are_user_errors(text: str) -> None:
    with pytest.raises(xdm.XdmSemanticError, match="XDM_MAX_MEMORY"):
        budget.parse_size(text)


def test_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDM_MAX_MEMORY", raising=False)
    assert budget.limit() == 2 * 2**30
    budget.check(2 * 2**30, "exactly the budget")
    with pytest.raises(xdm.XdmSemanticError, match=r"2\.0 GB budget"):
        budget.check(2 * 2**30 + 1, "one byte more")
    monkeypatch.setenv("XDM_MAX_MEMORY", "500MB")
    assert budget.limit() == 500 * 2**20
    with pytest.raises(xdm.XdmSemanticError) as info:
        budget.check(3 * 2**30, "a cube")
    assert info.value.message == (
        "a cube would need 3.0 GB of memory, above the 500.0 MB budget"
    )
    assert "XDM_MAX_MEMORY" in (info.value.hint or "")


def test_image_over_budget_is_refused_with_its_size(
    synthetic_events: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16384 x 16384 int32 bins = 1 GB: over a 500 MB budget even with the
    virtual-image limit raised by [opt mem]."""
    monkeypatch.setenv("XDM_MAX_MEMORY", "500MB")
    text = f"{synthetic_events}[bin x=0.5:16384.5:1,y=0.5:16384.5:1][opt mem=100000]"
    with pytest.raises(xdm.XdmSemanticError) as info:
        xdm.plan(text)
    need = 16384 * 16384 * 4
    assert info.value.message == (
        f"image of 16384 x 16384 bins would need {need / 2**30:.1f} GB of memory, "
        "above the 500.0 MB budget"
    )
    assert info.value.span is not None  # the caret is under the [bin ...]
    assert text[info.value.span.start :].startswith("[bin ")


def test_cube_over_budget(
    synthetic_events: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDM_MAX_MEMORY", "100MB")
    text = f"{synthetic_events}[bin x=3000.5:4000.5:1,y=3000.5:4000.5:1,pi=1:100:1]"
    with pytest.raises(xdm.XdmSemanticError) as info:
        xdm.plan(text)
    need = 1000 * 1000 * 100 * 4
    assert "1000 x 1000 x 100 bins" in info.value.message
    assert f"{need / 2**20:.1f} MB" in info.value.message


def test_image_under_budget_is_made(
    synthetic_events: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 16 MB budget allows a 1024 x 1024 image (4 MB): the counts equal a
    numpy histogram of the same rows."""
    import numpy as np
    from astropy.io import fits

    monkeypatch.setenv("XDM_MAX_MEMORY", "16MB")
    image = xdm.read(f"{synthetic_events}[bin x=0.5:8192.5:8,y=0.5:8192.5:8]")
    with fits.open(synthetic_events) as hdul:
        ev = hdul["EVENTS"].data
        expected, _, _ = np.histogram2d(
            ev["y"], ev["x"], bins=1024, range=[[0.5, 8192.5], [0.5, 8192.5]]
        )
    assert image.data.shape == (1024, 1024)
    assert np.array_equal(image.data, expected)


def _limited(
    cmd: list[str], env: dict[str, str], limit: int
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with its address space capped at ``limit`` bytes."""

    def cap() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, preexec_fn=cap, timeout=120
    )


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS semantics")
def test_refused_before_allocating(synthetic_events: Path, tmp_path: Path) -> None:
    """[bin sky=0.01] over the whole sky asks for 819200^2 bins (2.4 PB): with
    the address space capped at 1.5 GB the command still ends with the clean
    refusal, so nothing of that size was ever allocated."""
    env = dict(
        os.environ,
        XDM_MAX_MEMORY="1GB",
        OMP_NUM_THREADS="1",
        NUMEXPR_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
    )
    out = tmp_path / "img.fits"
    run = _limited(
        [
            sys.executable,
            "-m",
            "xdm",
            "dmcopy",
            f"{synthetic_events}[bin sky=0.01][opt mem=100000000000]",
            str(out),
        ],
        env,
        3 * 2**29,
    )
    assert run.returncode == 2, run.stderr
    first = run.stderr.splitlines()[0]
    assert first.startswith("error: image of 819200 x 819200 bins would need")
    assert "above the 1.0 GB budget" in first
    assert not out.exists()


def test_bad_budget_variable_is_a_clean_error(
    synthetic_events: Path, tmp_path: Path
) -> None:
    env = dict(os.environ, XDM_MAX_MEMORY="plenty")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "xdm",
            "dmcopy",
            f"{synthetic_events}[bin sky=8]",
            str(tmp_path / "img.fits"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("error: XDM_MAX_MEMORY='plenty' is not a size")
    assert os.listdir(tmp_path) == []


def test_the_example_of_docs_reliability_md(
    synthetic_events: Path, tmp_path: Path
) -> None:
    """docs/reliability.md's console example prints what the page shows."""
    import re

    page = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text()
    block = re.search(r"```console\n\$ (.+?)\n(.*?)```", page, re.DOTALL)
    assert block is not None
    command, shown = block.group(1), block.group(2)
    (tmp_path / "evt2.fits").symlink_to(synthetic_events)
    bindir = Path(sys.executable).parent
    run = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}"),
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr == shown
    assert os.listdir(tmp_path) == ["evt2.fits"]
