"""One reader for the tests' case files, and the ``--regen`` rewriter.

Case files live in ``tests/cases``; each is read the same way, so a case's id is
always ``LINE:TEXT`` (its line number in the file and its input) and a failing
case points at the line to look at. Two formats:

*lines* (``parse.txt``, ``engine_agreement.txt``): one case per line::

    # a comment; blank lines are ignored
    INPUT
    INPUT  =>  EXPECTED

  With a separator (``"  =>  "`` in parse.txt) the expectation is the text after
  it, or the input itself when the line has none. Without one (engine_agreement.txt)
  a case is just its line, stripped; the test splits it into fields.

*blocks* (``errors.txt``): an input line, then its expected output lines, each
  behind a marker (``"!! "``); a blank line ends the case::

    evt.fits[energy=300 2000]
    !! error: expected ':', ',' or ']' after '300'

Some expectations are generated: what the code prints today, checked by review
once, then kept. ``pytest --regen`` rewrites them from what the code now produces
and prints what changed (``git diff`` shows it too): the case files in
:data:`GENERATED` (rewritten before collection, so the run then checks the new
text) and the golden files under ``tests/golden/**`` (rewritten by the test that
owns each, through :func:`check_golden`). On an unchanged tree ``--regen`` writes
nothing. Only a case whose expectation changed is rewritten; comments, blank lines
and the other cases keep their bytes.

A golden file is one expected output, compared whole::

    def test_explain(regen: bool) -> None:  # the ``regen`` fixture: tests/conftest.py
        text = xdm.explain("evt.fits[bin sky=8]")
        casefiles.check_golden(casefiles.GOLDEN / "explain" / "bin_sky.txt", text, regen)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pytest

HERE = Path(__file__).parent
CASES = HERE / "cases"
GOLDEN = HERE / "golden"

#: What ``--regen`` changed in this run, one line each, for the terminal summary.
CHANGES: list[str] = []

Produce = Callable[[str], Sequence[str]]


class CaseFileError(ValueError):
    """A case file that does not follow its format, or a case that cannot be regenerated."""


@dataclass(frozen=True)
class Case:
    """One case: where it is, its input, and its expected lines (empty if none)."""

    path: Path
    line: int
    text: str
    expected: tuple[str, ...]
    # the 0-based line range holding the expectation (for rewriting); empty when none
    span: tuple[int, int]

    @property
    def id(self) -> str:
        return f"{self.line}:{self.text.strip()}"

    def param(self, *values: object, marks: Any = ()) -> Any:
        """``pytest.param(*values, id=self.id)``; the case itself when no values."""
        return pytest.param(*(values or (self,)), id=self.id, marks=marks)


@dataclass(frozen=True)
class CaseFile:
    """A case file's format, and how its expectations are produced (if they are)."""

    path: Path
    kind: Literal["lines", "blocks"]
    #: lines: the separator before the expectation; blocks: the marker of an expected line
    mark: str | None = None
    #: the expected lines for an input, from the code as it is now (None: hand-written)
    produce: Produce | None = None

    def at(self, path: Path) -> CaseFile:
        """The same format over another file (a copy in a temp dir)."""
        return replace(self, path=path)

    def cases(self) -> list[Case]:
        lines = self.path.read_text().splitlines()
        if self.kind == "lines":
            return [c for n, t in enumerate(lines) if (c := self._line_case(n, t))]
        return self._block_cases(lines)

    def params(
        self, values: Callable[[Case], Sequence[object]] | None = None
    ) -> list[Any]:
        """One ``pytest.param`` per case, id ``LINE:TEXT``; ``values(case)`` gives its values."""
        return [c.param(*(values(c) if values else ())) for c in self.cases()]

    def _line_case(self, index: int, line: str) -> Case | None:
        if not line.strip() or line.startswith("#"):
            return None
        if self.mark is None:
            return Case(self.path, index + 1, line.strip(), (), (index, index))
        text, _, expected = line.partition(self.mark)
        return Case(self.path, index + 1, text, (expected or text,), (index, index + 1))

    def _block_cases(self, lines: list[str]) -> list[Case]:
        mark = self.mark or "!! "
        out: list[Case] = []
        start: int | None = None
        expected: list[int] = []
        for index, line in enumerate([*lines, ""]):
            if line.startswith(mark):
                if start is None:
                    raise CaseFileError(
                        f"{self.path}:{index + 1}: {mark!r} line outside a case"
                    )
                if expected and expected[-1] != index - 1:
                    raise CaseFileError(
                        f"{self.path}:{index + 1}: expected lines must be together"
                    )
                expected.append(index)
            elif not line.strip():
                if start is not None:
                    first, last = (
                        (expected[0], expected[-1] + 1)
                        if expected
                        else (start + 1,) * 2
                    )
                    found = tuple(lines[i][len(mark) :] for i in expected)
                    out.append(
                        Case(self.path, start + 1, lines[start], found, (first, last))
                    )
                start, expected = None, []
            elif not line.startswith("#"):
                if start is not None:
                    raise CaseFileError(
                        f"{self.path}:{index + 1}: a case needs a blank line before it"
                    )
                start = index
        return out

    def regenerated(self) -> str:
        """The file's text with every expectation produced anew by ``produce``."""
        if self.produce is None:
            raise CaseFileError(f"{self.path}: expectations are written by hand")
        text = self.path.read_text()
        lines = text.splitlines()
        # from the end, so earlier spans stay valid as line counts change
        for case in reversed(self.cases()):
            try:
                new = tuple(self.produce(case.text))
            except Exception as exc:  # the case's code now fails: say which case
                raise CaseFileError(
                    f"{case.path}:{case.line}: cannot regenerate: {exc!r}"
                ) from exc
            if new == case.expected:
                continue
            first, last = case.span
            lines[first:last] = self._render(case, new)
        return "\n".join(lines) + ("\n" if text.endswith("\n") else "")

    def _render(self, case: Case, expected: tuple[str, ...]) -> list[str]:
        if self.kind == "blocks":
            return [f"{self.mark}{line}" for line in expected]
        (canonical,) = expected
        return [
            case.text
            if canonical == case.text
            else f"{case.text}{self.mark}{canonical}"
        ]

    def regen(self) -> list[str]:
        """Rewrite the file from what the code produces now; the diff (empty: unchanged)."""
        return write_if_changed(self.path, self.regenerated())


def write_if_changed(path: Path, text: str) -> list[str]:
    """Write ``text`` to ``path`` unless it is there already; the diff (empty: unchanged).

    A rewritten file of this repository is noted in :data:`CHANGES` with its diff.
    """
    old = path.read_text() if path.exists() else None
    if old == text:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    diff = _diff(old or "", text, path)
    if _in_repo(path):
        CHANGES.extend([f"--regen rewrote {_shown(path)}", *diff])
    return diff


def check_golden(path: Path, actual: str, regen: bool) -> None:
    """Assert ``actual`` equals the golden file; with ``regen``, write it instead."""
    if regen:
        write_if_changed(path, actual)
        return
    if not path.exists():
        raise AssertionError(
            f"no golden file {_shown(path)}; run pytest --regen to write it"
        )
    expected = path.read_text()
    if actual != expected:
        diff = "\n".join(_diff(expected, actual, path))
        raise AssertionError(
            f"{_shown(path)} differs (pytest --regen rewrites it):\n{diff}"
        )


def _diff(old: str, new: str, path: Path) -> list[str]:
    name = _shown(path)
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            old.splitlines(), new.splitlines(), f"a/{name}", f"b/{name}", lineterm=""
        )
    ]


def _in_repo(path: Path) -> bool:
    return path.resolve().is_relative_to(HERE.parent)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- the case files


def canonical_text(text: str) -> tuple[str]:
    """parse.txt: the canonical text of a virtual file, ``unparse(parse(text))``."""
    from xdm.lang.parser import parse
    from xdm.lang.unparse import unparse

    return (unparse(parse(text)),)


def error_lines(text: str) -> tuple[str, ...]:
    """errors.txt: the lines of the syntax error xdm prints for a bad virtual file."""
    from xdm.errors import XdmSyntaxError
    from xdm.lang.parser import parse

    try:
        parse(text)
    except XdmSyntaxError as exc:
        return tuple(exc.render().splitlines())
    raise CaseFileError(f"{text!r} parses: an error case must fail")


PARSE = CaseFile(CASES / "parse.txt", "lines", "  =>  ", canonical_text)
ERRORS = CaseFile(CASES / "errors.txt", "blocks", "!! ", error_lines)
ENGINE = CaseFile(CASES / "engine_agreement.txt", "lines")

#: The case files whose expectations ``--regen`` rewrites.
GENERATED = (PARSE, ERRORS)


def regen_all(files: Sequence[CaseFile] = GENERATED) -> list[str]:
    """Rewrite the generated case files from the code; what could not be done.

    A file with a case that cannot be regenerated is left as it is; the reason is
    returned (and noted in :data:`CHANGES`), and its test then fails on that case.
    """
    problems = []
    for case_file in files:
        try:
            case_file.regen()
        except CaseFileError as exc:
            problems.append(f"--regen left {_shown(case_file.path)} as it was: {exc}")
            if _in_repo(case_file.path):
                CHANGES.append(problems[-1])
    return problems
