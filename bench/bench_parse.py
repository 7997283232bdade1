"""Parser speed: warm parse time per string, and cold start of the command line.

    python bench/bench_parse.py            # prints a Markdown table
    python bench/bench_parse.py --quick    # fewer repeats

Warm: the parser is built once, then each string is parsed many times; the
figure is CPU time per parse, best of several rounds (least disturbed by other
processes). "xdm parse" bypasses the parse cache (``cached=False``); "empty span
table" is the same with the parser's table of Span objects (one per offset pair,
``xdm.lang.fastnodes.SPANS``) emptied before each parse, the worst case for a process
that has not parsed a text of that length before; "cached" is the same text
parsed again. "lark tree + transform" is ``Lark.parse`` plus the
tree-to-AST walk (``parse_slow``), the path the table driver replaces. Cold: wall time of fresh processes
``xdm --version`` and ``xdm parse`` (best and median of N). Nothing here is
asserted by the test suite.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
import timeit

STRINGS = (
    "evt2.fits[energy=500:7000]",
    "evt2.fits[EVENTS][ccd_id=7][sky=circle(4096.5,4096.5,20)]",
    "acis_evt2.fits[EVENTS][ccd_id=7,energy=300:2000][sky=region(src.reg)][bin x=::8,y=::8][opt type=i4]",
    "acisf01838N004_evt2.fits[EVENTS][time=77379470.949928:77399470.949928][sky=circle(4096.5,4096.5,20)]",
    "evt2.fits[energy=1000:2000,4000:8000,grade=0,2:4,6,status=0][bin tg_lam=0:30:0.08,tg_d=-0.01:0.01:0.00008]",
    "evt2.fits[sky=circle(0,0,10)-circle(0,0,2)+box(50,50,4,4)][bin x=3821.5:5302.5:#1481,y=2768.5:4248.5:#1480]",
    "asol1.fits[OCSOL][cols time,ra=ocra,dec=ocdec,roll,dy,dz,dtheta][ASPSOL]",
)


def count_tokens(text: str) -> int:
    """Tokens of ``text`` as the grammar splits it (punctuation included)."""
    from lark import Lark, Token

    from xdm.lang.parser import START_RULES

    lark = Lark.open_from_package(
        "xdm.grammar",
        "xdm.lark",
        parser="lalr",
        keep_all_tokens=True,
        start=list(START_RULES),
    )
    tree = lark.parse(text, start="start")
    return sum(1 for _ in tree.scan_values(lambda v: isinstance(v, Token)))


def warm(text: str, rounds: int, number: int) -> tuple[float, float, float, float, int]:
    """Best microseconds per parse (CPU time): fast driver uncached, the same
    with an empty span table, cached, lark reference; and the token count."""
    from xdm.lang.fastnodes import SPANS
    from xdm.lang.parser import parse, parse_slow

    def no_spans() -> None:
        SPANS.clear()
        parse(text, cached=False)

    parse(text)
    parse_slow(text)
    cpu = time.process_time  # not inflated by other processes on a shared machine
    fast = timeit.Timer(lambda: parse(text, cached=False), timer=cpu)
    fresh = timeit.Timer(no_spans, timer=cpu)
    hit = timeit.Timer(lambda: parse(text), timer=cpu)
    slow = timeit.Timer(lambda: parse_slow(text), timer=cpu)
    n_slow = max(1, number // 4)
    return (
        min(fast.repeat(repeat=rounds, number=number)) / number * 1e6,
        min(fresh.repeat(repeat=rounds, number=number)) / number * 1e6,
        min(hit.repeat(repeat=rounds, number=number * 10)) / number / 10 * 1e6,
        min(slow.repeat(repeat=rounds, number=n_slow)) / n_slow * 1e6,
        count_tokens(text),
    )


def cold(argv: list[str], runs: int) -> tuple[float, float]:
    """Best and median wall seconds of ``argv`` in a fresh process."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rounds, number, runs = (3, 200, 5) if args.quick else (7, 1000, 15)

    print(f"machine: {platform.machine()} {platform.processor() or ''}".rstrip())
    print(
        f"python {platform.python_version()}, {platform.system()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print()
    print(
        "| string | chars | tokens | xdm parse (us) | empty span table (us)"
        " | repeated text, cached (us) | lark tree + transform (us) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for text in STRINGS:
        fast, fresh, hit, slow, tokens = warm(text, rounds, number)
        shown = text if len(text) <= 60 else text[:57] + "..."
        print(
            f"| `{shown}` | {len(text)} | {tokens} | {fast:.0f} | {fresh:.0f}"
            f" | {hit:.2f} | {slow:.0f} |"
        )
    print()
    exe = [sys.executable, "-m", "xdm"]
    print("| command (fresh process) | best (s) | median (s) |")
    print("|---|---:|---:|")
    for label, argv in (
        ("python -c pass (interpreter alone)", [sys.executable, "-c", "pass"]),
        ("xdm --version", [*exe, "--version"]),
        (
            "xdm parse 'evt2.fits[energy=500:7000][bin sky=8]'",
            [*exe, "parse", "evt2.fits[energy=500:7000][bin sky=8]"],
        ),
        (
            "xdm parse --json ...",
            [*exe, "parse", "--json", "evt2.fits[energy=500:7000]"],
        ),
    ):
        best, median = cold(argv, runs)
        print(f"| `{label}` | {best:.3f} | {median:.3f} |")


if __name__ == "__main__":
    main()
