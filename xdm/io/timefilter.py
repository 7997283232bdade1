"""``[@file]`` time references: read the good times a nested virtual file names
(``evt[@flt1.fits]``, ``@evt2.fits[GTI7]``, ``@evt2.fits[ccd_id=7]``) as a time
filter keyed by chip, and turn ``time=...`` filters into intervals.

The one io module here that opens a file for its GTIs; the algebra is
``xdm.io.intervals`` and the GTI block rules ``xdm.io.gti``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from xdm import switches
from xdm.errors import XdmIOError, XdmSemanticError
from xdm.io.gti import (
    combine_blocks,
    gti_ccd,
    has_intervals,
    interval_column,
    is_gti_block,
    subspace_refs,
)
from xdm.io.intervals import Intervals, TimeFilter, intersect, normalise, subtract
from xdm.lang import nodes

__all__ = [
    "intervals_from_filter",
    "looks_like_fits",
    "read_time_filter",
]

_CHIP_COLUMNS = ("ccd_id", "chip_id")


def looks_like_fits(path: str, base_dir: str | None = None) -> bool:
    """True when the (possibly gzipped) file starts with a FITS primary header.

    Tells a ``[@flt1.fits]`` GTI reference from a ``[@filter.lis]`` text filter.
    """
    import gzip

    full = _resolve(path, base_dir)
    try:
        with open(full, "rb") as fh:
            head = fh.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(full, "rb") as fh:
            return fh.read(9) == b"SIMPLE  ="
    except OSError:
        return False


def _resolve(path: str, base_dir: str | None) -> str:
    expanded = os.path.expanduser(os.path.expandvars(path))
    if base_dir and not os.path.isabs(expanded):
        expanded = os.path.join(base_dir, expanded)
    return expanded


def _chip_set(expr: nodes.RangeFilter) -> set[int]:
    """Chip numbers named by ``ccd_id=0:3,7``."""
    chips: set[int] = set()
    for item in expr.ranges:
        lo = item.lo.value if isinstance(item.lo, nodes.Number) else 0
        hi = item.hi.value if isinstance(item.hi, nodes.Number) else 9
        if lo != int(lo) or hi != int(hi):
            raise XdmSemanticError(
                "chip numbers must be integers",
                span=expr.span,
                hint="write ccd_id=7 or ccd_id=0:3",
            )
        chips.update(range(int(lo), int(hi) + 1))
    return chips


def intervals_from_filter(expr: nodes.FilterExpr) -> Intervals:
    """``time=a:b,c:d`` or ``time>a`` as normalised intervals (open ends are inf).

    Half-open like real-column ranges; a single value ``time=t`` is empty.
    """
    if isinstance(expr, nodes.RangeFilter):
        rows = []
        for item in expr.ranges:
            lo = item.lo.value if isinstance(item.lo, nodes.Number) else -np.inf
            hi = item.hi.value if isinstance(item.hi, nodes.Number) else np.inf
            rows.append((lo, hi))
        return normalise(rows)
    assert isinstance(expr, nodes.ComparisonFilter)
    if not isinstance(expr.value, nodes.Number) or expr.op not in (
        "<",
        ">",
        "<=",
        ">=",
    ):
        raise XdmSemanticError(
            f"cannot use time{expr.op}{getattr(expr.value, 'text', '')} on GTIs",
            span=expr.span,
            hint="use time=lo:hi, time<t or time>t",
        )
    t = expr.value.value
    return np.array([[t, np.inf]] if expr.op in (">", ">=") else [[-np.inf, t]])


def _terms(expr: nodes.FilterExpr) -> tuple[nodes.FilterExpr, ...]:
    return expr.terms if isinstance(expr, nodes.AndFilter) else (expr,)


class _Selection:
    """What a nested reference's own qualifiers keep: chips, rows, times."""

    def __init__(self, vf: nodes.VirtualFile) -> None:
        self.chips: set[int] | None = None
        self.rows: list[tuple[int, int]] | None = None
        self.rows_excluded = False
        self.times: Intervals = np.array([[-np.inf, np.inf]])
        for qualifier in vf.filters:
            for term in _terms(qualifier.expr):
                self._add(term, qualifier.exclude, len(_terms(qualifier.expr)))

    def _add(self, term: nodes.FilterExpr, exclude: bool, n_terms: int) -> None:
        if exclude and n_terms > 1:
            raise XdmSemanticError(
                "a multi-clause [exclude ...] is not supported in a GTI reference",
                span=term.span,
                hint="write one [exclude ...] bracket per clause",
            )
        name = ""
        if isinstance(term, nodes.RangeFilter | nodes.ComparisonFilter) and isinstance(
            term.column, nodes.ColumnName
        ):
            name = term.column.name.lower()
        if name in _CHIP_COLUMNS and isinstance(term, nodes.RangeFilter):
            chips = _chip_set(term)
            if exclude:
                chips = set(range(10)) - chips
            self.chips = chips if self.chips is None else self.chips & chips
        elif name in ("time", "start", "stop"):
            ranges = intervals_from_filter(term)
            self.times = (subtract if exclude else intersect)(self.times, ranges)
        elif isinstance(term, nodes.RowFilter):
            if self.rows is not None:
                raise XdmSemanticError(
                    "only one #row filter is supported in a GTI reference",
                    span=term.span,
                )
            self.rows = [
                (
                    int(r.lo.value) if isinstance(r.lo, nodes.Number) else 1,
                    int(r.hi.value) if isinstance(r.hi, nodes.Number) else 2**62,
                )
                for r in term.ranges
            ]
            self.rows_excluded = exclude
        else:
            raise XdmSemanticError(
                "a GTI reference can only be filtered on ccd_id, time or #row",
                span=term.span,
                expected=("ccd_id=...", "time=...", "#row=...", "a block name"),
                hint="filter the events themselves in the outer brackets",
            )

    def rows_of(self, hdu: Any) -> Intervals:
        g = hdu.data
        start = np.asarray(g[interval_column(hdu, "START")], dtype=np.float64)
        stop = np.asarray(g[interval_column(hdu, "STOP")], dtype=np.float64)
        if self.rows is not None:
            number = np.arange(1, len(start) + 1)
            chosen = np.zeros(len(start), dtype=bool)
            for lo, hi in self.rows:
                chosen |= (number >= lo) & (number <= hi)
            if self.rows_excluded:
                chosen = ~chosen
            start, stop = start[chosen], stop[chosen]
        return intersect(np.column_stack((start, stop)), self.times)


def _find_block(hdul: Any, block: nodes.BlockRef, path: str) -> Any:
    if block.number is not None:
        if 1 <= block.number <= len(hdul):
            return hdul[block.number - 1]  # CIAO numbers count the primary as 1
    else:
        wanted = (block.name or "").upper()
        for hdu in hdul:
            names = {
                str(hdu.header.get("EXTNAME", "")).strip().upper(),
                str(hdu.header.get("HDUNAME", "")).strip().upper(),
            }
            if wanted in names:
                return hdu
    label = block.name if block.number is None else str(block.number)
    raise XdmIOError(
        f"no block {label!r} in {path}",
        span=block.span,
        expected=tuple(
            str(h.header.get("HDUNAME", h.name)).strip() or h.name for h in hdul
        ),
        hint="block names are EXTNAME/HDUNAME; numbers count the primary as 1",
    )


def read_time_filter(vf: nodes.VirtualFile, base_dir: str | None = None) -> TimeFilter:
    """Read the intervals of a ``[@file]`` time filter.

    Accepted files: a GTI table (``START``/``STOP`` columns in any case, e.g.
    RXTE ``Start``/``Stop``), a per-chip file (``GTI0``..``GTI9`` blocks with a
    ``CCD_ID`` key, like ``flt1.fits``), or an event file whose GTI blocks are
    used. The keys of the result are chips (``CCD_ID``) or ``None`` for "every
    chip"; see ``intervals_for``.

    The nested file's own qualifiers are honoured where they select intervals:

    * a block (``@evt2.fits[GTI7]``, ``@gti.fits[2]``): that block only; an event
      block selects the file's GTI blocks;
    * ``ccd_id=``/``chip_id=`` ranges (also in ``[exclude ...]``): those chips;
    * ``time=`` ranges or ``time<t``/``time>t``: intervals clipped to them;
    * ``#row=``: those rows of each GTI table.

    Any other filter raises ``XdmSemanticError``; ``[cols]``, ``[opt]`` and
    ``[subspace]`` are ignored. When the selection leaves one set of intervals
    (one block chosen, or one chip) it applies to all rows (key ``None``, see
    the switch ``single_selection_applies_to_all``). Several blocks without a chip
    are combined per ``multi_block_combine`` (both in ``xdm.switches``).

    Raises
    ------
    XdmIOError
        Missing or unreadable file, unknown block.
    XdmSemanticError
        No START/STOP table in the file, or an unsupported nested filter.
    """
    from astropy.io import fits

    path = _resolve(vf.path, base_dir)
    selection = _Selection(vf)
    try:
        hdul = fits.open(path, memmap=True)
    except FileNotFoundError:
        raise XdmIOError(
            f"GTI file not found: {vf.path}",
            span=vf.span,
            hint=f"looked for {path}",
        ) from None
    except OSError as exc:
        raise XdmIOError(
            f"cannot read {vf.path} as FITS: {exc}",
            span=vf.span,
            hint="a text filter file is read with [@file.lis], not as GTIs",
        ) from None
    with hdul:
        refs: dict[str, int] = {}
        for hdu in hdul:
            if not is_gti_block(hdu):
                refs.update(subspace_refs(hdu.header))
        chosen_one = False
        if vf.block is not None:
            hdu = _find_block(hdul, vf.block, vf.path)
            if has_intervals(hdu):
                blocks, chosen_one = [hdu], True
            else:
                blocks = [h for h in hdul if is_gti_block(h)]
        else:
            blocks = [h for h in hdul if is_gti_block(h)]
            if not blocks:  # an untagged table of START/STOP
                blocks = [h for h in hdul if has_intervals(h)][:1]
        if not blocks:
            raise XdmSemanticError(
                f"{vf.path} holds no table with START and STOP columns",
                span=vf.span,
                hint="a GTI file has START/STOP columns (any case)",
            )
        keep: TimeFilter = {}
        for hdu in blocks:
            ccd = None if chosen_one else gti_ccd(hdu.header, refs)
            if (
                selection.chips is not None
                and ccd is not None
                and ccd not in selection.chips
            ):
                continue
            g = selection.rows_of(hdu)
            if ccd in keep:
                keep[ccd] = (
                    intersect(keep[ccd], g)
                    if ccd is not None
                    else combine_blocks(keep[ccd], g)
                )
            else:
                keep[ccd] = g
    if selection.chips is not None and not keep:
        raise XdmSemanticError(
            f"{vf.path} has no GTI block for ccd_id {sorted(selection.chips)}",
            span=vf.span,
        )
    if (
        switches.current().single_selection_applies_to_all
        and len(keep) == 1
        and (chosen_one or (selection.chips is not None and len(selection.chips) == 1))
    ):
        return {None: next(iter(keep.values()))}
    return keep
