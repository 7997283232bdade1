"""``mask(vf)`` of a virtual file, made by the engine through the planner's
image reader (the regions cannot import the engine): the events path, the image
block path and the facade, each against a plain-numpy histogram of the events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
from xdm.regions.api import region as region_without_engine

EVT = Path(__file__).parent / "data" / "events" / "chandra_test.fits"
LO_X, HI_X, LO_Y, HI_Y, STEP = 3904.5, 4768.5, 3520.5, 4304.5, 16
GRID = f"[bin x={LO_X}:{HI_X}:{STEP},y={LO_Y}:{HI_Y}:{STEP}]"
SOFT = f"{EVT}[energy=300:2000]{GRID}"


def _events() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with fits.open(EVT) as hdul:
        data = hdul[1].data
        return (
            np.asarray(data["x"], float),
            np.asarray(data["y"], float),
            np.asarray(data["energy"], float),
        )


def _cells(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column and row of each point's 16-pixel cell (numpy's own floor)."""
    return np.floor((x - LO_X) / STEP).astype(int), np.floor((y - LO_Y) / STEP).astype(
        int
    )


def _occupied() -> np.ndarray:
    """The soft-band image's non-zero cells, counted with np.add.at."""
    x, y, e = _events()
    nx, ny = round((HI_X - LO_X) / STEP), round((HI_Y - LO_Y) / STEP)
    soft = (e >= 300) & (e <= 2000) & (x >= LO_X) & (x < HI_X)
    soft &= (y >= LO_Y) & (y < HI_Y)
    counts = np.zeros((ny, nx), dtype=int)
    i, j = _cells(x[soft], y[soft])
    np.add.at(counts, (j, i), 1)
    return counts > 0


def test_events_filtered_by_a_virtual_mask() -> None:
    """Hard events kept by mask(soft image) = those in an occupied numpy cell."""
    x, y, e = _events()
    occupied = _occupied()
    ny, nx = occupied.shape
    hard = (e >= 2000) & (e <= 8000)
    i, j = _cells(x, y)
    inside = (i >= 0) & (i < nx) & (j >= 0) & (j < ny)
    want = hard & inside
    want[want] = occupied[j[want], i[want]]
    # points on a cell edge could go either way: leave them out of the count
    edge = np.isclose((x - LO_X) / STEP % 1, 0) | np.isclose((y - LO_Y) / STEP % 1, 0)
    got = xdm.read(f"{EVT}[energy=2000:8000][sky=mask({SOFT})]")
    assert 100 < len(got) < hard.sum()
    tx, ty = np.asarray(got["x"], float), np.asarray(got["y"], float)
    assert abs(len(got) - want.sum()) <= edge.sum()
    kept = set(zip(tx.tolist(), ty.tolist()))
    expected = set(zip(x[want & ~edge].tolist(), y[want & ~edge].tolist()))
    assert expected <= kept
    unsure = set(zip(x[want | edge].tolist(), y[want | edge].tolist()))
    assert kept <= unsure


def test_image_block_filtered_by_a_virtual_mask(tmp_path: Path) -> None:
    """An image block through mask(soft image): pixels kept where numpy's soft
    histogram is non-zero, the null value elsewhere."""
    img = tmp_path / "img.fits"
    xdm.copy(f"{EVT}{GRID}", img)
    with fits.open(img) as hdul:
        full = np.asarray(hdul[0].data)
    got = xdm.read(f"{img}[sky=mask({SOFT})][opt full,null=-1]")
    occupied = _occupied()
    assert occupied.any() and not occupied.all()
    assert got.data.shape == full.shape == occupied.shape
    np.testing.assert_array_equal(got.data, np.where(occupied, full, -1))


def test_facade_region_makes_the_mask_and_the_bare_builder_refuses() -> None:
    x, y, _ = _events()
    r = xdm.region(f"mask({SOFT})")
    occupied = _occupied()
    # the mask covers exactly the occupied cells, 16 x 16 pixels each
    assert r.area() == occupied.sum() * STEP * STEP
    ny, nx = occupied.shape
    i, j = _cells(x, y)
    edge = np.isclose((x - LO_X) / STEP % 1, 0) | np.isclose((y - LO_Y) / STEP % 1, 0)
    sure = (i >= 0) & (i < nx) & (j >= 0) & (j < ny) & ~edge
    assert sure.sum() > 1000
    np.testing.assert_array_equal(r.contains(x, y)[sure], occupied[j[sure], i[sure]])
    with pytest.raises(xdm.XdmRegionError, match="virtual mask needs the engine"):
        region_without_engine(f"mask({SOFT})")
