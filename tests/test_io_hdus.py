"""xdm.io.hdus: what it builds and writes is what astropy reads back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from xdm.errors import XdmIOError
from xdm.io.hdus import (
    ColumnSpec,
    hdu_list,
    image_hdu,
    is_bintable,
    is_scaled_records,
    is_table,
    new_header,
    open_fits,
    primary_hdu,
    read_header,
    read_table,
    records_hdu,
    records_table,
    save_hdus,
    table_hdu,
    write_fits,
)


def _table() -> fits.BinTableHDU:
    return table_hdu(
        [
            ColumnSpec("TIME", "1D", np.array([1.0, 2.5]), unit="s"),
            ColumnSpec("CCD_ID", "1J", np.array([7, 3], dtype=np.int32)),
            ColumnSpec("R", "2D", np.array([[0.0, 1.0], [1.0, 2.0]]), unit="pixel"),
            ColumnSpec("SHAPE", "8A", np.array(["circle", "annulus"])),
            ColumnSpec("PHA", "1I", np.array([10, 20]), bzero=32768),
        ],
        name="EVENTS",
        header=new_header([("OBJECT", "M31", "target"), ("EXPOSURE", 10.0)]),
    )


def test_importing_it_loads_no_astropy() -> None:
    code = "import sys, xdm.io.hdus\nprint([m for m in sys.modules if 'astropy' in m])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_a_table_written_is_the_table_astropy_reads(tmp_path: Path) -> None:
    out = tmp_path / "t.fits"
    assert write_fits(out, [primary_hdu(), _table()], clobber=False) == out
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "EVENTS"]
        hdu = hdul["EVENTS"]
        assert hdu.header["OBJECT"] == "M31"
        assert hdu.header.comments["OBJECT"] == "target"
        assert hdu.header["EXPOSURE"] == 10.0
        assert hdu.header["TUNIT1"] == "s"
        assert hdu.header["TZERO5"] == 32768
        assert hdu.columns["R"].format == "2D"
        assert hdu.data["TIME"].tolist() == [1.0, 2.5]
        assert hdu.data["CCD_ID"].tolist() == [7, 3]
        assert hdu.data["R"].tolist() == [[0.0, 1.0], [1.0, 2.0]]
        assert hdu.data["SHAPE"].tolist() == ["circle", "annulus"]
        assert hdu.data["PHA"].tolist() == [10, 20]


def test_a_table_without_a_name_has_no_extname() -> None:
    hdu = table_hdu([ColumnSpec("X", "1E", np.zeros(3, dtype=np.float32))])
    assert "EXTNAME" not in hdu.header
    assert hdu.header["NAXIS2"] == 3


def test_images_primary_and_extension(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.int32).reshape(3, 4)
    header = new_header({"BUNIT": "count"})
    out = tmp_path / "i.fits"
    write_fits(
        out,
        [image_hdu(data, header, primary=True), image_hdu(data * 2, primary=False)],
        clobber=False,
    )
    with fits.open(out) as hdul:
        assert isinstance(hdul[0], fits.PrimaryHDU)
        assert isinstance(hdul[1], fits.ImageHDU)
        assert hdul[0].header["BUNIT"] == "count"
        np.testing.assert_array_equal(hdul[0].data, data)
        np.testing.assert_array_equal(hdul[1].data, data * 2)


def test_write_refuses_an_existing_file_without_clobber(tmp_path: Path) -> None:
    out = tmp_path / "t.fits"
    write_fits(out, [primary_hdu()], clobber=False)
    with pytest.raises(XdmIOError, match="exists"):
        write_fits(out, [primary_hdu(), _table()], clobber=False)
    with fits.open(out) as hdul:
        assert len(hdul) == 1
    write_fits(out, [primary_hdu(), _table()], clobber=True)
    with fits.open(out) as hdul:
        assert len(hdul) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.fits"]


def test_save_hdus_fix_repairs_what_astropy_would_refuse(tmp_path: Path) -> None:
    hdu = primary_hdu()
    hdu.header.append(fits.Card.fromstring("BADKEY  = 'unterminated"))
    with pytest.raises(fits.VerifyError):
        save_hdus(tmp_path / "strict.fits", [hdu])
    save_hdus(tmp_path / "fixed.fits", [hdu], fix=True)
    with fits.open(tmp_path / "fixed.fits") as hdul:
        assert "BADKEY" in hdul[0].header


def test_open_and_read_header(tmp_path: Path) -> None:
    out = tmp_path / "t.fits"
    write_fits(out, hdu_list([primary_hdu(), _table()]), clobber=False)
    with open_fits(out, memmap=True) as hdul:
        assert is_bintable(hdul[1]) and is_table(hdul[1])
        assert not is_table(hdul[0])
        assert is_scaled_records(hdul[1].data)
        assert not is_scaled_records(np.zeros(2, dtype=[("a", ">i4")]))
        copy = records_hdu(hdul[1].data, hdul[1].header)
        assert copy.header is not hdul[1].header
        assert read_table(copy)["TIME"].unit == "s"
    assert read_header(out, 1)["EXTNAME"] == "EVENTS"
    assert read_header(out, "events")["NAXIS2"] == 2
    with pytest.raises(XdmIOError, match="no block 'GTI'"):
        read_header(out, "GTI")


def test_open_in_update_mode_saves_edits(tmp_path: Path) -> None:
    out = tmp_path / "t.fits"
    write_fits(out, [primary_hdu(), _table()], clobber=False)
    with open_fits(out, mode="update") as hdul:
        hdul[1].header["OBJECT"] = "M33"
    assert read_header(out, 1)["OBJECT"] == "M33"


def test_errors_in_the_body_are_not_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "t.fits"
    write_fits(out, [primary_hdu()], clobber=False)
    with pytest.raises(KeyError), open_fits(out) as hdul:
        hdul["NOPE"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found: {name}"),
        (b"", "is empty"),
        (b"hello world" * 300, "is not a FITS file"),
    ],
)
def test_unreadable_files_say_what_is_wrong(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "bad.fits"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(XdmIOError) as err, open_fits(path, shown="bad.fits"):
        pass
    assert message.format(name="bad.fits") in str(err.value)


def test_a_directory_is_not_a_fits_file(tmp_path: Path) -> None:
    with pytest.raises(XdmIOError, match="is a directory"), open_fits(tmp_path):
        pass


def test_records_table_applies_the_headers_units_and_scaling(tmp_path: Path) -> None:
    hdu = table_hdu(
        [
            ColumnSpec("TIME", "1D", np.array([1.0, 2.5]), unit="s"),
            ColumnSpec("PHA", "1I", np.array([10, 40000]), bzero=32768),
        ],
        name="EVENTS",
    )
    raw = np.array(
        [(1.0, 10 - 32768), (2.5, 40000 - 32768)],
        dtype=[("TIME", ">f8"), ("PHA", ">i2")],
    )
    table = records_table(raw, hdu.header)
    assert table["TIME"].unit == "s"
    assert table["PHA"].tolist() == [10, 40000]
    assert len(records_table(raw[:1], hdu.header)) == 1
    assert hdu.header["NAXIS2"] == 2  # the caller's header is not changed
    out = tmp_path / "t.fits"
    write_fits(out, [primary_hdu(), hdu], clobber=False)
    with open_fits(out) as hdul:
        again = records_table(hdul[1].data, hdul[1].header)
    assert again["PHA"].tolist() == [10, 40000]
    assert again["TIME"].unit == "s"
