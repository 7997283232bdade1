"""A binned image's type held to the options table (xdm.lang.options): the
default of ``[bin]`` is ``DEFAULT_IMAGE_TYPE``, and a default-typed image whose
counts overflow is written as the next wider binned integer type of
``IMAGE_TYPES`` (an explicit type that overflows is an error)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
from xdm.engine.steps import Histogram
from xdm.errors import XdmSemanticError
from xdm.lang.options import DEFAULT_IMAGE_TYPE, IMAGE_TYPES, image_type


def _next_wider_integer(name: str) -> str:
    t = image_type(name)
    assert t is not None
    wider = [
        u
        for u in IMAGE_TYPES
        if u.binned and np.dtype(u.dtype).kind == "i" and u.bitpix > t.bitpix
    ]
    return min(wider, key=lambda u: u.bitpix).name


def test_bin_makes_the_default_type(synthetic_events: Path) -> None:
    plan = xdm.plan(f"{synthetic_events}[bin sky=64]")
    (hist,) = [s for s in plan.steps if isinstance(s, Histogram)]
    assert hist.dtype == DEFAULT_IMAGE_TYPE and not hist.dtype_explicit
    image = xdm.read(f"{synthetic_events}[bin sky=64]")
    default = image_type(DEFAULT_IMAGE_TYPE)
    assert default is not None
    assert image.data.dtype == np.dtype(default.dtype).newbyteorder(">")


def test_an_overflowing_default_image_takes_the_next_wider_type(
    synthetic_events: Path, tmp_path: Path
) -> None:
    wider = image_type(_next_wider_integer(DEFAULT_IMAGE_TYPE))
    assert wider is not None
    big = xdm.read(f"{synthetic_events}[bin sky=8192]")  # every count in one pixel
    assert big.data.dtype == np.dtype(wider.dtype).newbyteorder(">")
    out = tmp_path / "big.fits"
    xdm.copy(f"{synthetic_events}[bin sky=8192]", out)
    assert fits.getheader(out)["BITPIX"] == wider.bitpix
    explicit = f"{synthetic_events}[bin sky=8192][opt type={DEFAULT_IMAGE_TYPE}]"
    with pytest.raises(XdmSemanticError, match="more than type"):
        xdm.read(explicit)
