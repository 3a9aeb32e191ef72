"""Flat-memory and per-call cost of the live bundle writer (issue: foundation).

Each workload runs in its own subprocess so that peak RSS is its own. Prints a table.

    python benchmarks/bench_foundation.py            # 200/1,000 screenshot steps, 10,000 metadata
    python benchmarks/bench_foundation.py --quick    # smaller sizes, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import json, os, resource, sys, time
from augur_sdk import DebugSession
from augur_sdk.testing import make_png

steps, mode, png_kb, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
side = int((png_kb * 1024 / 3) ** 0.5)
pngs = [make_png(side, side, seed=s, noise=True) for s in range(4)] if png_kb else []
rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t_step, t_obs, t_evt = [], [], []
pc = time.perf_counter_ns
wall0 = pc()
with DebugSession(run_id="bench", client_name="bench", capture_mode=mode, out_dir=out) as s:
    for i in range(steps):
        pre = post = None
        if pngs:
            t = pc(); pre = s.attach_observation(step_index=i, kind="pre", png_bytes=pngs[i % 4]); t_obs.append(pc() - t)
            t = pc(); post = s.attach_observation(step_index=i, kind="post", png_bytes=pngs[(i + 1) % 4]); t_obs.append(pc() - t)
        rec = {"step_id": f"bench/step/{i:04d}", "step_index": i, "step_type": "click",
               "intent": "click the thing", "status": "succeeded",
               "started_at": "2026-05-19T00:00:00.000001Z", "ended_at": "2026-05-19T00:00:00.500001Z",
               "duration_ms": 500, "observation_pre": pre, "observation_post": post,
               "action": {"type": "click", "params": {"x": 1, "y": 2}, "coordinate_space": "viewport_css_px",
                          "dispatch_backend": "playwright"},
               "grounding": {"provider": "vlm", "target_label": "OK", "coordinates": {"x": 1, "y": 2},
                             "confidence": 0.9, "evidence": "text", "provenance": "screenshot"},
               "verdict": {"status": "passed", "reason": "fine"}}
        t = pc(); s.record_step(rec); t_step.append(pc() - t)
        t = pc(); s.record_event({"ts": "2026-05-19T00:00:00.2Z", "step_index": i, "layer": "planner",
                                  "kind": "decision", "summary": "chose OK", "detail": {"k": i}}); t_evt.append(pc() - t)
    t_close0 = pc()
t_close = pc() - t_close0
wall = pc() - wall0
print(json.dumps({"record_step": t_step, "attach_observation": t_obs, "record_event": t_evt,
                  "close_ns": t_close, "wall_ns": wall, "rss_before_kb": rss_before_kb,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def pct(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def run(steps: int, mode: str, png_kb: int) -> dict[str, object]:
    out = Path(tempfile.mkdtemp(prefix="augur-bench-"))
    try:
        proc = subprocess.run([sys.executable, "-c", WORKER, str(steps), mode, str(png_kb),
                               str(out / "b")], capture_output=True, text=True, check=True)
        data = json.loads(proc.stdout)
        files = [p for p in (out / "b").rglob("*") if p.is_file()]
        data["bundle_mb"] = sum(p.stat().st_size for p in files) / 2**20
        data["files"] = len(files)
        return data
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    workloads = [(200, "screenshots", 1024), (1000, "screenshots", 1024),
                 (10_000, "metadata", 0)]
    if args.quick:
        workloads = [(50, "screenshots", 256), (200, "screenshots", 256), (1000, "metadata", 0)]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; times in microseconds "
          "(p50/p99); RSS in MB")
    header = ("steps", "mode", "step p50", "step p99", "event p50", "attach p50", "attach p99",
              "close s", "wall s", "peak RSS", "RSS - start", "bundle MB", "files")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for steps, mode, png_kb in workloads:
        d = run(steps, mode, png_kb)
        row = (steps, mode, f"{pct(d['record_step'], .5):.0f}", f"{pct(d['record_step'], .99):.0f}",
               f"{pct(d['record_event'], .5):.0f}",
               f"{pct(d['attach_observation'], .5):.0f}", f"{pct(d['attach_observation'], .99):.0f}",
               f"{d['close_ns'] / 1e9:.2f}", f"{d['wall_ns'] / 1e9:.2f}",
               f"{d['peak_rss_kb'] / 1024:.0f}",
               f"{(d['peak_rss_kb'] - d['rss_before_kb']) / 1024:.0f}",
               f"{d['bundle_mb']:.0f}", d["files"])
        print(" | ".join(str(c) for c in row), flush=True)


if __name__ == "__main__":
    main()
