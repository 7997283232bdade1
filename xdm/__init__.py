"""xdm: the CIAO data-model virtual-file language as a Python package.

>>> import xdm
>>> vf = xdm.parse("evt2.fits[energy=300:2000][bin x=::8,y=::8]")
>>> xdm.unparse(vf)
'evt2.fits[energy=300:2000][bin x=::8,y=::8]'

Heavy modules are imported on first use so ``import xdm`` stays light.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from xdm.errors import (
    Span,
    XdmError,
    XdmExecutionError,
    XdmIOError,
    XdmRegionError,
    XdmSemanticError,
    XdmSyntaxError,
)

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily)
_LAZY = {
    "parse": "xdm.lang.parser",
    "parse_region": "xdm.lang.parser",
    "parse_filter": "xdm.lang.parser",
    "unparse": "xdm.lang.unparse",
    "nodes": "xdm.lang.nodes",
    "region": "xdm.api",
    "plan": "xdm.plan.planner",
    "read": "xdm.api",
    "copy": "xdm.api",
}

__all__ = [
    "Span",
    "XdmError",
    "XdmExecutionError",
    "XdmIOError",
    "XdmRegionError",
    "XdmSemanticError",
    "XdmSyntaxError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xdm' has no attribute {name!r}")
    mod = importlib.import_module(module)
    # a module is the value only when it does not define the name (xdm.nodes)
    value = getattr(mod, name, mod)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Keeps ``xdm.plan`` the function after ``import xdm.plan.planner``.

    Importing a subpackage sets it as an attribute of its parent, which would
    shadow the facade function of the same name (the ``xdm.plan`` stage package).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType) and name != "nodes":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
