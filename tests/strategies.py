"""Hypothesis strategies: xdm AST nodes that have a text form.

Every tree drawn here is one the parser can produce: names that are not
keywords, numbers as the grammar writes them, regions in the sum-of-products
shape (the region language has no parentheses), block names only first, output
names only last after [bin], [cols] or [opt].
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from xdm.lang.nodes import (
    AndFilter,
    AxisNumber,
    BinAxis,
    BinQualifier,
    BinRange,
    BitPattern,
    BlockRef,
    BoolValue,
    ColsQualifier,
    ColumnDrop,
    ColumnName,
    ColumnNumber,
    ColumnPair,
    ColumnRename,
    ColumnSelect,
    ColumnStar,
    ComparisonFilter,
    Coordinate,
    FieldShape,
    FileFilter,
    FilterQualifier,
    MaskRef,
    Number,
    OptItem,
    OptQualifier,
    OrFilter,
    OutputName,
    Range,
    RangeArg,
    RangeFilter,
    RegionAnd,
    RegionFileRef,
    RegionFilter,
    RegionNot,
    RegionOr,
    RowFilter,
    Shape,
    StackRef,
    StringValue,
    SubspaceItem,
    SubspaceQualifier,
    VirtualFile,
)

KEYWORDS = {"filter", "exclude", "bin", "col", "cols", "opt", "subspace"}

LETTERS = "abcxyzABCXYZ_"
DIGITS = "0123456789"


def _word(first: str, rest: str, max_size: int) -> Any:
    return st.builds(
        lambda a, b: a + b, st.sampled_from(first), st.text(rest, max_size=max_size)
    )


names = st.one_of(
    st.sampled_from(
        ["energy", "sky", "x", "y", "ccd_id", "time", "pi", "EVENTS", "bin_x"]
    ),
    _word(LETTERS, LETTERS + DIGITS, 6),
).filter(lambda s: s.lower() not in KEYWORDS)
paths = st.one_of(
    st.sampled_from(
        ["evt2.fits", "$CALDB/a.fits", "-", "../src.reg", "a.gti", "f.fits.gz"]
    ),
    _word(LETTERS + DIGITS + "$./~-", LETTERS + DIGITS + "$./~-_+", 10),
)
digits = st.integers(min_value=0, max_value=99999).map(str)


@st.composite
def number_texts(draw: Any, special: bool = True) -> str:
    if special and draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["NaN", "inf", "-inf", "+inf"]))
    sign = draw(st.sampled_from(["", "", "-", "+"]))
    whole = draw(st.sampled_from(["", "0", "7", "300", "4096", "000"]))
    frac = draw(st.sampled_from(["", ".", ".5", ".0001"])) if whole else ".25"
    exp = draw(st.sampled_from(["", "", "e3", "E-05", "e+2"]))
    return sign + whole + frac + exp


numbers = st.builds(Number, text=number_texts())
plain_numbers = st.builds(
    Number, text=st.sampled_from(["0", "600", "10", "2.5", "0.5"])
)
small_ints = st.integers(min_value=1, max_value=99)

# ---------------------------------------------------------------- values


strings = st.one_of(
    _word(LETTERS, LETTERS + DIGITS + "_.+-", 8),  # mostly written bare
    st.text(
        st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters='"'),
        max_size=8,
    ),
).map(lambda s: StringValue(text=s))
values = st.one_of(
    numbers,
    strings,
    st.builds(BoolValue, value=st.booleans()),
    st.builds(
        lambda a, b: BitPattern(text=a + "x" + b),
        st.text("01", max_size=3),
        st.text("01xX", max_size=31),
    ),
)


@st.composite
def ranges(draw: Any, value: Any = values) -> Range:
    kind = draw(st.sampled_from(["single", "full", "lo", "hi", "open"]))
    if kind == "single":
        v = draw(value)
        return Range(lo=v, hi=v, is_single=True)
    lo = draw(value) if kind in ("full", "lo") else None
    hi = draw(value) if kind in ("full", "hi") else None
    return Range(lo=lo, hi=hi)


columns = st.builds(ColumnName, name=names)
axes = st.builds(AxisNumber, number=small_ints)
scalar_targets = st.one_of(columns, axes)
pairs = st.builds(
    ColumnPair, first=st.one_of(columns, axes), second=st.one_of(columns, axes)
)

# ---------------------------------------------------------------- regions

# shape -> (argument count, leading arguments that are positions)
SHAPE_ARGS = {
    "circle": (3, 2),
    "annulus": (4, 2),
    "ellipse": (5, 2),
    "box": (4, 2),
    "rotbox": (5, 2),
    "rectangle": (4, 4),
    "rotrectangle": (5, 4),
    "pie": (6, 2),
    "sector": (4, 2),
    "point": (2, 2),
}

sexagesimal = st.sampled_from(
    ["12:26:51.2", "-33:16:13", "+05:00:00", "00:00:00.000", "23:59:59"]
)
coord_numbers = number_texts(special=False)
lengths = st.builds(
    Coordinate, text=coord_numbers, unit=st.sampled_from([None, "d", "'", '"'])
)
positions = st.one_of(
    lengths, st.builds(Coordinate, text=sexagesimal, unit=st.just("sexagesimal"))
)
grids = st.builds(RangeArg, lo=plain_numbers, hi=plain_numbers, step=plain_numbers)


@st.composite
def shapes(draw: Any) -> Shape:
    name = draw(st.sampled_from([*SHAPE_ARGS, "polygon", "box5", "annulus_grid"]))
    if name == "polygon":
        n = 2 * draw(st.integers(min_value=3, max_value=5))
        return Shape(name="polygon", args=tuple(draw(positions) for _ in range(n)))
    if name == "box5":
        args = [draw(positions), draw(positions)] + [draw(lengths) for _ in range(3)]
        return Shape(name="box", args=tuple(args))
    if name == "annulus_grid":  # dmextract radius grid
        return Shape(
            name="annulus", args=(draw(positions), draw(positions), draw(grids))
        )
    count, npos = SHAPE_ARGS[name]
    args = [draw(positions) for _ in range(npos)]
    args += [draw(lengths) for _ in range(count - npos)]
    return Shape(name=name, args=tuple(args))


def region_atoms(files: Any) -> Any:
    return st.one_of(
        shapes(),
        st.just(FieldShape()),
        st.builds(RegionFileRef, file=files),
        st.builds(MaskRef, file=files),
    )


def regions(files: Any) -> Any:
    """Sum of products of (possibly negated) atoms: what the text can say."""
    factors = st.recursive(
        region_atoms(files),
        lambda inner: st.builds(RegionNot, operand=inner),
        max_leaves=3,
    )
    terms = st.one_of(
        factors,
        st.lists(factors, min_size=2, max_size=3).map(
            lambda ops: RegionAnd(operands=tuple(ops))
        ),
    )
    return st.one_of(
        terms,
        st.lists(terms, min_size=2, max_size=3).map(
            lambda ops: RegionOr(operands=tuple(ops))
        ),
    )


# ---------------------------------------------------------------- filters


def clauses(files: Any) -> Any:
    return st.one_of(
        st.builds(
            RangeFilter,
            column=scalar_targets,
            ranges=st.lists(ranges(), min_size=1, max_size=3).map(tuple),
        ),
        st.builds(
            ComparisonFilter,
            column=scalar_targets,
            op=st.sampled_from(["<", ">", "<=", ">=", "==", "!="]),
            value=values,
        ),
        st.builds(
            RegionFilter, column=st.one_of(scalar_targets, pairs), region=regions(files)
        ),
        st.builds(
            RowFilter,
            ranges=st.lists(
                ranges(st.builds(Number, text=digits)), min_size=1, max_size=3
            ).map(tuple),
        ),
        st.builds(FileFilter, file=files),
    )


def filters(files: Any) -> Any:
    def combine(inner: Any) -> Any:
        terms = st.lists(inner, min_size=2, max_size=3).map(tuple)
        return st.one_of(
            st.builds(AndFilter, terms=terms), st.builds(OrFilter, terms=terms)
        )

    return st.recursive(clauses(files), combine, max_leaves=5)


# ---------------------------------------------------------------- qualifiers


steps = st.builds(
    Number, text=st.sampled_from(["8", "0.5", "1", "2.0e-5", ".0001", "259.28", "+4"])
)


@st.composite
def bin_ranges(draw: Any) -> BinRange:
    lo = draw(st.none() | numbers)
    hi = draw(st.none() | numbers)
    kind = draw(st.sampled_from(["none", "step", "nbins"]))
    if kind == "step":
        return BinRange(lo=lo, hi=hi, step=draw(steps))
    if kind == "nbins":
        return BinRange(
            lo=lo, hi=hi, nbins=draw(st.integers(min_value=1, max_value=9999))
        )
    return BinRange(lo=lo, hi=hi)


def bin_axes(files: Any) -> Any:
    return st.builds(
        BinAxis,
        target=st.one_of(scalar_targets, pairs),
        spec=st.one_of(
            st.none(),
            bin_ranges(),
            regions(files),
            st.builds(StackRef, path=paths),
        ),
    )


def products(files: Any) -> Any:
    """Qualifiers after which a bare output name may follow."""
    return st.one_of(
        st.builds(
            BinQualifier,
            axes=st.lists(bin_axes(files), min_size=1, max_size=3).map(tuple),
            weight=st.none() | names,
            modifier=st.none() | names,
        ),
        st.builds(
            ColsQualifier,
            items=st.lists(
                st.one_of(
                    st.builds(ColumnSelect, name=names),
                    st.builds(ColumnDrop, name=names),
                    st.builds(ColumnRename, new=names, old=names),
                    st.builds(ColumnNumber, number=small_ints),
                    st.just(ColumnStar()),
                ),
                min_size=1,
                max_size=4,
            ).map(tuple),
        ),
        st.builds(
            OptQualifier,
            items=st.lists(
                st.builds(
                    OptItem,
                    name=names,
                    value=st.none()
                    | _word(LETTERS + DIGITS + "-.", LETTERS + DIGITS + "_./+-", 7),
                ),
                min_size=1,
                max_size=3,
            ).map(tuple),
        ),
    )


def virtual_files(files: Any, *, nested: bool = False) -> Any:
    """Files whose nested references (region(), mask(), @file) are drawn from ``files``."""
    blocks = st.one_of(
        st.builds(BlockRef, name=names),
        st.builds(BlockRef, number=st.integers(min_value=1, max_value=20)),
    )
    product = products(files)
    middle = st.one_of(
        st.builds(FilterQualifier, expr=filters(files), exclude=st.booleans()),
        product,
        st.builds(
            SubspaceQualifier,
            items=st.lists(
                st.builds(SubspaceItem, name=names), min_size=1, max_size=3
            ).map(tuple),
        ),
    )

    @st.composite
    def build(draw: Any) -> VirtualFile:
        quals: list[Any] = []
        if draw(st.booleans()):
            quals.append(draw(blocks))
        quals += draw(st.lists(middle, max_size=2 if nested else 4))
        if any(
            isinstance(q, (BinQualifier, ColsQualifier, OptQualifier)) for q in quals
        ) and draw(st.booleans()):
            quals.append(OutputName(name=draw(names)))
        stack = False if nested else draw(st.booleans())
        return VirtualFile(path=draw(paths), qualifiers=tuple(quals), is_stack=stack)

    return build()


# Files nested inside region(), mask() and @file are kept small: a block and one
# simple filter (deep nesting is covered by the case table).
simple_files = st.builds(
    lambda path, block, flt: VirtualFile(path=path, qualifiers=block + flt),
    paths,
    st.one_of(st.just(()), st.builds(BlockRef, name=names).map(lambda b: (b,))),
    st.one_of(
        st.just(()),
        st.builds(
            RangeFilter,
            column=columns,
            ranges=st.lists(ranges(), min_size=1, max_size=2).map(tuple),
        ).map(lambda f: (FilterQualifier(expr=f),)),
    ),
)
files = virtual_files(simple_files)
region_exprs = regions(simple_files)
filter_exprs = filters(simple_files)
