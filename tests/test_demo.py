"""xdm.demo writes a valid, realistic Chandra evt2 file.

Oracles: the real evt2 headers in tests/data/events (layout, TFORMs, keywords),
CFITSIO through fitsio (an independent FITS reader), and physics of the model
(GTI coverage, flare, PI = floor(E/14.6)+1, ACIS bit numbering).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import fitsio
import numpy as np
import pytest
from astropy.io import fits

from xdm import demo
from xdm.errors import XdmIOError

REAL = Path(__file__).parent / "data" / "events"


@pytest.fixture(scope="module")
def hdul(synthetic_events: Path):
    with fits.open(synthetic_events) as h:
        yield h


def test_layout_matches_real_evt2(hdul) -> None:
    real = fits.getheader(REAL / "chandra_time.fits", "EVENTS")
    ours = hdul["EVENTS"].header
    real_forms = {
        real[f"TTYPE{i}"]: real[f"TFORM{i}"] for i in range(1, real["TFIELDS"] + 1)
    }
    names = [ours[f"TTYPE{i}"] for i in range(1, ours["TFIELDS"] + 1)]
    assert names == [n for n in real_forms if n != "pha_ro"]
    for i, name in enumerate(names, start=1):
        assert ours[f"TFORM{i}"] == real_forms[name], name
        j = list(real_forms).index(name) + 1
        for key in ("TLMIN", "TLMAX", "TNULL", "TUNIT"):
            assert ours.get(f"{key}{i}") == real.get(f"{key}{j}"), (key, name)
    ix = names.index("x") + 1
    assert ours[f"TCTYP{ix}"] == "RA---TAN" and ours[f"TCTYP{ix + 1}"] == "DEC--TAN"
    assert ours[f"TCRPX{ix}"] == 4096.5
    assert ours[f"TCDLT{ix}"] == pytest.approx(-0.000136667, rel=1e-5)
    assert ours[f"TCDLT{ix + 1}"] == pytest.approx(0.000136667, rel=1e-5)
    mforms = {
        ours[k]: ours[k.replace("TYPE", "FORM")] for k in ours if k.startswith("MTYPE")
    }
    assert mforms["sky"] == "x,y" and mforms["chip"] == "chipx,chipy"
    assert mforms["det"] == "detx,dety" and mforms["tdet"] == "tdetx,tdety"


def test_gti_blocks_and_subspace(hdul, synthetic_events: Path) -> None:
    h = hdul["EVENTS"].header
    gtis = [hdu for hdu in hdul if hdu.name == "GTI"]
    assert [g.header["CCD_ID"] for g in gtis] == list(demo.CHIPS)
    # one subspace component per chip, the aim chip first (as in CIAO's files):
    # component k ties ccd_id k to its GTI block; only component 1 names DSVAL1
    refs = [h["DSREF1"]] + [h[f"{k}DSREF1"] for k in range(2, len(gtis) + 1)]
    vals = [h["DSVAL2"]] + [h[f"{k}DSVAL2"] for k in range(2, len(gtis) + 1)]
    assert vals[0] == f"{demo.AIM_CHIP}:{demo.AIM_CHIP}"
    assert sorted(vals) == sorted(f"{c}:{c}" for c in demo.CHIPS)
    assert [r.removeprefix(":GTI") for r in refs] == [v.split(":")[0] for v in vals]
    assert h["DSVAL1"] == "TABLE" and "2DSVAL1" not in h
    d = hdul["EVENTS"].data
    for g in gtis:
        chip = g.header["CCD_ID"]
        assert g.header["HDUNAME"] == f"GTI{chip}"
        start, stop = g.data["START"], g.data["STOP"]
        ontime = float((stop - start).sum())
        assert h[f"ONTIME{chip}"] == pytest.approx(ontime)
        assert h[f"LIVTIME{chip}"] == pytest.approx(ontime * h["DTCOR"])
        assert h[f"EXPOSUR{chip}"] == pytest.approx(ontime * h["DTCOR"])
        t = d["time"][d["ccd_id"] == chip]
        inside = ((t[:, None] >= start) & (t[:, None] < stop)).any(axis=1)
        assert inside.all(), f"chip {chip} has events outside its GTI"
    assert h["LIVETIME"] == pytest.approx(h["ONTIME"] * h["DTCOR"])
    assert h["TSTART"] <= d["time"].min() and d["time"].max() <= h["TSTOP"]


def test_cfitsio_reads_the_same_rows(synthetic_events: Path, hdul) -> None:
    ours = hdul["EVENTS"].data
    theirs = fitsio.read(str(synthetic_events), ext="EVENTS")
    assert len(theirs) == len(ours) == 100_000
    for name in ("time", "ccd_id", "x", "y", "energy", "pi", "grade"):
        np.testing.assert_array_equal(theirs[name], ours[name])
    np.testing.assert_array_equal(theirs["status"], ours["status"])


def test_content_is_realistic(hdul) -> None:
    d = hdul["EVENTS"].data
    assert np.all(np.diff(d["time"]) >= 0)
    e = d["energy"]
    assert e.min() >= 100 and e.max() <= 15_000
    assert 0.01 < np.mean(e > 12_000) < 0.1  # background only, no effective area
    assert 0.005 < np.mean(e < 300) < 0.1
    assert np.mean((e >= 300) & (e < 2000)) > 0.4
    np.testing.assert_array_equal(
        d["pi"], np.clip(np.floor(e / 14.6).astype(int) + 1, 1, 1024)
    )
    assert set(np.unique(d["grade"])) == set(range(8))
    assert set(np.unique(d["ccd_id"])) == set(demo.CHIPS)
    assert d["chipx"].min() >= 1 and d["chipx"].max() <= 1024
    np.testing.assert_array_equal(d["node_id"], (d["chipx"] - 1) // 256)
    # status 32X: astropy's bool index 0 is the first bit in the file = bit 31
    status = d["status"]
    assert 0.02 < status.any(axis=1).mean() < 0.3
    assert status[:, 31 - 23].sum() > 0 and status[:, 31 - 4].sum() > 0
    assert status[:, 31 - 31].sum() == 0
    # the target dominates the window around it; the flare raises the rate
    x, y = d["x"], d["y"]
    near = np.hypot(x - demo.TARGET[0], y - demo.TARGET[1]) < 20
    assert near.mean() > 0.1
    t = d["time"] - hdul["EVENTS"].header["TSTART"]
    flare = np.mean((t > demo.FLARE[0] + 600) & (t < demo.FLARE[1] - 600))
    quiet = np.mean((t > 5000) & (t < 5000 + demo.FLARE[1] - demo.FLARE[0] - 1200))
    assert flare > 1.5 * quiet
    gap = (t > demo.GAP[0] + demo.TIMEDEL) & (t < demo.GAP[1] - demo.TIMEDEL)
    assert not gap.any()


def test_seeded_and_clobber(tmp_path: Path) -> None:
    a = demo.make_events(tmp_path / "a.fits", 5000, seed=3)
    b = demo.make_events(tmp_path / "b.fits", 5000, seed=3)
    c = demo.make_events(tmp_path / "c.fits", 5000, seed=4)
    assert a.read_bytes() == b.read_bytes()
    assert fits.getdata(a, 1).tobytes() != fits.getdata(c, 1).tobytes()
    with pytest.raises(XdmIOError, match="exists"):
        demo.make_events(a, 10)
    demo.make_events(a, 10, clobber=True)
    assert len(fits.getdata(a, 1)) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fits", "b.fits", "c.fits"]


def test_chunked_writer_keeps_memory_flat(tmp_path: Path) -> None:
    tracemalloc.start()
    path = demo.make_events(tmp_path / "big.fits", 1_000_000, chunk_rows=50_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert path.stat().st_size % 2880 == 0
    assert path.stat().st_size > 1_000_000 * demo.EVENT_DTYPE.itemsize
    assert peak < 30e6, f"peak {peak / 1e6:.1f} MB for 60 MB of rows"
    with fits.open(path) as h:
        assert h["EVENTS"].header["NAXIS2"] == 1_000_000
        assert np.all(np.diff(h["EVENTS"].data["time"]) >= 0)
