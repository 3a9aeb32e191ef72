"""Benchmark of `augur diagnose DIR` over 1,000 runs, printing a table.

    .venv/bin/python benchmarks/diagnose_runs.py                 # 1,000 runs (~5 min to record)
    .venv/bin/python benchmarks/diagnose_runs.py --runs 200      # fewer
    .venv/bin/python benchmarks/diagnose_runs.py --keep /tmp/r   # record once, reuse after

The runs are the "buy a mug" task of tests/drawn_runs.py recorded with the real SDK
(DebugSession, 640 x 400 PNGs drawn with Pillow, each screenshot with a unique clock stamp so
no two are byte-identical): 70% pass, 15% fail on the checkout dialog's backdrop, 15% miss
the sign-in button once. Each configuration runs `augur diagnose DIR` in a fresh process:

* ``write``: every run diagnosed, findings.json written, manifests re-signed, groups saved;
* ``again``: the same, on bundles whose findings did not change (nothing is rewritten);
* ``no-write``: diagnosis and grouping only.

Columns: wall and CPU seconds (the child's user + system), runs per second, peak RSS, the
groups found and whether they match what was planted (the dialog runs in one group, the
missed sign-ins in another).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from drawn_runs import base_task, dialog_task, record, retry_task  # noqa: E402

KINDS = (("clean", 0.70, base_task), ("dialog", 0.15, dialog_task), ("retry", 0.15, retry_task))


def plant(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        roll, acc = rng.random(), 0.0
        for name, share, _task in KINDS:
            acc += share
            if roll < acc:
                out.append(name)
                break
        else:
            out.append("clean")
    return out


def record_runs(root: Path, n: int) -> list[str]:
    kinds = plant(n)
    tasks = {name: task for name, _share, task in KINDS}
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    t0 = time.perf_counter()
    for k, kind in enumerate(kinds):
        out = root / f"{kind}-{k:05d}"
        if not (out / "manifest.json").is_file():
            record(out, tasks[kind](), stamp=True, start=start)
        if k and k % 100 == 0:
            print(f"  recorded {k} runs ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return kinds


def diagnose(root: Path, *extra: str) -> dict[str, float | int | str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "diagnose", str(root),
                           "--json", *extra], capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"augur diagnose failed: {proc.stderr}")
    doc = json.loads(proc.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "rss_mib": after.ru_maxrss / 1024, "doc": proc.stdout,
            "groups": len(doc["groups"]), "failed": doc["failed_steps"]}


def planted_ok(doc: dict[str, object], kinds: list[str]) -> bool:
    groups = doc["groups"]
    assert isinstance(groups, list)
    want = {kind: sorted(f"{kind}-{k:05d}" for k, kd in enumerate(kinds) if kd == kind)
            for kind in ("dialog", "retry")}
    got = {g["rule_id"]: sorted(g["runs"]) for g in groups}
    return got.get("cua.modal_covers_target") == want["dialog"] and \
        got.get("cua.click_far_from_grounding") == want["retry"] and len(groups) == 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--keep", help="record into (and reuse) this directory")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="augur-diag-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        kinds = record_runs(root, args.runs)
        recorded = time.perf_counter() - t0
        steps = sum(len(dict(base_task=base_task, dialog=dialog_task, retry=retry_task,
                                 clean=base_task)[k]()) for k in kinds)
        rows = []
        for name, extra in (("write", ()), ("again", ()), ("no-write", ("--no-write",))):
            res = diagnose(root, *extra)
            ok = planted_ok(json.loads(str(res["doc"])), kinds)
            rows.append((name, res, ok))
        print(f"augur diagnose DIR: {args.runs} runs, {steps} steps, {steps} pre "
              f"screenshots (+ post where recorded); recorded in {recorded:.0f} s")
        print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
              f"{platform.machine()}\n")
        print("| configuration | wall s | CPU s | runs/s | peak RSS MiB | failed steps | "
              "groups | planted groups found |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for name, res, ok in rows:
            wall = float(res["wall"])
            print(f"| {name} | {wall:.1f} | {float(res['cpu']):.1f} | "
                  f"{args.runs / wall:.0f} | {float(res['rss_mib']):.0f} | {res['failed']} | "
                  f"{res['groups']} | {'yes' if ok else 'NO'} |")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
