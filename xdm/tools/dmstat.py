"""``xdm dmstat infile``: statistics of table columns and of images, in CIAO's layout.

Tables are reduced in the engine's one streaming pass (``xdm.scan``): per column
the good and null counts, sum, min and max (with the 1-based row of each, in
the selected rows), and mean and sigma merged chunk by chunk with Chan's
pairwise update (exact in float64, no second pass). ``median=yes`` and
``clip=yes`` need the values themselves: they keep one float64 per selected row
of each column. Images (an image block or ``[bin ...]``) also get the centroid,
in logical pixels and, when the header has the physical transform, physical
coordinates. ``sigma`` is the sample standard deviation (divisor N - 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xdm.io.tforms import TFORMS
from xdm.tools.params import VERBOSE, Param, Tool, Values

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from xdm.api import Image
    from xdm.engine.steps import Plan

__all__ = ["TOOL", "ColumnStats", "Statistics", "dmstat", "run"]

TOOL = Tool(
    "dmstat",
    "statistics of columns and images",
    (
        Param(
            "infile", "f", "", "input virtual file (columns or image)", required=True
        ),
        Param("centroid", "b", True, "compute the centroid of an image"),
        Param("median", "b", False, "compute the median (keeps the values in memory)"),
        Param("sigma", "b", True, "compute the standard deviation"),
        Param("clip", "b", False, "sigma-clip the values before the statistics"),
        Param("nsigma", "r", 3.0, "clipping threshold in sigma", minimum=0),
        Param("maxiter", "i", 20, "maximum clipping iterations", minimum=1),
        VERBOSE,
    ),
    positional=("infile",),
    notes=(
        "A table gives one report per numeric scalar column of the selection "
        "(`evt2.fits[energy=500:7000][cols energy]` for one). Positions (`@`) are "
        "1-based rows of the selected rows, or `( x y )` logical pixels of an image. "
        "sigma divides by N - 1; the median of an even count is the mean of the "
        "two middle values. Vector columns (sky) are reported per component."
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnStats:
    """One column's (or an image's) statistics, as dmstat prints them."""

    name: str
    unit: str = ""
    minimum: float = math.nan
    maximum: float = math.nan
    min_at: tuple[float, ...] = ()
    max_at: tuple[float, ...] = ()
    mean: float = math.nan
    sigma: float | None = None
    median: float | None = None
    sum: float = 0.0
    good: int = 0
    null: int = 0
    centroid_logical: tuple[float, float] | None = None
    centroid_physical: tuple[float, float] | None = None
    axes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The values as a dictionary (NaN stays NaN; ``--json`` prints null)."""
        return {
            "name": self.name,
            "unit": self.unit,
            "min": self.minimum,
            "min_at": list(self.min_at),
            "max": self.maximum,
            "max_at": list(self.max_at),
            "mean": self.mean,
            "sigma": self.sigma,
            "median": self.median,
            "sum": self.sum,
            "good": self.good,
            "null": self.null,
            "cntrd_log": list(self.centroid_logical) if self.centroid_logical else None,
            "cntrd_phys": (
                list(self.centroid_physical) if self.centroid_physical else None
            ),
        }


@dataclass(frozen=True, slots=True)
class Statistics:
    """dmstat's result: one ``ColumnStats`` per column (or one for an image)."""

    infile: str
    columns: tuple[ColumnStats, ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> ColumnStats:
        for c in self.columns:
            if c.name.lower() == name.lower():
                return c
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        """All columns' statistics (``--json``)."""
        return {"infile": self.infile, "columns": [c.as_dict() for c in self.columns]}


def dmstat(**params: Any) -> Statistics:
    """``xdm.tools.dmstat(infile=...)``: statistics per column, or of the image."""
    return TOOL.call(run, params)


def run(p: Values) -> Statistics:
    """Reduce the selected columns or the image; print CIAO's report at verbose >= 1."""
    from xdm.lang.parser import parse
    from xdm.plan.planner import plan
    from xdm.progress import get_verbosity
    from xdm.tools._inspect import planned_image

    vf = parse(p["infile"])
    pl = plan(vf)
    if pl.gives_image:
        result = Statistics(str(p["infile"]), (_image_stats(p, planned_image(vf, pl)),))
    else:
        result = Statistics(str(p["infile"]), _table_stats(p, pl))
    if get_verbosity() >= 1:
        for c in result.columns:
            print(report(c, p))
    return result


def _g(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    return f"{value:.11g}"


def _at(pos: tuple[float, ...]) -> str:
    if len(pos) == 1:
        return f"{int(pos[0])}"
    return "( " + " ".join(_g(v) for v in pos) + " )"


def report(c: ColumnStats, p: Values) -> str:
    """The CIAO dmstat text for one column or image."""
    title = c.name + (f"({', '.join(c.axes)})" if c.axes else "")
    title += f"[{c.unit}]" if c.unit else ""
    lines = [
        title,
        f"    min:\t{_g(c.minimum)} \t      @:\t{_at(c.min_at)} "
        if c.min_at
        else f"    min:\t{_g(c.minimum)} ",
        f"    max:\t{_g(c.maximum)} \t      @:\t{_at(c.max_at)} "
        if c.max_at
        else f"    max:\t{_g(c.maximum)} ",
    ]
    if c.centroid_logical is not None:
        lines.append(f"cntrd[log] :\t{_at(c.centroid_logical)} ")
    if c.centroid_physical is not None:
        lines.append(f"cntrd[phys]:\t{_at(c.centroid_physical)} ")
    lines.append(f"   mean:\t{_g(c.mean)} ")
    if c.median is not None:
        lines.append(f" median:\t{_g(c.median)} ")
    if c.sigma is not None:
        lines.append(f"  sigma:\t{_g(c.sigma)} ")
    lines += [
        f"    sum:\t{_g(c.sum)} ",
        f"   good:\t{c.good} ",
        f"   null:\t{c.null} ",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- tables


class _Running:
    """Count, sum, mean and M2 (Chan's merge), min/max and their rows, nulls."""

    def __init__(self, keep: bool) -> None:
        self.n = 0
        self.null = 0
        self.total = 0.0
        self.mean = 0.0
        self.m2 = 0.0
        self.lo = math.inf
        self.hi = -math.inf
        self.lo_at = 0
        self.hi_at = 0
        self.keep = keep
        self.values: list[NDArray[np.float64]] = []
        self.rows: list[NDArray[np.int64]] = []

    def add(self, values: NDArray[np.float64], first_row: int) -> None:
        import numpy as np

        good = ~np.isnan(values)
        self.null += int(values.size - np.count_nonzero(good))
        if not good.all():
            rows = np.flatnonzero(good) + first_row
            values = values[good]
        else:
            rows = None
        nb = int(values.size)
        if nb == 0:
            return
        if self.keep:
            self.values.append(values.copy())
            self.rows.append(
                rows if rows is not None else np.arange(first_row, first_row + nb)
            )
        i_lo, i_hi = int(np.argmin(values)), int(np.argmax(values))
        lo, hi = float(values[i_lo]), float(values[i_hi])

        def at(i: int) -> int:
            return int(rows[i]) if rows is not None else first_row + i

        if lo < self.lo:
            self.lo, self.lo_at = lo, at(i_lo)
        if hi > self.hi:
            self.hi, self.hi_at = hi, at(i_hi)
        s = float(np.sum(values))
        mean_b = s / nb
        deviation = values - mean_b
        m2_b = float(np.dot(deviation, deviation))
        n = self.n + nb
        delta = mean_b - self.mean
        self.mean += delta * nb / n
        self.m2 += m2_b + delta * delta * self.n * nb / n
        self.n = n
        self.total += s


def _table_stats(p: Values, pl: Plan) -> tuple[ColumnStats, ...]:
    """Statistics of the kept rows of the table plan ``pl`` (planned once, by ``run``)."""
    import numpy as np

    from xdm.engine.executor import scan
    from xdm.io.hdus import is_scaled_records
    from xdm.progress import note, progress

    keep = bool(p["median"] or p["clip"])
    out: list[ColumnStats] = []
    with scan(pl) as rows:
        h = rows.header
        picked: list[tuple[str, str, int]] = []
        for n, (old, new) in enumerate(rows.columns, start=1):
            tform = str(h.get(f"TFORM{n}", "")).strip().upper()
            code = tform.lstrip("0123456789")[:1]
            repeat = tform[: len(tform) - len(tform.lstrip("0123456789"))]
            numeric = code in TFORMS and TFORMS[code].kind in ("int", "real")
            if numeric and repeat in ("", "1"):
                picked.append((old, new, n))
        if not picked:
            from xdm.errors import XdmSemanticError

            raise XdmSemanticError(
                f"dmstat: no numeric column in {p['infile']}",
                hint="select one with [cols name]",
            )
        acc = {old: _Running(keep) for old, _, _ in picked}
        row = 1
        with progress(rows.total_rows, "dmstat") as bar:
            for records, kept in rows.chunks:
                every = bool(kept.all())  # else one column at a time, not rows
                scaled = is_scaled_records(records)  # heap tables: astropy's
                for old, _, n in picked:
                    column = records[old] if every else records[old][kept]
                    acc[old].add(_scaled(column, h, n, scaled), row)
                row += len(records) if every else int(np.count_nonzero(kept))
                bar.advance(len(records))
        note(f"dmstat: {row - 1:,} rows of {rows.total_rows:,} read", level=3)
        for old, new, n in picked:
            a = acc[old]
            unit = str(h.get(f"TUNIT{n}", "")).strip()
            out.append(_finish(new, unit, a, p))
    return tuple(out)


def _scaled(column: NDArray[Any], h: Any, n: int, scaled: bool) -> NDArray[np.float64]:
    """The column as float64, TSCAL/TZERO applied, TNULL and NaN as NaN."""
    import numpy as np

    values = np.asarray(column, dtype=np.float64)
    tnull = h.get(f"TNULL{n}")
    if tnull is not None and np.asarray(column).dtype.kind in "iu":
        values[np.asarray(column) == int(tnull)] = np.nan
    scale, zero = float(h.get(f"TSCAL{n}", 1.0)), float(h.get(f"TZERO{n}", 0.0))
    if (scale, zero) != (1.0, 0.0) and not scaled:
        values = values * scale + zero
    return values


def _finish(name: str, unit: str, a: _Running, p: Values) -> ColumnStats:
    import numpy as np

    if a.keep and a.n:
        values = np.concatenate(a.values)
        rows = np.concatenate(a.rows)
        if p["clip"]:
            values, rows = _clip(values, rows, float(p["nsigma"]), int(p["maxiter"]))
        return _from_values(name, unit, values, rows, a.null, p)
    sigma = math.sqrt(a.m2 / (a.n - 1)) if a.n > 1 else (0.0 if a.n else math.nan)
    return ColumnStats(
        name=name,
        unit=unit,
        minimum=a.lo if a.n else math.nan,
        maximum=a.hi if a.n else math.nan,
        min_at=(a.lo_at,) if a.n else (),
        max_at=(a.hi_at,) if a.n else (),
        mean=a.mean if a.n else math.nan,
        sigma=sigma if p["sigma"] else None,
        sum=a.total,
        good=a.n,
        null=a.null,
    )


def _clip(
    values: NDArray[np.float64], rows: NDArray[Any], nsigma: float, maxiter: int
) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """Iterative sigma clipping: drop |v - mean| > nsigma * sigma until stable."""
    import numpy as np

    for _ in range(maxiter):
        if values.size < 2:
            break
        mean, sigma = float(values.mean()), float(values.std(ddof=1))
        keep = np.abs(values - mean) <= nsigma * sigma
        if keep.all():
            break
        values, rows = values[keep], rows[keep]
    return values, rows


def _from_values(
    name: str,
    unit: str,
    values: NDArray[np.float64],
    rows: NDArray[Any],
    null: int,
    p: Values,
) -> ColumnStats:
    import numpy as np

    n = int(values.size)
    if n == 0:
        return ColumnStats(name=name, unit=unit, null=null)
    i_lo, i_hi = int(np.argmin(values)), int(np.argmax(values))
    return ColumnStats(
        name=name,
        unit=unit,
        minimum=float(values[i_lo]),
        maximum=float(values[i_hi]),
        min_at=(int(rows[i_lo]),),
        max_at=(int(rows[i_hi]),),
        mean=float(values.mean()),
        sigma=(float(values.std(ddof=1)) if n > 1 else 0.0) if p["sigma"] else None,
        median=float(np.median(values)) if p["median"] else None,
        sum=float(values.sum()),
        good=n,
        null=null,
    )


# ---------------------------------------------------------------- images


def _image_stats(p: Values, image: Image) -> ColumnStats:
    import numpy as np

    h = image.header
    data = np.asarray(image.data, dtype=np.float64)
    blank = h.get("BLANK")
    good = np.isfinite(data)
    if blank is not None and np.asarray(image.data).dtype.kind in "iu":
        good &= np.asarray(image.data) != int(blank)
    values = data[good]
    null = int(data.size - values.size)
    name = image.name or str(h.get("EXTNAME", "")).strip() or "PRIMARY"
    axes = tuple(
        str(h.get(f"CTYPE{i}P", f"#{i}")).strip() or f"#{i}"
        for i in range(1, data.ndim + 1)
    )
    if values.size == 0:
        return ColumnStats(name=name, null=int(data.size), axes=axes)
    if p["clip"]:
        clipped, where = _clip(
            values, np.arange(values.size), p["nsigma"], p["maxiter"]
        )
        keep = np.zeros(values.size, dtype=bool)
        keep[where] = True
        mask = good.copy()
        mask[good] = keep
        good, values = mask, clipped
    masked = np.where(good, data, np.nan)
    i_lo = np.unravel_index(int(np.nanargmin(masked)), data.shape)
    i_hi = np.unravel_index(int(np.nanargmax(masked)), data.shape)
    cntrd_log = cntrd_phys = None
    if p["centroid"] and data.ndim == 2 and float(values.sum()) != 0.0:
        ny, nx = data.shape
        w = np.where(good, data, 0.0)
        total = float(w.sum())
        cx = float((w.sum(axis=0) * np.arange(1, nx + 1)).sum() / total)
        cy = float((w.sum(axis=1) * np.arange(1, ny + 1)).sum() / total)
        cntrd_log = (cx, cy)
        cntrd_phys = _physical(h, cntrd_log)
    return ColumnStats(
        name=name,
        unit=str(h.get("BUNIT", "")).strip(),
        minimum=float(values.min()),
        maximum=float(values.max()),
        min_at=tuple(float(i + 1) for i in reversed(i_lo)),
        max_at=tuple(float(i + 1) for i in reversed(i_hi)),
        mean=float(values.mean()),
        sigma=(float(values.std(ddof=1)) if values.size > 1 else 0.0)
        if p["sigma"]
        else None,
        median=float(np.median(values)) if p["median"] else None,
        sum=float(values.sum()),
        good=int(values.size),
        null=null,
        centroid_logical=cntrd_log,
        centroid_physical=cntrd_phys,
        axes=axes,
    )


def _physical(h: Any, logical: tuple[float, float]) -> tuple[float, float] | None:
    """Logical -> physical through the ``P`` linear transform (CRVALnP, CDELTnP...)."""
    if "CRVAL1P" not in h or "CRVAL2P" not in h:
        return None
    out = []
    for i, v in enumerate(logical, start=1):
        out.append(
            float(h[f"CRVAL{i}P"])
            + float(h.get(f"CDELT{i}P", 1.0)) * (v - float(h.get(f"CRPIX{i}P", 0.0)))
        )
    return out[0], out[1]
