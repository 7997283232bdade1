"""Blank-sky background numerics: per-chip counts, scale factors, the event writer.

Scale factors (workflows.md 4, CIAO's bin/blanksky):

* ``particle``: ``k_n = N_obs(band, chip n) / N_bkg(band, chip n)``;
* ``time``: ``k_n = LIVTIMEn(obs) / LIVTIMEn(bkg)`` (``LIVETIMn``, then
  ``LIVETIME`` when a chip key is missing; HRC: ``EXPOSURE`` ratio);
* ``particle-rate``: particle factor / time factor.

Counts come from the engine (``xdm.scan`` of the virtual file with the band's
filter: one streaming pass, ``np.bincount`` per chip).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from xdm.errors import XdmSemanticError

if TYPE_CHECKING:
    from xdm.io.hdus import Header
    from xdm.lang import nodes

__all__ = [
    "chip_counts",
    "default_band",
    "filter_qualifiers",
    "scale_factors",
    "time_key",
    "with_qualifiers",
]

METHODS = ("particle", "time", "particle-rate")


def default_band(instrument: str) -> str:
    """CIAO's default ``bkgparams``: ``[energy=9000:12000]`` (ACIS), ``[pi=300:500]`` (HRC)."""
    return (
        "[pi=300:500]"
        if instrument.upper().startswith("HRC")
        else "[energy=9000:12000]"
    )


def filter_qualifiers(text: str, what: str) -> tuple[nodes.Qualifier, ...]:
    """``[energy=9000:12000]`` -> its parsed filter qualifiers (no binning, no cols)."""
    from xdm.lang import nodes
    from xdm.lang.parser import parse

    value = text.strip()
    if not (value.startswith("[") and value.endswith("]")):
        raise XdmSemanticError(
            f"{what}={text!r} must be a filter in brackets",
            hint="for example [energy=9000:12000] (ACIS) or [pi=300:500] (HRC)",
        )
    vf = parse("events.fits" + value)
    for q in vf.qualifiers:
        if not isinstance(q, nodes.FilterQualifier):
            raise XdmSemanticError(f"{what}={text!r} may hold only filters")
    return tuple(vf.qualifiers)


def with_qualifiers(
    vf: nodes.VirtualFile, extra: Sequence[nodes.Qualifier]
) -> nodes.VirtualFile:
    """``vf`` with more qualifiers appended (the AST, never text)."""
    return replace(vf, qualifiers=tuple(vf.qualifiers) + tuple(extra))


def chip_counts(vf: nodes.VirtualFile, column: str) -> dict[int, int]:
    """Rows kept per chip (``ccd_id`` / ``chip_id``), one streaming pass."""
    from xdm.api import scan

    counts = np.zeros(0, dtype=np.int64)
    with scan(vf) as rows:
        names = {out.lower(): raw for raw, out in rows.columns}
        raw = names.get(column.lower())
        if raw is None:
            raise XdmSemanticError(f"{vf.path} has no {column} column")
        for records, kept in rows.chunks:
            chips = np.asarray(records[raw][kept], dtype=np.int64)
            if chips.size == 0:
                continue
            if chips.min() < 0:
                raise XdmSemanticError(f"{vf.path}: negative {column} values")
            add = np.bincount(chips)
            if add.size > counts.size:
                counts = np.pad(counts, (0, add.size - counts.size))
            counts[: add.size] += add
    return {int(c): int(n) for c, n in enumerate(counts) if n}


def time_key(header: Header, chip: int | None) -> float:
    """CIAO's lookup: ``LIVETIMn``, ``LIVTIMEn``, then ``LIVETIME`` (chip None: EXPOSURE)."""
    keys = (
        ["EXPOSURE"]
        if chip is None
        else [f"LIVETIM{chip}", f"LIVTIME{chip}", "LIVETIME"]
    )
    for key in keys:
        value = header.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    raise XdmSemanticError(f"no {' or '.join(keys)} keyword for the time scaling")


def scale_factors(
    method: str,
    chips: Sequence[int],
    *,
    obs_band: Mapping[int, int],
    bkg_band: Mapping[int, int],
    obs_header: Header,
    bkg_headers: Mapping[int, Header],
    hrc: bool,
) -> dict[int, float]:
    """``k_n`` per chip for ``method`` (see the module text).

    ``bkg_headers`` gives, per chip, the header of the blank-sky file holding it.
    """
    out: dict[int, float] = {}
    for chip in chips:
        key_chip = None if hrc else chip
        t = time_key(obs_header, key_chip) / time_key(bkg_headers[chip], key_chip)
        if method == "time":
            out[chip] = t
            continue
        n_bkg = bkg_band.get(chip, 0)
        if n_bkg == 0:
            raise XdmSemanticError(
                f"blanksky: the blank-sky events of chip {chip} have no counts in the "
                "bkgparams band; the particle scale cannot be computed",
                hint="use weight_method=time or a wider bkgparams band",
            )
        particle = obs_band.get(chip, 0) / n_bkg
        out[chip] = particle if method == "particle" else particle / t
    return out
