"""``xdm merge_obs infiles=a.fits,b.fits outroot=out/``: observations on one plane.

Every observation's events are reprojected onto a common tangent plane
(``refcoord``, or the first observation's tangent point) and binned per band on
one grid; each observation gets an exposure map on that grid (its user exposure
maps resampled, or a calibration-free map: EXPOSURE x footprint, times the ARF's
effective area at the band's energy with ``arffiles=``), thresholded at
``expmapthresh`` of its maximum; the merged products are the sums of the
thresholded images and exposure maps and their ratio, the flux image (CIAO's
merge_obs does the same with fluximage's products).

The work runs serially (``parallel=no``) or on dask workers (``parallel=yes``:
a LocalCluster of ``nproc`` single-threaded worker processes, or the running
cluster at ``scheduler=tcp://host:port``); it is cut into tasks by observation
and by row ranges of large files, and partial images are combined in a fixed
tree, so parallel results are bit-identical to serial ones.

``scan_many`` is the same machinery for other reductions over many files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xdm.errors import XdmIOError, XdmSemanticError
from xdm.tools._merge_scan import (
    TASK_ROWS,
    Executor,
    dask_executor,
    reduce_files,
    scan_many,
    tree_reduce,
)
from xdm.tools.params import CLOBBER, VERBOSE, Param, Tool, Values

__all__ = [
    "TOOL",
    "MergeResult",
    "counts_on_grid",
    "merge_obs",
    "run",
    "scan_many",
    "tree_reduce",
]

TOOL = Tool(
    "merge_obs",
    "merge observations onto one tangent plane: images, exposure, flux",
    (
        Param(
            "infiles", "s", "", "input event files (a,b,... or @list)", required=True
        ),
        Param(
            "outroot", "f", "", "root of output files (out/ or out/head)", required=True
        ),
        Param(
            "bands",
            "s",
            "default",
            "energy bands: broad, soft, ..., csc or lo:hi:eff keV",
        ),
        Param(
            "xygrid", "s", "", "output grid xlo:xhi:#nx,ylo:yhi:#ny or an image file"
        ),
        Param(
            "maxsize", "i", None, "maximum image width or height in pixels", minimum=1
        ),
        Param(
            "binsize",
            "r",
            None,
            "image binning factor (INDEF: 8 ACIS, 32 HRC)",
            minimum=0,
        ),
        Param("asolfiles", "s", "", "aspect solutions (not used: calibration-free)"),
        Param("badpixfiles", "s", "", "bad pixel files (not used: calibration-free)"),
        Param("maskfiles", "s", "", "mask files (not used: calibration-free)"),
        Param("dtffiles", "s", "", "HRC dtf files (not used: calibration-free)"),
        Param("refcoord", "s", "", "tangent point 'RA DEC' or an event file"),
        Param(
            "units",
            "s",
            "default",
            "exposure map units",
            choices=("default", "area", "time"),
        ),
        Param(
            "expmapthresh",
            "s",
            "1.5%",
            "exposure below this (N% of max, or a value) is cut",
        ),
        Param(
            "background",
            "s",
            "default",
            "HRC-I background removal (not supported)",
            choices=("default", "time", "particle", "none"),
        ),
        Param("bkgparams", "s", "[pi=300:500]", "background filter (not used)"),
        Param("psfecf", "r", None, "PSF map ECF (not supported)", minimum=0, maximum=1),
        Param(
            "psfmerge",
            "s",
            "min",
            "PSF map combination (not used)",
            choices=("exptime", "expmap", "min", "max", "mean", "median", "mid"),
        ),
        Param("random", "i", 0, "random seed (not used: no randomisation)", minimum=0),
        Param("parallel", "b", False, "run the work on dask workers"),
        Param(
            "nproc",
            "i",
            None,
            "dask workers of a local cluster (INDEF: the cores)",
            minimum=1,
        ),
        Param("scheduler", "s", "local", "local (a LocalCluster) or tcp://host:port"),
        Param(
            "expmapfiles",
            "s",
            "",
            "user exposure maps, one per observation (or per band)",
        ),
        Param(
            "arffiles",
            "s",
            "",
            "ARFs, one per observation: flat expmap A_eff x EXPOSURE",
        ),
        Param("tmpdir", "s", "${ASCDS_WORK_PATH}", "temporary files (not used)"),
        Param("cleanup", "b", True, "delete intermediate files (none are made)"),
        CLOBBER,
        VERBOSE,
    ),
    positional=("infiles", "outroot"),
    notes=(
        "Calibration-free: exposure maps are the user's (`expmapfiles=`, one per "
        "observation, or one per observation and band in observation order), or "
        "EXPOSURE x footprint (the convex hull of each CCD's events) times the "
        "ARF's SPECRESP at the band's effective energy (`arffiles=`); `units=time` "
        "without either gives count-rate images. Aspect, bad-pixel, mask and dtf "
        "files, PSF maps and HRC background removal are not supported. The "
        "default grid covers every observation's events. `parallel=yes` needs "
        "`pip install 'xdm[dask]'`; xdm's default is `parallel=no` (CIAO's is "
        "yes) because a cluster costs seconds to start; `scheduler=` (ours) "
        "names a running dask cluster. No reprojected event files are written."
    ),
)


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What merge_obs made: the grid, per-band totals and every file written."""

    grid: str
    tangent: tuple[float, float]
    binsize: float
    bands: tuple[str, ...]
    observations: tuple[str, ...]
    counts: tuple[int, ...]
    merged: tuple[str, ...]
    files: tuple[str, ...]
    executor: str

    def as_dict(self) -> dict[str, Any]:
        """The result as plain values (``--json``)."""
        return {
            "grid": self.grid,
            "tangent": list(self.tangent),
            "binsize": self.binsize,
            "bands": list(self.bands),
            "observations": list(self.observations),
            "counts": list(self.counts),
            "merged": list(self.merged),
            "files": list(self.files),
            "executor": self.executor,
        }


def merge_obs(**params: Any) -> MergeResult:
    """``xdm.tools.merge_obs(infiles=..., outroot=...)``: merged images and exposure."""
    return TOOL.call(run, params)


def run(p: Values) -> MergeResult:
    """Check the parameters, choose the executor and merge."""
    _refuse_unsupported(p)
    if not p["parallel"]:
        return _merge(p, Executor())
    sched = str(p["scheduler"]).strip() or "local"
    if sched != "local" and "://" not in sched:
        raise XdmSemanticError(
            f"merge_obs: scheduler={sched!r} is not local or a dask address",
            hint="scheduler=tcp://host:8786 names a running dask scheduler",
        )
    with dask_executor(sched, p["nproc"]) as executor:
        return _merge(p, executor)


def counts_on_grid(
    vfs: list[str],
    xygrid: str,
    *,
    refcoord: str = "",
    bands: str = "broad",
    client: Any = None,
    task_rows: int = TASK_ROWS,
) -> np.ndarray:
    """Merged counts ``(nbands, ny, nx)`` of many event files, no files written.

    The events of every virtual file in ``vfs`` are reprojected onto the tangent
    plane of ``refcoord`` (or the first file's) and binned on ``xygrid``
    (``xlo:xhi:#nx,ylo:yhi:#ny`` in that plane's sky pixels); with a dask
    ``client`` the tasks (``task_rows`` rows each) run on its workers, with
    the same result.
    """
    from xdm.tools import _merge_out as out
    from xdm.tools._bands import parse_bands
    from xdm.tools._merge_work import CountReducer, combine_counts

    obs = [out.observation(vf) for vf in vfs]
    frame = out.common_frame(refcoord, obs[0].frame)
    grid = out.user_grid(xygrid, frame)
    ranges = tuple(b.energy_filter for b in parse_bands(bands, obs[0].instrument))
    reducer = CountReducer(tuple(o.frame for o in obs), frame, grid, ranges)
    parts = scan_many(vfs, reducer, combine_counts, client=client, task_rows=task_rows)
    total: np.ndarray = tree_reduce([c.images for c in parts], np.add)
    return total


def _refuse_unsupported(p: Values) -> None:
    for key in ("asolfiles", "badpixfiles", "maskfiles", "dtffiles"):
        if str(p[key]).strip():
            raise XdmSemanticError(
                f"merge_obs: {key}= needs CIAO's calibration (mkinstmap, asphist)",
                hint="give exposure maps with expmapfiles= or ARFs with arffiles=",
            )
    if p["psfecf"] is not None:
        raise XdmSemanticError(
            "merge_obs: psfecf= (PSF maps) is not supported", hint="leave psfecf=INDEF"
        )


def _merge(p: Values, executor: Executor) -> MergeResult:
    from xdm.progress import get_verbosity, note
    from xdm.tools import _merge_out as out
    from xdm.tools._bands import parse_bands
    from xdm.tools._merge_grid import auto_grid
    from xdm.tools._merge_work import (
        CountReducer,
        bounds_reducer,
        combine_bounds,
        combine_counts,
    )
    from xdm.tools._reproject import reproject_tan

    infiles = out.file_list(str(p["infiles"]), "infiles")
    if not infiles:
        raise XdmSemanticError("merge_obs: infiles= names no files")
    cwd = os.getcwd()  # workers elsewhere resolve relative names from here
    # the headers are read where the tasks run: a thousand files are not read
    # one after another by the caller
    obs = executor.gather([executor.submit(out.observation, vf, cwd) for vf in infiles])
    prefixes = out.prefixes([o.obsid for o in obs])
    bands = parse_bands(str(p["bands"]), obs[0].instrument)
    frame = out.common_frame(str(p["refcoord"]), obs[0].frame)
    step = p["binsize"] or (
        32.0 if obs[0].instrument.upper().startswith("HRC") else 8.0
    )
    expmaps = out.exposures(p, obs, bands)
    heads = out.output_names(str(p["outroot"]), prefixes, bands, out.thresholded(p))
    if not p["clobber"]:
        for name in heads.all():
            if Path(name).exists():
                raise XdmIOError(
                    f"output file {name} exists", hint="add clobber=yes to replace it"
                )
    if any(b.filtered for b in bands):
        for o in obs:
            if not o.has_energy:
                raise XdmSemanticError(
                    f"merge_obs: {o.vf} has no energy column for bands"
                )
    note(f"merge_obs: {len(obs)} observations on {executor.name}", level=2)

    if str(p["xygrid"]).strip():
        grid = out.user_grid(str(p["xygrid"]), frame)
    else:
        boxes = scan_many(
            infiles,
            bounds_reducer,
            combine_bounds,
            executor=executor,
            base_dir=cwd,
        )
        common = []
        for o, box in zip(obs, boxes, strict=True):
            if not np.isfinite(box[0]):
                continue
            xs = np.array([box[0], box[1], box[0], box[1], (box[0] + box[1]) / 2] * 2)
            ys = np.array([box[2], box[2], box[3], box[3], (box[2] + box[3]) / 2] * 2)
            cx, cy = reproject_tan(xs, ys, o.frame, frame)
            common.append((cx.min() - 1, cx.max() + 1, cy.min() - 1, cy.max() + 1))
        if not common:
            raise XdmSemanticError("merge_obs: the observations keep no events")
        grid = auto_grid(common, float(step), p["maxsize"])
    note(f"merge_obs: grid {grid.text()} (binsize {grid.step:g})", level=2)

    ranges = tuple(b.energy_filter for b in bands)
    reducer = CountReducer(
        tuple(o.frame for o in obs),
        frame,
        grid,
        ranges,
        any(e.kind == "footprint" for e in expmaps),
    )
    per_obs = reduce_files(
        infiles, reducer, combine_counts, executor, task_rows=TASK_ROWS, base_dir=cwd
    )
    thresh = out.threshold_text(str(p["expmapthresh"]))
    absolute = heads.absolute()
    products = [
        executor.submit(
            out.observation_products,
            p,
            absolute,
            k,
            o,
            bands,
            frame,
            grid,
            c,
            expmaps[k],
            thresh,
        )
        for k, (o, c) in enumerate(zip(obs, per_obs, strict=True))
    ]
    merge = tree_reduce(products, lambda a, b: executor.submit(out.add_products, a, b))
    total = executor.gather([merge])[0]
    counts, emaps = total.images, total.maps
    files = [
        f
        for k in range(len(obs))
        for band in bands
        for f in heads.observation(k, band.label).values()
    ]
    merged = out.write_merged(
        p, heads, obs, bands, frame, grid, counts, emaps, expmaps[0].unit
    )
    result = MergeResult(
        grid=grid.text(),
        tangent=(frame.ra0, frame.dec0),
        binsize=grid.step,
        bands=tuple(b.label for b in bands),
        observations=tuple(o.vf for o in obs),
        counts=tuple(int(counts[b].sum()) for b in range(len(bands))),
        merged=tuple(merged),
        files=(*files, *merged),
        executor=executor.name,
    )
    if get_verbosity() >= 1:
        print(out.report(result, obs, prefixes))
    return result
