"""Filter nodes -> one numexpr predicate, plus the tests numexpr cannot express.

Takes the filter qualifiers of a virtual file and the opened block's column
metadata; returns ``CompiledFilter``: predicate text over safe variable names,
the operands (column -> variable), vectorised tests (regions without a numexpr
form, long GTI lists, strings) and what the top-level filters imply for the data
subspace, the GTIs and default bin ranges. User text never reaches numexpr: names
are vetted against the block, numbers are printed with ``repr``.

The unconfirmed CIAO defaults (dm-syntax.md) are the constants below, one each.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xdm.engine.steps import Operand, SubspaceEntry, VectorTest
from xdm.errors import Span, XdmError, XdmSemanticError
from xdm.lang import nodes as n

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from xdm.io.blocks import Block
    from xdm.io.columns import ColumnMeta
    from xdm.regions.coords import ImageReader

__all__ = [
    "BIT_PATTERN_ALIGN_RIGHT",
    "GTI_INLINE_MAX",
    "NULL_NEVER_MATCHES",
    "RANGE_LIST_INLINE_MAX",
    "REAL_SINGLE_VALUE_EQUALS",
    "REAL_UPPER_BOUND_INCLUSIVE",
    "REGION_INLINE_MAX_CONSTANTS",
    "STRING_CASE_SENSITIVE",
    "TIME_IN_OR_NARROWS_GTI",
    "CompiledFilter",
    "compile_filters",
]

# ---------------------------------------------------------------- switches
REAL_UPPER_BOUND_INCLUSIVE = False
"""dm-syntax 3.3 (unconfirmed): real ``lo:hi`` is ``lo <= v < hi`` (documented form)."""

REAL_SINGLE_VALUE_EQUALS = True
"""dm-syntax 3.3 (unconfirmed for reals): a single value ``v`` means ``== v``."""

NULL_NEVER_MATCHES = True
"""dm-syntax 3.3 (unconfirmed): a TNULL-valued integer never satisfies a range."""

STRING_CASE_SENSITIVE = True
"""dm-syntax 3.6 (unconfirmed): string values compare case-sensitively, after
trimming trailing blanks; the ``shape`` column of REGION tables always folds case."""

BIT_PATTERN_ALIGN_RIGHT = True
"""dm-syntax 3.7 (unconfirmed): a short pattern is aligned on bit 0 and padded with
``x``; extra leading characters must be ``x``."""

RANGE_LIST_INLINE_MAX = 16
"""Range lists up to this many items are inlined in the numexpr predicate; longer
ones become a ``np.searchsorted`` test (numexpr holds at most 255 constants)."""

REGION_INLINE_MAX_CONSTANTS = 96
"""A region whose numexpr text holds more numbers than this (a region file of many
shapes) is tested with ``Region.contains`` instead (numexpr's 255-constant limit)."""

GTI_INLINE_MAX = 8
"""Time intervals up to this many are inlined in the numexpr predicate; longer lists
become a ``np.searchsorted`` test (numexpr's compile time grows with the text)."""

TIME_IN_OR_NARROWS_GTI = True
"""dm-syntax 4 (GTIs become intersection(old, new ranges)) for a time filter inside
``||``: the GTIs are intersected with the times at which the whole top-level ``||``
can keep a row: the union of its branches, a branch without a time filter counting
as all times. ``(time=a:b)||(time=c:d)`` narrows them to ``a:b`` and ``c:d``;
``(time=a:b)||(energy>5000)`` leaves them as they are (the energy branch keeps
rows at any time). False: rows are selected the same way and the GTIs are left
untouched."""

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
_NUMBER = re.compile(r"(?<![A-Za-z_])\d+\.?\d*(?:[eE][-+]?\d+)?")

Intervals = dict[int | None, "NDArray[np.float64]"]


@dataclass(slots=True)
class CompiledFilter:
    """The fused predicate and what the top-level (AND'ed) filters imply."""

    predicate: str
    terms: tuple[str, ...]
    operands: tuple[Operand, ...]
    tests: tuple[VectorTest, ...]
    time_selections: tuple[Intervals, ...] = ()
    subspace: tuple[SubspaceEntry, ...] = ()
    extents: dict[str, tuple[float, float]] = field(default_factory=dict)

    def variable(self, column: str) -> str | None:
        """The numexpr variable bound to ``column``'s values, if any."""
        return next(
            (o.var for o in self.operands if o.how == "values" and o.column == column),
            None,
        )


def compile_filters(
    block: Block,
    qualifiers: Sequence[n.FilterQualifier],
    *,
    source: str | None = None,
    base_dir: str | None = None,
    extra_columns: Sequence[str] = (),
    image_reader: ImageReader | None = None,
) -> CompiledFilter:
    """Compile every filter bracket of a virtual file into one conjunction.

    ``extra_columns`` (bin axes, weights) get operands too so the executor reads
    each column once per chunk; ``image_reader`` makes the image of a virtual
    ``mask(vf)`` (the planner hands in the engine's).
    """
    gen = _Generator(block, source=source, base_dir=base_dir, image_reader=image_reader)
    terms = [gen.qualifier(q) for q in qualifiers]
    for name in extra_columns:
        gen.var(block.require_column(name))
    terms = [t for t in terms if t != "True"]
    predicate = " & ".join(terms) if terms else "True"
    return CompiledFilter(
        predicate=predicate,
        terms=tuple(terms),
        operands=tuple(gen.operands.values()),
        tests=tuple(gen.tests),
        time_selections=tuple(gen.time_selections),
        subspace=(*gen.subspace, *gen.excluded),
        extents=gen.extents,
    )


def literal(value: float) -> str:
    """A numeric literal for numexpr: ints as ints (int32 range), else ``repr(float)``."""
    if float(value).is_integer() and abs(value) < 2**31:
        return repr(int(value))
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"no numexpr literal for {value}")
    return repr(float(value))


class _Generator:
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
        self._names: set[str] = set()
        # what each @file reference meant: its intervals, or its parsed filter text
        self._files: dict[int, Any] = {}

    # ------------------------------------------------------------ helpers
    def error(
        self, message: str, node: Any, hint: str | None = None
    ) -> XdmSemanticError:
        return XdmSemanticError(
            message, source=self.source, span=getattr(node, "span", None), hint=hint
        )

    def var(self, col: ColumnMeta, how: str = "values") -> str:
        for op in self.operands.values():
            if op.column == col.name and op.how == how:
                return op.var
        # a leading "_" is left to generated names (_row, _t0, _keep) and numexpr
        # refuses "__" anywhere: such columns get colN too
        safe = _SAFE_NAME.match(col.key) and not col.key.startswith("_")
        base = col.key if safe and "__" not in col.key else f"col{col.number}"
        if base in _NUMEXPR_NAMES or keyword.iskeyword(base):
            base = f"col_{base}"
        if how == "bits":
            base += "_bits"
        name = base
        while name in self._names:
            name += "_"
        self._names.add(name)
        self.operands[name] = Operand(var=name, column=col.name, how=how)  # type: ignore[arg-type]
        return name

    def row_var(self) -> str:
        if "_row" not in self.operands:
            self.operands["_row"] = Operand(var="_row", column="#row", how="row")
            self._names.add("_row")
        return "_row"

    def test_var(self) -> str:
        name = f"_t{len(self.tests)}"
        self._names.add(name)
        return name

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

    # ------------------------------------------------------------ qualifiers
    def qualifier(self, q: n.FilterQualifier) -> str:
        if q.exclude and isinstance(q.expr, n.RegionFilter):
            inner = self.region_filter(q.expr, top=False, excluded=True)
            return f"~({inner})"
        if q.exclude and isinstance(q.expr, n.RangeFilter):
            inner = self.expr(q.expr, top=False)
            self.note_complement(q.expr)
            return "False" if inner == "True" else f"~({inner})"
        if q.exclude:
            inner = self.expr(q.expr, top=False)
            return "False" if inner == "True" else f"~({inner})"
        return self.expr(q.expr, top=True)

    def expr(self, node: Any, *, top: bool) -> str:
        match node:
            case n.AndFilter():
                parts = [self.expr(t, top=top) for t in node.terms]
                parts = [p for p in parts if p != "True"]
                return " & ".join(parts) if parts else "True"
            case n.OrFilter():
                parts = [self.expr(t, top=False) for t in node.terms]
                if top and TIME_IN_OR_NARROWS_GTI:
                    support = self.time_support(node)
                    if support is not None:
                        self.time_selections.append(support)
                if "True" in parts:
                    return "True"
                return "(" + " | ".join(parts) + ")"
            case n.RangeFilter():
                return self.range_filter(node, top=top)
            case n.ComparisonFilter():
                return self.comparison(node, top=top)
            case n.RegionFilter():
                return self.region_filter(node, top=top)
            case n.RowFilter():
                return self.row_filter(node)
            case n.FileFilter():
                return self.file_filter(node, top=top)
        raise self.error(f"unsupported filter {type(node).__name__}", node)

    # ------------------------------------------------------------ ranges
    def range_filter(self, node: n.RangeFilter, *, top: bool) -> str:
        col = self.column(node.column)
        if col.kind == "bit":
            return self.bit_filter(col, node)
        if col.kind == "logical":
            return self.logical_filter(col, node.ranges, node)
        if col.kind == "string":
            return self.string_filter(col, node.ranges, node, negate=False)
        v = self.var(col)
        items: list[str] = []
        bounds: list[tuple[float | None, float | None, bool]] = []
        for r in node.ranges:
            lo = self.number(r.lo, col)
            hi = self.number(r.hi, col)
            if lo is not None and hi is not None and lo > hi and not r.is_single:
                raise self.error(
                    f"empty range {lo:g}:{hi:g} (lower bound above upper)", r
                )
            bounds.append((lo, hi, r.is_single))
            items.append(self.range_item(v, col, r, lo, hi))
        if "True" in items:
            clause = "True"
        elif len(items) > RANGE_LIST_INLINE_MAX:
            clause = self.range_list_test(col, node, bounds)
        else:
            clause = items[0] if len(items) == 1 else "(" + " | ".join(items) + ")"
        if (
            clause != "True"
            and col.kind == "int"
            and col.tnull is not None
            and NULL_NEVER_MATCHES
            and any(_int_in(col.tnull, lo, hi, single) for lo, hi, single in bounds)
        ):
            clause = f"({clause} & ({v} != {literal(col.tnull)}))"
        if top:
            self.note_ranges(col, node, bounds)
        return clause

    def range_list_test(
        self,
        col: ColumnMeta,
        node: n.RangeFilter,
        bounds: list[tuple[float | None, float | None, bool]],
    ) -> str:
        """A long range list (``pi=1,4,7,...``) as sorted intervals searched with
        ``np.searchsorted``: numexpr programs hold at most 255 constants.

        Same meaning as the inline form: integer columns use ``[lo-0.5, hi+0.5)``;
        real columns ``[lo, hi)`` (or closed, per ``REAL_UPPER_BOUND_INCLUSIVE``)
        and single values exactly.
        """
        import numpy as np

        rows: list[tuple[float, float]] = []
        singles: list[float] = []
        for lo, hi, single in bounds:
            if col.kind == "int":
                # a single value holds its value in both bounds
                a = -np.inf if lo is None else lo - 0.5
                b = np.inf if hi is None else hi + 0.5
                rows.append((a, b))
            elif single and REAL_SINGLE_VALUE_EQUALS:
                singles.append(lo)  # type: ignore[arg-type]
            else:
                b = np.inf if hi is None else hi
                if REAL_UPPER_BOUND_INCLUSIVE and hi is not None:
                    b = float(np.nextafter(hi, np.inf))
                rows.append((-np.inf if lo is None else lo, b))
        from xdm.io.intervals import normalise

        intervals = normalise(np.array(rows, dtype=float).reshape(-1, 2))
        var = self.test_var()
        self.var(col)
        self.tests.append(
            VectorTest(
                var=var,
                kind="ranges",
                columns=(col.name,),
                describe=f"{col.name} in {len(bounds)} ranges",
                payload=(intervals, np.array(sorted(singles), dtype=float)),
            )
        )
        return var

    def number(self, value: Any, col: ColumnMeta) -> float | None:
        if value is None:
            return None
        if isinstance(value, n.Number):
            if not math.isfinite(value.value):
                raise self.error(
                    f"'{value.text[:20]}' is not a finite number (column '{col.name}')",
                    value,
                    hint="leave a bound out for an open range, e.g. energy=:5000",
                )
            return value.value
        what = type(value).__name__.replace("Value", "").lower()
        raise self.error(
            f"column '{col.name}' is numeric ({col.tform}); got a {what} value", value
        )

    def range_item(
        self, v: str, col: ColumnMeta, r: n.Range, lo: float | None, hi: float | None
    ) -> str:
        integer_bounds = all(
            x is None or (isinstance(x, n.Number) and x.is_integer)
            for x in (r.lo, r.hi)
        )
        if col.kind == "int":
            if integer_bounds:
                if r.is_single:
                    return f"({v} == {literal(lo)})"  # type: ignore[arg-type]
                parts = []
                if lo is not None:
                    parts.append(f"({v} >= {literal(lo)})")
                if hi is not None:
                    parts.append(f"({v} <= {literal(hi)})")
            else:
                # the integer rule of dm-syntax 3.3: lo-0.5 <= v < hi+0.5
                parts = []
                if lo is not None:
                    parts.append(f"({v} >= {literal(lo - 0.5)})")
                if hi is not None:
                    parts.append(f"({v} < {literal(hi + 0.5)})")
        else:
            if r.is_single and REAL_SINGLE_VALUE_EQUALS:
                return f"({v} == {literal(lo)})"  # type: ignore[arg-type]
            parts = []
            if lo is not None:
                parts.append(f"({v} >= {literal(lo)})")
            if hi is not None:
                op = "<=" if REAL_UPPER_BOUND_INCLUSIVE else "<"
                parts.append(f"({v} {op} {literal(hi)})")
        if not parts:
            return "True"
        return parts[0] if len(parts) == 1 else "(" + " & ".join(parts) + ")"

    def note_ranges(
        self,
        col: ColumnMeta,
        node: n.RangeFilter,
        bounds: list[tuple[float | None, float | None, bool]],
    ) -> None:
        """Top-level ranges narrow the subspace, the GTIs (time) and bin defaults."""
        text = ",".join(_range_text(r, col) for r in node.ranges)
        if col.key == "time" and col.kind == "real":
            import numpy as np

            rows = []
            for lo, hi, single in bounds:
                if single:
                    continue
                rows.append(
                    (-np.inf if lo is None else lo, np.inf if hi is None else hi)
                )
            self.time_selections.append(
                {None: np.array(rows, dtype=float).reshape(-1, 2)}
            )
        else:
            self.subspace.append(
                SubspaceEntry(
                    column=col.name, ranges=text, unit=col.unit, form=_form(col)
                )
            )
        los = [lo for lo, _, _ in bounds]
        his = [hi for _, hi, _ in bounds]
        if all(x is not None for x in los) and all(x is not None for x in his):
            lo_env, hi_env = min(los), max(his)  # type: ignore[type-var]
            self.narrow_extent(col.name, lo_env, hi_env)  # type: ignore[arg-type]

    def note_complement(self, node: n.RangeFilter) -> None:
        """``[exclude col=ranges]`` narrows the subspace (or the GTIs, for time) to
        the complement of the ranges within TLMIN/TLMAX (dm-syntax 10.2)."""
        import numpy as np

        from xdm.io.intervals import normalise, subtract

        col = self.column(node.column)
        if col.kind not in ("int", "real"):
            return
        half = 0.5 if col.kind == "int" else 0.0
        rows = []
        for r in node.ranges:
            lo, hi = self.number(r.lo, col), self.number(r.hi, col)
            if r.is_single and col.kind == "real":
                return  # "all but one value" has no range form
            rows.append(
                (
                    -np.inf if lo is None else lo - half,
                    np.inf if hi is None else hi + half,
                )
            )
        is_time = col.key == "time" and col.kind == "real"
        lo_d = -np.inf if is_time or col.tlmin is None else col.tlmin - half
        hi_d = np.inf if is_time or col.tlmax is None else col.tlmax + half
        keep = subtract(
            np.array([[lo_d, hi_d]]), normalise(np.array(rows, dtype=float))
        )
        if is_time:
            self.time_selections.append({None: keep})
            return
        parts = []
        for a, b in keep:
            if col.kind == "int":
                first, last = math.ceil(a), math.ceil(b) - 1
                if last < first:
                    continue
                parts.append(
                    f"{'' if math.isinf(a) else first}:{'' if math.isinf(b) else last}"
                )
            else:
                parts.append(
                    f"{'' if math.isinf(a) else _number_text(a)}:"
                    f"{'' if math.isinf(b) else _number_text(b)}"
                )
        self.subspace.append(
            SubspaceEntry(
                column=col.name,
                ranges=",".join(parts) if parts else "0:-1",
                unit=col.unit,
                form=_form(col),
            )
        )

    def narrow_extent(self, column: str, lo: float, hi: float) -> None:
        old = self.extents.get(column)
        if old is not None:
            lo, hi = max(lo, old[0]), min(hi, old[1])
        self.extents[column] = (lo, hi)

    # ------------------------------------------------------------ comparisons
    def comparison(self, node: n.ComparisonFilter, *, top: bool) -> str:
        col = self.column(node.column)
        op = node.op
        if col.kind == "bit":
            raise self.error(
                f"'{col.name}' is a bit column; use a pattern, e.g. {col.name}=0 or "
                f"{col.name}=xxxx1xxx",
                node,
            )
        if col.kind in ("logical", "string"):
            if op not in ("==", "!="):
                raise self.error(
                    f"'{op}' needs a numeric column; '{col.name}' is {col.kind}", node
                )
            r = n.Range(lo=node.value, hi=node.value, is_single=True, span=node.span)
            if col.kind == "logical":
                clause = self.logical_filter(col, (r,), node)
                return f"~{clause}" if op == "!=" else clause
            return self.string_filter(col, (r,), node, negate=op == "!=")
        value = self.number(node.value, col)
        v = self.var(col)
        clause = f"({v} {op} {literal(value)})"  # type: ignore[arg-type]
        if top and value is not None and op in ("<", "<=", ">", ">="):
            lo, hi = (None, value) if op in ("<", "<=") else (value, None)
            if lo is not None and col.tlmax is not None:
                self.narrow_extent(col.name, lo, col.tlmax)
            if hi is not None and col.tlmin is not None:
                self.narrow_extent(col.name, col.tlmin, hi)
            if col.key == "time" and col.kind == "real":
                self.time_selections.append({None: _comparison_interval(op, value)})
        return clause

    # ------------------------------------------------------------ bits, logicals, strings
    def bit_filter(self, col: ColumnMeta, node: n.RangeFilter) -> str:
        v = self.var(col, "bits")
        items = []
        for r in node.ranges:
            if not r.is_single:
                raise self.error(
                    f"'{col.name}' is a bit column; ranges do not apply", r
                )
            value = r.lo
            if isinstance(value, n.Number):
                if not value.is_integer or value.value < 0:
                    raise self.error(
                        f"bad bit value '{value.text}' for '{col.name}'", value
                    )
                want = int(value.value)
                if want >= 1 << col.width:
                    raise self.error(
                        f"{want} does not fit the {col.width} bits of '{col.name}'",
                        value,
                    )
                full = (1 << col.width) - 1
                items.append(
                    f"({v} == 0)" if want == 0 else f"(({v} & {full}) == {want})"
                )
            elif isinstance(value, n.BitPattern):
                mask, want = self.bit_mask(col, value)
                items.append(f"(({v} & {mask}) == {want})")
            else:
                raise self.error(f"'{col.name}' takes a bit pattern of 0, 1 and x", r)
        return items[0] if len(items) == 1 else "(" + " | ".join(items) + ")"

    def bit_mask(self, col: ColumnMeta, value: n.BitPattern) -> tuple[int, int]:
        text = value.text.lower()
        if set(text) - set("01x"):
            raise self.error(
                f"bit pattern '{value.text}' holds characters other than 0, 1, x", value
            )
        width = col.width
        if len(text) > width:
            extra, text = text[: len(text) - width], text[len(text) - width :]
            if set(extra) != {"x"} or not BIT_PATTERN_ALIGN_RIGHT:
                raise self.error(
                    f"bit pattern has {len(value.text)} characters; '{col.name}' has {width} bits",
                    value,
                )
        mask = want = 0
        for bit, ch in enumerate(reversed(text)):
            if ch != "x":
                mask |= 1 << bit
                if ch == "1":
                    want |= 1 << bit
        return mask, want

    def logical_filter(
        self, col: ColumnMeta, ranges: Sequence[n.Range], node: Any
    ) -> str:
        v = self.var(col)
        items = []
        for r in ranges:
            value = r.lo
            truth: bool | None = None
            if isinstance(value, n.BoolValue):
                truth = value.value
            elif isinstance(value, n.StringValue | n.Number):
                truth = {
                    "t": True,
                    "true": True,
                    "f": False,
                    "false": False,
                    "1": True,
                    "0": False,
                }.get(value.text.lower())
            if truth is None or not r.is_single:
                raise self.error(
                    f"'{col.name}' is a logical column; use true or false", r
                )
            items.append(f"({v} == {ord('T') if truth else ord('F')})")
        return items[0] if len(items) == 1 else "(" + " | ".join(items) + ")"

    def string_filter(
        self, col: ColumnMeta, ranges: Sequence[n.Range], node: Any, *, negate: bool
    ) -> str:
        wanted = []
        for r in ranges:
            value = r.lo
            if not r.is_single or not isinstance(
                value, n.StringValue | n.Number | n.BoolValue
            ):
                raise self.error(
                    f"'{col.name}' is a string column; ranges do not apply", r
                )
            text = (
                value.text if not isinstance(value, n.BoolValue) else str(value.value)
            )
            wanted.append(text.rstrip().encode("ascii", "replace"))
        fold = not STRING_CASE_SENSITIVE or col.key == "shape"
        var = self.test_var()
        self.tests.append(
            VectorTest(
                var=var,
                kind="string",
                columns=(col.name,),
                describe=f"{col.name} in {sorted(w.decode() for w in wanted)}"
                + (" (case-folded)" if fold else ""),
                payload=(tuple(wanted), fold),
            )
        )
        return f"~{var}" if negate else var

    # ------------------------------------------------------------ regions
    def region_filter(
        self, node: n.RegionFilter, *, top: bool, excluded: bool = False
    ) -> str:
        """``sky=shape``; an excluded single shape is recorded as ``!shape``
        (dm-syntax 10.2, unconfirmed form)."""
        xcol, ycol, label = self.region_columns(node.column)
        wcs = _column_wcs(xcol, ycol)
        region = _make_region(node.region, wcs, self, node)
        xv, yv = self.var(xcol), self.var(ycol)
        text = region.to_numexpr(xv, yv)
        if (
            text is not None
            and len(_NUMBER.findall(text)) > REGION_INLINE_MAX_CONSTANTS
        ):
            text = None  # many shapes: the vectorised test, behind the bbox
        bbox = region.bbox
        if top:
            canonical = region.canonical()
            self.subspace.append(
                SubspaceEntry(column=label, ranges=canonical, is_region=True)
            )
            if bbox is not None:
                self.narrow_extent(xcol.name, bbox[0], bbox[1])
                self.narrow_extent(ycol.name, bbox[2], bbox[3])
        if excluded:
            canonical = region.canonical()
            if not any(op in canonical for op in "+*!"):
                # after the included shapes: CIAO's region library rejects a
                # region whose first term is an exclusion
                self.excluded.append(
                    SubspaceEntry(column=label, ranges="!" + canonical, is_region=True)
                )
        if text is not None:
            return f"({text})"
        prefilter = None
        if bbox is not None:
            xmin, xmax, ymin, ymax = (float(b) for b in bbox)
            prefilter = (
                f"({xv} >= {literal(xmin)}) & ({xv} <= {literal(xmax)}) & "
                f"({yv} >= {literal(ymin)}) & ({yv} <= {literal(ymax)})"
            )
        var = self.test_var()
        self.tests.append(
            VectorTest(
                var=var,
                kind="region",
                columns=(xcol.name, ycol.name),
                describe=f"({xcol.name},{ycol.name}) in {region.canonical()}",
                prefilter=prefilter,
                payload=region,
            )
        )
        return var

    def region_columns(self, target: Any) -> tuple[ColumnMeta, ColumnMeta, str]:
        if isinstance(target, n.ColumnPair):
            cols = []
            for part in (target.first, target.second):
                if isinstance(part, n.AxisNumber):
                    raise self.error(
                        "'#n' names an image axis; this block is a table", part
                    )
                cols.append(self.column(part))
            a, b = cols
            label = next(
                (k for k, v in self.block.vectors.items() if v == (a.key, b.key)),
                f"({a.name},{b.name})",
            )
            return a, b, label
        if isinstance(target, n.AxisNumber):
            raise self.error("'#n' names an image axis; this block is a table", target)
        pair = self.block.vector(target.name)
        if pair is None:
            col = self.block.require_column(
                target.name, source=self.source, span=target.span
            )
            raise self.error(
                f"a region needs a 2-D vector column; '{col.name}' is a scalar column",
                target,
                hint="name a vector (sky, chip, det) or a pair: (x,y)=circle(...)",
            )
        for c in pair:
            if c.kind not in ("int", "real") or c.width != 1:
                raise self.error(
                    f"column '{c.name}' of '{target.name}' is not numeric", target
                )
        return pair[0], pair[1], target.name.lower()

    # ------------------------------------------------------------ rows and files
    def row_filter(self, node: n.RowFilter) -> str:
        v = self.row_var()
        items = []
        for r in node.ranges:
            lo = _int_value(r.lo, self, r)
            hi = _int_value(r.hi, self, r)
            if r.is_single:
                items.append(f"({v} == {lo})")
                continue
            parts = []
            if lo is not None:
                parts.append(f"({v} >= {lo})")
            if hi is not None:
                parts.append(f"({v} <= {hi})")
            if not parts:
                return "True"
            items.append(parts[0] if len(parts) == 1 else "(" + " & ".join(parts) + ")")
        return items[0] if len(items) == 1 else "(" + " | ".join(items) + ")"

    def file_filter(self, node: n.FileFilter, *, top: bool) -> str:
        from xdm.io.blocks import resolve_path

        path = resolve_path(node.file.path, self.base_dir)
        if not path.exists():
            from xdm.errors import XdmIOError

            raise XdmIOError(
                f"filter file not found: {node.file.path}",
                source=self.source,
                span=node.span,
                hint=f"looked for {path}",
            )
        if _looks_like_fits(str(path)):
            intervals = _read_time_filter(node.file, self.base_dir, self.source, node)
            self._files[id(node)] = intervals
            if top:
                self.time_selections.append(intervals)
            return self.time_test(intervals, node)
        text = ",".join(
            line.strip()
            for line in path.read_text(errors="replace").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        )
        from xdm.lang.parser import parse_filter

        expr = parse_filter(text)
        self._files[id(node)] = expr
        # names inside the file resolve like the virtual file's own (CIAO: the
        # current directory), and the generators share operands and tests
        sub = _Generator(
            self.block,
            source=text,
            base_dir=self.base_dir,
            image_reader=self.image_reader,
        )
        sub._names = self._names
        sub.operands = self.operands
        sub.tests = self.tests
        sub.excluded = self.excluded
        sub._files = self._files
        clause = sub.expr(expr, top=top)
        self.time_selections.extend(sub.time_selections)
        self.subspace.extend(sub.subspace)
        for k, (lo, hi) in sub.extents.items():
            self.narrow_extent(k, lo, hi)
        return clause if clause == "True" else f"({clause})"

    def time_support(self, node: Any) -> Intervals | None:
        """The times (per chip) at which ``node`` can keep a row, or None for
        all times: time ranges and comparisons, GTI files, ``||`` as union, ``&&``
        as intersection; any other filter leaves the time free."""
        import numpy as np

        from xdm.io.intervals import filter_intersect, filter_union, normalise

        match node:
            case n.OrFilter() | n.AndFilter():
                parts = [self.time_support(t) for t in node.terms]
                if isinstance(node, n.OrFilter):
                    if any(p is None for p in parts):
                        return None
                    out = parts[0]
                    for p in parts[1:]:
                        out = filter_union(out, p)  # type: ignore[arg-type]
                    return out
                known = [p for p in parts if p is not None]
                if not known:
                    return None
                out = known[0]
                for p in known[1:]:
                    out = filter_intersect(out, p)
                return out
            case n.FileFilter():
                found = self._files.get(id(node))
                if isinstance(found, dict):
                    return found
                return None if found is None else self.time_support(found)
            case n.RangeFilter() | n.ComparisonFilter() if self.is_time(node.column):
                if isinstance(node, n.ComparisonFilter):
                    value = node.value
                    if not isinstance(value, n.Number) or node.op == "!=":
                        return None
                    if node.op == "==":
                        return {None: np.empty((0, 2))}
                    return {None: _comparison_interval(node.op, value.value)}
                # the branch compiled already, so every bound is a Number
                rows = [
                    (
                        r.lo.value if isinstance(r.lo, n.Number) else -np.inf,
                        r.hi.value if isinstance(r.hi, n.Number) else np.inf,
                    )
                    for r in node.ranges
                    if not r.is_single
                ]
                return {None: normalise(np.array(rows, dtype=float).reshape(-1, 2))}
        return None

    def is_time(self, target: Any) -> bool:
        """``target`` names the block's real TIME column."""
        if not isinstance(target, n.ColumnName):
            return False
        col = self.block.column(target.name)
        return col is not None and col.key == "time" and col.kind == "real"

    def time_test(self, intervals: Intervals, node: Any) -> str:
        """Rows whose TIME lies in their chip's intervals (``intervals_for`` rule)."""
        import numpy as np

        from xdm.io.intervals import intervals_for

        time = self.block.require_column("time", source=self.source, span=node.span)
        chip = self.block.column("ccd_id") or self.block.column("chip_id")
        chips = sorted(k for k in intervals if k is not None)
        if chip is None or not chips:
            keep: dict[int | None, Any] = {None: intervals_for(intervals, None)}
            chips = []
        else:
            keep = {k: intervals_for(intervals, k) for k in chips}
            if None in intervals:
                keep[None] = intervals_for(intervals, None)
        tv = self.var(time)
        total = sum(len(v) for v in keep.values())
        if total > GTI_INLINE_MAX:
            var = self.test_var()
            if chips:
                self.var(chip)  # type: ignore[arg-type]
            self.tests.append(
                VectorTest(
                    var=var,
                    kind="gti",
                    columns=(time.name,),
                    describe=f"{time.name} in {total} intervals"
                    + (f" per {chip.name}" if chips else ""),  # type: ignore[union-attr]
                    chip_column=chip.name if chips else None,  # type: ignore[union-attr]
                    payload=keep,
                )
            )
            return var

        def inside(rows: Any) -> str:
            parts = [
                f"(({tv} >= {_time_literal(a)}) & ({tv} < {_time_literal(b)}))"
                for a, b in np.asarray(rows, float).reshape(-1, 2)
            ]
            if not parts:
                return "False"
            return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"

        if not chips:
            return inside(keep[None])
        cv = self.var(chip)  # type: ignore[arg-type]
        parts = [f"(({cv} == {k}) & {inside(keep[k])})" for k in chips]
        if None in keep:
            others = " | ".join(f"({cv} == {k})" for k in chips)
            parts.append(f"(~({others}) & {inside(keep[None])})")
        return "(" + " | ".join(parts) + ")"


# ---------------------------------------------------------------- module helpers


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _comparison_interval(op: str, value: float) -> Any:
    """``time<t`` etc. as one half-open ``[start, stop)`` interval."""
    import numpy as np

    after = float(np.nextafter(value, np.inf))
    lo, hi = {
        "<": (-np.inf, value),
        "<=": (-np.inf, after),
        ">": (after, np.inf),
        ">=": (value, np.inf),
    }[op]
    return np.array([[lo, hi]], dtype=float)


def _int_in(value: int, lo: float | None, hi: float | None, single: bool) -> bool:
    if single:
        return lo is not None and abs(value - lo) < 0.5
    return (lo is None or value >= lo - 0.5) and (hi is None or value < hi + 0.5)


def _int_value(value: Any, gen: _Generator, node: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, n.Number) and value.is_integer and value.value >= 0:
        return int(value.value)
    raise gen.error("row numbers are non-negative integers", node)


def _range_text(r: n.Range, col: ColumnMeta) -> str:
    def text(v: Any) -> str:
        return "" if v is None else getattr(v, "text", str(v))

    if r.is_single:
        return f"{text(r.lo)}:{text(r.lo)}"
    return f"{text(r.lo)}:{text(r.hi)}"


def _form(col: ColumnMeta) -> str:
    code = col.tform.strip().lstrip("0123456789")[:1].upper()
    return {"I": "I", "J": "J", "K": "K", "B": "B", "E": "E", "D": "D"}.get(code, code)


def _time_literal(value: float) -> str:
    if math.isinf(value):
        return "-1e300" if value < 0 else "1e300"
    return repr(float(value))


def _looks_like_fits(path: str) -> bool:
    from xdm.io.timefilter import looks_like_fits

    return looks_like_fits(path)


def _column_wcs(xcol: ColumnMeta, ycol: ColumnMeta) -> Any:
    """The columns' world transform for the regions code (None if they have none).

    Built on first use (``_LazyWcs``): a region in physical pixels never touches
    it, and importing astropy.wcs costs ~0.4 s of a fresh process.
    """
    if xcol.wcs is None or ycol.wcs is None:
        return None
    return _LazyWcs(xcol, ycol)


class _LazyWcs:
    """Stands in for an astropy WCS; builds it when an attribute is first read."""

    __slots__ = ("_columns", "_wcs")

    def __init__(self, xcol: ColumnMeta, ycol: ColumnMeta) -> None:
        self._columns = (xcol, ycol)
        self._wcs: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._wcs is None:
            self._wcs = _build_column_wcs(*self._columns)
        return getattr(self._wcs, name)


def _build_column_wcs(xcol: ColumnMeta, ycol: ColumnMeta) -> Any:
    """An astropy WCS mapping physical (x, y) with origin 1 to world."""
    assert xcol.wcs is not None and ycol.wcs is not None
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = [xcol.wcs.ctype, ycol.wcs.ctype]
    w.wcs.crval = [xcol.wcs.crval, ycol.wcs.crval]
    w.wcs.crpix = [xcol.wcs.crpix, ycol.wcs.crpix]
    w.wcs.cdelt = [xcol.wcs.cdelt, ycol.wcs.cdelt]
    w.wcs.cunit = [xcol.wcs.cunit or "deg", ycol.wcs.cunit or "deg"]
    w.wcs.set()
    return w


def _attach(exc: XdmError, source: str | None, span: Span | None) -> XdmError:
    if exc.source is None:
        exc.source = source
        exc.span = exc.span or span
    return exc


# The two calls into modules owned by other engineers live here, one place each.
def _make_region(node: Any, wcs: Any, gen: _Generator, at: Any) -> Any:
    from xdm.regions.api import region

    try:
        return region(
            node, wcs=wcs, base_dir=gen.base_dir, image_reader=gen.image_reader
        )
    except XdmError as exc:
        raise _attach(exc, gen.source, getattr(at, "span", None)) from None


def _read_time_filter(
    vf: n.VirtualFile, base_dir: str | None, source: str | None, at: Any
) -> Intervals:
    from xdm.io.timefilter import read_time_filter

    try:
        return read_time_filter(vf, base_dir)
    except XdmError as exc:
        raise _attach(exc, source, getattr(at, "span", None)) from None
