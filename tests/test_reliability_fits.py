"""Hostile FITS inputs: damaged, truncated, lying and non-FITS files give one
clear line naming the file and what is wrong, exit status 2, and no output.

Each hostile file is made from the real Chandra file tests/data/events/
chandra_test.fits by a byte edit whose damage is known (the test knows which
keyword it broke), and is tried through ``xdm.read`` (every fault) and
``xdm dmcopy`` as a subprocess (one of each kind). Oracles: the edit itself (the message must name the keyword or the
fault made), CFITSIO through fitsio (it must also refuse the files it can
judge), and the untouched file (it must still read, equal to astropy's rows).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import xdm

REAL = Path(__file__).parent / "data" / "events" / "chandra_test.fits"
RECORD = 2880


def _header_range(raw: bytes, hdu: int) -> tuple[int, int]:
    """(start, end) bytes of header ``hdu`` of a sound file (END card included)."""
    from astropy.io import fits

    with fits.open(REAL) as hdul:
        info = hdul.fileinfo(hdu)
        return int(info["hdrLoc"]), int(info["datLoc"])


def _set_card(raw: bytearray, hdu: int, key: str, value: str) -> None:
    start, end = _header_range(bytes(raw), hdu)
    for off in range(start, end, 80):
        if raw[off : off + 8].decode("ascii").rstrip() == key:
            raw[off : off + 80] = f"{key:<8}= {value:>20}".ljust(80).encode("ascii")
            return
    raise KeyError(key)


def _blank_card(raw: bytearray, hdu: int, key: str) -> None:
    start, end = _header_range(bytes(raw), hdu)
    for off in range(start, end, 80):
        if raw[off : off + 8].decode("ascii").rstrip() == key:
            raw[off : off + 80] = b"COMMENT".ljust(80)
            return
    raise KeyError(key)


def _edit(fn: Callable[[bytearray], None]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        raw = bytearray(REAL.read_bytes())
        fn(raw)
        path.write_bytes(bytes(raw))

    return make


def _truncate(fraction: float) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        raw = REAL.read_bytes()
        path.write_bytes(raw[: int(len(raw) * fraction)])

    return make


def _cut_into_data(hdu: int, keep: int) -> Callable[[Path], None]:
    """The file cut ``keep`` bytes into the data of block ``hdu`` (-1: one
    byte before its padding ends, all data present)."""

    def make(path: Path) -> None:
        raw = REAL.read_bytes()
        if keep < 0:
            path.write_bytes(raw[: _header_range(raw, hdu + 1)[0] - 1])
        else:
            path.write_bytes(raw[: _header_range(raw, hdu)[1] + keep])

    return make


def _damage_keyword(raw: bytearray) -> None:
    start, end = _header_range(bytes(raw), 1)
    at = raw.index(b"HISTORY ", start, end)
    raw[at + 5 : at + 6] = b"$"  # printable, but no keyword character


def _damage_indicator(raw: bytearray) -> None:
    start, end = _header_range(bytes(raw), 1)
    at = raw.index(b"TLMIN", start, end)
    raw[at + 8 : at + 9] = b":"  # TLMINn : value


def _damage_end(raw: bytearray) -> None:
    start, end = _header_range(bytes(raw), 0)
    at = raw.index(b"END" + b" " * 77, start, end)
    raw[at + 60] = ord("}")  # astropy no longer sees the END: it reads on


def _flip_header_byte(raw: bytearray) -> None:
    start, _ = _header_range(bytes(raw), 1)
    raw[start + 80 * 20 + 15] ^= 0xC0  # a byte of a value: now non-ASCII


def _gzip_bomb(path: Path) -> None:
    """48 MB of gzip that declares a 10^10-row table: inflating it would need
    600 GB (refused on the header, before any data is inflated)."""
    from astropy.io import fits

    table = fits.Header(
        [
            ("XTENSION", "BINTABLE"),
            ("BITPIX", 8),
            ("NAXIS", 2),
            ("NAXIS1", 60),
            ("NAXIS2", 10**10),
            ("PCOUNT", 0),
            ("GCOUNT", 1),
            ("TFIELDS", 1),
            ("TTYPE1", "STUFF"),
            ("TFORM1", "60B"),
            ("EXTNAME", "EVENTS"),
        ]
    )
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(fits.PrimaryHDU().header.tostring().encode())
        out.write(table.tostring().encode())
        zeros = b"\0" * (1 << 20)
        for _ in range(16):
            out.write(zeros)


def _zeros_gz(path: Path) -> None:
    """A gzip stream of zeros only (no FITS header at all): 256 MB inflated,
    of which only the first record is read."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 24)
    with open(path, "wb") as out:
        for _ in range(16):
            out.write(comp.compress(zeros))
        out.write(comp.flush())


def _gzip_truncated(path: Path) -> None:
    packed = gzip.compress(REAL.read_bytes())
    path.write_bytes(packed[: len(packed) // 2])


def _text(path: Path) -> None:
    path.write_text("time,energy\n1,2\n" * 200)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _directory(path: Path) -> None:
    path.mkdir()


def _no_end(path: Path) -> None:
    raw = bytearray(REAL.read_bytes())
    start, end = _header_range(bytes(raw), 0)
    for off in range(start, end, 80):
        if raw[off : off + 3] == b"END":
            raw[off : off + 80] = b" " * 80
    path.write_bytes(bytes(raw[: end + RECORD * 2]))


# name, how to make it, words the message must hold, suffix of the file name
HOSTILE: list[tuple[str, Callable[[Path], None], tuple[str, ...], str]] = [
    ("empty", _empty, ("empty",), ".fits"),
    ("text", _text, ("not a FITS file",), ".fits"),
    ("directory", _directory, ("directory",), ".fits"),
    ("truncated-header", _truncate(0.01), ("truncated", "END"), ".fits"),
    ("truncated-data", _truncate(0.5), ("NAXIS2", "truncated"), ".fits"),
    ("truncated-last-block", _cut_into_data(2, 8), ("GTI", "truncated"), ".fits"),
    (
        "naxis2-too-big",
        _edit(lambda r: _set_card(r, 1, "NAXIS2", "999999999")),
        ("NAXIS2 = 999,999,999",),
        ".fits",
    ),
    (
        "naxis2-too-small",
        _edit(lambda r: _set_card(r, 1, "NAXIS2", "10")),
        ("not a FITS header", "NAXIS"),
        ".fits",
    ),
    (
        "naxis1-wrong",
        _edit(lambda r: _set_card(r, 1, "NAXIS1", "3")),
        ("NAXIS1 = 3",),
        ".fits",
    ),
    (
        "bitpix-bad",
        _edit(lambda r: _set_card(r, 1, "BITPIX", "13")),
        ("BITPIX = 13",),
        ".fits",
    ),
    (
        "bitpix-primary",
        _edit(lambda r: _set_card(r, 0, "BITPIX", "7")),
        ("BITPIX = 7",),
        ".fits",
    ),
    (
        "naxis-not-int",
        _edit(lambda r: _set_card(r, 1, "NAXIS2", "'many'")),
        ("NAXIS2",),
        ".fits",
    ),
    (
        "tfields-too-many",
        _edit(lambda r: _set_card(r, 1, "TFIELDS", "30")),
        ("TFORM9",),
        ".fits",
    ),
    (
        "missing-ttype",
        _edit(lambda r: _blank_card(r, 1, "TTYPE3")),
        ("TTYPE3",),
        ".fits",
    ),
    (
        "missing-tform",
        _edit(lambda r: _blank_card(r, 1, "TFORM2")),
        ("TFORM2",),
        ".fits",
    ),
    (
        "tform-bad",
        _edit(lambda r: _set_card(r, 1, "TFORM2", "'Z'")),
        ("TFORM2",),
        ".fits",
    ),
    ("non-ascii-header", _edit(_flip_header_byte), ("non-ASCII",), ".fits"),
    ("no-end-card", _no_end, ("END",), ".fits"),
    ("bad-keyword", _edit(_damage_keyword), ("HISTO$Y", "damaged"), ".fits"),
    ("no-value-indicator", _edit(_damage_indicator), ("without '= '",), ".fits"),
    ("end-card-damaged", _edit(_damage_end), ("END card", "damaged"), ".fits"),
    ("cut-in-padding", _cut_into_data(1, -1), ("padding",), ".fits"),
    ("gzip-bomb", _gzip_bomb, ("budget",), ".fits.gz"),
    ("gzip-zeros", _zeros_gz, ("not a FITS file",), ".fits.gz"),
    ("gzip-truncated", _gzip_truncated, ("damaged",), ".fits.gz"),
]
IDS = [h[0] for h in HOSTILE]

ASTROPY_WORDS = ("astropy", "VerifyError", "Traceback", "mmap", "recformat", "buffer")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    out = {}
    for name, make, _, suffix in HOSTILE:
        path = folder / f"{name}{suffix}"
        make(path)
        out[name] = path
    return out


def _check_message(message: str, name: str, words: tuple[str, ...]) -> None:
    assert "\n" not in message, message
    assert name in message, message  # names the file
    for word in words:
        assert word in message, (word, message)
    for word in ASTROPY_WORDS:
        assert word not in message, message


@pytest.mark.parametrize(("name", "make", "words", "suffix"), HOSTILE, ids=IDS)
def test_read_refuses_hostile_file(
    hostile: dict[str, Path],
    name: str,
    make: object,
    words: tuple[str, ...],
    suffix: str,
) -> None:
    path = hostile[name]
    for text in (str(path), f"{path}[energy=500:2000]", f"{path}[bin sky=64]"):
        with pytest.raises(xdm.XdmError) as info:
            xdm.read(text)
        assert info.value.exit_status == 2
        _check_message(info.value.message, path.name, words)


DMCOPY_CASES = [
    "empty",
    "text",
    "directory",
    "truncated-data",
    "naxis2-too-big",
    "bitpix-bad",
    "missing-ttype",
    "non-ascii-header",
    "end-card-damaged",
    "gzip-bomb",
    "gzip-truncated",
]
"""One of each kind of fault through the command line (every one of them
goes through xdm.read above; the command adds only the exit status, the
stderr line and the absent output, the same for all)."""


@pytest.mark.parametrize(
    ("name", "make", "words", "suffix"),
    [h for h in HOSTILE if h[0] in DMCOPY_CASES],
    ids=DMCOPY_CASES,
)
def test_dmcopy_refuses_hostile_file(
    hostile: dict[str, Path],
    tmp_path: Path,
    name: str,
    make: object,
    words: tuple[str, ...],
    suffix: str,
) -> None:
    path = hostile[name]
    out = tmp_path / "out.fits"
    run = subprocess.run(
        [sys.executable, "-m", "xdm", "dmcopy", f"{path}[energy=500:2000]", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), run.stderr
    _check_message(lines[0], path.name, words)
    assert "Traceback" not in run.stderr and "WARNING" not in run.stderr
    assert os.listdir(tmp_path) == []  # no output, no temporary file


CFITSIO_JUDGED = [
    "empty",
    "text",
    "truncated-header",
    "truncated-data",
    "naxis2-too-big",
    "gzip-truncated",
]
"""The files CFITSIO refuses as well (it reads the others, with garbage columns
or a default for what is missing: xdm is stricter there)."""


@pytest.mark.parametrize("name", CFITSIO_JUDGED)
def test_cfitsio_also_refuses(hostile: dict[str, Path], name: str) -> None:
    """The independent reader agrees these files are broken."""
    fitsio = pytest.importorskip("fitsio")
    with (
        pytest.raises(Exception),  # noqa: B017 - CFITSIO's own error types vary
        fitsio.FITS(str(hostile[name])) as f,
    ):
        for hdu in f:
            if hdu.get_exttype() == "BINARY_TBL":
                hdu.read()


def test_untouched_file_still_reads() -> None:
    """The checks pass the real file, and rows equal astropy's."""
    from astropy.io import fits

    table = xdm.read(f"{REAL}[energy=500:2000]")
    with fits.open(REAL) as hdul:
        energy = hdul["EVENTS"].data["energy"]
        expected = np.sort(energy[(energy >= 500) & (energy < 2000)])
    assert np.array_equal(np.sort(np.asarray(table["energy"])), expected)


def test_every_test_data_file_passes_the_checks() -> None:
    """No real FITS file of tests/data is refused (gzip included)."""
    from xdm.io.blocks import open_block

    files = [
        p
        for p in (Path(__file__).parent / "data").rglob("*")
        if p.suffix in (".fits", ".gz", ".evt", ".lc", ".pha", ".img")
    ]
    assert len(files) >= 5
    for path in files:
        open_block(str(path)).close()


def test_zero_row_table_copies_to_zero_rows(tmp_path: Path) -> None:
    """A valid table without rows is not an error: dmcopy writes zero rows,
    which astropy reads back with the same columns."""
    from astropy.io import fits

    raw = bytearray(REAL.read_bytes())
    _set_card(raw, 1, "NAXIS2", "0")
    events_data = _header_range(bytes(raw), 1)[1]
    gti_header = _header_range(bytes(raw), 2)[0]
    (tmp_path / "zero.fits").write_bytes(bytes(raw[:events_data] + raw[gti_header:]))
    with fits.open(REAL) as hdul:
        names = hdul["EVENTS"].columns.names
    with fits.open(tmp_path / "zero.fits") as hdul:  # astropy agrees it is sound
        hdul.verify("exception")
        assert len(hdul["EVENTS"].data) == 0 and len(hdul["GTI"].data) == 1
    assert len(xdm.read(f"{tmp_path / 'zero.fits'}[EVENTS]")) == 0
    out = tmp_path / "out.fits"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "xdm",
            "dmcopy",
            f"{tmp_path / 'zero.fits'}[EVENTS][energy=500:2000]",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    with fits.open(out) as hdul:
        assert hdul["EVENTS"].header["NAXIS2"] == 0
        assert hdul["EVENTS"].columns.names == names


def test_flipped_bytes_never_crash(tmp_path: Path) -> None:
    """40 copies with 1-200 random bytes flipped (seeded; anywhere, or in the
    rows only): each reads or is refused with an XdmError; astropy never gets
    to warn about a damaged header."""
    import warnings

    rng = np.random.default_rng(19)
    raw = REAL.read_bytes()
    data_start = _header_range(raw, 1)[1]
    data_end = _header_range(raw, 2)[0] - RECORD  # before the last padding
    refused = read = 0
    for i in range(40):
        damaged = bytearray(raw)
        low = data_start if i % 2 else 0  # odd copies: rows only (they read)
        for at in rng.integers(low, data_end, rng.integers(1, 201)):
            damaged[at] ^= int(rng.integers(1, 256))
        path = tmp_path / f"flip{i}.fits"
        path.write_bytes(bytes(damaged))
        for text in (f"{path}[energy=500:2000]", f"{path}[bin sky=64]"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    xdm.read(text)
                    read += 1
                except xdm.XdmError:
                    refused += 1
            assert not [w for w in caught if "astropy" in w.category.__module__], i
    assert refused > 0 and read > 0


@pytest.mark.parametrize(
    "tail", [b"\0" * RECORD, b"\n", b"x" * 100], ids=["zero-record", "newline", "junk"]
)
def test_trailing_padding_is_accepted(tmp_path: Path, tail: bytes) -> None:
    """A record of zeros, or less than a record of anything, after the last
    block is ignored (astropy reads such files too)."""
    path = tmp_path / "padded.fits"
    shutil.copy(REAL, path)
    with open(path, "ab") as fh:
        fh.write(tail)
    assert len(xdm.read(f"{path}[EVENTS]")) == 4612


def test_every_truncation_is_refused(tmp_path: Path) -> None:
    """60 seeded cut lengths anywhere in the file (headers, rows, padding): a
    FITS file is whole records, so every strict prefix is refused, never read
    with a block silently missing."""
    raw = REAL.read_bytes()
    rng = np.random.default_rng(60)
    path = tmp_path / "cut.fits"
    for n in sorted(rng.integers(1, len(raw), 60)):
        path.write_bytes(raw[:n])
        with pytest.raises(xdm.XdmIOError, match=r"cut\.fits"):
            xdm.read(f"{path}[EVENTS]")
