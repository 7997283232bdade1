"""The .xdm statement lexer, variables, continuation lines and located errors.

Subcommands are replaced by a recorder here, so these tests pin the script layer
alone; tests/test_script_e2e.py runs real scripts through the real commands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xdm.cli.main import main
from xdm.cli.script import (
    ScriptError,
    Session,
    Statement,
    lex,
    read_statements,
    run_script,
)
from xdm.errors import Span, XdmSemanticError, XdmSyntaxError

VARS = {"band": "300:2000", "f": "evt2.fits"}


def words(text: str) -> list[str]:
    return [w.text for w in lex(text, VARS.get)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'dmcopy "evt2.fits[energy=300:2000]" out.fits',
            ["dmcopy", "evt2.fits[energy=300:2000]", "out.fits"],
        ),
        # brackets keep a virtual file whole even with blanks and no quotes
        (
            "copy evt2.fits[cols x, y] out.fits",
            ["copy", "evt2.fits[cols x, y]", "out.fits"],
        ),
        # quotes only around the bracket part, as on a CIAO command line
        (
            'copy evt2.fits"[ccd_id=7]" o.fits',
            ["copy", "evt2.fits[ccd_id=7]", "o.fits"],
        ),
        # inside brackets quotes belong to the virtual file
        ('parse evt2.fits[object="3C 273"]', ["parse", 'evt2.fits[object="3C 273"]']),
        (
            "parse 'a.fits[sky=circle(1,2,20\")]'",
            ["parse", 'a.fits[sky=circle(1,2,20")]'],
        ),
        ("copy a.fits b.fits  # a comment", ["copy", "a.fits", "b.fits"]),
        ("parse a.fits[#row=1:3]", ["parse", "a.fits[#row=1:3]"]),
        ("# only a comment", []),
        ("copy a\\ b.fits c", ["copy", "a b.fits", "c"]),
        ("echo price\\$5", ["echo", "price$5"]),
        ('copy "$f[energy=$band]" x', ["copy", "evt2.fits[energy=300:2000]", "x"]),
        ("copy ${f}[energy=${band}] x", ["copy", "evt2.fits[energy=300:2000]", "x"]),
        ("copy '$f' x", ["copy", "$f", "x"]),
        ("echo a$ b", ["echo", "a$", "b"]),
        (
            "copy infile=$f[ccd_id=7] outfile=o.fits",
            ["copy", "infile=evt2.fits[ccd_id=7]", "outfile=o.fits"],
        ),
    ],
)
def test_lexer_splits_like_a_shell_but_keeps_virtual_files_whole(
    text: str, expected: list[str]
) -> None:
    assert words(text) == expected


def test_every_character_remembers_where_it_came_from() -> None:
    text = 'copy "${f}[energy=$band]" out'
    (_, vf, _) = lex(text, VARS.get)
    # literal characters map to themselves
    k = vf.text.index("[energy=")
    assert [text[s:e] for s, e in vf.origin[k : k + 8]] == list("[energy=")
    # expanded characters map to the whole reference
    assert {text[s:e] for s, e in vf.origin[:9]} == {"${f}"}
    e = vf.text.index("300")
    assert text[slice(*vf.origin[e])] == "$band"
    # a span inside the expansion becomes the reference's span
    span = vf.source_span(Span(e, e + 3))
    assert text[span.start : span.end] == "$band"
    assert vf.span == Span(text.index('"'), text.rindex("]") + 1)


def test_unclosed_quote_points_at_the_quote() -> None:
    with pytest.raises(XdmSyntaxError) as info:
        lex('copy "evt2.fits[energy=1] out', VARS.get)
    assert info.value.span == Span(5, 6)
    assert "unclosed" in info.value.message


def test_undefined_variable_is_an_error_at_its_reference() -> None:
    statement = Statement.from_text(
        'copy "evt2.fits[energy=$bnad]" out.fits', file="s.xdm"
    )
    with pytest.raises(ScriptError) as info:
        Session(run_command=lambda n, a: 0).execute(statement)
    err = info.value
    assert err.location == f"s.xdm:1:{statement.text.index('$bnad') + 1}"
    assert "undefined variable $bnad" in err.render()
    caret = err.render().splitlines()[2]
    assert caret.index("^") - 2 == statement.text.index("$bnad")
    assert caret.count("~") == len("$bnad") - 1


def test_environment_variables_expand_when_no_script_variable_has_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDM_TEST_DIR", "/data")
    assert [w.text for w in lex("a $XDM_TEST_DIR/e.fits", Session().lookup)][
        1
    ] == "/data/e.fits"


def test_continuation_lines_join_and_keep_their_line_numbers() -> None:
    source = "set a = 1\n\ncopy x.fits \\\n    y.fits \\\n  z\n# end\n"
    statements = list(read_statements(source, file="s.xdm"))
    assert [s.text for s in statements] == [
        "set a = 1",
        "copy x.fits     y.fits   z",
        "# end",
    ]
    second = statements[1]
    offset = second.text.index("y.fits")
    assert second.locate(offset) == (4, 5, "    y.fits \\")
    assert second.locate(second.text.index("z")) == (5, 3, "  z")
    # an escaped backslash does not continue the line
    assert [s.text for s in read_statements("echo a\\\\\necho b")] == [
        "echo a\\\\",
        "echo b",
    ]


class Recorder:
    """Stands in for the subcommands; raises like cmd_copy on a bad column."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, name: str, argv: list[str]) -> int:
        self.calls.append((name, argv))
        for arg in argv:
            vf = arg.partition("=")[2] if arg.startswith("infile=") else arg
            if "enrgy" in vf:
                i = vf.index("enrgy")
                raise XdmSemanticError(
                    "unknown column 'enrgy'",
                    source=vf,
                    span=Span(i, i + 5),
                    hint="did you mean 'energy'?",
                )
            if "300:2000" in vf and "energy=" in vf:
                i = vf.index("300:2000")
                raise XdmSemanticError("band rejected", source=vf, span=Span(i, i + 8))
        return 0


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.xdm"
    path.write_text(text)
    return path


def test_a_script_runs_statements_in_order_with_variables(tmp_path: Path) -> None:
    rec = Recorder()
    script = write(
        tmp_path,
        "# soft band image\n"
        "set band = 500:700   # keV/1000\n"
        "set evt = evt2.fits\n"
        'dmcopy "$evt[energy=$band][bin x=::8,y=::8]" \\\n'
        "   soft.fits clobber=yes\n"
        "xdm explain ${evt}[ccd_id=7]\n",
    )
    session = run_script(script, session=Session(run_command=rec))
    assert rec.calls == [
        (
            "dmcopy",
            ["evt2.fits[energy=500:700][bin x=::8,y=::8]", "soft.fits", "clobber=yes"],
        ),
        ("explain", ["evt2.fits[ccd_id=7]"]),
    ]
    assert session.variables["band"] == "500:700"
    assert session.variables["SCRIPT_DIR"] == str(tmp_path.resolve())
    assert session.current_file == "evt2.fits"


def test_command_line_values_win_over_set(tmp_path: Path) -> None:
    rec = Recorder()
    script = write(
        tmp_path, "set band = 500:700\nset lo = 1\ncopy e.fits[energy=$band] o\n"
    )
    session = run_script(script, {"band": "700:1000"}, Session(run_command=rec))
    assert rec.calls == [("copy", ["e.fits[energy=700:1000]", "o"])]
    assert session.variables["lo"] == "1"


def test_error_in_a_subcommand_is_cited_at_script_line_and_column(
    tmp_path: Path,
) -> None:
    rec = Recorder()
    line4 = 'dmcopy infile="e.fits[ccd_id=7][enrgy=1:2]" outfile=o.fits'
    script = write(tmp_path, f"echo one\n\n# comment\n{line4}\necho never\n")
    with pytest.raises(ScriptError) as info:
        run_script(script, session=Session(run_command=rec))
    err = info.value
    col = line4.index("enrgy") + 1
    assert err.location == f"{script}:4:{col}"
    lines = err.render().splitlines()
    assert lines[0] == f"{script}:4:{col}: error: unknown column 'enrgy'"
    assert lines[1] == "  " + line4
    assert lines[2] == "  " + " " * (col - 1) + "^~~~~"
    assert lines[3] == "hint: did you mean 'energy'?"
    assert err.exit_status == 2
    assert isinstance(err.cause, XdmSemanticError)
    assert len(rec.calls) == 1  # stopped at the first error


def test_error_inside_an_expanded_variable_underlines_the_reference(
    tmp_path: Path,
) -> None:
    line = 'copy "e.fits[energy=$band]" o'
    script = write(tmp_path, f"set band = 300:2000\n{line}\n")
    with pytest.raises(ScriptError) as info:
        run_script(script, session=Session(run_command=Recorder()))
    assert info.value.location.endswith(f":2:{line.index('$band') + 1}")
    assert (
        info.value.render().splitlines()[2]
        == "  " + " " * line.index("$band") + "^~~~~"
    )


def test_error_on_a_continued_line_cites_the_physical_line(tmp_path: Path) -> None:
    script = write(tmp_path, "copy \\\n  e.fits[enrgy=1] \\\n  o.fits\n")
    with pytest.raises(ScriptError) as info:
        run_script(script, session=Session(run_command=Recorder()))
    assert info.value.location == f"{script}:2:10"
    assert info.value.render().splitlines()[1] == "    e.fits[enrgy=1] \\"


def test_unknown_command_and_bad_set(tmp_path: Path) -> None:
    with pytest.raises(ScriptError) as info:
        run_script(
            write(tmp_path, "  dmkopy a b\n"), session=Session(run_command=Recorder())
        )
    assert info.value.location.endswith(":1:3")
    assert "unknown command 'dmkopy'" in info.value.render()
    with pytest.raises(ScriptError) as info:
        run_script(
            write(tmp_path, "set band 300\n"), session=Session(run_command=Recorder())
        )
    assert "expected set NAME = VALUE" in info.value.render()


def test_a_failing_exit_status_stops_the_script(tmp_path: Path) -> None:
    with pytest.raises(ScriptError) as info:
        run_script(
            write(tmp_path, "copy a b\necho no\n"),
            session=Session(run_command=lambda n, a: 1),
        )
    assert info.value.exit_status == 1
    assert "copy failed with exit status 1" in info.value.render()


def test_xdm_run_exits_2_and_prints_the_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path, "echo start\necho $nothing_here\necho end\n")
    status = main(["run", str(script), "extra=1"])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == "start\n"
    assert captured.err.startswith(
        f"{script}:2:6: error: undefined variable $nothing_here\n"
    )


def test_xdm_run_passes_values_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path, "set who = nobody\necho hello ${who}\n")
    assert main(["run", str(script), "who=world", "--quiet"]) == 0
    assert capsys.readouterr().out == "hello world\n"


def test_xdm_run_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run"]) == 2
    assert "no script given" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.xdm")]) == 2
    assert "cannot read script" in capsys.readouterr().err
    assert main(["run", str(write(tmp_path, "")), "verbose=9"]) == 2
    assert "verbose must be an integer from 0 to 5" in capsys.readouterr().err


def test_typed_input_continues_open_brackets_and_quotes() -> None:
    typed = "copy evt.fits[ccd_id=7,\nenergy=1] out\necho b"
    statements = list(read_statements(typed, join_open=True))
    assert [s.text for s in statements] == [
        "copy evt.fits[ccd_id=7, energy=1] out",
        "echo b",
    ]
    assert statements[0].locate(statements[0].text.index("energy")) == (
        2,
        1,
        "energy=1] out",
    )
    # scripts stay line by line
    assert len(list(read_statements(typed))) == 3


def test_verbose_2_traces_each_statement_after_expansion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path, 'set b = 1:2\necho "e.fits[energy=$b]"\n')
    assert main(["run", str(script), "verbose=2"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "+ echo 'e.fits[energy=1:2]'\n"
    assert captured.out == "e.fits[energy=1:2]\n"
    assert main(["run", str(script)]) == 0
    assert capsys.readouterr().err == ""
