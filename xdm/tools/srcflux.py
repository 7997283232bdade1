"""``xdm srcflux infile pos outroot``: net rates and fluxes of sources (CIAO srcflux).

For every position and band (workflows.md 6): counts in a source and a
background region, all sources and bands in one pass over the events; the
aprates net rate with its credible interval (exposure LIVTIMEn of the source's
CCD, else LIVETIME); the model-independent flux from a user ARF
(E / (A(E) T) per event, no QE map or vignetting); the photon flux from a user
exposure map; model fluxes through the ARF (and RMF) for a built-in absorbed
power law, black body or bremsstrahlung. Writes ``<outroot>_<band>.flux`` per
band and ``<outroot>_summary.txt``, prints CIAO's summary. Several event files
(``infile=a.fits,b.fits``) give ``<outroot>_obi001_<band>.flux`` ... and the
merged ``<outroot>_<band>.flux`` with MERGED_* columns (6.6).
"""

from __future__ import annotations

from typing import Any

from xdm.tools._bands import BANDS, Band, band_label, parse_bands
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

__all__ = [
    "BANDS",
    "TOOL",
    "Band",
    "band_label",
    "cross_section",
    "model_energy_flux",
    "parse_bands",
    "run",
    "srcflux",
]

_UNUSED = "(accepted for CIAO compatibility; unused: needs CIAO's calibration or tools)"

TOOL = Tool(
    "srcflux",
    "net count rates, photon and model fluxes of sources",
    (
        Param("infile", "f", "", "input event file(s), comma-separated", required=True),
        Param("pos", "s", "", 'position(s): "RA DEC", @list or a table', required=True),
        Param("outroot", "f", "", "output root name", required=True),
        Param(
            "bands", "s", "default", "energy bands: broad, soft, ..., csc or lo:hi:eff"
        ),
        Param(
            "regions",
            "s",
            "simple",
            "how regions are made (simple, or user with srcreg/bkgreg)",
            choices=("simple", "optimized", "user"),
        ),
        Param("srcreg", "f", "", "source region(s): a region, a file or @list"),
        Param("bkgreg", "f", "", "background region(s): a region, a file or @list"),
        Param("bkgresp", "b", True, f"background responses {_UNUSED}"),
        Param(
            "psfmethod",
            "s",
            "ideal",
            "PSF fractions: ideal (1, 0) or psffile (a PSF image)",
            choices=("ideal", "psffile", "arfcorr", "quick", "marx"),
        ),
        Param("psffile", "f", "", "PSF image(s) for psfmethod=psffile"),
        Param(
            "conf", "r", 0.9, "credible level of the intervals", minimum=0, maximum=1
        ),
        Param("binsize", "r", 1.0, f"image bin size {_UNUSED}", minimum=0),
        Param("rmffile", "f", "", "RMF for model fluxes (none: a diagonal response)"),
        Param("arffile", "f", "", "ARF for fluxes (comma-separated: one per infile)"),
        Param("model", "s", "xspowerlaw.pow1", "spectral model (sherpa syntax)"),
        Param("paramvals", "s", "pow1.PhoIndex=2.0", "';'-separated model parameters"),
        Param("absmodel", "s", "xsphabs.abs1", "absorption for the unabsorbed flux"),
        Param("absparams", "s", "abs1.nH=%GAL%", "';'-separated absorption parameters"),
        Param(
            "abund",
            "s",
            "angr",
            "abundance table (xdm's MM83 cross sections have their own)",
            choices=("angr", "feld", "aneb", "grsa", "wilm", "lodd"),
        ),
        Param("pluginfile", "f", "", f"user plugin {_UNUSED}"),
        Param("fovfile", "f", "", "field-of-view region file (INSIDE_FOV)"),
        Param("asolfile", "f", "", f"aspect solution {_UNUSED}"),
        Param("mskfile", "f", "", f"mask file {_UNUSED}"),
        Param("bpixfile", "f", "", f"bad pixel file {_UNUSED}"),
        Param("dtffile", "f", "", f"HRC dead-time factors {_UNUSED}"),
        Param("ecffile", "f", "CALDB", f"PSF ECF calibration {_UNUSED}"),
        Param("marx_root", "f", "${MARX_ROOT}", f"MARX directory {_UNUSED}"),
        Param("parallel", "b", True, f"run in parallel {_UNUSED}"),
        Param("nproc", "i", None, f"processes {_UNUSED}"),
        Param("tmpdir", "s", "${ASCDS_WORK_PATH}", f"temporary files {_UNUSED}"),
        Param("random_seed", "i", -1, f"PSF simulation seed {_UNUSED}"),
        Param(
            "radius",
            "r",
            None,
            "xdm: default source circle radius [arcsec] (INDEF: r90 = 1+10(theta/10')^2)",
            minimum=0,
        ),
        Param(
            "expmapfile", "f", "", "xdm: exposure map(s) [cm**2 s] for photon fluxes"
        ),
        Param("galnh", "r", None, "xdm: Galactic nH [1e22 cm**-2] used for %GAL%"),
        CLOBBER,
        VERBOSE,
    ),
    positional=("infile", "pos", "outroot"),
    notes=(
        "Calibration-free (workflows.md 6.7): the default source circle has the radius= "
        'given in arcsec, or the approximation r90 = 1" + 10" (theta/10\')^2 of the '
        "90% PSF radius at off-axis angle theta from the pointing (not CALDB's ECF); the "
        "background is the annulus 1.7-5 x that radius without the other sources' "
        "circles. Fluxes need arffile= (FLUX_APER: E/(A(E) T) per event, no QE map or "
        "vignetting) and expmapfile= (photon fluxes); without them those columns are NaN. "
        "Absorption uses the Morrison & McCammon 1983 cross sections for xsphabs, "
        "xswabs and xstbabs (header XSECT). %GAL% needs galnh= (no colden lookup): "
        "without it the absorption is left out with a warning. psfmethod=quick, "
        "arfcorr and marx and regions=optimized need CIAO's calibration and are refused. "
        "CHIP_ID/CHIPX/CHIPY come from the events in the regions, THETA/PHI from "
        "RA_PNT/DEC_PNT, INSIDE_FOV from fovfile= or else from events near the source."
    ),
)


def srcflux(**params: Any) -> Any:
    """``xdm.tools.srcflux(infile=..., pos=..., outroot=...)``: the per-band tables."""
    return TOOL.call(run, params)


def run(p: Values) -> Any:
    """Count, compute rates and fluxes, write the tables and the summary."""
    from xdm.tools._srcflux_run import run_srcflux

    return run_srcflux(p)


def cross_section(energy_kev: Any) -> Any:
    """Photoelectric cross section per H atom [cm^2] at ``energy_kev``: the bundled
    Morrison & McCammon 1983 table that srcflux's absorption uses."""
    from xdm.tools._models import sigma_mm83

    return sigma_mm83(energy_kev)


def model_energy_flux(model: str, paramvals: str, emin: float, emax: float) -> float:
    """∫ E N(E) dE over [emin, emax] keV in erg/cm^2/s for a srcflux model text."""
    from xdm.tools._models import energy_flux, parse_model

    return energy_flux(parse_model(model, paramvals), emin, emax)
