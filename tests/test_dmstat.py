"""xdm dmstat: column and image statistics against numpy and astropy.stats."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
import xdm.tools
from xdm.cli.main import main


def test_columns_equal_numpy(synthetic_events: Path) -> None:
    vf = f"{synthetic_events}[energy=300:2000][cols energy,pi,time]"
    stats = xdm.tools.dmstat(infile=vf, median=True)
    d = fits.getdata(synthetic_events, "EVENTS")
    keep = (d["energy"] >= 300) & (d["energy"] < 2000)
    for name in ("energy", "pi", "time"):
        v = d[name][keep].astype(np.float64)
        s = stats[name]
        assert s.good == v.size and s.null == 0
        assert s.minimum == v.min() and s.maximum == v.max()
        assert s.min_at == (int(np.argmin(v)) + 1,)
        assert s.max_at == (int(np.argmax(v)) + 1,)
        assert s.mean == pytest.approx(v.mean(), rel=1e-13)
        assert s.sigma == pytest.approx(v.std(ddof=1), rel=1e-10)
        assert s.sum == pytest.approx(v.sum(), rel=1e-13)
        assert s.median == np.median(v)


def test_tnull_values_are_null(synthetic_events: Path) -> None:
    d = fits.getdata(synthetic_events, "EVENTS")
    h = fits.getheader(synthetic_events, "EVENTS")
    n = list(d.columns.names).index("pha") + 1
    tnull = h[f"TNULL{n}"]
    s = xdm.tools.dmstat(infile=f"{synthetic_events}[cols pha]")["pha"]
    good = d["pha"] != tnull
    assert s.null == int((~good).sum())
    assert s.good == int(good.sum())
    assert s.mean == pytest.approx(d["pha"][good].mean(), rel=1e-13)


def test_streaming_across_chunks(tmp_path_factory: pytest.TempPathFactory) -> None:
    """More rows than one engine chunk (2e6): the merged moments equal numpy's."""
    from xdm.demo import make_events

    path = make_events(
        tmp_path_factory.mktemp("big") / "evt.fits", n_rows=2_300_000, seed=5
    )
    s = xdm.tools.dmstat(infile=f"{path}[cols energy,time]")
    d = fits.getdata(path, "EVENTS")
    for name in ("energy", "time"):
        v = d[name].astype(np.float64)
        assert s[name].mean == pytest.approx(v.mean(), rel=1e-12)
        assert s[name].sigma == pytest.approx(v.std(ddof=1), rel=1e-9)
        assert s[name].max_at == (int(np.argmax(v)) + 1,)
        assert s[name].good == v.size


def test_sigma_clip_equals_astropy(synthetic_events: Path) -> None:
    from astropy.stats import sigma_clip

    s = xdm.tools.dmstat(
        infile=f"{synthetic_events}[cols energy]", clip=True, nsigma=2.5, maxiter=20
    )["energy"]
    v = fits.getdata(synthetic_events, "EVENTS")["energy"].astype(np.float64)
    clipped = sigma_clip(
        v,
        sigma=2.5,
        maxiters=20,
        cenfunc="mean",
        stdfunc=functools.partial(np.std, ddof=1),
    )
    kept = clipped.compressed()
    assert s.good == kept.size
    assert s.mean == pytest.approx(kept.mean(), rel=1e-12)
    assert s.maximum == kept.max()


def test_image_statistics_and_centroid(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    img = rng.poisson(3.0, size=(40, 30)).astype(np.float32)
    img[5, 7] = 500.0
    img[0, 0] = np.nan
    header = fits.Header()
    for i, (crval, cdelt, crpix) in enumerate(
        ((3000.5, 8.0, 0.5), (4000.5, 8.0, 0.5)), 1
    ):
        header[f"CTYPE{i}P"] = "x" if i == 1 else "y"
        header[f"CRVAL{i}P"] = crval
        header[f"CDELT{i}P"] = cdelt
        header[f"CRPIX{i}P"] = crpix
    path = tmp_path / "img.fits"
    fits.PrimaryHDU(img, header).writeto(path)
    s = xdm.tools.dmstat(infile=str(path)).columns[0]
    good = np.isfinite(img)
    v = img[good].astype(np.float64)
    assert (s.good, s.null) == (v.size, 1)
    assert s.maximum == 500.0 and s.max_at == (8.0, 6.0)  # ( x y ), 1-based
    assert s.sum == pytest.approx(v.sum())
    assert s.sigma == pytest.approx(v.std(ddof=1))
    w = np.where(good, img, 0).astype(np.float64)
    yy, xx = np.mgrid[1:41, 1:31]
    cx, cy = (w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()
    assert s.centroid_logical == pytest.approx((cx, cy))
    assert s.centroid_physical == pytest.approx(
        (3000.5 + 8 * (cx - 0.5), 4000.5 + 8 * (cy - 0.5))
    )


def test_report_layout(
    synthetic_events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dmstat", f"{synthetic_events}[cols energy]"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "energy[eV]"
    assert [line.split(":")[0].strip() for line in out[1:]] == [
        "min",
        "max",
        "mean",
        "sigma",
        "sum",
        "good",
        "null",
    ]
    assert "@:" in out[1]


def test_no_numeric_column_is_a_user_error(synthetic_events: Path) -> None:
    assert main(["dmstat", f"{synthetic_events}[cols status]"]) == 2


def test_binned_events_equal_the_image_dmcopy_writes(tmp_path: Path) -> None:
    """``[bin sky=8]`` of the Chandra test events (planned once): the statistics
    of the image ``xdm dmcopy`` writes of it, read with astropy."""
    events = Path(__file__).parent / "data" / "events" / "chandra_test.fits"
    vf = f"{events}[bin sky=8]"
    image = tmp_path / "img.fits"
    xdm.copy(vf, image)
    img = fits.getdata(image).astype(np.float64)
    s = xdm.tools.dmstat(infile=vf).columns[0]
    assert (s.good, s.null) == (img.size, 0)
    assert s.sum == img.sum() == len(fits.getdata(events, "EVENTS"))
    assert s.maximum == img.max()
    iy, ix = np.unravel_index(int(np.argmax(img)), img.shape)
    assert s.max_at == (float(ix + 1), float(iy + 1))
    assert s.sigma == pytest.approx(img.std(ddof=1))
