"""Region bins: radial profiles and counts in a list of regions (dmextract
``opt=generic`` with ``[bin sky=annulus(x,y,r0:r1:dr)]``, ``[bin sky=@list]``,
``[bin sky=region(file)]``).

Rows: ``annulus(x,y,0:100:10)`` expands into the rings 0-10, 10-20, ...; a
region file or expression gives one row per component (CIAO: each shape a
row); a stack ``@list`` one row per line. Concentric contiguous annuli are
counted with one distance per event and a ``searchsorted`` + ``bincount``
(inclusive edges, as the region library's annulus: an event exactly on a shared
edge counts in both rings); any other list is counted by a loop over the
regions (not the rows) with the region library's vectorised ``contains``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xdm.errors import XdmSemanticError
from xdm.io import keywords
from xdm.tools._extract import MAX_BINS, Events, Infile, Pass, sky_wcs, stream

if TYPE_CHECKING:
    from xdm.lang import nodes
    from xdm.regions.compound import Region

__all__ = ["Profile", "profile", "region_rows"]


@dataclass(frozen=True, eq=False)
class Profile:
    """Counts and exact areas in each region row."""

    regions: list[Region]
    shapes: list[str]
    radii: NDArray[np.float64] | None
    """(n, 2) inner and outer radius for annuli (and circles), else None."""
    counts: NDArray[np.int64]
    area: NDArray[np.float64]
    exposure: float
    scan: Pass


def _expand(shape: nodes.Shape) -> list[nodes.Shape]:
    """``annulus(x,y,0:100:10)`` -> one shape per consecutive pair of the range."""
    from xdm.lang import nodes

    at = [i for i, a in enumerate(shape.args) if isinstance(a, nodes.RangeArg)]
    if not at:
        return [shape]
    if len(at) > 1:
        raise XdmSemanticError(
            f"{shape.name}(...) with more than one lo:hi:step range is not supported",
            hint="give one range, e.g. annulus(x,y,0:100:10)",
        )
    k = at[0]
    arg = shape.args[k]
    assert isinstance(arg, nodes.RangeArg)
    lo, hi, step = arg.lo.value, arg.hi.value, arg.step.value
    if not step > 0 or not hi > lo:
        raise XdmSemanticError(
            f"bad range {lo:g}:{hi:g}:{step:g} in {shape.name}(...): need lo < hi, step > 0"
        )
    n = int(np.ceil((hi - lo) / step - 1e-9))
    if n > MAX_BINS:
        raise XdmSemanticError(f"{n:.3g} regions (more than {MAX_BINS:.0e})")
    from xdm.budget import check

    check(
        n * 2048, f"radial profile of {n} rings", hint="use wider rings"
    )  # nodes, rows
    edges = [lo + i * step for i in range(n)] + [hi]
    out = []
    for a, b in itertools.pairwise(edges):
        args = (
            *shape.args[:k],
            nodes.Coordinate(text=repr(float(a))),
            nodes.Coordinate(text=repr(float(b))),
            *shape.args[k + 1 :],
        )
        out.append(replace(shape, args=args))
    return out


def region_rows(
    source: Infile, events: Events, what: str = "dmextract"
) -> list[Region]:
    """The regions of ``[bin sky=...]``, one per output row."""
    from xdm.lang import nodes
    from xdm.regions.compound import Region

    assert source.axis is not None
    spec = source.axis.spec
    if isinstance(spec, nodes.Shape):
        return [events.region_of(s) for s in _expand(spec)]
    if isinstance(spec, nodes.StackRef):
        path = Path(spec.path).expanduser()
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise XdmSemanticError(
                f"{what}: cannot read the region list @{spec.path}: {exc.strerror}",
                source=source.text,
                span=spec.span,
            ) from None
        from xdm.regions.api import region

        rows = []
        for line in lines:
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            if "(" not in text:
                text = f"region({text})"
            rows.append(region(text, wcs=sky_wcs(events), base_dir=path.parent))
        if not rows:
            raise XdmSemanticError(
                f"{what}: the region list @{spec.path} is empty", source=source.text
            )
        return rows
    if spec is None or isinstance(spec, nodes.BinRange):
        raise XdmSemanticError(
            f"{what}: opt=generic bins sky by regions: [bin sky=annulus(x,y,r0:r1:dr)], "
            "[bin sky=@regions.lis] or [bin sky=region(file.reg)]",
            source=source.text,
        )
    whole = events.region_of(spec)
    return [Region((c,)) for c in whole.components]


def _annuli(regions: list[Region]) -> tuple[float, float, NDArray[np.float64]] | None:
    """Centre and radius edges when the rows are concentric contiguous annuli."""
    from xdm.regions.shapes import Annulus, Circle

    shapes = []
    for r in regions:
        if len(r.components) != 1 or len(r.components[0]) != 1:
            return None
        s = r.components[0][0]
        if not s.include or not isinstance(s, Annulus | Circle):
            return None
        shapes.append(s)
    first = shapes[0]
    xc, yc = first.xc, first.yc
    edges = []
    for k, s in enumerate(shapes):
        if (s.xc, s.yc) != (xc, yc):
            return None
        r0, r1 = (s.r0, s.r1) if isinstance(s, Annulus) else (0.0, s.r)
        if k == 0:
            edges.append(r0)
        elif r0 != edges[-1]:
            return None
        edges.append(r1)
    e = np.asarray(edges, dtype=np.float64)
    if np.any(np.diff(e) < 0):
        return None
    return xc, yc, e


def _radii(regions: list[Region]) -> NDArray[np.float64] | None:
    from xdm.regions.shapes import Annulus, Circle

    out = []
    for r in regions:
        if len(r.components) != 1 or len(r.components[0]) != 1:
            return None
        s = r.components[0][0]
        if isinstance(s, Annulus):
            out.append((s.r0, s.r1))
        elif isinstance(s, Circle):
            out.append((0.0, s.r))
        else:
            return None
    return np.asarray(out, dtype=np.float64)


def profile(
    source: Infile,
    events: Events,
    regions: list[Region] | None = None,
    what: str = "dmextract",
) -> Profile:
    """Counts in each region row (one pass) and each row's exact area."""
    from xdm.progress import note

    if events.sky is None:
        raise XdmSemanticError(
            f"{what}: {source.events} has no sky (x, y) columns for region bins"
        )
    rows = regions if regions is not None else region_rows(source, events, what)
    area = np.array([events.area(r) for r in rows], dtype=np.float64)
    bad = np.flatnonzero(~(area > 0))
    if len(bad):
        raise XdmSemanticError(
            f"{what}: region {bad[0] + 1} of [bin sky=...] ({rows[bad[0]].canonical()}) "
            "has no area inside the filter region and sky range",
            source=source.text,
            hint="every region of a profile needs an area > 0",
        )
    xname, yname = events.sky[0].name, events.sky[1].name
    n = len(rows)
    counts = np.zeros(n, dtype=np.int64)
    rings = _annuli(rows)

    if rings is not None:
        xc, yc, edges = rings
        m = len(edges)
        note(f"dmextract: {n} concentric annuli: one radius per event", level=2)

        def add(
            values: dict[str, NDArray[Any]], keep: NDArray[np.bool_] | None
        ) -> None:
            x, y = values[xname], values[yname]
            if keep is not None:
                x, y = x[keep], y[keep]
            dx = np.asarray(x, dtype=np.float64) - xc
            dy = np.asarray(y, dtype=np.float64) - yc
            r = np.sqrt(dx * dx + dy * dy)
            below = np.cumsum(
                np.bincount(np.searchsorted(edges, r, "right"), minlength=m + 1)
            )
            upto = np.cumsum(
                np.bincount(np.searchsorted(edges, r, "left"), minlength=m + 1)
            )
            # rows k: edges[k] <= r <= edges[k+1] = #(r <= e[k+1]) - #(r < e[k])
            counts[:] += upto[1:m] - below[: m - 1]

    else:
        boxes = [r.bbox for r in rows]
        note(
            f"dmextract: {n} regions: one vectorised test per region per chunk", level=2
        )

        def add(
            values: dict[str, NDArray[Any]], keep: NDArray[np.bool_] | None
        ) -> None:
            x = np.asarray(values[xname], dtype=np.float64)
            y = np.asarray(values[yname], dtype=np.float64)
            if keep is not None:
                x, y = x[keep], y[keep]
            for k, (r, box) in enumerate(zip(rows, boxes, strict=True)):
                if box is None:
                    counts[k] += int(np.count_nonzero(r.contains(x, y)))
                    continue
                near = (x >= box[0]) & (x <= box[1]) & (y >= box[2]) & (y <= box[3])
                if near.any():
                    counts[k] += int(np.count_nonzero(r.contains(x[near], y[near])))

    result = stream(events, [xname, yname], add)
    exposure = float(result.header.get("EXPOSURE", 0.0) or 0.0)
    shapes = [_shape_name(r) for r in rows]
    return Profile(rows, shapes, _radii(rows), counts, area, exposure, result)


def _shape_name(r: Region) -> str:
    parts = [
        "".join(("" if s.include else "!") + s.name for s in c) for c in r.components
    ]
    return "|".join(parts)[:24]


def profile_hdus(
    src: Profile,
    bkg: Profile | None,
    header: Any,
    *,
    error: str = "gaussian",
    bkgerror: str = "gaussian",
    bkgnorm: float = 1.0,
    history: str | None = None,
) -> list[Any]:
    """Primary and the region-bin table (CIAO dmextract opt=generic layout)."""
    from xdm.io.hdus import ColumnSpec, primary_hdu, table_hdu
    from xdm.tools._extract import carry_header, error_of, ratio
    from xdm.tools._lightcurve import background_columns

    n = len(src.counts)
    err = error_of(src.counts, error)
    counts = src.counts.astype(np.float64)
    cols = [
        ColumnSpec(
            name="COMPONENT", format="1J", array=np.arange(1, n + 1, dtype=np.int32)
        ),
        ColumnSpec(name="SHAPE", format="24A", array=np.array(src.shapes)),
    ]
    if src.radii is not None:
        cols += [
            ColumnSpec(name="R", format="2D", unit="pixel", array=src.radii),
            ColumnSpec(
                name="RMID", format="1D", unit="pixel", array=src.radii.mean(axis=1)
            ),
        ]
    cols += [
        ColumnSpec(name="COUNTS", format="1D", unit="count", array=counts),
        ColumnSpec(name="STAT_ERR", format="1D", unit="count", array=err),
        ColumnSpec(name="AREA", format="1D", unit="pixel**2", array=src.area),
        ColumnSpec(
            name="EXPOSURE", format="1D", unit="s", array=np.full(n, src.exposure)
        ),
        ColumnSpec(
            name="COUNT_RATE",
            format="1D",
            unit="count/s",
            array=ratio(counts, src.exposure),
        ),
        ColumnSpec(
            name="COUNT_RATE_ERR",
            format="1D",
            unit="count/s",
            array=ratio(err, src.exposure),
        ),
    ]
    net, net_err = counts, err
    if bkg is not None:
        b_counts = np.broadcast_to(bkg.counts.astype(np.float64), (n,))
        b_area: float | NDArray[np.float64] = (
            float(bkg.area[0]) if len(bkg.area) == 1 else bkg.area
        )
        extra = background_columns(
            counts,
            err,
            src.area,
            src.exposure,
            b_counts,
            b_area,
            bkg.exposure,
            bkgerror=bkgerror,
            bkgnorm=bkgnorm,
        )
        cols += extra
        by_name = {c.name: c.array for c in extra}
        net, net_err = by_name["NET_COUNTS"], by_name["NET_ERR"]
    cols += [
        ColumnSpec(
            name="SUR_BRI", format="1D", unit="count/pixel**2", array=net / src.area
        ),
        ColumnSpec(
            name="SUR_BRI_ERR",
            format="1D",
            unit="count/pixel**2",
            array=net_err / src.area,
        ),
    ]
    hdu = table_hdu(cols, name="HISTOGRAM")
    h = hdu.header
    h["HDUNAME"] = ("HISTOGRAM", "ASCDM block name")
    carry_header(header, h)
    h["EXPOSURE"] = (src.exposure, "[s] exposure of the events")
    h["ORIGIN"] = ("xdm", "Source of FITS file")
    h["CREATOR"] = ("xdm dmextract", "tool that created this output")
    h.add_comment("AREA: exact region area clipped to the sky range (pixel**2)")
    if history:
        h.add_history(history)
    primary = primary_hdu()
    keywords.carry(header, primary.header, keywords.IDENTITY, comments=False)
    return [primary, hdu]
