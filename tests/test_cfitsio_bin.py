"""Binned images agree with CFITSIO's binning (through fitsio) of the same files.

CFITSIO is an independent peer: ``fitsio.read("f.fits[EVENTS][energy>=300 &&
energy<2000][bin x=lo:hi:step,y=lo:hi:step]")`` filters and bins with its own C
code (histo.c). Its image axis 1 is the first bin column, like xdm's, and fitsio
returns numpy order ``(NAXIS2, NAXIS1)``, also like xdm, so arrays compare as they
are. CFITSIO's grid for explicit ranges (``fits_calc_binningde``, ``ffcalchist``):

* real column (x, y, energy are ``1E``) or a non-integer bound/step: the first
  bin starts at ``lo``, ``nbins = ceil((hi - lo)/step)``, a value counts when
  ``0 <= (v - lo)/step <= (hi - lo)/step`` and below ``nbins``. When ``hi`` is on
  the grid (``hi = lo + n*step``) that is ``lo <= v < hi`` with bins
  ``[lo + i*step, lo + (i+1)*step)``: exactly dm-syntax 7.2, so the images are
  equal. When ``hi`` is off the grid CFITSIO keeps ``v <= hi`` in a truncated
  last bin while the DM's last bin runs to ``lo + nbins*step``
  (``test_off_grid_upper_bound``);
* integer column with integer ``lo``, ``hi``, ``step``: edges from ``lo - 0.5``,
  ``nbins = (hi - lo)//step + 1`` = ``ceil((hi - lo + 1)/step)``, the same grid as
  dm-syntax 7.2's integer rule, and a value counts when ``lo <= v <= hi``. When
  ``hi - lo + 1`` is a multiple of ``step`` the images are equal; otherwise
  CFITSIO 4.6 truncates the last bin at ``hi`` (measured: ``chipy=1:1001:8``
  counts only 1001 in its last bin) where the DM's runs to ``lo - 0.5 +
  nbins*step`` (``test_off_grid_upper_bound``). A non-integer step (0.5) switches
  CFITSIO to the real rule (edges from ``lo``), so the DM grid ``lo - 0.5 .. hi +
  0.5`` is shifted by half a pixel; written with real bounds
  (``chipx=1.0:1024.0:0.5``) xdm bins from ``lo`` too, and then they agree;
* no range (``[bin (x,y)=8]``): CFITSIO takes TLMIN/TLMAX and, because the
  maximum was not given, adds one bin: 1025 x 1025 for Chandra sky where the DM
  makes 1024 x 1024. The extra row and column hold only events at exactly
  ``TLMAX`` (none), so the first 1024 x 1024 agree (``test_default_range``).

Values are float32 columns and every step here is a power of two, so
``(v - lo)/step`` is exact in both engines (no rounding can move an event).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xdm.api import read

fitsio = pytest.importorskip("fitsio")

CHANDRA = Path(__file__).parent / "data" / "events" / "chandra_test.fits"
STEPS = (8, 4, 1, 0.5)
# ranges on the half-pixel sky grid; hi - lo divisible by 8 puts hi on every grid
CHANDRA_RANGES = (
    (3900.5, 4772.5),
    (3520.5, 4312.5),
)  # events: x 3914-4755, y 3528-4303
SYNTHETIC_RANGES = ((3700.5, 4500.5), (3600.5, 4400.5))


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _cfitsio(path: Path, rowfilter: str, spec: str) -> np.ndarray:
    text = f"{path}[EVENTS]" + (f"[{rowfilter}]" if rowfilter else "") + f"[bin {spec}]"
    return np.asarray(fitsio.read(text))


def _spec(ranges: tuple[tuple[float, float], ...], step: float) -> str:
    (x0, x1), (y0, y1) = ranges
    return f"x={_num(x0)}:{_num(x1)}:{_num(step)},y={_num(y0)}:{_num(y1)}:{_num(step)}"


def _compare(path: Path, ranges: tuple[tuple[float, float], ...], step: float) -> None:
    spec = _spec(ranges, step)
    mine = read(f"{path}[energy=300:2000][bin {spec}]").data
    theirs = _cfitsio(path, "energy>=300 && energy<2000", spec)
    (x0, x1), (y0, y1) = ranges
    assert mine.shape == theirs.shape == (int((y1 - y0) / step), int((x1 - x0) / step))
    assert theirs.sum() > 0
    assert np.array_equal(mine.astype(np.int64), theirs.astype(np.int64))


@pytest.mark.parametrize("step", STEPS)
def test_chandra_energy_band_image_agrees(step: float) -> None:
    _compare(CHANDRA, CHANDRA_RANGES, step)


@pytest.mark.parametrize("step", STEPS)
def test_synthetic_energy_band_image_agrees(
    synthetic_events: Path, step: float
) -> None:
    _compare(synthetic_events, SYNTHETIC_RANGES, step)


@pytest.mark.parametrize("step", (8, 4, 1))
def test_integer_columns_agree_on_integer_grids(
    synthetic_events: Path, step: int
) -> None:
    spec = f"chipx=1:1024:{step},chipy=9:1008:{step}"  # 1024 and 1000 values
    mine = read(f"{synthetic_events}[ccd_id=3][bin {spec}]").data
    theirs = _cfitsio(synthetic_events, "ccd_id==3", spec)
    assert mine.shape == theirs.shape == (1000 // step, 1024 // step)
    assert theirs.sum() > 0 and np.array_equal(mine.astype(np.int64), theirs)


def test_integer_column_half_step_needs_real_bounds(synthetic_events: Path) -> None:
    """Step 0.5 on the integer chipx: CFITSIO bins from ``lo`` (real rule), the DM
    from ``lo - 0.5`` (integer bounds); with real bounds ``1.0:1024.0`` xdm uses the
    real rule too and the images agree."""
    theirs = _cfitsio(
        synthetic_events, "ccd_id==3", "chipx=1:1024:0.5,chipy=1:1024:0.5"
    )
    integer = read(
        f"{synthetic_events}[ccd_id=3][bin chipx=1:1024:0.5,chipy=1:1024:0.5]"
    )
    assert integer.data.shape == (2048, 2048) and theirs.shape == (2046, 2046)
    real = read(
        f"{synthetic_events}[ccd_id=3][bin chipx=1.0:1024.0:0.5,chipy=1.0:1024.0:0.5]"
    )
    assert real.data.shape == theirs.shape
    assert theirs.sum() > 0 and np.array_equal(real.data.astype(np.int64), theirs)
    # the DM grid is CFITSIO's shifted by one half-pixel bin (integer values sit
    # at bin centres): every count moves from bin 2k to bin 2k+1
    assert np.array_equal(integer.data[1:-1, 1:-1], theirs)


def test_off_grid_upper_bound(synthetic_events: Path) -> None:
    """``hi`` off the grid: CFITSIO truncates the last bin at ``hi`` (inclusive),
    the DM's last bin is whole (dm-syntax 7.2). Same shape; CFITSIO's image is the
    DM's image of the events with ``x <= hi``, ``y <= hi`` (real and integer
    columns alike)."""
    spec = "x=3900.5:4770:8,y=3520.5:4310:8"
    theirs = _cfitsio(CHANDRA, "", spec)
    whole = read(f"{CHANDRA}[bin {spec}]").data
    cut = read(f"{CHANDRA}[x<=4770,y<=4310][bin {spec}]").data
    assert whole.shape == cut.shape == theirs.shape == (99, 109)
    assert np.array_equal(cut.astype(np.int64), theirs)
    assert whole.sum() >= theirs.sum()
    spec = "chipx=1:1000:8,chipy=1:1001:8"
    theirs = _cfitsio(synthetic_events, "ccd_id==3", spec)
    whole = read(f"{synthetic_events}[ccd_id=3][bin {spec}]").data
    cut = read(f"{synthetic_events}[ccd_id=3,chipy<=1001][bin {spec}]").data
    assert whole.shape == cut.shape == theirs.shape == (126, 125)
    assert np.array_equal(cut.astype(np.int64), theirs)
    assert whole[-1].sum() > theirs[-1].sum() > 0


def test_default_range(synthetic_events: Path) -> None:
    """``[bin (x,y)=64]`` with TLMIN/TLMAX 0.5/8192.5: CFITSIO 129 x 129, the DM
    128 x 128 on the same grid; the extra bins are empty."""
    theirs = _cfitsio(synthetic_events, "", "(x,y)=64")
    mine = read(f"{synthetic_events}[bin sky=64][opt full]").data
    assert theirs.shape == (129, 129) and mine.shape == (128, 128)
    assert theirs[128, :].sum() == theirs[:, 128].sum() == 0
    assert np.array_equal(mine.astype(np.int64), theirs[:128, :128])
