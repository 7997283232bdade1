"""The unconfirmed CIAO behaviours as one table (xdm/switches.py), and its page.

Each switch is documented (spec section, what xdm does, the other choice), read by
the code, changed only inside ``switches.using`` and per thread; the table in
docs/syntax.md is this table (``pytest --regen`` rewrites it).
"""

from __future__ import annotations

import re
import threading
import typing
from pathlib import Path

import casefiles
import numpy as np
import pytest
from astropy.io import fits

import xdm
import xdm.api
from xdm import switches

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
PAGE = ROOT / "docs" / "syntax.md"
BEGIN = (
    "<!-- switches: generated from xdm.switches.table() by tests/test_switches.py -->"
)
END = "<!-- switches: end -->"


def render() -> str:
    """The docs table of the switches, one row each."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [
        "| switch | spec | xdm does (the default) | the other choice |",
        "|---|---|---|---|",
    ]
    for s in switches.table():
        other = s.other if s.choices else f"`{not s.default}`: {s.other}"
        rows.append(
            f"| `{s.name}` = `{s.default!r}` | {s.section} "
            f"| {cell(s.does)} | {cell(other)} |"
        )
    return "\n".join(rows)


def test_the_page_shows_the_table(regen: bool) -> None:
    text = PAGE.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    new = f"{head}{BEGIN}\n{render()}\n{END}{tail}"
    casefiles.check_golden(PAGE, new, regen)


def test_every_switch_is_documented() -> None:
    rows = switches.table()
    assert len(rows) >= 12
    spec_section = re.compile(r"^\d+(\.\d+)?$")
    for s in rows:
        assert spec_section.match(s.section), s
        assert s.does and s.other, s
        assert s.default == getattr(switches.DEFAULTS, s.name)
        if s.choices:
            assert s.default in s.choices
        else:
            assert isinstance(s.default, bool)


def test_every_switch_is_read_by_the_code() -> None:
    """A switch nobody reads would be a promise the code does not keep."""
    code = "\n".join(
        p.read_text() for p in (ROOT / "xdm").rglob("*.py") if p.name != "switches.py"
    )
    for s in switches.table():
        assert f"switches.current().{s.name}" in code, s.name


def test_using_changes_the_switches_inside_only() -> None:
    assert switches.current() == switches.DEFAULTS
    with switches.using(update_tstart_tstop=True) as inside:
        assert inside.update_tstart_tstop is True
        assert switches.current() == inside
        with switches.using(multi_block_combine="union"):
            now = switches.current()
            assert now.multi_block_combine == "union" and now.update_tstart_tstop
        assert switches.current() == inside
    assert switches.current() == switches.DEFAULTS


def test_using_restores_after_an_error() -> None:
    with pytest.raises(RuntimeError), switches.using(snap_to_tlmin_grid=False):
        raise RuntimeError
    assert switches.current().snap_to_tlmin_grid is True


def test_threads_do_not_see_each_others_switches() -> None:
    main_in, worker_in, checked = (threading.Event() for _ in range(3))
    seen: list[bool] = []

    def worker() -> None:
        main_in.wait(5)
        seen.append(switches.current().time_in_or_narrows_gti)
        with switches.using(real_upper_bound_inclusive=True):
            worker_in.set()
            checked.wait(5)
        seen.append(switches.current().real_upper_bound_inclusive)

    thread = threading.Thread(target=worker)
    thread.start()
    with switches.using(time_in_or_narrows_gti=False):
        main_in.set()
        assert worker_in.wait(5)
        now = switches.current()
        assert not now.real_upper_bound_inclusive and not now.time_in_or_narrows_gti
        checked.set()
    thread.join(5)
    assert seen == [True, False]


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"update_tstart_stop": True}, TypeError, "did you mean 'update_tstart_tstop'"),
        ({"multi_block_combine": "both"}, ValueError, "'intersect', 'union'"),
        ({"weighted_image_type": "r16"}, ValueError, "'i2', 'i4', 'r4', 'r8'"),
        ({"snap_to_tlmin_grid": "yes"}, TypeError, "True or False"),
    ],
)
def test_bad_switches_are_refused(
    changes: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)), switches.using(**changes):
        pass
    assert switches.current() == switches.DEFAULTS


def test_switches_are_frozen() -> None:
    with pytest.raises(AttributeError):
        switches.DEFAULTS.update_tstart_tstop = True  # type: ignore[misc]


# ---------------------------------------------------------------- each reading


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six events worked out by hand, a per-chip GTI file and a binned image."""
    d = tmp_path_factory.mktemp("switches")
    cols = [
        fits.Column(name="time", format="1D", array=[10, 20, 30, 40, 50, 60]),
        fits.Column(name="ccd_id", format="1I", array=[7, 3, 7, 3, 7, 3]),
        fits.Column(name="x", format="1E", array=[10.2, 11, 12, 13, 20.7, 15]),
        fits.Column(name="energy", format="1E", array=[1, 2, 3, 4, 5, 6]),
        fits.Column(name="pi", format="1J", null=-99, array=[1, -99, 3, 4, 5, 6]),
        fits.Column(name="inst", format="8A", array=["ACIS-I", "acis-i"] + ["HRC"] * 4),
        fits.Column(name="status", format="8X", array=np.zeros((6, 8), dtype=bool)),
    ]
    events = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    events.header.update(TLMIN3=0.5, TLMAX3=100.5, TSTART=0.0, TSTOP=100.0)

    def gti(start: float, stop: float, ccd: int) -> fits.BinTableHDU:
        hdu = fits.BinTableHDU.from_columns(
            [
                fits.Column(name="START", format="1D", array=[start]),
                fits.Column(name="STOP", format="1D", array=[stop]),
            ],
            name="GTI",
        )
        hdu.header["CCD_ID"] = ccd
        return hdu

    fits.HDUList([fits.PrimaryHDU(), events]).writeto(d / "evt.fits")
    chips = [fits.PrimaryHDU(), gti(15, 45, 7), gti(0, 100, 3)]
    fits.HDUList(chips).writeto(d / "chips.gti")
    xdm.copy(f"{d / 'evt.fits'}[bin x=0.5:10.5:1,time=0:100:10]", d / "img.fits")
    return d


def _rows(text: str) -> list[int]:
    return (np.flatnonzero(xdm.api.select(text)) + 1).tolist()


# switch, its other value, a filter on evt.fits, rows by default, rows the other way
ROWS = [
    ("real_upper_bound_inclusive", True, "[energy=1:3]", [1, 2], [1, 2, 3]),
    ("real_single_value_equals", False, "[energy=2]", [2], []),
    ("null_never_matches", False, "[pi=-100:5]", [1, 3, 4, 5], [1, 2, 3, 4, 5]),
    ("string_case_sensitive", False, "[inst=ACIS-I]", [1], [1, 2]),
    # chips.gti[ccd_id=7] is one set of intervals, 15:45: all rows, or chip 7's
    (
        "single_selection_applies_to_all",
        False,
        "[@chips.gti[ccd_id=7]]",
        [2, 3, 4],
        [3],
    ),
]


@pytest.mark.parametrize(("name", "other", "suffix", "default", "rows"), ROWS)
def test_each_reading_selects_its_rows(
    files: Path,
    name: str,
    other: object,
    suffix: str,
    default: list[int],
    rows: list[int],
) -> None:
    text = f"{files / 'evt.fits'}{suffix}".replace("@chips", f"@{files}/chips")
    assert _rows(text) == default
    with switches.using(**{name: other}):
        assert _rows(text) == rows
    assert _rows(text) == default


def test_a_long_bit_pattern_is_an_error_the_other_way(files: Path) -> None:
    text = f"{files / 'evt.fits'}[status=xx00000000]"  # 10 characters, 8 bits
    assert _rows(text) == [1, 2, 3, 4, 5, 6]
    with (
        switches.using(bit_pattern_align_right=False),
        pytest.raises(xdm.XdmError, match="has 8 bits"),
    ):
        xdm.api.select(text)


def test_the_default_bin_range_snaps_to_the_tlmin_grid(files: Path) -> None:
    text = f"{files / 'evt.fits'}[x=10.3:20.7][bin x=::1]"
    snapped = xdm.read(text)
    with switches.using(snap_to_tlmin_grid=False):
        plain = xdm.read(text)
    assert snapped.header["CRVAL1P"] == 9.5  # 0.5 + floor(10.3 - 0.5)
    assert plain.header["CRVAL1P"] == pytest.approx(10.3)
    assert snapped.data.shape == (12,) and plain.data.shape == (11,)


def test_the_weighted_image_type(files: Path) -> None:
    text = f"{files / 'evt.fits'}[bin x=::1;energy]"
    assert xdm.read(text).data.dtype == np.dtype(">f4")
    with switches.using(weighted_image_type="r8"):
        assert xdm.read(text).data.dtype == np.dtype(">f8")


def test_the_weighted_image_types_are_the_binned_image_types() -> None:
    """The base stage cannot import lang: the switch's values (its choices and its
    type) repeat the ``[bin]`` types of ``xdm.lang.options.IMAGE_TYPES``."""
    from xdm.lang.options import DEFAULT_IMAGE_TYPE, IMAGE_TYPES

    binned = tuple(t.name for t in IMAGE_TYPES if t.binned)
    (row,) = [s for s in switches.table() if s.name == "weighted_image_type"]
    assert row.choices == binned and row.default in binned
    hints = typing.get_type_hints(switches.Switches)
    assert typing.get_args(hints["weighted_image_type"]) == binned
    assert DEFAULT_IMAGE_TYPE in binned


def test_physical_ranges_on_an_image(files: Path) -> None:
    text = f"{files / 'img.fits'}[x=2:4]"  # pixel centres x = 1..10
    assert xdm.read(text).data.shape[-1] == 2
    with switches.using(physical_upper_inclusive=True):
        assert xdm.read(text).data.shape[-1] == 3


# switches whose other reading is tested with the feature it changes
ELSEWHERE = {
    "time_in_or_narrows_gti": "test_gti_or.py",
    "update_tstart_tstop": "test_gti.py",
    "multi_block_combine": "test_repl_summary_streaming.py",
}


def test_every_reading_is_tested() -> None:
    here = Path(__file__).read_text()
    for s in switches.table():
        if s.name in ELSEWHERE:
            assert (
                f"switches.using({s.name}=" in (TESTS / ELSEWHERE[s.name]).read_text()
            )
        else:
            assert f'"{s.name}"' in here or f"using({s.name}=" in here, s.name
