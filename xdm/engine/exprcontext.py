"""What the filter generator knows while it works: the block, the operands it
has bound, the vectorised tests and what the top-level filters imply.

``FilterContext`` is shared by the generator's parts (``exprranges``,
``exprregions``, ``exprtime``, ``exprgen``); it vets every column name against
the block and hands out the safe variable names the expression trees use.
"""

from __future__ import annotations

import keyword
import re
from typing import TYPE_CHECKING, Any

from xdm import expr as e
from xdm.engine.steps import Operand, SubspaceEntry, VectorTest
from xdm.errors import Span, XdmError, XdmSemanticError
from xdm.lang import nodes as n

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from xdm.io.blocks import Block
    from xdm.io.columns import ColumnMeta
    from xdm.regions.coords import ImageReader

__all__ = ["FilterContext", "Intervals", "attach"]

Intervals = dict[int | None, "NDArray[np.float64]"]
"""Time intervals per chip (``None``: every chip), as START/STOP rows."""

_NUMEXPR_NAMES = frozenset(
    {
        "abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2",
        "arctanh", "ceil", "complex", "conj", "contains", "copy", "copysign", "cos",
        "cosh", "exp", "expm1", "floor", "fmod", "hypot", "imag", "isfinite",
        "isinf", "isnan", "log", "log10", "log1p", "log2", "max", "maximum", "min",
        "minimum", "nextafter", "ones_like", "prod", "real", "round", "sign",
        "signbit", "sin", "sinh", "sqrt", "sum", "tan", "tanh", "trunc", "where",
        "true", "false", "none", "inf", "nan",
    }
)  # fmt: skip
_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class FilterContext:
    """The block being filtered and everything the filters have produced so far."""

    def __init__(
        self,
        block: Block,
        *,
        source: str | None,
        base_dir: str | None,
        image_reader: ImageReader | None = None,
    ) -> None:
        self.block = block
        self.source = source
        self.base_dir = base_dir
        self.image_reader = image_reader
        self.operands: dict[str, Operand] = {}
        self.tests: list[VectorTest] = []
        self.time_selections: list[Intervals] = []
        self.subspace: list[SubspaceEntry] = []
        self.excluded: list[SubspaceEntry] = []
        self.extents: dict[str, tuple[float, float]] = {}
        self.names: set[str] = set()
        self.bound: dict[tuple[str, str], e.Var] = {}
        """The variable of each (column, how) bound so far."""
        self.files: dict[int, Any] = {}
        """What each ``@file`` node meant: its intervals, or its parsed filter."""

    def inner(self, source: str) -> FilterContext:
        """A context for a filter file's text: same block, operands, tests,
        exclusions and file records; its own subspace, extents and GTIs, which
        ``merge`` folds back."""
        sub = FilterContext(
            self.block,
            source=source,
            base_dir=self.base_dir,
            image_reader=self.image_reader,
        )
        sub.names = self.names
        sub.operands = self.operands
        sub.bound = self.bound
        sub.tests = self.tests
        sub.excluded = self.excluded
        sub.files = self.files
        return sub

    def merge(self, sub: FilterContext) -> None:
        """Take over what a file's filters implied (see ``inner``)."""
        self.time_selections.extend(sub.time_selections)
        self.subspace.extend(sub.subspace)
        for k, (lo, hi) in sub.extents.items():
            self.narrow_extent(k, lo, hi)

    def error(
        self, message: str, node: Any, hint: str | None = None
    ) -> XdmSemanticError:
        return XdmSemanticError(
            message, source=self.source, span=getattr(node, "span", None), hint=hint
        )

    def var(self, col: ColumnMeta, how: str = "values") -> e.Var:
        """The operand bound to ``col``'s values (or bits), bound on first use."""
        found = self.bound.get((col.name, how))
        if found is not None:
            return found
        # a leading "_" is left to generated names (_row, _t0, _keep) and numexpr
        # refuses "__" anywhere: such columns get colN too
        safe = _SAFE_NAME.match(col.key) and not col.key.startswith("_")
        base = col.key if safe and "__" not in col.key else f"col{col.number}"
        if base in _NUMEXPR_NAMES or keyword.iskeyword(base):
            base = f"col_{base}"
        if how == "bits":
            base += "_bits"
        name = base
        while name in self.names:
            name += "_"
        self.names.add(name)
        self.operands[name] = Operand(var=name, column=col.name, how=how)  # type: ignore[arg-type]
        self.bound[col.name, how] = var = e.Var(name)
        return var

    def row_var(self) -> e.Var:
        if "_row" not in self.operands:
            self.operands["_row"] = Operand(var="_row", column="#row", how="row")
            self.names.add("_row")
        return e.Var("_row")

    def test_var(self) -> e.Var:
        """The operand of the next vectorised test (``_t0``, ``_t1``, ...)."""
        name = f"_t{len(self.tests)}"
        self.names.add(name)
        return e.Var(name)

    def column(self, target: Any) -> ColumnMeta:
        """A scalar column named by a filter target."""
        if isinstance(target, n.AxisNumber):
            raise self.error(
                f"'#{target.number}' names an image axis; block {self.block.name} is a table",
                target,
            )
        if isinstance(target, n.ColumnPair):
            raise self.error(
                "a column pair takes a region, e.g. (x,y)=circle(4096,4096,20)", target
            )
        if (
            self.block.vector(target.name) is not None
            and self.block.column(target.name) is None
        ):
            raise self.error(
                f"'{target.name}' is a vector column; filter it with a region,"
                f" e.g. {target.name}=circle(4096.5,4096.5,20)",
                target,
            )
        col = self.block.require_column(
            target.name, source=self.source, span=target.span
        )
        if col.width != 1 and col.kind not in ("bit", "string"):
            raise self.error(
                f"column '{col.name}' holds {col.width} values per row", target
            )
        if col.kind == "other":
            raise self.error(
                f"column '{col.name}' ({col.tform}) cannot be filtered", target
            )
        return col

    def narrow_extent(self, column: str, lo: float, hi: float) -> None:
        old = self.extents.get(column)
        if old is not None:
            lo, hi = max(lo, old[0]), min(hi, old[1])
        self.extents[column] = (lo, hi)


def attach(exc: XdmError, source: str | None, span: Span | None) -> XdmError:
    """An error from another module, placed in the filter's text if it has no place."""
    if exc.source is None:
        exc.source = source
        exc.span = exc.span or span
    return exc
