"""The unconfirmed CIAO behaviours, as one table of switches.

The spec (dm-syntax.md) marks some behaviours *unconfirmed*: believed, not
verified against CIAO. xdm picks one reading for each, and each reading is one
field of :class:`Switches` here, with the spec section, what xdm does and what the
other choice does. The modules read the value in force with :func:`current`;
:func:`using` runs a block with other values, for a test or to match what a CIAO
version turns out to do::

    with xdm.switches.using(time_in_or_narrows_gti=False):
        xdm.copy("evt2.fits[(time=a:b)||(energy>5000)]", "out.fits")

The values live in a :class:`contextvars.ContextVar`: a ``using`` block changes
them for its own thread (and asyncio task) only, so threads never see each
other's switches. A thread started inside the block sees the defaults unless it
runs in a copy of the context (:func:`contextvars.copy_context`); xdm's own worker
threads only move numbers and read no switch.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Literal

__all__ = ["DEFAULTS", "Switch", "Switches", "current", "table", "using"]


def _switch(
    default: Any, section: str, does: str, other: str, choices: tuple[Any, ...] = ()
) -> Any:
    return field(
        default=default,
        metadata={"section": section, "does": does, "other": other, "choices": choices},
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Switches:
    """One reading of each unconfirmed behaviour; the defaults are xdm's choice."""

    real_upper_bound_inclusive: bool = _switch(
        False,
        "3.3",
        "a real-column range `lo:hi` keeps `lo <= v < hi` (the documented form)",
        "`lo <= v <= hi`",
    )
    real_single_value_equals: bool = _switch(
        True,
        "3.3",
        "a single value on a real column (`energy=1000`) means `v == 1000`",
        "the range `v:v`, empty unless the upper bound is inclusive",
    )
    null_never_matches: bool = _switch(
        True,
        "3.3",
        "a TNULL-valued integer never satisfies a range that would contain it",
        "the null value is compared like any other integer",
    )
    string_case_sensitive: bool = _switch(
        True,
        "3.6",
        "string values compare case-sensitively after trimming trailing blanks "
        "(the `shape` column of REGION tables always folds case)",
        "every string comparison folds case",
    )
    bit_pattern_align_right: bool = _switch(
        True,
        "3.7",
        "a bit pattern is aligned on bit 0 (its rightmost character); a longer "
        "pattern than the column is accepted when the extra leading characters are `x`",
        "a pattern longer than the column is an error",
    )
    single_selection_applies_to_all: bool = _switch(
        True,
        "3.10",
        "a GTI reference narrowed to one set of intervals (`@flt1.fits[GTI7]`, "
        "`@evt2.fits[ccd_id=7]`) is a plain time filter for every row",
        "it cuts only the events of its chip, like one block of a per-chip GTI file",
    )
    time_in_or_narrows_gti: bool = _switch(
        True,
        "4",
        "a time filter inside a top-level `||` narrows the GTIs to the times the "
        "whole `||` can keep a row: the union of its branches, a branch without a "
        "time filter counting as all times",
        "rows are selected the same way and the GTIs are left as they are",
    )
    update_tstart_tstop: bool = _switch(
        False,
        "4",
        "a time filter keeps the observation's TSTART/TSTOP",
        "they become the first START and the last STOP of the new GTIs",
    )
    multi_block_combine: Literal["intersect", "union"] = _switch(
        "intersect",
        "4",
        "several GTI blocks without CCD_ID (RXTE files carry two) describe one "
        "detector: the good time is where all of them are good",
        "`union`: the good time is where any of them is good",
        ("intersect", "union"),
    )
    snap_to_tlmin_grid: bool = _switch(
        True,
        "7.4",
        "a default bin range shrunk to a filter starts on the column's TLMIN grid, "
        "`TLMIN + floor(filter_min - TLMIN)` (the grid CIAO was seen to use)",
        "it starts at the filter's own lower limit",
    )
    weighted_image_type: Literal["i2", "i4", "r4", "r8"] = _switch(
        "r4",
        "7.5",
        "a weighted histogram (`[bin x,y;flux]`) is an r4 image unless `[opt type=]`",
        "`i2` (the unweighted default), `i4` or `r8`",
        ("i2", "i4", "r4", "r8"),
    )
    physical_upper_inclusive: bool = _switch(
        False,
        "8",
        "a physical-coordinate range on an image (`x=lo:hi`) keeps pixel centres "
        "with `lo <= x < hi` (logical `#1=lo:hi` is inclusive, as documented)",
        "`lo <= x <= hi`",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value, choices = getattr(self, f.name), f.metadata["choices"]
            if choices and value not in choices:
                raise ValueError(
                    f"switch {f.name} is one of {', '.join(map(repr, choices))}, "
                    f"not {value!r}"
                )
            if not choices and not isinstance(value, bool):
                raise TypeError(f"switch {f.name} is True or False, not {value!r}")


@dataclass(frozen=True, slots=True)
class Switch:
    """One row of the table: a switch, its default, and what each choice does."""

    name: str
    default: Any
    section: str
    does: str
    other: str
    choices: tuple[Any, ...]


DEFAULTS = Switches()
"""xdm's reading of every unconfirmed behaviour."""

_current: ContextVar[Switches] = ContextVar("xdm_switches", default=DEFAULTS)


def current() -> Switches:
    """The switches in force here (the defaults outside any :func:`using` block)."""
    return _current.get()


@contextmanager
def using(**changes: Any) -> Iterator[Switches]:
    """Run the block with some switches changed (``using(update_tstart_tstop=True)``);
    blocks nest, and the old values come back on exit."""
    names = [f.name for f in fields(Switches)]
    for name in changes:
        if name not in names:
            near = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise TypeError(f"unknown switch {name!r}{hint}")
    token = _current.set(replace(current(), **changes))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def table() -> tuple[Switch, ...]:
    """Every switch with its default, spec section and the two readings."""
    return tuple(
        Switch(
            f.name,
            f.default if f.default is not MISSING else None,
            f.metadata["section"],
            f.metadata["does"],
            f.metadata["other"],
            f.metadata["choices"],
        )
        for f in fields(Switches)
    )
