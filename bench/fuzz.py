"""Long fuzzing and damage campaigns (the CI tests run the same, smaller).

* texts: mutated and random texts through ``xdm.parse``, ``@filter`` text, the
  whole pipeline on a synthetic file, ``xdm.region``, region files, ``.xdm``
  scripts and every tool's parameters (``tests/fuzz_targets.py``); only
  ``xdm.XdmError`` may come out;
* hostile texts at full size (10^4-deep nesting, 1 MB strings);
* files: copies of tests/data/events/chandra_test.fits with random bytes
  flipped, and truncated at random lengths, read and binned; only XdmError;
* kills: ``xdm dmcopy`` killed with SIGKILL at random moments; the output is
  always the old file or the complete new one, and the next run leaves no
  temporary file.

Run: ``python bench/fuzz.py [--examples 2000] [--files 300] [--kills 40]
[--seed 1]``; prints the counts per target and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fuzz_targets as ft  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import xdm  # noqa: E402
import xdm.tools  # noqa: E402


def fuzz_texts(examples: int, rng_seed: int, work: Path, events: Path) -> None:
    config = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    vf, suffixes = ft.vf_seeds(), ft.engine_suffixes()
    regions, scripts = ft.region_file_seeds(), ft.script_seeds()
    filters = [s[1:-1] for s in suffixes if s.startswith("[")]
    data = work / "data"
    data.mkdir()
    shutil.copy(events, data / "evt2.fits")

    def run(name: str, strategy: st.SearchStrategy[object], target: object) -> None:
        start = time.perf_counter()

        @seed(rng_seed)
        @config
        @given(strategy)
        def case(value: object) -> None:
            target(value)  # type: ignore[operator]

        case()
        print(f"  {name:<24} {time.perf_counter() - start:7.1f} s", flush=True)

    with ft.memory_budget("64MB"):
        run("parse", st.one_of(ft.mutated(vf), ft.random_text), ft.parse_target)
        run("filter", st.one_of(ft.mutated(filters), ft.random_text), ft.filter_target)
        run(
            "pipeline",
            ft.mutated(suffixes, max_ops=3),
            lambda s: ft.pipeline_target("evt2.fits" + s, data),
        )
        run(
            "region",
            st.one_of(ft.mutated(ft.REGION_SEEDS), ft.random_text),
            ft.region_target,
        )
        run(
            "region file",
            ft.mutated(regions, max_ops=8),
            lambda t: ft.region_file_target(t, work),
        )
        run(
            "script",
            st.one_of(ft.mutated(scripts, max_ops=8), ft.random_text),
            lambda t: ft.script_target(t, data, data / "evt2.fits"),
        )
        words = st.lists(
            st.one_of(ft.random_text, st.sampled_from(ft.SPECIAL)), max_size=6
        )
        for name in xdm.tools.available():
            run(f"tool {name}", words, lambda w, n=name: ft.tool_target(n, w))
        start = time.perf_counter()
        for label, text in ft.hostile_texts(list_chars=1_000_000):
            t0 = time.perf_counter()
            ft.parse_target(text)
            ft.pipeline_target(text, data)
            took = time.perf_counter() - t0
            if took > 60:
                raise AssertionError(f"hostile text {label} took {took:.0f} s")
        print(f"  {'hostile (1 MB)':<24} {time.perf_counter() - start:7.1f} s")


def damaged_files(count: int, rng: random.Random, work: Path) -> Counter[str]:
    real = ROOT / "tests" / "data" / "events" / "chandra_test.fits"
    raw = real.read_bytes()
    out: Counter[str] = Counter()
    for i in range(count):
        damaged = bytearray(raw)
        if i % 3 == 2:
            damaged = damaged[: rng.randrange(len(raw))]
            kind = "truncated"
        else:
            for _ in range(rng.randint(1, 200)):
                damaged[rng.randrange(len(raw))] ^= rng.randrange(1, 256)
            kind = "flipped"
        path = work / f"damaged{i}.fits"
        path.write_bytes(bytes(damaged))
        for suffix in (
            "",
            "[energy=500:2000]",
            "[bin sky=64]",
            "[sky=circle(4096,4096,200)]",
        ):
            try:
                xdm.read(f"{path}{suffix}")
                out[f"{kind}:read"] += 1
            except xdm.XdmError:
                out[f"{kind}:refused"] += 1
        path.unlink()
    return out


def kills(count: int, rng: random.Random, work: Path) -> Counter[str]:
    from xdm.demo import make_events

    events = make_events(work / "kill.fits", n_rows=1_000_000, seed=3)
    out_path = work / "out.fits"
    xdm.copy(f"{events}[energy=300:500]", out_path)
    reference = work / "reference.fits"
    xdm.copy(f"{events}[energy=300:8000]", reference)

    def rows(path: Path) -> bytes:
        from astropy.io import fits

        with fits.open(path) as hdul:
            hdul.verify("exception")
            return bytes(hdul["EVENTS"].data.tobytes())

    new = rows(reference)
    old = hashlib.sha256(out_path.read_bytes()).hexdigest()
    result: Counter[str] = Counter()
    for _ in range(count):
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "xdm",
                "dmcopy",
                f"{events}[energy=300:8000]",
                str(out_path),
                "clobber=yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.0, 2.5))
        run.send_signal(signal.SIGKILL)
        run.wait()
        if hashlib.sha256(out_path.read_bytes()).hexdigest() == old:
            result["old file"] += 1
        elif rows(out_path) == new:
            result["complete new file"] += 1
            xdm.copy(f"{events}[energy=300:500]", out_path, clobber=True)
            old = hashlib.sha256(out_path.read_bytes()).hexdigest()
        else:
            raise AssertionError("a SIGKILL left a partial output")
        if any(n.endswith(".xdm-tmp") for n in os.listdir(work)):
            result["orphan left, then removed"] += 1
            xdm.copy(f"{events}[energy=300:500]", out_path, clobber=True)
            old = hashlib.sha256(out_path.read_bytes()).hexdigest()
            if any(n.endswith(".xdm-tmp") for n in os.listdir(work)):
                raise AssertionError("the next run left the orphan")
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000, help="texts per target")
    ap.add_argument("--files", type=int, default=300, help="damaged files")
    ap.add_argument("--kills", type=int, default=40, help="SIGKILLed dmcopy runs")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="xdm-fuzz-") as tmp:
        work = Path(tmp)
        from xdm.demo import make_events

        events = make_events(work / "evt2.fits", n_rows=100_000, seed=7)
        print(f"texts ({args.examples} per target, seed {args.seed}):")
        fuzz_texts(args.examples, args.seed, work, events)
        tried = sum(ft.COUNTS.values())
        print(f"\n{tried:,} texts tried, none gave anything but an XdmError:")
        targets = sorted({k.rsplit(":", 1)[0] for k in ft.COUNTS})
        for name in targets:
            ok, bad = ft.COUNTS[f"{name}:ok"], ft.COUNTS[f"{name}:error"]
            print(f"  {name:<24} {ok + bad:7,} tried {ok:7,} accepted {bad:7,} refused")
        if args.files:
            files = damaged_files(args.files, rng, work)
            print(f"\n{args.files} damaged files x 4 virtual files: {dict(files)}")
        if args.kills:
            killed = kills(args.kills, rng, work)
            print(
                f"\n{args.kills} SIGKILLed dmcopy runs: {dict(killed)}; nothing partial"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
