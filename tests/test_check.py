"""``xdm.plan.check``: a virtual file resolved against its block's header, once.

The facts ``check`` resolves are held to the file itself, read with astropy
(TLMIN/TLMAX for a grid, the column list for ``[cols]``, the row count for the
block); every user error is raised by ``check`` with its caret under the text
that caused it, and ``plan`` raises exactly that error and builds its steps
from exactly those facts.
"""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.engine.steps import Histogram, SelectColumns, UpdateSubspace, WriteImage
from xdm.errors import XdmError, XdmRegionError, XdmSemanticError
from xdm.io.blocks import open_vf_block
from xdm.lang.options import DEFAULT_IMAGE_TYPE
from xdm.lang.parser import parse
from xdm.plan.check import CheckedFile, check
from xdm.plan.planner import evaluate_virtual_image, plan

EVENTS = Path(__file__).parent / "data" / "events"
CHANDRA = EVENTS / "chandra_test.fits"


def checked(text: str, base_dir: Path = EVENTS) -> CheckedFile:
    """``check`` of ``text`` on the block it names, as ``plan`` calls it."""
    vf = parse(text)
    with open_vf_block(vf, base_dir=base_dir, source=text) as block:
        return check(
            vf,
            block,
            source=text,
            base_dir=str(base_dir),
            image_reader=evaluate_virtual_image,
        )


def header_range(path: Path, column: str) -> tuple[float, float]:
    """TLMIN/TLMAX of ``column`` in the first table of ``path``, read by astropy."""
    header = fits.getheader(path, 1)
    i = next(
        k
        for k in range(1, header["TFIELDS"] + 1)
        if header[f"TTYPE{k}"].lower() == column
    )
    return float(header[f"TLMIN{i}"]), float(header[f"TLMAX{i}"])


def column_names(path: Path) -> list[str]:
    with fits.open(path) as hdul:
        return list(hdul[1].columns.names)


# ---------------------------------------------------------------- the facts


def test_the_block_facts_are_the_files() -> None:
    c = checked("chandra_test.fits[energy>1000]")
    with fits.open(CHANDRA) as hdul:
        nrows = len(hdul[1].data)
        assert hdul[1].name == "EVENTS"
    assert (c.path, c.number, c.name, c.nrows, c.kind) == (
        "chandra_test.fits",
        2,
        "EVENTS",
        nrows,
        "table",
    )
    assert c.handle is not None
    assert c.options == ()
    assert c.binning is None and c.columns is None
    assert c.output_name == "EVENTS"
    assert c.update_subspace and c.removed_subspace == ()


def test_the_result_is_frozen() -> None:
    c = checked("chandra_test.fits[bin sky=8]")
    with pytest.raises(FrozenInstanceError):
        c.nrows = 1  # type: ignore[misc]
    assert c.binning is not None
    with pytest.raises(FrozenInstanceError):
        c.binning.dtype = "r8"  # type: ignore[misc]


def test_bin_sky8_grid_is_tlmin_tlmax_of_x_and_y() -> None:
    c = checked("chandra_test.fits[bin sky=8]")
    assert c.binning is not None
    axes = c.binning.axes
    assert [a.column.name for a in axes] == ["x", "y"]
    for axis in axes:
        lo, hi = header_range(CHANDRA, axis.column.name)  # real column: edges as is
        g = axis.grid
        assert (g.column, g.lo, g.step) == (axis.column.name, lo, 8.0)
        assert g.nbins == math.ceil((hi - lo) / 8)
        assert g.origin == "TLMIN/TLMAX" and not g.integer
    assert c.output_name == "EVENTS_IMAGE"
    assert c.binning.weight is None
    assert (c.binning.dtype, c.binning.dtype_explicit) == (DEFAULT_IMAGE_TYPE, False)


def test_an_integer_column_bins_on_half_integer_edges_of_its_range() -> None:
    c = checked("chandra_test.fits[bin pi]")
    assert c.binning is not None
    (axis,) = c.binning.axes
    lo, hi = header_range(CHANDRA, "pi")
    assert (axis.grid.lo, axis.grid.hi, axis.grid.step) == (lo - 0.5, hi + 0.5, 1.0)
    assert axis.grid.integer


def test_a_filter_narrows_the_default_range_of_its_axis() -> None:
    c = checked("chandra_test.fits[energy=500:7000][bin energy=::100]")
    assert c.binning is not None
    (axis,) = c.binning.axes
    tlmin, tlmax = header_range(CHANDRA, "energy")
    assert tlmin <= 500 and tlmax >= 7000  # the filter is inside the header's range
    nbins = math.ceil((7000 - 500) / 100)
    assert (axis.grid.lo, axis.grid.step, axis.grid.nbins) == (500.0, 100.0, nbins)
    assert axis.grid.origin == "filter"
    assert c.filters is not None
    assert c.filters.predicate == "((energy >= 500) & (energy < 7000))"


def test_weight_and_image_type() -> None:
    weighted = checked("chandra_test.fits[bin sky=16;energy]")
    assert weighted.binning is not None and weighted.binning.weight is not None
    assert weighted.binning.weight.name == "energy"
    typed = checked("chandra_test.fits[bin pi=1:1024][opt type=i4]")
    assert typed.binning is not None
    assert (typed.binning.dtype, typed.binning.dtype_explicit) == ("i4", True)
    assert typed.options == (("type", "i4"),)


def test_cols_select_and_rename_against_the_files_columns() -> None:
    names = column_names(CHANDRA)
    c = checked("chandra_test.fits[cols time,en=energy,sky]")
    assert {"time", "energy", "x", "y"} <= set(names)
    assert c.columns == (("time", "time"), ("energy", "en"), ("x", "x"), ("y", "y"))
    assert c.binning is None


def test_cols_drop_keeps_the_rest_in_file_order() -> None:
    names = column_names(CHANDRA)
    c = checked("chandra_test.fits[cols -pha,-grade]")
    assert c.columns == tuple((x, x) for x in names if x not in ("pha", "grade"))
    star = checked("chandra_test.fits[cols *]")
    assert star.columns == tuple((x, x) for x in names)


def test_time_filter_gives_a_time_selection() -> None:
    c = checked("chandra_test.fits[time=339469200:339469800]")
    assert c.filters is not None and c.filters.time_selections
    plain = checked("chandra_test.fits[energy>1000]")
    assert plain.filters is not None and plain.filters.time_selections == ()


def test_output_name_and_subspace_options() -> None:
    assert checked("chandra_test.fits[bin sky=8][SKYIMG]").output_name == "SKYIMG"
    assert checked("chandra_test.fits[opt update=no]").update_subspace is False
    removed = checked("chandra_test.fits[subspace -time]")
    assert removed.removed_subspace == ("time",)


def test_an_image_block_is_named_not_filtered(tmp_path: Path) -> None:
    fits.PrimaryHDU(np.zeros((8, 8), dtype=">i2")).writeto(tmp_path / "image.fits")
    c = checked("image.fits[#1=2:5][opt type=r4]", base_dir=tmp_path)
    assert (c.number, c.nrows, c.kind) == (1, 0, "image")
    assert c.options == (("type", "r4"),)
    assert c.filters is None and c.binning is None and c.columns is None


# ---------------------------------------------------- the plan is assembled from them

ASSEMBLED = [
    "chandra_test.fits[bin sky=8]",
    "chandra_test.fits[energy=500:7000][bin energy=::100][opt type=r4]",
    "chandra_test.fits[bin sky=16;energy][SKYIMG]",
    "chandra_test.fits[cols time,en=energy,sky][subspace -time]",
    "chandra_test.fits[ccd_id=7][opt update=no]",
]


@pytest.mark.parametrize("text", ASSEMBLED)
def test_the_plan_is_built_from_the_checked_facts(text: str) -> None:
    c = checked(text)
    p = plan(text, base_dir=EVENTS)
    assert p.options == c.options
    hist = p.find(Histogram)
    if c.binning is None:
        assert hist is None
    else:
        assert hist.axes == tuple(a.grid for a in c.binning.axes)
        assert hist.dtype == c.binning.dtype
        assert hist.weight == (c.binning.weight.name if c.binning.weight else None)
        assert p.find(WriteImage).name == c.output_name
    select = p.find(SelectColumns)
    assert (select.columns if select else None) == c.columns
    subspace = p.find(UpdateSubspace)
    assert (subspace is not None) == c.update_subspace
    if subspace is not None:
        assert subspace.removed == c.removed_subspace


# ------------------------------------------------------------- the user errors

ERRORS = [
    # (virtual file, error class, text under the caret, message start)
    ("chandra_test.fits[bin sky=8][opt nosuch]", XdmSemanticError, "nosuch",
     "unknown option 'nosuch'"),
    ("chandra_test.fits[bin sky=8][opt type=nosuch]", XdmSemanticError,
     "type=nosuch", "unknown image type 'nosuch'"),
    ("chandra_test.fits[opt mem=-1]", XdmSemanticError, "mem=-1",
     "mem= needs a positive number of megabytes"),
    ("chandra_test.fits[bin x=8][bin y=8]", XdmSemanticError, "[bin y=8]",
     "a virtual file takes one [bin ...] group"),
    ("chandra_test.fits[bin sky=8][cols x]", XdmSemanticError, "[cols x]",
     "[bin] and [cols] are alternatives"),
    ("chandra_test.fits[bin/f sky=8]", XdmSemanticError, "[bin/f sky=8]",
     "[bin/f] is not supported"),
    ("chandra_test.fits[bin nosuch]", XdmSemanticError, "nosuch",
     "unknown column 'nosuch'"),
    ("chandra_time.fits[bin status]", XdmSemanticError, "status",
     "cannot bin column 'status' (32X)"),
    ("chandra_test.fits[bin x,x]", XdmSemanticError, "x",
     "column 'x' is binned twice"),
    ("chandra_test.fits[bin #1]", XdmSemanticError, "#1",
     "'#1' names an image axis"),
    ("chandra_test.fits[bin (#1,y)]", XdmSemanticError, "#1",
     "'#n' names an image axis"),
    ("chandra_test.fits[bin sky=circle(1,1,1)]", XdmSemanticError,
     "sky=circle(1,1,1)", "region and stack bins are dmextract extensions"),
    ("chandra_test.fits[bin sky=8;nosuch]", XdmSemanticError, "[bin sky=8;nosuch]",
     "unknown column 'nosuch'"),
    ("chandra_time.fits[bin sky=8;status]", XdmSemanticError, "[bin sky=8;status]",
     "weight column 'status' is not a numeric scalar"),
    ("chandra_test.fits[nosuch=1]", XdmSemanticError, "nosuch",
     "unknown column 'nosuch'"),
    ("chandra_test.fits[sky=circle(1,1,-1)]", XdmRegionError, "circle(1,1,-1)",
     "circle: negative radius"),
    ("chandra_test.fits[bin pi=10:5]", XdmSemanticError, "10:5",
     "empty bin range for 'pi': 9.5:5.5"),
    ("chandra_test.fits[bin energy=0:1e300:1e-300]", XdmSemanticError,
     "0:1e300:1e-300", "bin size 1e-300 gives no finite number of bins"),
    ("chandra_test.fits[bin energy=0:1e30:1e-10]", XdmSemanticError,
     "0:1e30:1e-10", "1e+40 bins on 'energy'"),
    ("chandra_test.fits[bin sky=1][opt mem=1]", XdmSemanticError, "[bin sky=1]",
     "image of 8192 x 8192 bins needs 256 MB, above the 1 MB limit"),
    ("chandra_test.fits[cols nosuch]", XdmSemanticError, "nosuch",
     "unknown column 'nosuch' in [cols]"),
    ("chandra_test.fits[cols x,-y]", XdmSemanticError, "[cols x,-y]",
     "[cols] mixes kept and dropped columns"),
    ("chandra_test.fits[cols #99]", XdmSemanticError, "#99",
     "no column #99 (there are 7)"),
    ("chandra_test.fits[cols en=sky]", XdmSemanticError, "en=sky",
     "cannot rename vector 'sky'"),
    ("chandra_test.fits[cols -time,-ccd_id,-sky,-pha,-energy,-pi,-grade]",
     XdmSemanticError, "[cols -time,-ccd_id,-sky,-pha,-energy,-pi,-grade]",
     "[cols] leaves no columns"),
]  # fmt: skip


def refused_by_check(text: str, kind: type[XdmError]) -> XdmError:
    """The error ``check`` raises on ``text`` (the block opens cleanly)."""
    vf = parse(text)
    with (
        open_vf_block(vf, base_dir=EVENTS, source=text) as block,
        pytest.raises(kind) as info,
    ):
        check(
            vf,
            block,
            source=text,
            base_dir=str(EVENTS),
            image_reader=evaluate_virtual_image,
        )
    return info.value


def assert_same_error(a: XdmError, b: XdmError) -> None:
    assert type(a) is type(b)
    assert (a.message, a.span, a.hint, a.expected) == (
        b.message,
        b.span,
        b.hint,
        b.expected,
    )


@pytest.mark.parametrize(("text", "kind", "under", "message"), ERRORS)
def test_each_user_error_is_raised_by_check_with_its_caret(
    text: str, kind: type[XdmError], under: str, message: str
) -> None:
    err = refused_by_check(text, kind)
    assert err.message.startswith(message)
    assert err.source == text and err.span is not None
    assert text[err.span.start : err.span.end] == under
    caret = err.render().splitlines()
    assert caret[1] == f"  {text}"
    assert caret[2] == "  " + " " * err.span.start + "^" + "~" * (len(under) - 1)
    with pytest.raises(kind) as planned:
        plan(text, base_dir=EVENTS)
    assert_same_error(planned.value, err)


def test_the_memory_budget_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "chandra_test.fits[bin sky=1][opt mem=100000]"
    monkeypatch.setenv("XDM_MAX_MEMORY", "16MB")
    err = refused_by_check(text, XdmSemanticError)
    assert "image of 8192 x 8192 bins would need" in err.message
    assert err.span is not None
    assert text[err.span.start : err.span.end] == "[bin sky=1]"
    assert err.hint is not None and "XDM_MAX_MEMORY" in err.hint
    with pytest.raises(XdmSemanticError) as planned:
        plan(text, base_dir=EVENTS)
    assert_same_error(planned.value, err)
