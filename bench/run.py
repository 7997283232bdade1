"""Engine vs peers: time xdm, CFITSIO (fitsio, fitscopy), funtools and numpy.

    python bench/run.py --rows 1e6,1e7,1e8      # about 25 minutes on 2 cores

Makes seeded synthetic evt2 files (cached in bench/cache/), runs each case of
bench/cases.py with each tool in its own subprocess (``--repeat`` times, median),
reads the child's peak memory (ru_maxrss), checks every output equals xdm's
(images pixel for pixel, events row for row over every column), and prints a
table; ``--markdown FILE`` also writes it as Markdown for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
sys.path.insert(0, str(HERE))

from cases import Case, cases  # noqa: E402

TOOLS = ("xdm", "xdm-cli", "fitsio", "numpy", "fitscopy", "funtools")
CLI = ("xdm-cli", "xdm-cli-before", "fitscopy", "funtools")
BEFORE: str | None = (
    None  # --before DIR: a checkout of an earlier xdm, for xdm-cli-before
)
SLOW_AT_1E8 = ("fitsio",)  # left out at 1e8 rows unless --tools names it
TIME = shutil.which("time") or "/usr/bin/time"  # GNU time, for peak memory
# Python tools start as they do once installed: from cached bytecode (pip compiles
# it at install; some sandboxes set PYTHONDONTWRITEBYTECODE, which would make every
# xdm-cli run compile xdm's modules again, about 0.1 s)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Result:
    case: str
    tool: str
    rows: int
    seconds: list[float] = field(default_factory=list)
    process: list[float] = field(default_factory=list)
    peak_mb: float = 0.0
    same: bool | None = None
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def events_file(rows: int) -> Path:
    """The cached synthetic file of ``rows`` events (made once, seed 0)."""
    from xdm.demo import make_events

    path = CACHE / f"evt2_{rows:.0e}.fits".replace("+", "")
    if not path.exists():
        t = time.perf_counter()
        make_events(path, n_rows=rows, seed=0, chunk_rows=1_000_000)
        print(f"made {path.name} ({rows:,} rows) in {time.perf_counter() - t:.1f} s")
    return path


def warm(path: Path) -> None:
    """Read the file once so every tool starts from the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def _command(tool: str, case: Case, events: Path, out: Path) -> list[str] | None:
    if tool in ("xdm", "fitsio", "numpy"):
        return [
            sys.executable,
            str(HERE / "worker.py"),
            tool,
            case.key,
            str(events),
            str(out),
        ]
    if tool in ("xdm-cli", "xdm-cli-before"):  # the whole command, start-up included
        if tool == "xdm-cli-before" and BEFORE is None:
            return None
        vf = f"{events}{case.xdm}"
        return [sys.executable, "-m", "xdm", "dmcopy", vf, str(out), "clobber=yes"]
    if tool == "fitscopy" and case.cfitsio and shutil.which("fitscopy"):
        return ["fitscopy", f"{events}{case.cfitsio}", str(out)]
    if tool == "funtools" and case.funtools and shutil.which("funimage"):
        prog = "funimage" if case.kind == "image" else "funtable"
        return [prog, f"{events}{case.funtools}", str(out)]
    return None


def run_once(
    cmd: list[str], out: Path, env: dict[str, str] | None = None, cwd: str | None = None
) -> tuple[float, float, float, str]:
    """(seconds, process seconds, peak MB, error) of one subprocess.

    Python tools report their own in-process time (imports and parser warm); the
    process time is the whole subprocess, start-up included. Peak memory comes
    from GNU time's %M (the child's ru_maxrss): spawning through a small process
    keeps this big Python parent out of the high-water mark.
    """
    if out.exists():
        out.unlink()
    stats = CACHE / "time.txt"
    t = time.perf_counter()
    proc = subprocess.run(
        [TIME, "-f", "%M", "-o", str(stats), *cmd],
        capture_output=True,
        env=ENV if env is None else env,
        cwd=cwd,
    )
    wall = time.perf_counter() - t
    peak = float(stats.read_text().split()[-1]) / 1024.0  # kB
    if proc.returncode != 0 or not out.exists():
        err = proc.stderr.decode(errors="replace").strip() or "failed"
        return wall, wall, peak, err[-200:]
    seconds = wall
    if cmd[1].endswith("worker.py"):
        seconds = json.loads(proc.stdout.decode().strip().splitlines()[-1])["seconds"]
    return seconds, wall, peak, ""


def summary(path: Path, kind: str):
    """What must agree between tools: the image, or the event rows themselves.

    Events: the row count and one SHA-1 over every column (by name) of every row,
    values as float64 (bit columns as their bits), read in chunks so a 1e8-row
    output needs little memory. Header keywords may differ between tools.
    """
    import hashlib
    import warnings

    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning

    warnings.simplefilter("ignore", VerifyWarning)  # funtools writes TNULLn = 9999.0

    with fits.open(path, memmap=True) as hdul:
        if kind == "image":
            return np.asarray(hdul[0].data, dtype=np.int64)
        hdu = next(h for h in hdul if isinstance(h, fits.BinTableHDU))
        n = hdu.header["NAXIS2"]
        names = sorted(hdu.columns.names, key=str.lower)
        digest = hashlib.sha1()
        for start in range(0, n, 2_000_000):
            rows = hdu.data[start : start + 2_000_000]
            for name in names:
                values = np.asarray(rows.field(name))
                if values.dtype.kind == "b":
                    digest.update(np.packbits(values, axis=-1).tobytes())
                else:
                    digest.update(values.astype(">f8").tobytes())
        return n, digest.hexdigest()


def same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return a == b


def bench_rows(rows: int, tools: list[str], keys: str, repeat: int) -> list[Result]:
    """Every case with every tool; repeats go round the tools so load spikes on a
    shared machine hit all of them alike."""
    events = events_file(rows)
    out_dir = CACHE / "out"
    out_dir.mkdir(exist_ok=True)
    results = []
    for case in cases(CACHE):
        if case.key not in keys:
            continue
        warm(events)  # the last case's outputs may have pushed it out of the cache
        runs = {}
        for tool in tools:
            out = out_dir / f"{tool}_{case.key}_{rows:.0e}.fits".replace("+", "")
            runs[tool] = (
                Result(case.key, tool, rows),
                _command(tool, case, events, out),
                out,
            )
            if runs[tool][1] is None:
                runs[tool][0].note = "n/a"
        for _ in range(repeat):
            for tool, (res, cmd, out) in runs.items():
                if cmd is None or res.note:
                    continue
                env = cwd = None
                if tool == "xdm-cli-before":  # the earlier checkout first on the path
                    env, cwd = (
                        {**ENV, "PYTHONPATH": str(BEFORE)},
                        BEFORE,
                    )  # -m: cwd first
                seconds, process, peak, err = run_once(cmd, out, env, cwd)
                res.peak_mb = max(res.peak_mb, peak)
                if err:
                    res.note = err.splitlines()[-1]
                    res.seconds, res.process = [], []
                    continue
                res.seconds.append(seconds)
                res.process.append(process)
        reference = None
        for tool, (res, _, out) in runs.items():
            if res.seconds:
                got = summary(out, case.kind)
                if tool == "xdm":
                    reference = got
                res.same = None if reference is None else same(got, reference)
            results.append(res)
            _print_line(res)
        for _, _, out in runs.values():  # free the page cache for the next case
            out.unlink(missing_ok=True)
    return results


def _print_line(r: Result) -> None:
    t = f"{r.median:8.3f} s" if r.median is not None else "   -    "
    print(
        f"  {r.rows:.0e} ({r.case}) {r.tool:9s} {t}  {r.peak_mb:7.0f} MB  same={r.same} {r.note}"
    )


def parse_plan(rows: int) -> dict[str, float]:
    """Median seconds of parse + plan of case (a), without and with a cache."""
    events = events_file(rows)
    cmd = [
        sys.executable,
        str(HERE / "worker.py"),
        "parse_plan",
        "a",
        str(events),
        str(CACHE / "x"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr[-500:])
        return {"without_cache": float("nan"), "with_cache": float("nan")}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[Result], titles: dict[str, str]) -> list[str]:
    """Markdown rows: per case and size, each tool's median, ratio and memory."""
    lines = [
        "| rows | case | tool | median s | xdm / tool | xdm-cli / tool | process s"
        " | peak MB | same output |",
        "|---:|---|---|---:|---:|---:|---:|---:|---|",
    ]
    by_key: dict[tuple[int, str], dict[str, Result]] = {}
    for r in results:
        by_key.setdefault((r.rows, r.case), {})[r.tool] = r
    for (rows, case), tools in by_key.items():
        xdm, cli = tools.get("xdm"), tools.get("xdm-cli")
        for tool, r in tools.items():
            med = "-" if r.median is None else f"{r.median:.3f}"
            ratio = cli_ratio = "-"
            if r.median and xdm is not None and xdm.median and tool != "xdm":
                # xdm's work (imports done) over the tool's median
                ratio = f"{xdm.median / r.median:.2f}"
            if r.median and tool in CLI and tool != "xdm-cli" and cli and cli.median:
                # (for xdm-cli-before: now over before, below 1 is faster)
                # whole command against whole command, start-up on both sides
                cli_ratio = f"{cli.median / r.median:.2f}"
            ok = {True: "yes", False: "**NO**", None: "-"}[r.same]
            proc = f"{statistics.median(r.process):.3f}" if r.process else "-"
            note = f" ({r.note})" if r.note else ""
            lines.append(
                f"| {rows:.0e} | ({case}) {titles[case]} | {tool}{note} | {med} | {ratio}"
                f" | {cli_ratio} | {proc} | {r.peak_mb:.0f} | {ok} |"
            )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="1e6,1e7", help="comma list, e.g. 1e6,1e7,1e8")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--cases", default="abcdef")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown")
    ap.add_argument(
        "--before",
        type=Path,
        help="a checkout of an earlier xdm: adds tool xdm-cli-before (its whole command)",
    )
    args = ap.parse_args()
    global BEFORE
    BEFORE = None if args.before is None else str(args.before.resolve())
    CACHE.mkdir(exist_ok=True)
    tools = args.tools.split(",")
    if BEFORE is not None and "xdm-cli-before" not in tools:
        tools.insert(
            tools.index("xdm-cli") + 1 if "xdm-cli" in tools else 0, "xdm-cli-before"
        )
    results: list[Result] = []
    for text in args.rows.split(","):
        rows = int(float(text))
        print(f"== {rows:,} rows")
        here = tools
        if rows >= 10**8 and args.tools == ap.get_default("tools"):
            # fitsio's event outputs take minutes and ~9 GB at 1e8 rows
            here = [t for t in tools if t not in SLOW_AT_1E8]
        results += bench_rows(
            rows, here, args.cases, 1 if rows >= 10**8 else args.repeat
        )
    titles = {c.key: c.title for c in cases(CACHE)}
    pp = parse_plan(int(float(args.rows.split(",")[0])))
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        *table(results, titles),
        "",
        "parse + plan (case a, warm, median of 200): "
        f"{pp['without_cache'] * 1e3:.3f} ms without a header cache, "
        f"{pp['with_cache'] * 1e3:.3f} ms with a caller's HeaderCache",
    ]
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
