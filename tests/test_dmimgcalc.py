"""dmimgcalc: CIAO's operations and expressions against numpy computed in the test.

Oracles: numpy arithmetic on the arrays read back with astropy; for random
expressions, Python's own evaluation of the same test-generated text on numpy
arrays (Python's precedence and associativity are those documented for ours).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import xdm
from xdm import XdmSemanticError, XdmSyntaxError
from xdm.cli.main import main
from xdm.tools import dmimgcalc

GRID = "[bin x=3900:4300:8,y=3900:4300:8]"


@pytest.fixture(scope="module")
def images(
    synthetic_events: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("imgcalc")
    soft = xdm.copy(f"{synthetic_events}[energy=500:2000]{GRID}", d / "soft.img")
    hard = xdm.copy(f"{synthetic_events}[energy=2000:7000]{GRID}", d / "hard.img")
    # a float map on the same grid, with zeros
    header = fits.getheader(soft)
    rng = np.random.default_rng(11)
    emap = rng.uniform(1.0, 2.0, (50, 50)) * 1e3
    emap[:3] = 0.0
    header["BUNIT"] = "cm**2 s"
    fits.PrimaryHDU(emap, header).writeto(d / "emap.fits")
    coarse = xdm.copy(
        f"{synthetic_events}[bin x=3900:4300:16,y=3900:4300:16]", d / "c.img"
    )
    moved = xdm.copy(
        f"{synthetic_events}[bin x=3908:4308:8,y=3900:4300:8]", d / "m.img"
    )
    return {
        "soft": soft,
        "hard": hard,
        "emap": d / "emap.fits",
        "coarse": coarse,
        "moved": moved,
        "dir": d,
    }


def _data(path: Path) -> np.ndarray:
    return np.asarray(fits.getdata(path), dtype=np.float64)


@pytest.mark.parametrize(
    ("operation", "weight", "weight2", "expected"),
    [
        ("add", 1.0, 1.0, lambda a, b: a + b),
        ("sub", 1.0, 1.0, lambda a, b: a - b),
        ("mul", 2.0, 1.0, lambda a, b: 2 * a * b),
        ("add", 1.0, 0.5, lambda a, b: a + 0.5 * b),
        (
            "div",
            1.0,
            1.0,
            lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b != 0),
        ),
    ],
)
def test_named_operations(
    images: dict[str, Path],
    tmp_path: Path,
    operation: str,
    weight: float,
    weight2: float,
    expected,
) -> None:
    a, b = images["soft"], images["emap"] if operation == "div" else images["hard"]
    out = tmp_path / "o.fits"
    dmimgcalc(
        infile=str(a),
        infile2=str(b),
        outfile=str(out),
        operation=operation,
        weight=weight,
        weight2=weight2,
    )
    got = _data(out)
    np.testing.assert_allclose(got, expected(_data(a), _data(b)), rtol=1e-12)
    assert np.all(np.isfinite(got))
    h = fits.getheader(out)
    assert (
        h["CRVAL1"] == fits.getheader(a)["CRVAL1"]
        and h["LTV1"] == fits.getheader(a)["LTV1"]
    )


def test_integer_add_stays_integer_and_keeps_bunit(
    images: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "sum.img"
    dmimgcalc(
        infile=str(images["soft"]),
        infile2=str(images["hard"]),
        outfile=str(out),
        operation="add",
    )
    assert (
        fits.getdata(out).dtype.kind == "i" and fits.getheader(out)["BUNIT"] == "count"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("imgout=(img1-img2*0.5)", lambda a, b, c: a - b * 0.5),
        ("imgout=-img1**2 + 3", lambda a, b, c: -(a**2) + 3),
        ("imgout=img1^2/(img2+1)", lambda a, b, c: a**2 / (b + 1)),
        ("imgout=2**3**2*img1", lambda a, b, c: 512 * a),
        (
            "imgout=sqrt(img1)+log10(img3+1)-abs(-img2)",
            lambda a, b, c: np.sqrt(a) + np.log10(c + 1) - b,
        ),
        ("imgout=max(img1,img2)-min(img1, img2)", lambda a, b, c: np.abs(a - b)),
        ("imgout = exp(-img1/10) * 1.5e-3", lambda a, b, c: np.exp(-a / 10) * 1.5e-3),
        ("imgout=img1+img2+img3", lambda a, b, c: a + b + c),
    ],
)
def test_expressions(
    images: dict[str, Path], tmp_path: Path, text: str, expected
) -> None:
    lis = tmp_path / "three.lis"
    lis.write_text(f"{images['soft']}\n{images['hard']}\n{images['emap']}\n")
    out = tmp_path / "e.fits"
    dmimgcalc(infile="@" + str(lis), outfile=str(out), operation=text)
    a, b, c = (_data(images[k]) for k in ("soft", "hard", "emap"))
    np.testing.assert_allclose(_data(out), expected(a, b, c), rtol=1e-12)


def test_random_expressions_agree_with_python(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    arrays = [rng.uniform(0.5, 2.0, (3, 4)) for _ in range(3)]
    names = []
    for i, a in enumerate(arrays, start=1):
        fits.PrimaryHDU(a).writeto(tmp_path / f"img{i}.fits")
        names.append(str(tmp_path / f"img{i}.fits"))

    def gen(depth: int) -> str:
        if depth == 0 or rng.random() < 0.25:
            if rng.random() < 0.6:
                return f"img{rng.integers(1, 4)}"
            return f"{rng.uniform(0.5, 3):.3f}"
        kind = rng.integers(0, 4)
        if kind == 0:
            return f"-{gen(depth - 1)}"
        if kind == 1:
            return f"({gen(depth - 1)})"
        op = ["+", "-", "*", "/", "**"][rng.integers(0, 5)]
        right = f"{rng.uniform(0.5, 1.5):.2f}" if op == "**" else gen(depth - 1)
        return f"{gen(depth - 1)} {op} {right}"

    env = {f"img{i + 1}": a for i, a in enumerate(arrays)}
    out = tmp_path / "out.fits"
    for _ in range(120):
        text = gen(4)
        with np.errstate(all="ignore"):
            want = eval(text, {"__builtins__": {}}, env)  # test-made text: the oracle
        dmimgcalc(
            infile=",".join(names),
            outfile=str(out),
            operation=f"imgout={text}",
            clobber=True,
        )
        np.testing.assert_allclose(
            _data(out), want * np.ones((3, 4)), rtol=1e-12, equal_nan=True, err_msg=text
        )


def test_expression_division_by_zero_is_ieee(
    images: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "d.fits"
    dmimgcalc(
        infile=str(images["soft"]),
        infile2=str(images["emap"]),
        outfile=str(out),
        operation="imgout=img1/img2",
    )
    got = _data(out)
    assert not np.all(np.isfinite(got[:3]))
    np.testing.assert_allclose(
        got[3:], _data(images["soft"])[3:] / _data(images["emap"])[3:]
    )


@pytest.mark.parametrize(
    ("other", "words"),
    [("coarse", "shapes differ"), ("moved", "physical grids differ")],
)
def test_grids_must_match(
    images: dict[str, Path], tmp_path: Path, other: str, words: str
) -> None:
    with pytest.raises(XdmSemanticError, match=words):
        dmimgcalc(
            infile=str(images["soft"]),
            infile2=str(images[other]),
            outfile=str(tmp_path / "x.fits"),
            operation="add",
        )


@pytest.mark.parametrize(
    ("operation", "error", "caret"),
    [
        ("imgout=img1+*img2", XdmSyntaxError, "*"),
        ("imgout=__import__('os')", XdmSyntaxError, "'"),
        ("imgout=sqrt(img1", XdmSyntaxError, None),
        ("imgout=foo(img1)", XdmSyntaxError, "f"),
        ("imgout=img3+1", XdmSemanticError, None),
        ("imgout=sqrt(img1,img2)", XdmSyntaxError, "s"),
        ("divide", XdmSemanticError, None),
    ],
)
def test_bad_operations(
    images: dict[str, Path],
    tmp_path: Path,
    operation: str,
    error: type,
    caret: str | None,
) -> None:
    with pytest.raises(error) as info:
        dmimgcalc(
            infile=str(images["soft"]),
            infile2=str(images["hard"]),
            outfile=str(tmp_path / "x.fits"),
            operation=operation,
        )
    if caret is not None:
        err = info.value
        assert err.span is not None and err.source[err.span.start] == caret
        assert "^" in err.render()


def test_cli_and_clobber(images: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cli.fits"
    argv = ["dmimgcalc", str(images["soft"]), str(images["hard"]), str(out), "sub"]
    assert main(argv) == 0
    np.testing.assert_array_equal(
        _data(out), _data(images["soft"]) - _data(images["hard"])
    )
    assert main(argv) == 2  # exists without clobber
    assert main([*argv, "clobber=yes"]) == 0


def test_cli_stack_is_one_run_over_all_images(
    images: dict[str, Path], tmp_path: Path
) -> None:
    lis = tmp_path / "two.lis"
    lis.write_text(f"{images['soft']}\n{images['hard']}\n")
    out = tmp_path / "stack.fits"
    assert (
        main(
            [
                "dmimgcalc",
                f"infile=@{lis}",
                f"outfile={out}",
                "operation=imgout=img1+2*img2",
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(
        _data(out), _data(images["soft"]) + 2 * _data(images["hard"])
    )
