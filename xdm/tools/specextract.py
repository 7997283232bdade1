"""``xdm specextract infile bkgfile outroot``: source and background spectra, grouped.

CIAO's specextract without the calibration: the source spectrum ``R.pi``
(HDUCLAS2 TOTAL), the background spectrum ``R_bkg.pi`` (HDUCLAS2 BKG) and the
grouped source spectrum ``R_grp.pi`` (GROUPING and QUALITY columns, dmgroup's
NUM_CTS by default), each an OGIP type I PHA file made by the same one-pass
extraction as ``dmextract opt=pha1`` (workflows spec 2.1). The user's responses
(``rmffile=``, ``arffile=``; xdm has no calibration database) are copied next to
the spectra as ``R.rmf`` and ``R.arf``, and BACKFILE, RESPFILE and ANCRFILE
name them relative to the spectra, so ``load_pha('R_grp.pi')`` in sherpa (or
XSPEC's ``data R_grp.pi``) loads source, background and responses in one call.
A background made by ``xdm blanksky`` carries ``BKGSCAL<ccd>`` (HRC:
``BKGSCALE``): the background spectrum's AREASCAL is then 1/BKGSCALn for the
CCD holding most of the source region's events (spec 4 step 6).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xdm.errors import XdmIOError, XdmSemanticError
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

__all__ = ["TOOL", "SpectraResult", "run", "specextract"]

GROUPTYPES = (
    "NONE",
    "NUM_CTS",
    "BIN_WIDTH",
    "BIN",
    "SNR",
    "NUM_BINS",
    "ADAPTIVE",
    "ADAPTIVE_SNR",
    "MIN_SLOPE",
    "MAX_SLOPE",
    "BIN_FILE",
)
SUPPORTED = ("NONE", "NUM_CTS", "BIN_WIDTH")

TOOL = Tool(
    "specextract",
    "source and background spectra with responses, grouped for fitting",
    (
        Param(
            "infile",
            "f",
            "",
            "source events with region: evt.fits[sky=region(src.reg)]",
            required=True,
        ),
        Param("outroot", "f", "", "root of the output names (dir/root)", required=True),
        Param("bkgfile", "f", "", "background events with region"),
        Param("rmffile", "f", "", "your RMF (copied as ROOT.rmf; none: no RESPFILE)"),
        Param("arffile", "f", "", "your ARF (copied as ROOT.arf; none: no ANCRFILE)"),
        Param(
            "weight",
            "b",
            True,
            "weighted responses (CIAO; no effect: responses are yours)",
        ),
        Param(
            "correctpsf",
            "b",
            False,
            "aperture-correct the ARF (needs CALDB: not supported)",
        ),
        Param(
            "combine", "b", False, "combine spectra of several inputs (not supported)"
        ),
        Param(
            "grouptype",
            "s",
            "NUM_CTS",
            "source grouping (as dmgroup)",
            choices=GROUPTYPES,
        ),
        Param("binspec", "s", "15", "grouping value: counts per group, bin width"),
        Param(
            "bkg_grouptype",
            "s",
            "NONE",
            "background grouping",
            choices=GROUPTYPES,
        ),
        Param("bkg_binspec", "s", "", "background grouping value"),
        Param("energy", "s", "0.3:11.0:0.01", "RMF energy grid (CIAO; not used)"),
        Param("channel", "s", "1:1024:1", "RMF channel grid (CIAO; not used)"),
        CLOBBER,
        VERBOSE,
    ),
    positional=("infile", "outroot"),
    notes=(
        "Writes ROOT.pi, ROOT_bkg.pi (with bkgfile=), ROOT_grp.pi (unless "
        "grouptype=NONE) and ROOT_bkg_grp.pi (with bkg_grouptype). A `[bin pi]` is "
        "added to infile/bkgfile when missing. Grouping: NUM_CTS (groups of at "
        "least binspec counts; an incomplete last group gets QUALITY=2, as "
        "dmgroup) and BIN_WIDTH; the other dmgroup types are not supported yet. "
        "Responses are not computed (no CALDB): give rmffile=/arffile= and they "
        "are copied beside the spectra as ROOT.rmf/ROOT.arf, so the spectra name "
        "them by relative file name. weight, energy and channel only matter for "
        "CIAO's response tools and are accepted without effect; correctpsf=yes "
        "and combine=yes are errors. AREASCAL of the background is 1/BKGSCALn "
        "when the background events carry blanksky's BKGSCAL keys."
    ),
)


@dataclass(frozen=True, eq=False)
class SpectraResult:
    """The files written and the spectra (astropy Tables) in them."""

    files: dict[str, str]
    source: Any
    background: Any | None
    grouped: Any | None
    areascal: float = 1.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """What was written (``--json``)."""
        out: dict[str, Any] = {"files": self.files, "bkg_areascal": self.areascal}
        out["counts"] = int(self.source["COUNTS"].sum())
        if self.background is not None:
            out["bkg_counts"] = int(self.background["COUNTS"].sum())
        if self.grouped is not None:
            out["groups"] = int((self.grouped["GROUPING"] == 1).sum())
        return out


def specextract(**params: Any) -> SpectraResult:
    """``xdm.tools.specextract(infile=..., bkgfile=..., outroot=...)``."""
    return TOOL.call(run, params)


def _given(value: Any) -> str:
    text = str(value or "").strip()
    return "" if text.lower() in ("", "none") else text


def _binned(text: str, what: str) -> Any:
    """The infile as a dmextract source with ``[bin pi]`` added when missing."""
    from xdm.tools._extract import split_infile

    source = split_infile(text, what)
    if source.axis is None:
        source = split_infile(f"{text}[bin pi]", what)
    return source


def _grouping(kind: str, spec: str, counts: Any, what: str) -> Any:
    from xdm.tools._pha import group_bin_width, group_num_counts

    if kind not in SUPPORTED:
        raise XdmSemanticError(
            f"specextract: {what}={kind} is not supported yet",
            hint="use NUM_CTS (binspec=minimum counts), BIN_WIDTH or NONE",
        )
    if kind == "NONE":
        return None
    try:
        value = float(spec)
    except ValueError:
        raise XdmSemanticError(
            f"specextract: {what}={kind} needs a number in its binspec, not {spec!r}",
            hint="e.g. grouptype=NUM_CTS binspec=15",
        ) from None
    if kind == "NUM_CTS":
        return group_num_counts(counts, value)
    if value != int(value):
        raise XdmSemanticError(
            f"specextract: BIN_WIDTH needs an integer width, not {spec}"
        )
    return group_bin_width(len(counts), int(value))


def run(p: Values) -> SpectraResult:
    """Extract the spectra (one pass each), group, copy responses, write all files."""
    from xdm.progress import get_verbosity, note
    from xdm.tools._extract import describe, table_product
    from xdm.tools._pha import pha_hdus, spectrum

    if p["correctpsf"]:
        raise XdmSemanticError(
            "specextract: correctpsf=yes needs the PSF calibration (CALDB), "
            "which xdm does not have",
            hint="leave correctpsf=no; make an aperture-corrected ARF with CIAO",
        )
    if p["combine"]:
        raise XdmSemanticError(
            "specextract: combine=yes is not supported (one observation per run)"
        )
    root = _given(p["outroot"])
    if not root or "[" in root:
        raise XdmSemanticError(f"specextract: bad outroot {root!r}")
    names = {"source": f"{root}.pi"}
    bkgfile = _given(p["bkgfile"])
    if bkgfile:
        names["background"] = f"{root}_bkg.pi"
    src_group = str(p["grouptype"])
    bkg_group = str(p["bkg_grouptype"])
    if src_group != "NONE":
        names["grouped"] = f"{root}_grp.pi"
    if bkgfile and bkg_group != "NONE":
        names["bkg_grouped"] = f"{root}_bkg_grp.pi"
    responses = {}
    for key, suffix in (("rmffile", "rmf"), ("arffile", "arf")):
        given = _given(p[key])
        if given:
            if not Path(os.path.expanduser(given)).is_file():
                raise XdmIOError(f"specextract: {key}={given}: no such file")
            responses[suffix] = given
            names[suffix] = f"{root}.{suffix}"
    same = {
        names[k]
        for k, v in responses.items()
        if os.path.abspath(os.path.expanduser(v)) == os.path.abspath(names[k])
    }
    for path in names.values():
        if path not in same and Path(path).exists() and not p["clobber"]:
            raise XdmIOError(
                f"output file {path} exists", hint="add clobber=yes to replace it"
            )

    source = _binned(str(p["infile"]), "specextract infile")
    s = spectrum(
        source,
        describe(source.events, "specextract"),
        "specextract",
        chips=bool(bkgfile),
    )
    b = None
    areascal = 1.0
    notes: list[str] = []
    if bkgfile:
        b_source = _binned(bkgfile, "specextract bkgfile")
        b_events = describe(b_source.events, "specextract")
        b = spectrum(b_source, b_events, "specextract bkgfile")
        if len(b.channels) != len(s.channels) or b.channels[0] != s.channels[0]:
            raise XdmSemanticError(
                "specextract: source and background spectra have different channels "
                f"({s.channels[0]}..{s.channels[-1]} and {b.channels[0]}..{b.channels[-1]})"
            )
        areascal, why = _blanksky_areascal(b.header, s.scan.ccds())
        if why:
            notes.append(why)
            note(f"specextract: {why}", level=1)

    base = {k: os.path.basename(v) for k, v in names.items()}
    rmf, arf = base.get("rmf", "none"), base.get("arf", "none")
    history = p.text()
    hdus = {
        "source": pha_hdus(
            s,
            backfile=base.get("background", "none"),
            history=history,
            respfile=rmf,
            ancrfile=arf,
            creator="xdm specextract",
        )
    }
    group = _grouping(src_group, str(p["binspec"]), s.counts, "grouptype")
    if group is not None:
        back = base.get("bkg_grouped", base.get("background", "none"))
        hdus["grouped"] = pha_hdus(
            s,
            backfile=back,
            grouping=group,
            history=history,
            respfile=rmf,
            ancrfile=arf,
            creator="xdm specextract",
        )
    if b is not None:
        hdus["background"] = pha_hdus(
            b,
            hduclas2="BKG",
            areascal=areascal,
            history=history,
            respfile=rmf,
            ancrfile=arf,
            creator="xdm specextract",
        )
        b_group = _grouping(bkg_group, str(p["bkg_binspec"]), b.counts, "bkg_grouptype")
        if b_group is not None:
            hdus["bkg_grouped"] = pha_hdus(
                b,
                hduclas2="BKG",
                areascal=areascal,
                grouping=b_group,
                history=history,
                creator="xdm specextract",
                respfile=rmf,
                ancrfile=arf,
            )
    _write(names, hdus, responses, bool(p["clobber"]))
    tables = {k: table_product(v[1], names[k]) for k, v in hdus.items()}
    result = SpectraResult(
        files=dict(names),
        source=tables["source"],
        background=tables.get("background"),
        grouped=tables.get("grouped"),
        areascal=areascal,
        notes=notes,
    )
    if get_verbosity() >= 1:
        print(
            f"specextract: {int(s.counts.sum())} source counts"
            + (f", {int(b.counts.sum())} background counts" if b is not None else "")
            + f"; wrote {', '.join(names.values())}"
        )
    return result


def _blanksky_areascal(header: Any, ccds: list[int]) -> tuple[float, str]:
    """AREASCAL = 1/BKGSCALn of the source's CCD when blanksky scaled the background."""
    keys = {k: header[k] for k in header if str(k).startswith("BKGSCAL")}
    if not keys:
        return 1.0, ""
    if "BKGSCALE" in keys:
        value, key = keys["BKGSCALE"], "BKGSCALE"
    else:
        chip = next((c for c in ccds if f"BKGSCAL{c}" in keys), None)
        if chip is None:
            return 1.0, (
                "the background has BKGSCAL keys but none for the source's CCD "
                f"({','.join(map(str, ccds)) or 'unknown'}); AREASCAL left at 1"
            )
        key = f"BKGSCAL{chip}"
        value = keys[key]
    if not isinstance(value, int | float) or not value > 0:
        raise XdmSemanticError(
            f"specextract: background {key}={value!r} is not a positive number"
        )
    return 1.0 / float(
        value
    ), f"background AREASCAL = 1/{key} = {1.0 / float(value):.6g}"


def _write(
    names: dict[str, str],
    hdus: dict[str, list[Any]],
    responses: dict[str, str],
    clobber: bool,
) -> None:
    """All outputs through temporary files, renamed only once every one is written."""
    from xdm.io.atomic import atomic_output
    from xdm.io.hdus import save_hdus

    with contextlib.ExitStack() as stack:
        for key, parts in hdus.items():
            tmp = stack.enter_context(atomic_output(names[key], clobber=clobber))
            save_hdus(tmp, parts)
        for suffix, given in responses.items():
            target = names[suffix]
            if os.path.abspath(os.path.expanduser(given)) == os.path.abspath(target):
                continue  # already in place
            tmp = stack.enter_context(atomic_output(target, clobber=clobber))
            shutil.copyfile(os.path.expanduser(given), tmp)
