"""``xdm dmimgcalc infile infile2 outfile operation``: image arithmetic.

CIAO's operation forms: ``add``, ``sub``, ``mul``, ``div`` (``weight x img1 op
weight2 x img2``, folded over every image when more are given) and
``imgout=EXPRESSION`` over ``img1`` .. ``imgN`` (numbers, ``+ - * / **``,
parentheses, unary minus, ``sqrt log log10 exp abs sin cos tan min max``).
The images are ``infile`` (one file, ``a,b,...`` or ``@list``) followed by
``infile2``. Every image must be on the first one's grid (shape, physical
transform and sky WCS); the output keeps the first image's header.

``div`` writes 0 where the divisor is 0 (so a fluxed image has no NaN); an
expression follows IEEE arithmetic (``img1/img2`` gives inf or NaN there).
The expression is parsed by xdm's own parser and evaluated by walking its
tree with numpy: the text never reaches eval or numexpr.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

__all__ = ["STACK_INPUT", "TOOL", "ImgCalcResult", "dmimgcalc", "run"]

STACK_INPUT = True
"""``infile=@list`` is one run over the whole stack (this tool names them img1..imgN), not one per member."""

TOOL = Tool(
    "dmimgcalc",
    "image arithmetic",
    (
        Param(
            "infile", "f", "", "input image(s): a file, a,b,... or @list", required=True
        ),
        Param("infile2", "f", "", "second input image(s) (none: only infile)"),
        Param("outfile", "f", "", "output image", required=True),
        Param(
            "operation",
            "s",
            "",
            "add, sub, mul, div or imgout=EXPRESSION of img1..imgN",
            required=True,
        ),
        Param("weight", "r", 1.0, "weight of the first image (add, sub, mul, div)"),
        Param("weight2", "r", 1.0, "weight of the other images (add, sub, mul, div)"),
        Param("lookupTab", "f", "", "CIAO's header merging table; not used"),
        CLOBBER,
        VERBOSE,
    ),
    positional=("infile", "infile2", "outfile", "operation"),
    notes=(
        "`operation=add|sub|mul|div` computes weight x img1 OP weight2 x img2 (then OP "
        "weight2 x img3 ...); `div` gives 0 where the divisor is 0. "
        '`operation="imgout=(img1-img2*0.5)"` evaluates an expression of img1..imgN, '
        "numbers, + - * / ** (or ^), parentheses and sqrt, log, log10, exp, abs, sin, "
        "cos, tan, min, max with xdm's own parser (never eval); IEEE results "
        "(inf, NaN) where an expression divides by 0. All images must share the "
        "first one's grid; the output has its header and WCS."
    ),
)

_OPS = ("add", "sub", "mul", "div")


@dataclass(frozen=True, slots=True)
class ImgCalcResult:
    """The image written and a few numbers about it."""

    outfile: str
    operation: str
    shape: tuple[int, int]
    total: float
    minimum: float
    maximum: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "outfile": self.outfile,
            "operation": self.operation,
            "shape": list(self.shape),
            "sum": self.total,
            "min": self.minimum,
            "max": self.maximum,
        }


def dmimgcalc(**params: Any) -> ImgCalcResult:
    """``xdm.tools.dmimgcalc(infile=..., infile2=..., outfile=..., operation=...)``."""
    return TOOL.call(run, params)


def _names(p: Values) -> list[str]:
    from xdm.tools._images import image_list

    names = image_list(p["infile"], "dmimgcalc infile")
    second = str(p["infile2"]).strip()
    if second and second.lower() != "none":
        names += image_list(second, "dmimgcalc infile2")
    return names


def compute(
    operation: str,
    images: list[NDArray[Any]],
    weight: float = 1.0,
    weight2: float = 1.0,
) -> NDArray[Any]:
    """The result of ``operation`` on arrays already checked to share a grid."""
    from xdm.tools._images_expr import evaluate, images_used, parse_expression

    op = operation.strip()
    if op.lower().startswith("imgout"):
        rest = op[len("imgout") :].lstrip()
        if not rest.startswith("="):
            raise XdmSemanticError(
                f"dmimgcalc: operation={operation!r} needs imgout=EXPRESSION",
                hint='for example operation="imgout=(img1-img2*0.5)"',
            )
        text = rest[1:]
        tree = parse_expression(text)
        used = images_used(tree)
        if used and used[-1] > len(images):
            raise XdmSemanticError(
                f"dmimgcalc: the expression uses img{used[-1]} but "
                f"{len(images)} image{'s were' if len(images) != 1 else ' was'} given",
                source=text,
            )
        return evaluate(tree, images)
    kind = op.lower()
    if kind not in _OPS:
        raise XdmSemanticError(
            f"dmimgcalc: operation={operation!r} is not add, sub, mul, div or imgout=...",
            expected=(*_OPS, "imgout="),
        )
    if len(images) < 2:
        raise XdmSemanticError(
            f"dmimgcalc: operation={kind} needs two images (infile2=)"
        )
    result = _fold(kind, images, weight, weight2)
    return result


def _fold(
    kind: str, images: list[NDArray[Any]], weight: float, weight2: float
) -> NDArray[Any]:
    integer = all(np.issubdtype(a.dtype, np.integer) for a in images) and all(
        float(w).is_integer() for w in (weight, weight2)
    )
    if integer and kind != "div":
        acc: NDArray[Any] = images[0].astype(np.int64) * int(weight)
        for other in images[1:]:
            b = other.astype(np.int64) * int(weight2)
            acc = acc + b if kind == "add" else acc - b if kind == "sub" else acc * b
        return acc
    accf = images[0].astype(np.float64) * weight
    for other in images[1:]:
        bf = other.astype(np.float64) * weight2
        if kind == "add":
            accf = accf + bf
        elif kind == "sub":
            accf = accf - bf
        elif kind == "mul":
            accf = accf * bf
        else:
            accf = np.divide(accf, bf, out=np.zeros_like(accf), where=bf != 0)
    return accf


def run(p: Values) -> ImgCalcResult:
    """Read, check grids, compute, write."""
    from xdm.progress import get_verbosity, note
    from xdm.tools._images import check_same_grid, read_grid_image, write_image

    names = _names(p)
    images = [read_grid_image(n, "dmimgcalc image") for n in names]
    for other in images[1:]:
        check_same_grid(images[0], other, "dmimgcalc")
    note(
        f"dmimgcalc: {len(images)} image(s) of {images[0].shape[1]} x {images[0].shape[0]}",
        2,
    )
    result = compute(
        p["operation"], [i.data for i in images], p["weight"], p["weight2"]
    )
    result = np.array(np.broadcast_to(result, images[0].shape))  # "imgout=2": flat
    if np.issubdtype(result.dtype, np.integer):
        if result.size and (result.max() > 2**31 - 1 or result.min() < -(2**31)):
            result = result.astype(np.int64)
        else:
            result = result.astype(np.int32)
    header = images[0].header.copy()
    units = {str(i.header.get("BUNIT", "")).strip() for i in images}
    kind = p["operation"].strip().lower()
    if not (kind in ("add", "sub") and len(units) == 1):
        header.remove("BUNIT", ignore_missing=True)
    write_image(p["outfile"], result, header, clobber=p["clobber"], history=p.text())
    finite = result[np.isfinite(result)] if result.dtype.kind == "f" else result
    total = float(np.sum(finite)) if finite.size else math.nan
    out = ImgCalcResult(
        p["outfile"],
        p["operation"],
        (int(result.shape[0]), int(result.shape[1])),
        total,
        float(finite.min()) if finite.size else math.nan,
        float(finite.max()) if finite.size else math.nan,
    )
    if get_verbosity() >= 1:
        print(
            f"dmimgcalc: wrote {out.outfile} ({out.shape[1]} x {out.shape[0]}, "
            f"sum {out.total:g})"
        )
    return out
