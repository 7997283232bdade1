"""The shared case-file reader (tests/casefiles.py) and its ``--regen`` rewriter."""

from __future__ import annotations

import shutil
from pathlib import Path

import casefiles
import pytest


@pytest.mark.parametrize("case_file", casefiles.GENERATED, ids=lambda f: f.path.name)
def test_regen_on_an_unchanged_tree_changes_nothing(
    case_file: casefiles.CaseFile, tmp_path: Path
) -> None:
    """Regenerating a copy in a temp dir gives the file back byte for byte."""
    copy = tmp_path / case_file.path.name
    shutil.copyfile(case_file.path, copy)
    assert not case_file.at(copy).regen()
    assert copy.read_bytes() == case_file.path.read_bytes()


def test_regen_rewrites_only_the_stale_case(tmp_path: Path) -> None:
    path = tmp_path / "parse.txt"
    path.write_text(
        "# comment\n\nevt.fits[cols x, y]  =>  stale\n  evt.fits[2]  =>  evt.fits[2]\n"
    )
    diff = casefiles.PARSE.at(path).regen()
    assert path.read_text() == (
        "# comment\n\nevt.fits[cols x, y]  =>  evt.fits[cols x,y]\n"
        "  evt.fits[2]  =>  evt.fits[2]\n"
    )
    assert "-evt.fits[cols x, y]  =>  stale" in diff
    assert "+evt.fits[cols x, y]  =>  evt.fits[cols x,y]" in diff
    assert not any(str(tmp_path) in line for line in casefiles.CHANGES)


def test_regen_rewrites_block_expectations(tmp_path: Path) -> None:
    path = tmp_path / "errors.txt"
    path.write_text("# bad\nevt.fits[]\n!! old message\n\nevt.fits[energy=1 2]\n")
    assert casefiles.ERRORS.at(path).regen()
    cases = casefiles.ERRORS.at(path).cases()
    assert [c.line for c in cases] == [2, 2 + len(cases[0].expected) + 2]
    assert cases[0].expected[0] == "error: empty brackets '[]'"
    assert cases[1].expected[0].startswith("error: expected ':'")
    assert not casefiles.ERRORS.at(path).regen()


def test_reader_ids_and_fields(tmp_path: Path) -> None:
    path = tmp_path / "cases.txt"
    path.write_text("# c\n\n  a.fits[2]  =>  a.fits[2]\nb.fits\n")
    cases = casefiles.PARSE.at(path).cases()
    assert [(c.id, c.text, c.expected) for c in cases] == [
        ("3:a.fits[2]", "  a.fits[2]", ("a.fits[2]",)),
        ("4:b.fits", "b.fits", ("b.fits",)),
    ]
    plain = casefiles.ENGINE.at(path).cases()
    assert [(c.text, c.expected) for c in plain] == [
        ("a.fits[2]  =>  a.fits[2]", ()),
        ("b.fits", ()),
    ]


def test_block_format_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "errors.txt"
    path.write_text("a.fits[\nb.fits[\n")
    with pytest.raises(casefiles.CaseFileError, match=r"errors.txt:2:"):
        casefiles.ERRORS.at(path).cases()


def test_a_case_that_no_longer_fails_is_named(tmp_path: Path) -> None:
    path = tmp_path / "errors.txt"
    path.write_text("\nevt.fits[2]\n!! error: old\n")
    with pytest.raises(casefiles.CaseFileError, match=r"errors.txt:2: cannot"):
        casefiles.ERRORS.at(path).regen()


def test_check_golden(tmp_path: Path) -> None:
    golden = tmp_path / "golden" / "explain" / "one.txt"
    with pytest.raises(AssertionError, match="run pytest --regen"):
        casefiles.check_golden(golden, "plan\n", regen=False)
    casefiles.check_golden(golden, "plan\n", regen=True)
    assert golden.read_text() == "plan\n"
    casefiles.check_golden(golden, "plan\n", regen=False)
    with pytest.raises(AssertionError, match=r"(?s)-plan.*\+other"):
        casefiles.check_golden(golden, "other\n", regen=False)
    casefiles.check_golden(golden, "plan\n", regen=True)
    assert golden.read_text() == "plan\n"


def test_regen_all_reports_a_case_it_cannot_regenerate(tmp_path: Path) -> None:
    """Nothing is written and the run goes on; the summary says why."""
    path = tmp_path / "errors.txt"
    path.write_text("\nevt.fits[2]\n!! error: old\n")
    (problem,) = casefiles.regen_all([casefiles.ERRORS.at(path)])
    assert path.read_text() == "\nevt.fits[2]\n!! error: old\n"
    assert "as it was" in problem and "errors.txt:2: cannot regenerate" in problem
