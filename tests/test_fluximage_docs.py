"""docs/fluxed-images.md: every command runs, in order, and the products agree.

The page's ``$`` lines run as one bash script (``set -e``) in a folder with
the demo event file and the real ARF; then the products are checked against
each other and numpy: the counts image is dmcopy's, the long way (dmregrid +
dmimgcalc) equals fluximage with the summed maps, the expression equals the
fluxed image, and net = image - scaled background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from docpages import commands, shell

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "fluxed-images.md"


def test_the_page_runs_and_its_products_agree(tmp_path: Path) -> None:
    from xdm.demo import make_events

    make_events(tmp_path / "evt2.fits", n_rows=40_000, seed=3)
    (tmp_path / "3c273.arf").symlink_to(
        ROOT / "tests" / "data" / "spectra" / "3c273.arf"
    )
    lines = commands(PAGE)
    assert len(lines) >= 12
    done = shell("\n".join(lines) + "\n", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr

    def data(name: str) -> np.ndarray:
        return np.asarray(fits.getdata(tmp_path / name), dtype=np.float64)

    # step 2: fluximage's counts are dmcopy's, thresholded
    counts, t_img = data("broad.img"), data("out/a_broad_thresh.img")
    t_exp = data("out/a_broad_thresh.expmap")
    np.testing.assert_array_equal(t_img, np.where(t_exp > 0, counts, 0))
    flux = data("out/a_broad_flux.img")
    np.testing.assert_allclose(
        flux[t_exp > 0], t_img[t_exp > 0] / t_exp[t_exp > 0], rtol=1e-12
    )
    # step 3: the long way and the list-summed map agree
    left, right = data("chips/left_broad.expmap"), data("chips/right_broad.expmap")
    np.testing.assert_allclose(data("expmap_all.fits"), left + right, rtol=1e-12)
    total = left + right
    want = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
    np.testing.assert_allclose(data("flux_long.img"), want, rtol=1e-12)
    np.testing.assert_allclose(data("out/long_broad_flux.img"), want, rtol=1e-12)
    np.testing.assert_allclose(data("flux_expr.img"), flux, rtol=1e-12)
    # step 4: the background and the net image
    bg = data("bg_particle_bgnd.img")
    assert bg.sum() > 0
    np.testing.assert_allclose(data("net.img"), counts - bg, rtol=1e-12)
    np.testing.assert_allclose(data("bg_particle_bkgsub.img"), counts - bg, rtol=1e-12)
    assert "BKGSCAL3" in done.stdout
