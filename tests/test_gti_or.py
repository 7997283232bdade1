"""Time filters inside ``||``: rows and GTIs (switch ``time_in_or_narrows_gti``).

Oracles: events and GTI rows read with astropy; the kept rows recomputed with numpy
masks and the expected GTIs by clipping every input GTI row to every window in a
plain Python loop; exposure keys as sums of those rows times DTCOR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm import switches
from xdm.api import copy, select


def _clip(rows: np.ndarray, windows: list[tuple[float, float]]) -> list[list[float]]:
    """Every GTI row cut to every window (windows disjoint), in time order."""
    out = []
    for start, stop in rows:
        for a, b in windows:
            lo, hi = max(start, a), min(stop, b)
            if hi > lo:
                out.append([lo, hi])
    return sorted(out)


def _gti_rows(hdu: fits.BinTableHDU) -> np.ndarray:
    return np.column_stack((hdu.data["START"], hdu.data["STOP"])).astype(float)


@pytest.fixture(scope="module")
def windows(synthetic_events: Path) -> list[tuple[float, float]]:
    t0 = float(fits.getheader(synthetic_events, 1)["TSTART"])
    return [(t0 + 1000.25, t0 + 5000.5), (t0 + 30000.0, t0 + 31000.0)]


def _time_mask(time: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
    keep = np.zeros(len(time), dtype=bool)
    for a, b in windows:
        keep |= (time >= a) & (time < b)
    return keep


def test_or_of_time_ranges_narrows_gtis_to_the_union(
    tmp_path: Path, synthetic_events: Path, windows: list[tuple[float, float]]
) -> None:
    (a, b), (c, d) = windows
    vf = f"{synthetic_events}[(time={a!r}:{b!r})||(time={c!r}:{d!r})]"
    out = tmp_path / "or.fits"
    copy(vf, out)
    with fits.open(synthetic_events) as src, fits.open(out) as dst:
        events = src[1].data
        keep = _time_mask(events["time"], windows)
        assert 0 < keep.sum() < len(events)
        assert len(dst[1].data) == keep.sum()
        assert np.array_equal(dst[1].data["time"], events["time"][keep])
        header, before = dst[1].header, src[1].header
        dtcor = float(header["DTCOR"])
        ontimes = {}
        for old, new in zip(src[2:], dst[2:]):
            want = _clip(_gti_rows(old), windows)
            assert _gti_rows(new).tolist() == want
            chip = old.header["CCD_ID"]
            ontimes[chip] = sum(hi - lo for lo, hi in want)
            assert header[f"ONTIME{chip}"] == pytest.approx(ontimes[chip])
            assert header[f"LIVTIME{chip}"] == pytest.approx(ontimes[chip] * dtcor)
        # the aim chip: the one whose ONTIMEn was the input's ONTIME
        aim = next(n for n in ontimes if before[f"ONTIME{n}"] == before["ONTIME"])
        assert header["ONTIME"] == pytest.approx(ontimes[aim])
        assert header["EXPOSURE"] == pytest.approx(ontimes[aim] * dtcor)


def test_comparisons_in_or(
    tmp_path: Path, synthetic_events: Path, windows: list[tuple[float, float]]
) -> None:
    t0 = float(fits.getheader(synthetic_events, 1)["TSTART"])
    early, late = t0 + 2000.0, t0 + 45000.0
    out = tmp_path / "cmp.fits"
    copy(f"{synthetic_events}[time<{early!r}||time>={late!r}]", out)
    with fits.open(synthetic_events) as src, fits.open(out) as dst:
        t = src[1].data["time"]
        assert len(dst[1].data) == int(((t < early) | (t >= late)).sum())
        for old, new in zip(src[2:], dst[2:]):
            want = _clip(_gti_rows(old), [(-np.inf, early), (late, np.inf)])
            assert _gti_rows(new).tolist() == want


def test_a_branch_without_time_leaves_the_gtis(
    tmp_path: Path, synthetic_events: Path, windows: list[tuple[float, float]]
) -> None:
    (a, b), _ = windows
    vf = f"{synthetic_events}[(time={a!r}:{b!r})||(energy>5000)]"
    out = tmp_path / "mixed.fits"
    copy(vf, out)
    with fits.open(synthetic_events) as src, fits.open(out) as dst:
        d = src[1].data
        keep = ((d["time"] >= a) & (d["time"] < b)) | (d["energy"] > 5000)
        assert len(dst[1].data) == keep.sum() < len(d)
        for old, new in zip(src[2:], dst[2:]):
            assert np.array_equal(_gti_rows(new), _gti_rows(old))
        assert dst[1].header["ONTIME"] == src[1].header["ONTIME"]


def test_and_inside_or_uses_the_union_of_time_supports(
    tmp_path: Path, synthetic_events: Path, windows: list[tuple[float, float]]
) -> None:
    (a, b), (c, d) = windows
    vf = f"{synthetic_events}[(time={a!r}:{b!r}&&ccd_id=3)||(time={c!r}:{d!r})]"
    out = tmp_path / "andor.fits"
    copy(vf, out)
    with fits.open(synthetic_events) as src, fits.open(out) as dst:
        e = src[1].data
        first = (e["time"] >= a) & (e["time"] < b) & (e["ccd_id"] == 3)
        keep = first | ((e["time"] >= c) & (e["time"] < d))
        assert np.array_equal(select(vf), keep)
        for old, new in zip(src[2:], dst[2:]):
            assert _gti_rows(new).tolist() == _clip(_gti_rows(old), windows)


def test_switch_off_selects_rows_and_leaves_gtis(
    tmp_path: Path,
    synthetic_events: Path,
    windows: list[tuple[float, float]],
) -> None:
    (a, b), (c, d) = windows
    out = tmp_path / "off.fits"
    with switches.using(time_in_or_narrows_gti=False):
        copy(f"{synthetic_events}[(time={a!r}:{b!r})||(time={c!r}:{d!r})]", out)
    with fits.open(synthetic_events) as src, fits.open(out) as dst:
        keep = _time_mask(src[1].data["time"], windows)
        assert len(dst[1].data) == keep.sum()
        for old, new in zip(src[2:], dst[2:]):
            assert np.array_equal(_gti_rows(new), _gti_rows(old))


@pytest.mark.parametrize("seed", range(20))
def test_per_chip_filter_algebra_matches_membership(seed: int) -> None:
    """``filter_union``/``filter_intersect`` against point membership per chip:
    a chip's times are its own entry, else the ``None`` entry, else nothing."""
    from xdm.io import intervals

    rng = np.random.default_rng(seed)

    def random_filter() -> dict[int | None, np.ndarray]:
        keys = [k for k in (None, 3, 7) if rng.random() < 0.6] or [7]
        return {
            k: np.sort(rng.integers(0, 40, size=(int(rng.integers(1, 4)), 2)), axis=1)
            .astype(float)
            .reshape(-1, 2)
            for k in keys
        }

    def member(f: dict[int | None, np.ndarray], chip: int, t: np.ndarray) -> np.ndarray:
        rows = f.get(chip, f.get(None, np.empty((0, 2))))
        return np.any((t[:, None] >= rows[:, 0]) & (t[:, None] < rows[:, 1]), axis=1)

    a, b = random_filter(), random_filter()
    t = np.arange(-1, 42, 0.25)
    for chip in (0, 3, 7):
        assert np.array_equal(
            member(intervals.filter_union(a, b), chip, t),
            member(a, chip, t) | member(b, chip, t),
        )
        assert np.array_equal(
            member(intervals.filter_intersect(a, b), chip, t),
            member(a, chip, t) & member(b, chip, t),
        )
