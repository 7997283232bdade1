"""Engine tuning that must not change results: chunk pages released from the
process, header metadata cached, integer bin indices (oracles: the bytes written,
numpy histograms of the same values)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.io.blocks import HeaderCache, open_block, release_pages
from xdm.io.imagewcs import PARAMETER_FREE_PROJECTIONS, is_plain_celestial_pair


def _rss_kb_of_mapping(array: np.ndarray) -> int:
    """Resident KB of the /proc/self/smaps mapping holding ``array``'s data."""
    addr = array.__array_interface__["data"][0]
    rss = None
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            lo, hi = (int(v, 16) for v in head.split("-"))
            inside = lo <= addr < hi
        elif inside and head == "Rss:":
            rss = int(line.split()[1])
    assert rss is not None
    return rss


def _events(tmp_path: Path, nrows: int) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(3)
    data = np.zeros(nrows, dtype=[("time", ">f8"), ("energy", ">f4"), ("pi", ">i2")])
    data["time"] = np.arange(nrows, dtype=float)
    data["energy"] = rng.uniform(0, 10000, nrows)
    data["pi"] = rng.integers(1, 1024, nrows)
    path = tmp_path / "evt.fits"
    hdu = fits.BinTableHDU(data=data, name="EVENTS")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path, data


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/smaps"
)
def test_consumed_chunks_leave_the_resident_set(tmp_path: Path) -> None:
    path, data = _events(tmp_path, 400_000)  # 5.6 MB of rows
    with open_block(str(path)) as block:
        raw = block.raw()
        total = 0.0
        for _, records in block.iter_chunks(50_000):
            total += float(records["energy"].astype(float).sum())
        after = _rss_kb_of_mapping(raw)
        assert after < 200  # without release: ~5,500 KB resident
        # values read after the release are still the file's values
        np.testing.assert_array_equal(raw["pi"], data["pi"])
        assert total == pytest.approx(float(data["energy"].astype(float).sum()))
        assert _rss_kb_of_mapping(raw) > 4000  # faulted in again by the read
        release_pages(raw, 0, len(raw))
        assert _rss_kb_of_mapping(raw) < 200


def test_release_is_a_no_op_for_memory_arrays() -> None:
    rows = np.arange(1000, dtype=">f8")
    release_pages(rows, 0, 1000)
    np.testing.assert_array_equal(rows, np.arange(1000))


def test_metadata_cache_sees_a_header_rewritten_in_place(tmp_path: Path) -> None:
    """Same size, inode and mtime: the header bytes still reveal the change."""
    path, _ = _events(tmp_path, 1000)
    with fits.open(path) as hdul:
        hdul[1].header["TLMIN3"] = 1
        hdul[1].header["TLMAX3"] = 1024
        hdul.writeto(path, overwrite=True)
    cache = HeaderCache()
    with open_block(str(path), cache=cache) as block:
        assert block.column("pi").tlmax == 1024
        assert block.nrows == 1000
    stat = path.stat()
    raw = path.read_bytes()
    at = raw.index(b"TLMAX3  =")
    card = b"TLMAX3  = " + b"2047".rjust(20) + b" " * 50
    with open(path, "r+b") as fh:
        fh.seek(at)
        fh.write(card)
    import os

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    assert path.stat().st_size == stat.st_size
    with open_block(str(path), cache=cache) as block:
        assert block.column("pi").tlmax == 2047


def test_cached_metadata_opens_the_same_block(tmp_path: Path) -> None:
    path, data = _events(tmp_path, 5000)
    cache = HeaderCache()
    first = open_block(str(path), block_name="events", cache=cache)
    second = open_block(str(path), block_name="events", cache=cache)
    try:
        assert second.header is first.header  # served from the cache
        assert second.columns == first.columns
        np.testing.assert_array_equal(second.raw()["time"], data["time"])
        assert second.raw().dtype == first.raw().dtype
    finally:
        first.close()
        second.close()


def test_headers_are_cached_only_inside_a_callers_cache(tmp_path: Path) -> None:
    """No cache is kept between calls unless a caller installs its own (a
    script session runs each statement inside ``HeaderCache.active()``)."""
    path, _ = _events(tmp_path, 100)
    with open_block(str(path)) as a, open_block(str(path)) as b:
        assert a.header is not b.header  # read every time
    cache = HeaderCache()
    with cache.active(), open_block(str(path)) as a, open_block(str(path)) as b:
        assert a.header is b.header  # served from the session's cache
    with open_block(str(path)) as c:
        assert c.header is not a.header


def test_a_run_maps_the_planned_block_without_reading_headers(tmp_path: Path) -> None:
    """The plan carries the block the planner opened: the run's block has the
    planner's header (not a re-read one) and the same rows."""
    import xdm

    path, data = _events(tmp_path, 3000)
    plan = xdm.plan(f"{path}[pi=100:200]")
    opened = plan.steps[0]
    assert opened.handle is not None
    block = opened.handle.open()
    try:
        assert block.header is opened.handle.header
        assert block.index == 1 and block.nrows == 3000
        np.testing.assert_array_equal(block.raw()["pi"], data["pi"])
    finally:
        block.close()
    kept = np.concatenate([c.keep for c in plan.stream()])
    np.testing.assert_array_equal(kept, (data["pi"] >= 100) & (data["pi"] <= 200))


def test_a_file_changed_after_planning_is_refused(tmp_path: Path) -> None:
    import os

    import xdm

    path, _ = _events(tmp_path, 3000)
    plan = xdm.plan(f"{path}[pi=100:200]")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(xdm.XdmIOError, match="changed after it was planned"):
        list(plan.stream())


@pytest.mark.parametrize("spec", ["pi", "pi=1:1024:1", "pi=-3:40:1", "pi=0:99"])
def test_unit_bins_of_an_integer_column_count_like_numpy(
    tmp_path: Path, spec: str
) -> None:
    from xdm.api import read
    from xdm.engine.steps import Histogram
    from xdm.plan import planner

    path, data = _events(tmp_path, 20_000)
    with fits.open(path) as hdul:
        hdul[1].header["TLMIN3"] = 1
        hdul[1].header["TLMAX3"] = 1024
        hdul.writeto(path, overwrite=True)
    text = f"{path}[energy=1000:8000][bin {spec}][opt type=i4]"
    hist = planner.plan(text).find(Histogram)
    assert "floor" not in hist.index_expression  # integer arithmetic
    image = read(text)
    lo, nbins = hist.axes[0].lo, hist.axes[0].nbins
    keep = (data["energy"] >= 1000) & (data["energy"] < 8000)
    expected, _ = np.histogram(data["pi"][keep], bins=nbins, range=(lo, lo + nbins))
    np.testing.assert_array_equal(image.data, expected)


@pytest.mark.parametrize("code", sorted(PARAMETER_FREE_PROJECTIONS))
@pytest.mark.parametrize("pair", [("RA---", "DEC--"), ("GLON-", "GLAT-")])
def test_celestial_fast_path_agrees_with_wcslib(
    code: str, pair: tuple[str, str]
) -> None:
    from astropy.wcs import WCS

    for ctypes in ([pair[0] + code, pair[1] + code], [pair[1] + code, pair[0] + code]):
        assert is_plain_celestial_pair(ctypes)
        w = WCS(naxis=2)
        w.wcs.ctype = ctypes
        w.wcs.set()  # wcslib accepts it too
    assert not is_plain_celestial_pair(["RA---TAN", "DEC--SIN"])
    assert not is_plain_celestial_pair(["RA---COP", "DEC--COP"])  # needs PV2_1
    assert not is_plain_celestial_pair(["RA---TAN", "RA---TAN"])


def test_sky_image_needs_no_astropy_wcs(tmp_path: Path) -> None:
    """Binning sky columns (RA---TAN/DEC--TAN) in a fresh process leaves
    astropy.wcs unimported (0.3 s of cold start)."""
    import subprocess

    data = Path(__file__).parent / "data" / "events" / "chandra_test.fits"
    code = (
        "import sys, xdm.api\n"
        f"xdm.api.copy({str(data)!r} + '[bin sky=8]', {str(tmp_path / 'i.fits')!r})\n"
        "print('astropy.wcs' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
    with fits.open(tmp_path / "i.fits") as hdul:
        assert hdul[0].header["CTYPE1"] == "RA---TAN"


def test_physical_region_needs_no_astropy_wcs() -> None:
    """A region in physical pixels on columns with a world transform leaves
    astropy.wcs unimported; the rows kept equal the distance test."""
    import subprocess

    data = Path(__file__).parent / "data" / "events" / "chandra_test.fits"
    code = (
        "import sys, xdm.api\n"
        f"m = xdm.api.select({str(data)!r} + '[sky=circle(4096,4096,200)]')\n"
        "print(int(m.sum()), 'astropy.wcs' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    kept, imported = out.stdout.split()
    with fits.open(data) as hdul:
        ev = hdul["EVENTS"].data
        x, y = ev["x"].astype(float), ev["y"].astype(float)
    expected = int(((x - 4096) ** 2 + (y - 4096) ** 2 <= 200.0**2).sum())
    assert (int(kept), imported) == (expected, "False")
