"""Fuzzing: mutated and random texts through every entry point that reads user
text give only ``xdm.XdmError`` (never a traceback, RecursionError or hang).

Oracle: the contract itself (an exception that is not an XdmError fails the
test, and so does an XdmError whose rendering does not start with ``error:``);
texts that parse must also unparse and parse back to the same tree. Seeds are
the case tables (tests/cases), the region files of tests/data and the example
scripts. Seeded (``derandomize=True``); ``bench/fuzz.py`` runs the same targets
with more examples and prints the counts.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from fuzz_targets import (
    COUNTS,
    REGION_SEEDS,
    engine_suffixes,
    filter_target,
    hostile_texts,
    memory_budget,
    mutated,
    parse_target,
    pipeline_target,
    random_text,
    region_file_seeds,
    region_file_target,
    region_target,
    script_seeds,
    script_target,
    tool_target,
    vf_seeds,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xdm.tools

FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VF_SEEDS = vf_seeds()
SUFFIXES = engine_suffixes()
REGION_FILES = region_file_seeds()
SCRIPTS = script_seeds()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, synthetic_events: Path) -> Path:
    """A folder holding the synthetic events as evt2.fits (the seeds' name)."""
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copy(synthetic_events, folder / "evt2.fits")
    return folder


def test_seeds_are_many() -> None:
    assert len(VF_SEEDS) > 500 and len(SUFFIXES) > 150
    assert len(REGION_FILES) >= 5 and len(SCRIPTS) >= 5


@FUZZ
@given(st.one_of(mutated(VF_SEEDS), random_text))
def test_parse_fuzz(text: str) -> None:
    parse_target(text)


@FUZZ
@given(
    st.one_of(mutated([s[1:-1] for s in SUFFIXES if s.startswith("[")]), random_text)
)
def test_filter_file_fuzz(text: str) -> None:
    filter_target(text)


@settings(FUZZ, max_examples=150)
@given(mutated(SUFFIXES, max_ops=3))
def test_pipeline_fuzz(data_dir: Path, text: str) -> None:
    """Mutated engine cases evaluated on the synthetic file (budget 64 MB)."""
    with memory_budget("64MB"):
        pipeline_target("evt2.fits" + text, data_dir)


@FUZZ
@given(st.one_of(mutated(REGION_SEEDS), random_text))
def test_region_fuzz(text: str) -> None:
    region_target(text)


@settings(FUZZ, max_examples=150)
@given(mutated(REGION_FILES, max_ops=8))
def test_region_file_fuzz(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    region_file_target(text, tmp_path_factory.getbasetemp())


@settings(FUZZ, max_examples=150)
@given(st.one_of(mutated(SCRIPTS, max_ops=8), random_text))
def test_script_fuzz(data_dir: Path, text: str) -> None:
    script_target(text, data_dir, data_dir / "evt2.fits")


TOOLS = xdm.tools.available()
WORD = st.one_of(
    st.builds(
        lambda k, v: f"{k}={v}",
        st.sampled_from(
            [
                "infile",
                "outfile",
                "keyword",
                "verbose",
                "clobber",
                "mode",
                "echo",
                "nsigma",
                "bogus",
                "INFILE",
                "Verbose",
            ]
        ),
        st.one_of(
            random_text,
            st.sampled_from(
                ["yes", "no", "INDEF", "1e999", "nan", "-1", "3", "\u22121", ""]
            ),
        ),
    ),
    st.sampled_from(
        [
            "clobber+",
            "clobber-",
            "--clobber",
            "--no-clobber",
            "-q",
            "--json",
            "--",
            "verbose+",
            "--verbose",
            "=",
            "+",
            "-",
        ]
    ),
    random_text,
)


@pytest.mark.parametrize("name", TOOLS)
@settings(FUZZ, max_examples=120)
@given(words=st.lists(WORD, max_size=6))
def test_tool_parameters_fuzz(name: str, words: list[str]) -> None:
    tool_target(name, words)


@pytest.mark.parametrize(
    ("label", "text"), hostile_texts(), ids=[h[0] for h in hostile_texts()]
)
def test_hostile_texts(data_dir: Path, label: str, text: str) -> None:
    """10^4-deep nesting, 1 MB strings, unicode minus signs and non-breaking
    spaces: parse and evaluate give an answer or an XdmError, each in seconds."""
    start = time.perf_counter()
    parse_target(text)
    with memory_budget("64MB"):
        pipeline_target(text, data_dir)
    assert time.perf_counter() - start < 30, label


def test_deep_nesting_is_a_syntax_error() -> None:
    """A tree deeper than the parser's limit is refused as a syntax error."""
    with pytest.raises(xdm.XdmSyntaxError, match="nested too deeply"):
        xdm.parse("evt2.fits[sky=" + "!" * 10_000 + "circle(1,1,1)]")
    assert xdm.parse("evt2.fits[sky=" + "!" * 50 + "circle(1,1,1)]") is not None


def test_counts() -> None:
    """Every target ran (this file's tests run in order; printed with -s)."""
    print("\nfuzz counts:", dict(sorted(COUNTS.items())))
    tried = sum(COUNTS.values())
    if tried:  # run alone (-k) it has nothing to count
        assert COUNTS["parse:error"] > 0 and COUNTS["parse:ok"] > 0
