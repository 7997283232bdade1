"""``xdm parse``: tree and canonical text, JSON, errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from xdm.cli.main import main
from xdm.lang.parser import parse
from xdm.lang.unparse import unparse

VF = "evt2.fits[EVENTS][energy=300:2000,ccd_id=7][sky=circle(4096,4096,20)][bin sky=8]"


def test_tree_and_canonical(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", VF]) == 0
    out = capsys.readouterr().out
    assert (
        "VirtualFile" in out and "RangeFilter" in out and "Shape name='circle'" in out
    )
    assert "[18:33] energy=300:2000" in out  # span and its text
    assert out.rstrip().splitlines()[-1] == "canonical: " + unparse(parse(VF))


def test_json_has_types_fields_and_spans(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", VF, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input"] == VF
    assert doc["canonical"] == unparse(parse(VF))
    ast = doc["ast"]
    assert ast["type"] == "VirtualFile" and ast["span"] == [0, len(VF)]
    block, flt = ast["qualifiers"][:2]
    assert block == {
        "type": "BlockRef",
        "span": [9, 17],
        "name": "EVENTS",
        "number": None,
    }
    energy = flt["expr"]["terms"][0]
    assert energy["column"]["name"] == "energy"
    assert VF[slice(*energy["span"])] == "energy=300:2000"


def test_ciao_style_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", f"infile={VF}", "json=yes"]) == 0
    assert json.loads(capsys.readouterr().out)["input"] == VF


def test_region_filter_and_raw_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--region", "CIRcle(1,2,3)-box(1,2,3,4)"]) == 0
    assert "canonical: circle(1,2,3)-box(1,2,3,4)" in capsys.readouterr().out
    assert main(["parse", "--filter", "ccd_id=7\nenergy=1:2"]) == 0
    assert "canonical: ccd_id=7,energy=1:2" in capsys.readouterr().out
    assert main(["parse", "--tree", "e[bin sky=8]"]) == 0
    assert "bin_q" in capsys.readouterr().out


def test_syntax_error_exit_2_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xdm", "parse", "evt.fits[energy=300-2000]"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: use ':' for a range: '300:2000', not '300-2000'",
        "  evt.fits[energy=300-2000]",
        "                     ^",
    ]
    assert "Traceback" not in result.stderr


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse"]) == 2
    assert "parse takes one virtual file" in capsys.readouterr().err
