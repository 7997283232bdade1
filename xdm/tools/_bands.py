"""Energy bands of the contributed scripts (fluximage, srcflux): names, ranges, labels.

A band is a name or ``lo:hi:eff`` in keV (workflows.md 0.4). ``parse_bands``
expands ``default`` (broad for ACIS, wide for HRC) and ``csc`` (soft, medium,
hard), drops repeats and refuses two bands with one label, as CIAO's
``ciao_contrib._tools.bands`` does. A user band's label is ``lo-hi`` spelt as
the user wrote the numbers (``0.5:7:2.3`` -> ``0.5-7``), which names the
output files.

>>> [band_label(b) for b in parse_bands("csc,0.5:7:2.3", "ACIS")]
['soft', 'medium', 'hard', '0.5-7']
>>> BANDS["broad"].energy_filter
(500.0, 7000.0)
"""

from __future__ import annotations

from dataclasses import dataclass

from xdm.errors import XdmSemanticError

__all__ = ["BANDS", "Band", "band_label", "parse_bands"]


@dataclass(frozen=True, slots=True)
class Band:
    """One energy band: label, range and effective (mono) energy in keV.

    ``emin``/``emax`` are the range recorded in headers (EMIN/EMAX); ``filtered``
    is False for HRC's ``wide`` band, which selects every event.
    """

    label: str
    emin: float
    emax: float
    eff: float
    filtered: bool = True

    @property
    def energy_filter(self) -> tuple[float, float] | None:
        """The event filter ``energy=lo:hi`` in eV, or None (no energy filter)."""
        if not self.filtered:
            return None
        return (self.emin * 1000.0, self.emax * 1000.0)


BANDS: dict[str, Band] = {
    "broad": Band("broad", 0.5, 7.0, 2.3),
    "soft": Band("soft", 0.5, 1.2, 0.92),
    "medium": Band("medium", 1.2, 2.0, 1.56),
    "hard": Band("hard", 2.0, 7.0, 3.8),
    "ultrasoft": Band("ultrasoft", 0.2, 0.5, 0.4),
    "wide": Band("wide", 0.1, 10.0, 1.5, filtered=False),
}
"""The Chandra Source Catalog bands (workflows.md 0.4; CIAO fluximage/srcflux)."""

_ACIS_NAMES = ("broad", "soft", "medium", "hard", "ultrasoft")


def band_label(band: Band) -> str:
    """The label that names a band's output files (``broad``, ``0.5-7``)."""
    return band.label


def _is_hrc(instrument: str) -> bool:
    return instrument.strip().upper().startswith("HRC")


def _user_band(text: str) -> Band:
    parts = [t.strip() for t in text.split(":")]
    hint = (
        "a band is broad, soft, medium, hard, ultrasoft, wide, csc or lo:hi:eff in keV"
    )
    if len(parts) != 3 or "" in parts:
        raise XdmSemanticError(f"bands: {text!r} is not a band", hint=hint)
    try:
        lo, hi, eff = (float(t) for t in parts)
    except ValueError:
        raise XdmSemanticError(f"bands: {text!r} is not a band", hint=hint) from None
    for value in (lo, hi, eff):
        if not 0.1 <= value <= 10.0:
            raise XdmSemanticError(
                f"bands: energy {value:g} keV in {text!r} is outside Chandra's "
                "nominal range of 0.1 to 10 keV"
            )
    if lo >= hi:
        raise XdmSemanticError(
            f"bands: {text!r} has its low energy {lo:g} not below its high {hi:g} keV"
        )
    return Band(f"{parts[0]}-{parts[1]}", lo, hi, eff)


def parse_bands(text: str, instrument: str = "ACIS") -> list[Band]:
    """A ``bands=`` value (comma-separated) -> the bands, in order, without repeats.

    ``instrument`` is the INSTRUME keyword: ``default`` means broad for ACIS and
    wide for HRC; HRC takes only ``wide`` (CIAO's HRC bands are PI ranges).
    """
    words = [w.replace(" ", "").lower() for w in text.split(",") if w.strip()]
    if not words:
        words = ["default"]
    hrc = _is_hrc(instrument)
    names: list[str] = []
    for w in words:
        expanded = (
            ["wide" if hrc else "broad"]
            if w == "default"
            else ["soft", "medium", "hard"]
            if w == "csc"
            else [w]
        )
        for e in expanded:
            if e not in names:
                names.append(e)
    bands: list[Band] = []
    for name in names:
        if hrc and name != "wide":
            raise XdmSemanticError(
                f"bands: {name!r} is not a band for HRC data", hint="HRC takes wide"
            )
        if not hrc and name == "wide":
            raise XdmSemanticError(
                "bands: wide is the HRC band",
                hint="ACIS takes " + ", ".join(_ACIS_NAMES) + ", csc or lo:hi:eff",
            )
        band = BANDS[name] if name in BANDS else _user_band(name)
        if any(
            (b.emin, b.emax, b.eff) == (band.emin, band.emax, band.eff) for b in bands
        ):
            continue  # broad and 0.5:7:2.3 are one band: the first is kept
        if any(b.label == band.label for b in bands):
            raise XdmSemanticError(
                f"bands: two bands have the label {band.label!r}",
                hint="give each energy range once",
            )
        bands.append(band)
    return bands
