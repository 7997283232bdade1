"""Summaries shown for a typed virtual file, checked against numpy on the same data."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from rich.console import Console

from xdm.cli.render import format_value, render_preview, render_summary
from xdm.summary import (
    ImageSummary,
    TableSummary,
    describe,
    preview,
    summarise_image,
    summarise_records,
    summarise_table,
)


def make_table(rows: int = 1000) -> Table:
    rng = np.random.default_rng(7)
    table = Table()
    table["time"] = np.sort(rng.uniform(1e8, 1e8 + 5e4, rows))
    table["time"].unit = "s"
    table["energy"] = rng.uniform(200.0, 12000.0, rows).astype(np.float32)
    table["energy"].unit = "eV"
    table["ccd_id"] = rng.integers(0, 10, rows).astype(np.int16)
    table["phas"] = rng.integers(-5, 4000, (rows, 9)).astype(np.int16)
    table.meta["EXTNAME"] = "EVENTS"
    table.meta["ONTIME"] = 49431.25
    return table


def test_table_summary_counts_rows_and_column_ranges() -> None:
    table = make_table()
    kept = table[table["energy"] < 2000]
    summary = summarise_table(
        kept, source="e.fits[energy=:2000]", total_rows=len(table)
    )
    assert summary.rows == int(np.count_nonzero(table["energy"] < 2000))
    assert summary.rows_text == f"{summary.rows:,} of 1,000 rows"
    by_name = {c.name: c for c in summary.columns}
    assert by_name["energy"].unit == "eV"
    assert by_name["energy"].lo == pytest.approx(float(np.min(kept["energy"])))
    assert by_name["energy"].hi == pytest.approx(float(np.max(kept["energy"])))
    assert by_name["phas"].width == 9
    assert by_name["phas"].lo == float(np.asarray(kept["phas"]).min())
    assert summary.good_time_s == 49431.25
    assert summary.block == "EVENTS"


def test_large_counts_are_written_out_with_separators() -> None:
    summary = summarise_table(make_table(10)[:0], source="x", total_rows=50_000)
    assert summary.rows_text == "0 of 50,000 rows"
    assert summary.columns[0].lo is None


def test_image_summary_and_thumbnail_keep_the_totals() -> None:
    rng = np.random.default_rng(1)
    image = rng.poisson(3.0, size=(100, 130)).astype(np.int32)
    summary = summarise_image(
        image, source="e.fits[bin sky=8]", header={"BUNIT": "count"}
    )
    assert summary.shape == (100, 130)
    assert summary.total == float(image.sum())
    assert (summary.lo, summary.hi) == (float(image.min()), float(image.max()))
    assert summary.unit == "count"
    thumb = summary.thumbnail
    assert thumb is not None
    assert thumb.shape[0] <= 32 and thumb.shape[1] <= 48
    assert thumb.sum() == pytest.approx(image.sum())
    # square blocks: 130/48 -> factor 3, so 34 x 44 would not fit 32 rows -> factor 4
    assert thumb.shape == (25, 33)
    assert thumb[0, 0] == image[:4, :4].sum()


def test_nan_pixels_are_ignored_in_image_statistics() -> None:
    image = np.array([[1.0, np.nan], [3.0, 4.0]])
    summary = summarise_image(image, source="i.fits")
    assert (summary.total, summary.lo, summary.hi) == (8.0, 1.0, 4.0)
    assert preview(image, (4, 4)).sum() == 8.0


def render_text(renderable: object, *, colour: bool = False) -> str:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system="truecolor" if colour else None)
    console.print(renderable)
    return out.getvalue()


def test_rendered_table_summary_shows_brackets_as_typed() -> None:
    table = make_table()
    summary = summarise_table(
        table, source="e.fits[energy=300:2000][cols time]", total_rows=50_000
    )
    console = Console(file=io.StringIO(), color_system=None)
    text = render_text(render_summary(summary, console))
    assert "e.fits[energy=300:2000][cols time]" in text  # not eaten as markup
    assert "1,000 of 50,000 rows" in text
    assert "good time 49,431.2 s" in text
    assert "energy" in text and "eV" in text


def test_preview_is_north_up_ascii_off_a_terminal() -> None:
    thumb = np.zeros((4, 3))
    thumb[0, 0] = 100.0  # bottom-left pixel of the image
    text = render_text(render_preview(thumb, colour=False)).splitlines()
    assert len(text) == 2
    assert text[-1][0] != " " and text[0].strip() == ""


def test_format_value() -> None:
    assert format_value(12345.0) == "12,345"
    assert format_value(0.1234567891234) == "0.1234567891"
    assert format_value(None) == "-"


# ---------------------------------------------------------------- on the real file

EVENTS = Path(__file__).parent / "data" / "events" / "chandra_test.fits"


def test_describe_counts_rows_kept_against_numpy() -> None:
    with fits.open(EVENTS) as hdul:
        events = hdul["EVENTS"].data
        energy = np.asarray(events["energy"], dtype=np.float64)
        keep = (energy >= 300) & (energy < 2000)  # real column: half-open
        total = len(events)
        ontime = hdul["EVENTS"].header["ONTIME"]
        x_kept = np.asarray(events["x"])[keep]
    summary = describe(f"{EVENTS}[energy=300:2000]")
    assert isinstance(summary, TableSummary)
    assert summary.rows == int(keep.sum())
    assert summary.total_rows == total
    assert summary.rows_text == f"{int(keep.sum()):,} of {total:,} rows"
    assert summary.good_time_s == pytest.approx(ontime)
    x = next(c for c in summary.columns if c.name == "x")
    assert (x.lo, x.hi) == (float(x_kept.min()), float(x_kept.max()))
    assert x.unit == "pixel"


def test_describe_image_against_numpy_histogram() -> None:
    with fits.open(EVENTS) as hdul:
        events = hdul["EVENTS"].data
        energy = np.asarray(events["energy"], dtype=np.float64)
        keep = (energy >= 300) & (energy < 2000)
        x = np.asarray(events["x"], dtype=np.float64)[keep]
        y = np.asarray(events["y"], dtype=np.float64)[keep]
        tlmin, tlmax = hdul["EVENTS"].header["TLMIN3"], hdul["EVENTS"].header["TLMAX3"]
    edges = np.arange(tlmin, tlmax + 8, 8.0)
    oracle, _, _ = np.histogram2d(y, x, bins=(edges, edges))
    summary = describe(f"{EVENTS}[energy=300:2000][bin x=::8,y=::8]")
    assert isinstance(summary, ImageSummary)
    assert summary.total == oracle.sum() == keep.sum()
    assert summary.hi == oracle.max()
    assert summary.has_wcs and summary.unit == "count"
    assert summary.thumbnail is not None and summary.thumbnail_box is not None
    x0, x1, y0, y1 = summary.thumbnail_box
    rows, cols = np.nonzero(oracle)
    assert (x0, x1, y0, y1) == (
        cols.min() + 1,
        cols.max() + 1,
        rows.min() + 1,
        rows.max() + 1,
    )
    assert summary.thumbnail.sum() == oracle.sum()


def test_raw_records_are_scaled_like_astropy_reads_them(tmp_path: Path) -> None:
    values = np.array([0, 40000, 65535], dtype=np.uint16)
    column = fits.Column("pha", "I", bzero=32768, array=values, unit="adu")
    fits.BinTableHDU.from_columns([column], name="EVENTS").writeto(tmp_path / "u.fits")
    with fits.open(tmp_path / "u.fits") as hdul:
        raw = hdul[1].data.view(np.ndarray)  # stored int16 values
        scaled = np.asarray(hdul[1].data["pha"])  # what astropy reads: the oracle
        summary = summarise_records(raw, hdul[1].header, source="u.fits", total_rows=3)
    (pha,) = summary.columns
    assert (
        (pha.lo, pha.hi) == (float(scaled.min()), float(scaled.max())) == (0.0, 65535.0)
    )
    assert pha.unit == "adu" and summary.block == "EVENTS"
    assert summary.rows_text == "3 of 3 rows"


def test_astropy_records_are_not_scaled_twice(tmp_path: Path) -> None:
    values = np.array([0, 40000, 65535], dtype=np.uint16)
    column = fits.Column("pha", "I", bzero=32768, array=values, unit="adu")
    fits.BinTableHDU.from_columns([column], name="EVENTS").writeto(tmp_path / "u.fits")
    with fits.open(tmp_path / "u.fits") as hdul:
        summary = summarise_records(hdul[1].data, hdul[1].header, source="u.fits")
    assert (summary.columns[0].lo, summary.columns[0].hi) == (0.0, 65535.0)
