"""The CIAO data subspace (DSS): what a block's rows are known to satisfy.

Reads and writes the ``DSTYPn``/``DSVALn``/``DSREFn``/``DSUNITn``/``DSFORMn``
keywords, and narrows them as filters are applied (dm-syntax 10). Pure values:
``Subspace`` is frozen and every edit returns a new one; only ``write`` touches a
header.

Components: a block may carry several (one per ACIS chip). Component k >= 2 is
written with a numeric prefix and, in real CIAO files
(tests/data/events/chandra_time.fits), omits what it shares with component 1:
``DSTYP1='time' DSREF1=':GTI7'``, ``2DSREF1=':GTI6'``, ``DSTYP2='ccd_id'
DSVAL2='7:7'``, ``2DSVAL2='6:6'`` says "for ccd_id 6 the time ranges are in
GTI6". Missing ``kDSTYPn``/``kDSFORMn``/``kDSUNITn`` are inherited from entry n of
component 1; a ``kDSREFn`` without ``kDSVALn`` means ``TABLE``. ``write`` uses
the same layout: entry n of every component follows ``DSTYPn``...``DSREFn``.

Spelling: real CIAO files write ``DSUNITn`` (tests/data/events/chandra_test.fits);
``DSUNIn`` is read too. ``DSFORMn`` holds a TFORM letter (``D``, ``I``) and decides
the bound rule when ranges intersect: integer forms are closed ``lo..hi``, real
forms half-open ``[lo, hi)`` with ``v:v`` meaning the single value ``v``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeAlias

from xdm.io.tforms import TFORMS
from xdm.lang import nodes

if TYPE_CHECKING:
    from astropy.io.fits import Header

__all__ = [
    "RangeList",
    "Subspace",
    "SubspaceEntry",
    "format_ranges",
    "parse_ranges",
]

Bound: TypeAlias = float | None  # None: open
RangeList: TypeAlias = tuple[tuple[Bound, Bound], ...]
RangesIn: TypeAlias = "str | Sequence[tuple[Bound, Bound]] | Sequence[nodes.Range]"

TABLE = "TABLE"
_Change: TypeAlias = "Callable[[SubspaceEntry | None], SubspaceEntry]"
_KEY = re.compile(r"^(\d*)DS(TYP|VAL|REF|UNIT|UNI|FORM)(\d+)$")
_FIELD = {
    "TYP": "column",
    "VAL": "value",
    "REF": "ref",
    "UNIT": "unit",
    "UNI": "unit",
    "FORM": "form",
}
_INTEGER_FORMS = frozenset(
    code for code, t in TFORMS.items() if t.kind in ("int", "logical", "bit")
)
"""DSFORM codes of whole-number values: their ranges are inclusive."""
_CHIPS = ("ccd_id", "chip_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubspaceEntry:
    """One column of a component: ``DSTYP`` = column, ``DSVAL`` = value...

    ``value`` is a range list (``500:2000``), a region (``circle(1,2,3)``) or
    ``TABLE`` (ranges held in the block named by ``ref``, e.g. ``:GTI7``).
    """

    column: str
    value: str | None = None
    ref: str | None = None
    unit: str | None = None
    form: str | None = None

    def matches(self, column: str) -> bool:
        return self.column.lower() == column.lower()

    @property
    def is_integer(self) -> bool:
        return bool(self.form and self.form.strip()[-1:].upper() in _INTEGER_FORMS)

    @property
    def is_empty(self) -> bool:
        """A range value that selects nothing (``""`` after an empty intersection,
        or an inverted item like ``0:-1``)."""
        if self.value is None or self.value.strip().upper() == TABLE:
            return False
        if not self.value.strip():
            return True
        ranges = self.ranges
        return ranges is not None and all(
            lo is not None and hi is not None and lo > hi for lo, hi in ranges
        )

    @property
    def ranges(self) -> RangeList | None:
        """The value as numeric ranges, or None for a region or ``TABLE``."""
        if self.value is None or self.value.strip().upper() == TABLE:
            return None
        try:
            return parse_ranges(self.value)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Subspace:
    """The components of a block's subspace; component 1 first."""

    components: tuple[tuple[SubspaceEntry, ...], ...] = ()

    # ------------------------------------------------------------ reading

    @classmethod
    def from_header(cls, header: Header) -> Subspace:
        """Collect ``[k]DS*n`` keywords; entries ordered by n, components by k."""
        found: dict[int, dict[int, dict[str, str]]] = {}
        for key in header:
            match = _KEY.match(key)
            if not match:
                continue
            prefix, kind, index = match.groups()
            component = int(prefix) if prefix else 1
            value = header[key]
            text = value if isinstance(value, str) else str(value)
            found.setdefault(component, {}).setdefault(int(index), {})[_FIELD[kind]] = (
                text.strip()
            )
        first = found.get(1, {})
        components = []
        for component in sorted(found):
            entries = []
            for index, fields in sorted(found[component].items()):
                if component > 1:
                    fields = _inherit(fields, first.get(index, {}))
                if "column" in fields:
                    entries.append(SubspaceEntry(**fields))
            components.append(tuple(entries))
        return cls(tuple(components))

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names in the first component that has them, in order."""
        seen: dict[str, str] = {}
        for entries in self.components:
            for entry in entries:
                seen.setdefault(entry.column.lower(), entry.column)
        return tuple(seen.values())

    def entry(self, column: str, component: int = 1) -> SubspaceEntry | None:
        """The entry for ``column`` in a 1-based component, or None."""
        if not 1 <= component <= len(self.components):
            return None
        return next(
            (e for e in self.components[component - 1] if e.matches(column)), None
        )

    def range_of(self, column: str) -> tuple[Bound, Bound] | None:
        """Extent ``(lo, hi)`` of the union of the column's ranges over all
        components (``ccd_id`` of a four-chip file: 3..8).

        Used for default bin ranges. None when some component does not restrict
        the column, or holds a region or ``TABLE`` for it; a side is None when
        open (``500:``).
        """
        if not self.components:
            return None
        los: list[Bound] = []
        his: list[Bound] = []
        for entries in self.components:
            entry = next((e for e in entries if e.matches(column)), None)
            ranges = entry.ranges if entry else None
            if not ranges:
                return None
            los.extend(lo for lo, _ in ranges)
            his.extend(hi for _, hi in ranges)
        lo = None if None in los else min(x for x in los if x is not None)
        hi = None if None in his else max(x for x in his if x is not None)
        return lo, hi

    def chip_refs(self) -> dict[str, int]:
        """Blocks named by ``DSREF`` mapped to the chip of their component.

        ``{"GTI7": 7, "GTI6": 6, ...}`` from components whose ``ccd_id`` (or
        ``chip_id``) is a single value; the key is the block name after the last
        ``:``, upper case. Tells which GTI block belongs to which chip when the
        block itself has no ``CCD_ID`` key.
        """
        out: dict[str, int] = {}
        for entries in self.components:
            chip = next((e for e in entries if e.column.lower() in _CHIPS), None)
            ranges = chip.ranges if chip is not None else None
            if not ranges or len(ranges) != 1:
                continue
            lo, hi = ranges[0]
            if lo is None or lo != hi or lo != int(lo):
                continue
            for e in entries:
                if e.ref:
                    out.setdefault(e.ref.rsplit(":", 1)[-1].strip().upper(), int(lo))
        return out

    # ------------------------------------------------------------ editing

    def _edit(self, column: str, change: _Change, component: int | None) -> Subspace:
        components = self.components or ((),)
        out = []
        for k, entries in enumerate(components, start=1):
            if component is not None and k != component:
                out.append(entries)
                continue
            index = next((i for i, e in enumerate(entries) if e.matches(column)), None)
            if index is None:
                out.append((*entries, change(None)))
            else:
                new = list(entries)
                new[index] = change(entries[index])
                out.append(tuple(new))
        return Subspace(tuple(out))

    def narrowed(
        self,
        column: str,
        ranges: RangesIn,
        unit: str | None = None,
        form: str | None = None,
        *,
        component: int | None = None,
    ) -> Subspace:
        """Record a range filter: intersect with the column's existing ranges.

        ``ranges`` is text (``"500:7000,8000:9000"``), pairs of floats (None for an
        open side) or AST ``nodes.Range`` items. ``energy=500:7000`` then
        ``energy=300:2000`` records ``500:2000``. A ``TABLE`` entry (time ranges in
        a GTI block) is left alone: time narrowing is written to the GTI block and
        recorded with ``with_ref``. Applies to every component unless
        ``component`` (1-based) is given.
        """
        new_ranges = _as_ranges(ranges)

        def change(old: SubspaceEntry | None) -> SubspaceEntry:
            if old is None:
                merged = _normalise(new_ranges, _is_integer_form(form))
                return SubspaceEntry(
                    column=column, value=format_ranges(merged), unit=unit, form=form
                )
            entry = replace(old, unit=old.unit or unit, form=old.form or form)
            if old.value is not None and old.value.strip().upper() == TABLE:
                return entry
            integer = entry.is_integer
            current = old.ranges
            if current is None:  # a region or garbage: the range replaces it
                merged = _normalise(new_ranges, integer)
            else:
                merged = _intersect(current, new_ranges, integer)
            return replace(entry, value=format_ranges(merged))

        return self._edit(column, change, component)._without_empty(column)

    def _without_empty(self, column: str) -> Subspace:
        """Drop components whose ranges for ``column`` became empty (``[ccd_id=7]``
        on a four-chip file leaves one); if all are empty the first stays, so the
        subspace still says that nothing is selected."""
        kept = tuple(
            entries
            for entries in self.components
            if not any(e.matches(column) and e.is_empty for e in entries)
        )
        if not kept and self.components:
            kept = self.components[:1]
        return Subspace(kept)

    def with_region(
        self, column: str, canonical_text: str, *, component: int | None = None
    ) -> Subspace:
        """Record a region filter (CIAO region text, e.g. ``circle(4096,4096,20)``).

        An existing region on the column is intersected: terms of the two unions
        are multiplied out (``(a+b)*c`` -> ``a*c+b*c``) because CIAO region text
        has no parentheses; ``field()`` is the identity.
        """

        def change(old: SubspaceEntry | None) -> SubspaceEntry:
            if old is None:
                return SubspaceEntry(column=column, value=canonical_text)
            if old.value and old.ranges is None and old.value.upper() != TABLE:
                return replace(old, value=_region_and(old.value, canonical_text))
            return replace(old, value=canonical_text, ref=None)

        return self._edit(column, change, component)

    def with_ref(
        self, column: str, ref: str, *, component: int | None = None
    ) -> Subspace:
        """Point the column at a block of ranges: ``time`` -> ``TABLE``, ``:GTI7``."""

        def change(old: SubspaceEntry | None) -> SubspaceEntry:
            if old is None:
                return SubspaceEntry(column=column, value=TABLE, ref=ref)
            return replace(old, value=TABLE, ref=ref)

        return self._edit(column, change, component)

    def removed(self, names: Iterable[str]) -> Subspace:
        """Drop columns from every component (``[subspace -time,-expno]``)."""
        drop = {n.lower() for n in names}
        return Subspace(
            tuple(
                tuple(e for e in entries if e.column.lower() not in drop)
                for entries in self.components
            )
        )

    # ------------------------------------------------------------ writing

    def write(self, header: Header) -> None:
        """Replace every ``[k]DS*n`` keyword of ``header`` by this subspace.

        CIAO's layout: entry n is ``DSTYPn DSVALn DSFORMn DSUNITn DSREFn`` of
        component 1, then ``kDSVALn``/``kDSREFn`` of each component k >= 2, which
        repeat ``kDSTYPn``/``kDSFORMn``/``kDSUNITn`` only where they differ from
        component 1 and leave out ``kDSVALn`` when it is ``TABLE`` with a ref.
        """
        for key in [k for k in header if _KEY.match(k)]:
            header.remove(key, remove_all=True)
        order: dict[str, None] = {}
        for entries in self.components:
            for each in entries:
                order.setdefault(each.column.lower(), None)
        first = self.components[0] if self.components else ()
        for n, name in enumerate(order, start=1):
            base = _find(first, name)
            if base is not None:
                for key, value in (
                    ("DSTYP", base.column),
                    ("DSVAL", base.value),
                    ("DSFORM", base.form),
                    ("DSUNIT", base.unit),
                    ("DSREF", base.ref),
                ):
                    if value is not None:
                        _append(header, f"{key}{n}", value)
            for k, entries in enumerate(self.components[1:], start=2):
                entry = _find(entries, name)
                if entry is None:
                    continue
                table_ref = (
                    entry.ref is not None
                    and (entry.value or "").strip().upper() == TABLE
                )
                for key, value, shared in (
                    ("DSTYP", entry.column, base and base.column),
                    ("DSVAL", None if table_ref else entry.value, None),
                    ("DSFORM", entry.form, base and base.form),
                    ("DSUNIT", entry.unit, base and base.unit),
                    ("DSREF", entry.ref, None),
                ):
                    if value is not None and value != shared:
                        _append(header, f"{k}{key}{n}", value)


def _find(entries: Iterable[SubspaceEntry], name: str) -> SubspaceEntry | None:
    return next((e for e in entries if e.matches(name)), None)


def _inherit(fields: dict[str, str], first: dict[str, str]) -> dict[str, str]:
    """Entry n of component k >= 2 completed from entry n of component 1: the
    column, form and unit when not repeated; ``TABLE`` for a lone ``kDSREFn``;
    value and ref both when neither is given."""
    if not first or (
        "column" in fields
        and "column" in first
        and fields["column"].lower() != first["column"].lower()
    ):
        return fields
    out = dict(fields)
    for key in ("column", "form", "unit"):
        if key not in out and key in first:
            out[key] = first[key]
    if "value" not in out:
        if "ref" in out:
            out["value"] = TABLE
        else:
            out.update({k: first[k] for k in ("value", "ref") if k in first})
    return out


def _append(header: Header, key: str, value: str) -> None:
    """Append ``key = value`` (an astropy ``Header`` or lean ``Cards``, which hand
    a HIERARCH card to astropy when written)."""
    if len(key) > 8:  # only 2-digit entries of a prefixed component
        key = f"HIERARCH {key}"
    header.append((key, value), end=True)


def _is_integer_form(form: str | None) -> bool:
    return bool(form and form.strip()[-1:].upper() in _INTEGER_FORMS)


# ---------------------------------------------------------------- range lists


def parse_ranges(text: str) -> RangeList:
    """``"0:0,2:4,6"`` -> ``((0, 0), (2, 4), (6, 6))``; open sides are None.

    Raises ValueError for text that is not a range list.
    """
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f"empty range item in {text!r}")
        if ":" in item:
            lo_text, hi_text = item.split(":", 1)
            lo = float(lo_text) if lo_text.strip() else None
            hi = float(hi_text) if hi_text.strip() else None
        else:
            lo = hi = float(item)
        out.append((lo, hi))
    return tuple(out)


def _number(x: float) -> str:
    if math.isfinite(x) and x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def format_ranges(ranges: RangeList) -> str:
    """``((500, 2000), (None, 10))`` -> ``"500:2000,:10"``."""
    return ",".join(
        f"{'' if lo is None else _number(lo)}:{'' if hi is None else _number(hi)}"
        for lo, hi in ranges
    )


def _as_ranges(ranges: RangesIn) -> RangeList:
    if isinstance(ranges, str):
        return parse_ranges(ranges)
    out = []
    for item in ranges:
        if isinstance(item, nodes.Range):
            lo = item.lo.value if isinstance(item.lo, nodes.Number) else None
            hi = item.hi.value if isinstance(item.hi, nodes.Number) else None
            if item.is_single:
                hi = lo
            out.append((lo, hi))
        else:
            lo, hi = item
            out.append(
                (None if lo is None else float(lo), None if hi is None else float(hi))
            )
    return tuple(out)


def _lo(x: Bound) -> float:
    return -math.inf if x is None else x


def _hi(x: Bound) -> float:
    return math.inf if x is None else x


def _pair(lo: float, hi: float) -> tuple[Bound, Bound]:
    return (None if lo == -math.inf else lo, None if hi == math.inf else hi)


def _meet(
    a: tuple[Bound, Bound], b: tuple[Bound, Bound], integer: bool
) -> tuple[Bound, Bound] | None:
    """Intersection of two range items, or None when empty.

    Integer columns: closed ``[lo, hi]``. Real columns: ``[lo, hi)``, except a
    single value ``v:v`` which is ``{v}``.
    """
    (alo, ahi), (blo, bhi) = (_lo(a[0]), _hi(a[1])), (_lo(b[0]), _hi(b[1]))
    lo, hi = max(alo, blo), min(ahi, bhi)
    if integer:
        return _pair(lo, hi) if lo <= hi else None
    a_point, b_point = alo == ahi, blo == bhi
    if a_point or b_point:
        v = alo if a_point else blo
        other = (blo, bhi, b_point) if a_point else (alo, ahi, a_point)
        olo, ohi, opoint = other
        inside = v == olo if opoint else olo <= v < ohi
        return (v, v) if inside else None
    return _pair(lo, hi) if lo < hi else None


def _normalise(ranges: RangeList, integer: bool) -> RangeList:
    """Sort and merge overlapping items; touching ones stay apart (``2:2,3:3``)."""
    items = sorted(((_lo(a), _hi(b)) for a, b in ranges), key=lambda r: r)
    out: list[tuple[float, float]] = []
    for lo, hi in items:
        if out:
            plo, phi = out[-1]
            if integer:
                overlaps = lo <= phi
            else:  # [lo, hi) items, v:v a point
                overlaps = lo < phi or (plo == phi == lo)
            if overlaps:
                out[-1] = (plo, max(phi, hi))
                continue
        out.append((lo, hi))
    return tuple(_pair(lo, hi) for lo, hi in out)


def _intersect(a: RangeList, b: RangeList, integer: bool) -> RangeList:
    """Items lying in both range lists (short lists: pairwise)."""
    met = [m for x in a for y in b if (m := _meet(x, y, integer)) is not None]
    return _normalise(tuple(met), integer)


# ---------------------------------------------------------------- region text


def _split_union(text: str) -> list[str]:
    """Top-level ``+``/``|`` terms of CIAO region text."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch in "+|" and depth == 0:
            terms.append(text[start:i].strip())
            start = i + 1
    terms.append(text[start:].strip())
    return [t for t in terms if t]


def _region_and(old: str, new: str) -> str:
    def product(a: str, b: str) -> str:
        if a.lower() == "field()":
            return b
        if b.lower() == "field()":
            return a
        return f"{a}*{b}"

    return "+".join(product(a, b) for a in _split_union(old) for b in _split_union(new))
