"""The CIAO tools of xdm, one module each: ``xdm TOOL key=value ...`` and Python.

Every tool module ``xdm.tools.<name>`` declares ``TOOL`` (a ``Tool``: the
parameter table, the one source of its command line, ``--help``, ``plist`` and
``docs/tools/<name>.md``), a ``run(values)`` that does the work, and the Python
function ``<name>(**params)`` that binds the same table:

>>> import xdm.tools
>>> "dmextract" in xdm.tools.TOOLS
True

Tool modules sit above the library (plan, engine, io, regions) and below the
CLI: they never import ``xdm.cli``. Nothing here is imported until used.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["TOOLS", "available", "load"]

TOOLS: dict[str, str] = {
    # the language: filter, bin, select
    "dmcopy": "filter, bin or select the columns of a virtual file into a new file",
    # spectra, light curves, profiles
    "dmextract": "one-dimensional products: PHA spectra, light curves, radial profiles",
    "specextract": "source and background spectra with responses, grouped for fitting",
    # flares and good time
    "deflare": "find background flares in a light curve and write good time intervals",
    "dmgti": "good time intervals from limits on a table's columns",
    # source fluxes
    "aprates": "Bayesian aperture photometry: net counts, rate and flux with intervals",
    "srcflux": "net count rates, photon and model fluxes of sources",
    # fluxed images and blank sky
    "fluximage": "counts, exposure and fluxed images per energy band",
    "dmimgcalc": "image arithmetic",
    "dmregrid": "sum images onto one grid",
    "blanksky": "blank-sky background events scaled to an observation",
    "blanksky_image": "blank-sky background image on an observation's grid",
    # inspection
    "dmlist": "list a file's blocks, header, columns or data",
    "dmstat": "statistics of columns and images",
    "dmkeypar": "read one header keyword",
    "dmhedit": "add, change or delete a header keyword",
    # many observations
    "merge_obs": "merge observations onto one tangent plane: images, exposure, flux",
}
"""CIAO tool name -> one-line summary; the module is ``xdm.tools.<name>``."""


def available() -> list[str]:
    """The tools whose module is installed (in ``TOOLS`` order)."""
    return [n for n in TOOLS if importlib.util.find_spec(f"xdm.tools.{n}") is not None]


def load(name: str) -> Any:
    """The module of tool ``name`` (it has ``TOOL``, ``run`` and the function)."""
    return importlib.import_module(f"xdm.tools.{name}")


def __getattr__(name: str) -> Any:
    if name in TOOLS:
        value = getattr(load(name), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xdm.tools' has no attribute {name!r}")


class _Tools(types.ModuleType):
    """Keeps ``xdm.tools.NAME`` the function after ``import xdm.tools.NAME``.

    Importing a submodule sets it as an attribute of its package, which would
    shadow the tool function of the same name (as in the ``xdm`` facade).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in TOOLS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Tools
