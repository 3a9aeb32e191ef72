"""Benchmark of `augur diff`: the step alignment at 5,000 x 5,000, and the whole comparison
of two recorded bundles.

    .venv/bin/python benchmarks/bench_diff.py                  # alignment table (~1-2 min)
    .venv/bin/python benchmarks/bench_diff.py --bundles 5000   # + two 5,000-step bundles
                                                               #   recorded with the SDK
    .venv/bin/python benchmarks/bench_diff.py --quick          # 1,000 steps

Part 1 aligns synthetic runs shaped like a long CUA task: 5,000 steps over ~150 pages (each
step's pre screenshot hash is its page's, with a few bits of noise), ~400 target labels,
repeated intents, clicks at each target with a few px of jitter. The second run is a re-run
of the first with fresh noise, then edited: retries (a step repeated after failing), extra
steps, skipped steps, a long detour, or another task altogether (the worst case: the full
O(n*m) table). Each row says which path answered (band k, or full), the table cells filled,
the time, and, where the edits are known, whether every original step was paired with its
counterpart ("recovered").

Part 2 records two runs of N steps with the real SDK (DebugSession, 640 x 400 PNG
screenshots drawn with Pillow, each with a unique stamp as real screenshots have a clock or
a caret), the second a re-run with 1% retries, and times compare_runs() end to end: reading
both bundles, decoding and hashing 2N screenshots (in this process only, then by worker
processes), aligning; then again with the hashes cached (what a viewer reload costs), and
with exact digests only.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from augur_sdk.diff.alignment import SCREEN_HASH_BITS, StepKey, align, align_full

ACTIONS = ["click"] * 6 + ["type"] * 3 + ["key", "scroll"]


def task(n: int, seed: int, pages: int = 150, labels: int = 400) -> list[tuple[int, int, int]]:
    """A task as (page, label, intent) ids: runs of a few steps on one page, then the next."""
    rng = random.Random(seed)
    out = []
    page = 0
    while len(out) < n:
        page = rng.randrange(pages) if rng.random() < 0.7 else (page + 1) % pages
        for _ in range(rng.randint(1, 6)):
            label = rng.randrange(labels)
            out.append((page, label, rng.randrange(n // 3)))
    return out[:n]


def render(steps: list[tuple[int, int, int]], seed: int, noise_bits: int = 2) -> list[StepKey]:
    """The keys a run of ``steps`` records: page hash with ``noise_bits`` flipped bits."""
    rng = random.Random(seed)
    page_hash = {p: random.Random(p * 7919).getrandbits(SCREEN_HASH_BITS) for p in range(10_000)}
    label_xy = {lb: (random.Random(lb).uniform(20, 1260), random.Random(-lb).uniform(20, 780))
                for lb in range(10_000)}
    keys = []
    for page, label, intent in steps:
        h = page_hash[page]
        for _ in range(noise_bits):
            h ^= 1 << rng.randrange(SCREEN_HASH_BITS)
        x, y = label_xy[label]
        action = ACTIONS[label % len(ACTIONS)]
        keys.append(StepKey(action, f"target {label}", f"intent {intent}", h, None,
                            (x + rng.uniform(-3, 3), y + rng.uniform(-3, 3))
                            if action == "click" else None))
    return keys


def edit(steps: list[tuple[int, int, int]], seed: int, *, retries: float = 0.0,
         extra: float = 0.0, skipped: float = 0.0, detour: int = 0
         ) -> tuple[list[tuple[int, int, int]], list[int | None]]:
    """An edited copy, and for each of its steps the original position (None: inserted)."""
    rng = random.Random(seed)
    out: list[tuple[int, int, int]] = []
    origin: list[int | None] = []
    n = len(steps)
    detour_at = n // 2 if detour else -1
    for i, step in enumerate(steps):
        if i == detour_at:
            for k in range(detour):
                out.append((9000 + k % 40, 9000 + k % 300, 90_000 + k))
                origin.append(None)
        if rng.random() < skipped:
            continue
        if rng.random() < retries:  # a failed first attempt, then the step again
            out.append(step)
            origin.append(i)
            out.append(step)
            origin.append(None)
            continue
        if rng.random() < extra:
            out.append((9999, 9999 - rng.randrange(50), 99_999))
            origin.append(None)
        out.append(step)
        origin.append(i)
    return out, origin


def cpu_now() -> float:
    """CPU seconds of this process and of its finished children (the decoding workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def scenario(name: str, a: list[StepKey], b: list[StepKey],
             origin: list[int | None] | None) -> dict[str, object]:
    t0, c0 = time.perf_counter(), cpu_now()
    result = align(a, b)
    seconds, cpu = time.perf_counter() - t0, cpu_now() - c0
    recovered = ""
    if origin is not None:
        expected = {o: pos for pos, o in enumerate(origin) if o is not None}
        matched = result.matched()
        good = sum(1 for i, pos in expected.items() if matched.get(i) == pos)
        recovered = f"{good}/{len(expected)}"
    return {"scenario": name, "n": len(a), "m": len(b), "method": result.method,
            "band": result.band if result.band is not None else "",
            "cells": result.cells, "seconds": seconds, "cpu": cpu, "recovered": recovered}


def alignment_table(n: int) -> list[dict[str, object]]:
    base = task(n, seed=1)
    a = render(base, seed=2)
    rows = [scenario("identical re-run", a, render(base, seed=3), list(range(n)))]
    for name, kw in (("1% retries, 0.5% extra, 0.5% skipped",
                      {"retries": 0.01, "extra": 0.005, "skipped": 0.005}),
                     ("5% retries, 2% extra, 2% skipped",
                      {"retries": 0.05, "extra": 0.02, "skipped": 0.02}),
                     (f"a {max(10, n // 10)}-step detour in the middle", {"detour": max(10, n // 10)})):
        edited, origin = edit(base, seed=4, **kw)  # type: ignore[arg-type]
        rows.append(scenario(name, a, render(edited, seed=5), origin))
    other = render(task(n, seed=99), seed=6)
    rows.append(scenario("another task (worst case: full table)", a, other, None))
    again = render(base, seed=3)
    t0, c0 = time.perf_counter(), cpu_now()
    full = align_full(a, again)
    rows.append({"scenario": "identical re-run, full table forced", "n": n, "m": n,
                 "method": full.method, "band": "", "cells": full.cells,
                 "seconds": time.perf_counter() - t0, "cpu": cpu_now() - c0,
                 "recovered": ""})
    return rows


def bundle_table(n: int, keep: bool, reuse: Path | None) -> list[dict[str, object]]:
    """Record two n-step runs with the SDK (or reuse those in ``reuse``) and compare them
    end to end."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from augur_sdk.diff import DiffOptions, compare_runs
    from augur_sdk.diff.screens import ScreenHasher
    from drawn_runs import Page, Spec, record  # the tests' helper: pages drawn with Pillow

    names = ["login", "search", "results", "product", "checkout", "order"]
    labels = ["Username", "Password", "Sign in", "Search products", "Blue mug",
              "Add to cart", "Place order", "Got it"]
    base = task(n, seed=7, pages=len(names) * 4, labels=len(labels))

    def specs(steps: list[tuple[int, int, int]]) -> list[Spec]:
        return [Spec(f"intent {intent}", "click", labels[label],
                     Page(names[page % len(names)], labels[label] if page >= len(names) else None),
                     None) for page, label, intent in steps]

    edited, _ = edit(base, seed=8, retries=0.01)
    root = reuse or Path(tempfile.mkdtemp(prefix="augur-bench-diff-"))
    a, b = root / "a", root / "b"
    try:
        if reuse is None:
            t0 = time.perf_counter()
            record(a, specs(base), stamp=True)
            record(b, specs(edited), stamp=True)
            print(f"(recording the two bundles, every screenshot unique, took "
                  f"{time.perf_counter() - t0:.0f} s; in {root})\n")
        rows = []
        hasher = ScreenHasher()
        for label, options, using in (
                ("perceptual, decoded in this process only", DiffOptions(),
                 ScreenHasher(processes=1)),
                ("perceptual, decoded by worker processes", DiffOptions(), hasher),
                ("perceptual, again (hashes cached: a reload)", DiffOptions(), hasher),
                ("--exact-screens (no decoding)", DiffOptions(perceptual=False), None)):
            t0, c0 = time.perf_counter(), cpu_now()
            result = compare_runs(a, b, options, hasher=using)
            total, cpu = time.perf_counter() - t0, cpu_now() - c0
            rows.append({"scenario": label, "n": len(base), "m": len(edited),
                         "method": result.alignment.method,
                         "band": result.alignment.band or "", "cells": result.alignment.cells,
                         "seconds": total, "cpu": cpu, "recovered": "",
                         **{k: round(v, 2) for k, v in result.timings.items()}})
        return rows
    finally:
        if not keep and reuse is None:
            shutil.rmtree(root, ignore_errors=True)


def print_table(rows: list[dict[str, object]], extra: tuple[str, ...] = ()) -> None:
    head = ["scenario", "n x m", "path", "cells", "wall time", "CPU time", "recovered", *extra]
    lines = [head]
    for r in rows:
        path = f"band k={r['band']}" if r["method"] == "band" else "full"
        lines.append([str(r["scenario"]), f"{r['n']:,} x {r['m']:,}", path,
                      f"{r['cells']:,}", f"{r['seconds']:.2f} s", f"{r['cpu']:.2f} s",
                      str(r["recovered"]),
                      *(f"{r.get(k, '')} s" for k in extra)])
    widths = [max(len(line[k]) for line in lines) for k in range(len(head))]
    for k, line in enumerate(lines):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
              + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000, help="steps per run (default 5000)")
    parser.add_argument("--quick", action="store_true", help="1,000 steps")
    parser.add_argument("--bundles", type=int, default=0, metavar="N",
                        help="also record two N-step bundles and compare them end to end")
    parser.add_argument("--keep", action="store_true", help="keep the recorded bundles")
    parser.add_argument("--reuse", type=Path, default=None, metavar="DIR",
                        help="compare DIR/a and DIR/b (kept by an earlier --keep) instead of "
                             "recording")
    parser.add_argument("--skip-alignment", action="store_true",
                        help="only the --bundles part")
    args = parser.parse_args()
    n = 1000 if args.quick else args.steps
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# augur diff benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {load:.1f} at start")
    print("(wall time is what you wait; CPU time is this process's, all threads, and its "
          "decoding workers': on a busy machine wall time grows, CPU time much less)\n")
    if not args.skip_alignment:
        print(f"## alignment, {n:,} x about {n:,} steps\n")
        print_table(alignment_table(n))
    if args.bundles:
        print(f"\n## compare_runs on two recorded {args.bundles:,}-step bundles\n")
        print_table(bundle_table(args.bundles, args.keep, args.reuse),
                    ("load_s", "hash_s", "align_s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
