"""What a virtual file holds, in numbers: rows kept, column ranges, good time, image stats.

``summarise_table`` and ``summarise_image`` are pure functions of a result read
by ``xdm.read``; ``describe`` reads one (and the input block's row count) and
picks the right one. The REPL and ``xdm run`` render these with rich
(``xdm.cli.render``); tests compare them with numpy on the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ColumnRanges",
    "ColumnSummary",
    "ImageSummary",
    "TableSummary",
    "describe",
    "good_time",
    "preview",
    "summarise_image",
    "summarise_records",
    "summarise_table",
]

GOOD_TIME_KEYS = ("ONTIME", "TOTAL_GTI", "EXPOSURE")
"""Header keywords read, in order, for the total good time of a table."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnSummary:
    """One column: its unit and the range of its values in the kept rows."""

    name: str
    dtype: str
    unit: str | None = None
    lo: float | None = None
    hi: float | None = None
    width: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSummary:
    """A filtered table: ``rows`` kept of ``total_rows`` in the input block."""

    source: str
    block: str | None
    rows: int
    total_rows: int | None
    columns: tuple[ColumnSummary, ...]
    good_time_s: float | None = None

    @property
    def rows_text(self) -> str:
        """``12,345 of 50,000 rows`` (or ``12,345 rows`` when the total is unknown)."""
        if self.total_rows is None:
            return f"{self.rows:,} rows"
        return f"{self.rows:,} of {self.total_rows:,} rows"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSummary:
    """A binned or filtered image; ``shape`` is numpy order ``(ny, nx)``."""

    source: str
    block: str | None
    shape: tuple[int, ...]
    total: float
    lo: float
    hi: float
    unit: str | None = None
    has_wcs: bool = False
    thumbnail: NDArray[np.float64] | None = None
    thumbnail_box: tuple[int, int, int, int] | None = None
    """1-based inclusive pixel box ``(x0, x1, y0, y1)`` the thumbnail shows."""


def summarise_table(
    table: Any,
    *,
    source: str,
    total_rows: int | None = None,
    block: str | None = None,
) -> TableSummary:
    """Summarise an astropy ``Table``: row count, column ranges, good time from its meta."""
    columns = tuple(
        _column_summary(name, table[name], getattr(table[name], "unit", None))
        for name in table.colnames
    )
    return TableSummary(
        source=source,
        block=block or _meta_text(table.meta, "EXTNAME"),
        rows=len(table),
        total_rows=total_rows,
        columns=columns,
        good_time_s=_good_time(table.meta),
    )


def summarise_image(
    data: NDArray[Any],
    *,
    source: str,
    header: Any = None,
    has_wcs: bool = False,
    block: str | None = None,
    preview_shape: tuple[int, int] = (32, 48),
) -> ImageSummary:
    """Summarise image pixels: shape, sum, min/max (NaN ignored) and a thumbnail."""
    values = np.asarray(data)
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values.ravel()
    lo = float(finite.min()) if finite.size else math.nan
    hi = float(finite.max()) if finite.size else math.nan
    header = header if header is not None else {}
    box = _data_box(values) if values.ndim == 2 else None
    thumbnail = None
    if box is not None:
        x0, x1, y0, y1 = box
        thumbnail = preview(values[y0 - 1 : y1, x0 - 1 : x1], preview_shape)
    return ImageSummary(
        source=source,
        block=block or _meta_text(header, "EXTNAME"),
        shape=tuple(int(n) for n in values.shape),
        total=float(finite.sum(dtype=np.float64)) if finite.size else 0.0,
        lo=lo,
        hi=hi,
        unit=_meta_text(header, "BUNIT"),
        has_wcs=has_wcs,
        thumbnail=thumbnail,
        thumbnail_box=box,
    )


def _data_box(image: NDArray[Any]) -> tuple[int, int, int, int] | None:
    """The smallest box holding every non-zero pixel (the whole image if none)."""
    ny, nx = image.shape
    if ny == 0 or nx == 0:
        return None
    filled = np.nan_to_num(np.asarray(image, dtype=np.float64)) != 0
    rows = np.flatnonzero(filled.any(axis=1))
    cols = np.flatnonzero(filled.any(axis=0))
    if rows.size == 0:
        return 1, nx, 1, ny
    return int(cols[0]) + 1, int(cols[-1]) + 1, int(rows[0]) + 1, int(rows[-1]) + 1


def preview(image: NDArray[Any], shape: tuple[int, int]) -> NDArray[np.float64]:
    """Block-sum ``image`` down to at most ``shape`` cells (NaN counts as 0).

    Every cell sums an equal square block of pixels (the image is padded with
    zeros to a multiple), so the aspect is kept and the totals agree.
    """
    ny, nx = image.shape
    f = max(1, math.ceil(ny / shape[0]), math.ceil(nx / shape[1]))
    my, mx = math.ceil(ny / f), math.ceil(nx / f)
    padded = np.zeros((my * f, mx * f), dtype=np.float64)
    padded[:ny, :nx] = np.nan_to_num(np.asarray(image, dtype=np.float64))
    cells: NDArray[np.float64] = padded.reshape(my, f, mx, f).sum(axis=(1, 3))
    return cells


def summarise_records(
    records: NDArray[Any],
    header: Any,
    *,
    source: str,
    total_rows: int | None = None,
) -> TableSummary:
    """Summarise raw FITS table records with their header.

    Ranges are taken on the stored values, then scaled by TSCALn/TZEROn; units
    come from TUNITn. No astropy table is built.
    """
    names = tuple((name, name) for name in records.dtype.names or ())
    ranges = ColumnRanges(names)
    ranges.add(records, np.ones(len(records), dtype=bool))
    return ranges.summary(
        header, source=source, total_rows=total_rows, good_time_s=_good_time(header)
    )


def describe(
    text: str, base_dir: str | None = None, *, chunk_rows: int | None = None
) -> TableSummary | ImageSummary:
    """Evaluate the virtual file ``text`` and summarise what it selects.

    The virtual file is planned once. A table is reduced chunk by chunk in the
    plan's one streaming pass (``xdm.engine.executor.scan``): rows kept, column
    ranges and good time need memory for one chunk, not for the kept rows, so
    1e8-row files summarise in flat memory.
    """
    import xdm
    from xdm.engine.executor import ImageResult, evaluate, scan
    from xdm.io.blocks import DEFAULT_CHUNK_ROWS

    vf = xdm.parse(text)
    rows_per_chunk = chunk_rows or DEFAULT_CHUNK_ROWS
    plan = xdm.plan(vf, base_dir=base_dir, chunk_rows=rows_per_chunk)
    if plan.image_block:
        image = xdm.read(vf, base_dir=base_dir)
        return _image(text, image.data, image.header, image.name)
    if plan.gives_image:
        result = evaluate(plan)
        assert isinstance(result, ImageResult)
        return _image(text, result.data, result.header, result.name)
    with scan(plan) as rows:
        ranges = ColumnRanges(rows.columns)
        for records, kept in rows.chunks:
            ranges.add(records, kept)
        return ranges.summary(
            rows.header,
            source=text,
            total_rows=rows.total_rows,
            good_time_s=good_time(rows.header, rows.gti_blocks),
        )


class ColumnRanges:
    """Running row count and per-column min/max over chunks of raw records.

    ``columns`` pairs each column's name in the records with its output name.
    Ranges are of the stored values (NaN ignored); ``summary`` scales them by
    TSCALn/TZEROn (unless the records were astropy's, already scaled) and reads
    TUNITn, so the result equals ``summarise_records`` on all kept rows at once.
    """

    def __init__(self, columns: tuple[tuple[str, str], ...]) -> None:
        self.columns = columns
        self.rows = 0
        self.scaled = False
        self._kinds: dict[str, tuple[np.dtype[Any], int]] = {}
        self._lo: dict[str, Any] = {}
        self._hi: dict[str, Any] = {}

    def add(self, records: NDArray[Any], kept: NDArray[np.bool_]) -> None:
        """Fold in the kept rows of one chunk (one column copied at a time)."""
        from xdm.io.hdus import is_scaled_records

        self.scaled = self.scaled or is_scaled_records(records)
        every = bool(kept.all())
        n = len(records) if every else int(np.count_nonzero(kept))
        self.rows += n
        for old, _ in self.columns:
            column = np.asarray(records[old])
            width = int(np.prod(column.shape[1:])) if column.ndim > 1 else 1
            self._kinds.setdefault(old, (column.dtype, width))
            if not n or column.dtype.kind not in "biuf":
                continue
            values = column if every else column[kept]
            lo, hi = _min_max(values)
            if lo is not None:
                self._lo[old] = lo if old not in self._lo else min(self._lo[old], lo)
                self._hi[old] = hi if old not in self._hi else max(self._hi[old], hi)

    def summary(
        self,
        header: Any,
        *,
        source: str,
        total_rows: int | None,
        good_time_s: float | None,
    ) -> TableSummary:
        """The ``TableSummary`` of everything added so far."""
        columns = []
        for n, (old, new) in enumerate(self.columns, start=1):
            dtype, width = self._kinds.get(old, (np.dtype(np.float64), 1))
            lo, hi = self._lo.get(old), self._hi.get(old)
            scale = 1.0 if self.scaled else float(header.get(f"TSCAL{n}", 1.0))
            zero = 0.0 if self.scaled else float(header.get(f"TZERO{n}", 0.0))
            if (scale, zero) != (1.0, 0.0) and lo is not None and hi is not None:
                lo, hi = sorted((lo * scale + zero, hi * scale + zero))
            unit = header.get(f"TUNIT{n}")
            columns.append(
                ColumnSummary(
                    name=new,
                    dtype=dtype.base.name if dtype.kind != "V" else "record",
                    unit=str(unit) if unit is not None and str(unit) else None,
                    lo=lo,
                    hi=hi,
                    width=width,
                )
            )
        return TableSummary(
            source=source,
            block=_meta_text(header, "EXTNAME"),
            rows=self.rows,
            total_rows=total_rows,
            columns=tuple(columns),
            good_time_s=good_time_s,
        )


def _min_max(values: NDArray[Any]) -> tuple[float | None, float | None]:
    """Min and max of the values as floats; NaN ignored; None if nothing is left."""
    if values.dtype.kind != "f":
        return float(values.min()), float(values.max())
    lo, hi = (
        float(np.fmin.reduce(values, axis=None)),
        float(np.fmax.reduce(values, axis=None)),
    )
    return (None, None) if math.isnan(lo) else (lo, hi)


def good_time(header: Any, gti_blocks: Any = ()) -> float | None:
    """Total good time: the header's ``GOOD_TIME_KEYS``, else from the GTI blocks.

    Files without the keywords (RXTE: two GTI blocks, no ONTIME) get what
    ``xdm.io.gti.update_exposure_keys`` would write as ONTIME: per-chip GTIs for the
    aim chip, or the plain blocks combined per the switch ``multi_block_combine``.
    """
    found = _good_time(header)
    if found is not None or not gti_blocks:
        return found
    from xdm.io import gti

    scratch = header.copy()  # the keys are what the rule writes, not the result
    gti.update_exposure_keys(scratch, gti_blocks)
    return _good_time(scratch)


def _image(text: str, data: NDArray[Any], header: Any, name: str) -> ImageSummary:
    import warnings

    from astropy.wcs import WCS

    with warnings.catch_warnings():  # astropy's notes on fixing old date keywords
        warnings.simplefilter("ignore")
        has_wcs = bool(WCS(header).has_celestial)
    return summarise_image(
        np.asarray(data),
        source=text,
        header=header,
        has_wcs=has_wcs,
        block=name or None,
    )


def _column_summary(name: str, column: Any, unit: Any = None) -> ColumnSummary:
    values = np.asarray(column)
    width = int(np.prod(values.shape[1:])) if values.ndim > 1 else 1
    lo = hi = None
    if values.dtype.kind in "biuf" and values.size:
        if values.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
            lo, hi = (None, None) if np.isnan(lo) else (lo, hi)
        else:
            lo, hi = float(values.min()), float(values.max())
    return ColumnSummary(
        name=name,
        dtype=values.dtype.base.name if values.dtype.kind != "V" else "record",
        unit=str(unit) if unit is not None and str(unit) else None,
        lo=lo,
        hi=hi,
        width=width,
    )


def _good_time(meta: Any) -> float | None:
    for key in GOOD_TIME_KEYS:
        value = meta.get(key) if hasattr(meta, "get") else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _meta_text(meta: Any, key: str) -> str | None:
    value = meta.get(key) if hasattr(meta, "get") else None
    return str(value).strip() or None if value is not None else None
