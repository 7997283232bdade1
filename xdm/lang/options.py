"""The ``[opt ...]`` vocabulary: the image types and the options, one table each.

dm-syntax 9. The grammar keeps any ``name[=value]`` (``nodes.OptItem``);
``check_options`` judges a virtual file's items against ``OPTIONS`` once the
block is known (the planner for tables, ``xdm.engine.images`` for image blocks),
so an unknown option or a bad value is a clean error naming the nearest word.
REPL completion, ``describe_options`` (for ``explain``) and the tables of
docs/syntax.md (``markdown_tables``, checked by tests/test_options.py) read the
same rows. numpy types are named by string: the language stage imports no numpy.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from xdm.errors import XdmSemanticError
from xdm.lang import nodes

__all__ = [
    "DEFAULT_IMAGE_TYPE",
    "IMAGE_TYPES",
    "OPTIONS",
    "ImageType",
    "Option",
    "check_options",
    "completions",
    "describe_options",
    "find_option",
    "image_type",
    "markdown_tables",
]

BlockKind = Literal["table", "image"]
ValueKind = Literal["flag", "type", "number", "megabytes", "yes/no", "text"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageType:
    """One ``[opt type=...]`` value: an image's pixel type."""

    name: str
    """CIAO's spelling: ``i2``."""
    dtype: str
    """numpy's name for it: ``int16`` (a string: lang imports no numpy)."""
    bitpix: int
    """FITS BITPIX."""
    label: str
    """The data-type name dmlist prints: ``Int2``."""
    binned: bool
    """A ``[bin]`` of a table can make it (else image blocks only)."""
    help: str


IMAGE_TYPES: Final[tuple[ImageType, ...]] = (
    ImageType(
        name="u1",
        dtype="uint8",
        bitpix=8,
        label="Uint1",
        binned=False,
        help="8-bit unsigned integer (image blocks)",
    ),
    ImageType(
        name="i2",
        dtype="int16",
        bitpix=16,
        label="Int2",
        binned=True,
        help="16-bit integer; the default of [bin]",
    ),
    ImageType(
        name="i4",
        dtype="int32",
        bitpix=32,
        label="Int4",
        binned=True,
        help="32-bit integer",
    ),
    ImageType(
        name="i8",
        dtype="int64",
        bitpix=64,
        label="Int8",
        binned=False,
        help="64-bit integer (image blocks)",
    ),
    ImageType(
        name="r4",
        dtype="float32",
        bitpix=-32,
        label="Real4",
        binned=True,
        help="32-bit real; the default of a weighted [bin x,y;w]",
    ),
    ImageType(
        name="r8",
        dtype="float64",
        bitpix=-64,
        label="Real8",
        binned=True,
        help="64-bit real",
    ),
)

DEFAULT_IMAGE_TYPE: Final = "i2"
"""dm-syntax 7.5: binned images are 16-bit integers unless ``[opt type=]``."""

# A weighted histogram's default type is unconfirmed: ``xdm.switches``,
# ``weighted_image_type``.


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """One ``[opt ...]`` option.

    ``value`` is what it takes (``flag``: nothing, or yes/no); ``values`` the
    allowed values when they are a closed list; ``applies`` the blocks it acts
    on; ``used`` is False for CIAO's I/O-kernel options, accepted and ignored.
    """

    name: str
    value: ValueKind
    applies: Literal["table", "image", "both"]
    help: str
    values: tuple[str, ...] = ()
    metavar: str = ""
    """How the docs write the value: ``null=v``, ``mem=N``."""
    used: bool = True

    @property
    def takes_value(self) -> bool:
        return self.value != "flag"

    @property
    def usage(self) -> str:
        """``full``, ``null=v``, ``type=u1|i2|...``."""
        if not self.takes_value:
            return self.name
        return f"{self.name}={self.metavar or '|'.join(self.values)}"


_YES = ("yes", "y", "true", "t", "1")
_NO = ("no", "n", "false", "f", "0")

OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        name="type",
        value="type",
        applies="both",
        values=tuple(t.name for t in IMAGE_TYPES),
        help="pixel type of the image (default i2, r4 when weighted; "
        "[bin] of a table makes i2, i4, r4 or r8)",
    ),
    Option(
        name="null",
        value="number",
        applies="image",
        metavar="v",
        help="value of pixels outside the filter (default BLANK, else 0; "
        "NaN needs type=r4 or r8)",
    ),
    Option(
        name="mem",
        value="megabytes",
        applies="table",
        metavar="N",
        help="raise the virtual-image memory limit to N megabytes (default 1024)",
    ),
    Option(
        name="full",
        value="flag",
        applies="both",
        help="keep the full image / TLMIN:TLMAX bin range, not the filter's extent",
    ),
    Option(
        name="update",
        value="yes/no",
        applies="both",
        values=("yes", "no"),
        metavar="no",
        help="update=no leaves the data subspace as it was",
    ),
    Option(
        name="scale",
        value="yes/no",
        applies="both",
        values=("yes", "no"),
        metavar="no",
        help="scale=no: do not apply BSCALE/BZERO (accepted, not used)",
        used=False,
    ),
    Option(
        name="kernel",
        value="text",
        applies="both",
        metavar="NAME",
        help="CIAO's I/O kernel for ASCII files: text, text/simple, text/tsv, "
        "text/dtf, fits (accepted, not used)",
        used=False,
    ),
    Option(
        name="skip",
        value="text",
        applies="table",
        metavar="N",
        help="ASCII kernel: skip N header lines (accepted, not used)",
        used=False,
    ),
)

_BY_NAME = {o.name: o for o in OPTIONS}
_TYPES = {t.name: t for t in IMAGE_TYPES}


def find_option(name: str) -> Option | None:
    """The option called ``name`` (any case), or None."""
    return _BY_NAME.get(name.lower())


def image_type(name: str) -> ImageType | None:
    """The image type called ``name`` (any case), or None."""
    return _TYPES.get(name.lower())


def _nearest(word: str, words: Iterable[str]) -> str:
    near = difflib.get_close_matches(word.lower(), list(words), n=1, cutoff=0.5)
    return f" (did you mean '{near[0]}'?)" if near else ""


def check_options(
    items: Iterable[nodes.OptItem],
    *,
    block: BlockKind,
    source: str | None = None,
) -> dict[str, str | None]:
    """The options in effect, by name, with values checked and normalised.

    Names are lower case; ``type=`` is a canonical type name, ``update=`` and
    ``scale=`` are ``yes`` or ``no``, ``full`` is present (None) unless
    ``full=no``; other values are kept as written (stripped). A later item
    overrides an earlier one. ``block`` says which types ``type=`` allows (a
    ``[bin]`` of a table makes the ``binned`` ones).

    Raises
    ------
    XdmSemanticError
        Unknown option or type, a value that is not a number, megabytes that
        are not positive, a yes/no option given something else.
    """
    out: dict[str, str | None] = {}
    for item in items:
        option = find_option(item.name)
        if option is None:
            raise XdmSemanticError(
                f"unknown option '{item.name}'" + _nearest(item.name, _BY_NAME),
                source=source,
                span=item.span,
                expected=tuple(_BY_NAME),
            )
        value = item.value.strip() if item.value is not None else None
        checked = _check_value(option, value, item, block, source)
        if option.value == "flag" and checked == "no":
            out.pop(option.name, None)
        else:
            out[option.name] = checked
    return out


def _check_value(
    option: Option,
    value: str | None,
    item: nodes.OptItem,
    block: BlockKind,
    source: str | None,
) -> str | None:
    def bad(
        message: str, *, expected: tuple[str, ...] = (), hint: str | None = None
    ) -> XdmSemanticError:
        return XdmSemanticError(
            message, source=source, span=item.span, expected=expected, hint=hint
        )

    if value is None and option.value in ("type", "number", "megabytes"):
        raise bad(
            f"{option.name} needs a value: {option.usage}", expected=option.values
        )
    match option.value:
        case "type":
            allowed = tuple(t.name for t in IMAGE_TYPES if block == "image" or t.binned)
            key = (value or "").lower()
            if key in allowed:
                return key
            if image_type(key) is not None:
                raise bad(
                    f"type={value} is for image blocks; [bin] makes "
                    + ", ".join(allowed),
                    expected=allowed,
                )
            raise bad(
                f"unknown image type '{value}'" + _nearest(key, allowed),
                expected=allowed,
            )
        case "number" | "megabytes":
            number: float | None
            try:
                number = float(value or "x")
            except ValueError:
                number = None
            if option.value == "megabytes" and not (number is not None and number > 0):
                raise bad(
                    f"{option.name}= needs a positive number of megabytes, "
                    f"got '{value}'"
                )
            if number is None:
                raise bad(
                    f"{option.name}={value} is not a number",
                    hint="e.g. [opt null=0] or [opt null=NaN,type=r4]",
                )
            return value
        case "yes/no" | "flag":
            word = "yes" if value is None else value.lower()
            if word in _YES:
                return "yes" if option.value == "yes/no" else None
            if word in _NO:
                return "no"
            raise bad(f"{option.name}={value}: give yes or no", expected=("yes", "no"))
        case _:
            return value


def describe_options(options: Mapping[str, str | None], block: BlockKind) -> list[str]:
    """One line per option in effect, for ``explain``: what it does here."""
    lines = []
    for name, value in options.items():
        option = _BY_NAME[name]
        text = name if value is None else f"{name}={value}"
        if not option.used:
            note = "accepted, not used"
        elif option.applies not in ("both", block):
            note = f"no effect on {'an image' if block == 'image' else 'a table'}"
        elif name == "type" and value is not None:
            note = _TYPES[value].help
        else:
            note = option.help
        lines.append(f"{text}: {note}")
    return lines


def completions(before: str) -> list[str]:
    """Words that may come next in ``[opt ...``; ``before`` is the text after ``opt``.

    After ``name=`` the option's values, else the option names (``type=``, ``full``).
    """
    assigned = re.search(r"([A-Za-z_]\w*)\s*=\s*$", before)
    if assigned:
        option = find_option(assigned.group(1))
        return list(option.values) if option else []
    return [o.name + ("=" if o.takes_value else "") for o in OPTIONS]


def markdown_tables() -> str:
    """The option and image-type tables of docs/syntax.md section 7."""
    where = {"both": "tables, images", "table": "tables", "image": "images"}
    rows = ["| option | applies to | meaning |", "|---|---|---|"]
    rows += [
        f"| `{o.usage.replace('|', chr(92) + '|')}` | {where[o.applies]} | {o.help} |"
        for o in OPTIONS
    ]
    rows += ["", "| type | numpy | BITPIX | dmlist | [bin] of a table | meaning |"]
    rows.append("|---|---|---|---|---|---|")
    rows += [
        f"| `{t.name}` | {t.dtype} | {t.bitpix} | {t.label} | "
        f"{'yes' if t.binned else 'no'} | {t.help} |"
        for t in IMAGE_TYPES
    ]
    return "\n".join(rows) + "\n"
