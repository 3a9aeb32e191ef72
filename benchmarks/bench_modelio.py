"""What recording model calls costs: 1,000 steps with one ~200 KB model call each.

    .venv/bin/python benchmarks/bench_modelio.py [--steps 1000] [--call-kb 200] [--rounds 3]

Each scenario runs in a process of its own (bundles on /dev/shm when it exists, so the disk
does not blur the numbers), with the byte budget raised so that every call lands:

- ``steps only``: the baseline, the same 1,000 ``record_step`` calls and no model calls;
- ``+ text call``: one call per step whose messages hold ~200 KB of text (a long prompt
  history), at ``model_io``;
- ``+ image call``: one call per step with a ~200 KB base64 screenshot (a new image every
  step: each is decoded, hashed and written once);
- ``+ text call, metadata``: the same text calls at ``metadata`` (content dropped).

Printed: wall time, ``record_modelio`` p50/p99 per call, its CPU time on the agent's thread,
files written, and the process's resident memory after 10%, 50% and 100% of the steps and
its peak (flat = the calls are not kept in memory; 0.6.1 keeps them all until close).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import base64, json, os, resource, shutil, statistics, sys, tempfile, time
from augur_sdk import DebugSession
scenario, steps, kb, workdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
out = tempfile.mkdtemp(dir=workdir)
mode = "metadata" if scenario.endswith("metadata") else "model_io"
page = 4096
def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * page / 1e6
def call(i):
    if scenario.startswith("image"):
        blob = os.urandom(kb * 750)  # base64 makes it ~kb KB
        content = [{"type": "text", "text": f"step {i}"},
                   {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                    "data": base64.b64encode(blob).decode()}}]
    else:
        content = (f"step {i} " + "the page shows a login form with a Sign in button. ") \
            * (kb * 1024 // 52)
    return {"layer": "planner", "duration_ms": 900,
            "request": {"model": "claude-sonnet-4-5", "messages": [
                {"role": "user", "content": content}]},
            "response": {"text": "click Sign in", "stop_reason": "tool_use",
                         "usage": {"prompt_tokens": 50000, "completion_tokens": 20}}}
wall, cpu, samples = [], [], {}
marks = {max(1, steps // 10), steps // 2, steps}
t0 = time.perf_counter()
with DebugSession(run_id="bench", client_name="bench", capture_mode=mode, out_dir=out + "/b",
                  dsn="", modelio_budget_bytes=None) as s:
    for i in range(steps):
        if scenario != "steps":
            rec = call(i)
            c, t = time.thread_time_ns(), time.perf_counter_ns()
            s.record_modelio(rec, step_index=i)
            wall.append(time.perf_counter_ns() - t); cpu.append(time.thread_time_ns() - c)
        s.record_step({"step_id": f"bench/step/{i:04d}", "step_index": i, "step_type": "click",
                       "status": "succeeded", "started_at": "2026-05-19T00:00:00Z"})
        if i + 1 in marks:
            samples[str(i + 1)] = round(rss_mb(), 1)
total = time.perf_counter() - t0
found = [os.path.join(d, f) for d, _, fs in os.walk(out + "/b/modelio") for f in fs]
files = sum(1 for f in found if f.endswith(".json"))
images = len(found) - files
size = sum(os.path.getsize(f) for f in found)
shutil.rmtree(out, ignore_errors=True)
q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] / 1e6 if xs else None
print(json.dumps({"wall_s": total, "p50_ms": q(wall, 0.5), "p99_ms": q(wall, 0.99),
                  "cpu_ms": statistics.median(cpu) / 1e6 if cpu else None, "files": files,
                  "images": images,
                  "mb": size / 1e6, "rss": samples,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3}))
"""

SCENARIOS = (("steps", "steps only"), ("text", "+ text call"), ("image", "+ image call"),
             ("text-metadata", "+ text call, metadata"))


def run(scenario: str, steps: int, kb: int, workdir: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("AUGUR_DSN", None)
    proc = subprocess.run([sys.executable, "-c", WORKER, scenario, str(steps), str(kb),
                           workdir], capture_output=True, text=True, env=env, timeout=1800,
                          check=True)
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--call-kb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = "/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir()
    print(f"# record_modelio: {args.steps} steps, one ~{args.call_kb} KB call per step, "
          f"{args.rounds} round(s), Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}, bundles on {workdir}")
    print("(medians over the rounds; RSS in MB after 10% / 50% / 100% of the steps)\n")
    print("| scenario | wall | per call p50 | p99 | agent-thread CPU per call | call files | "
          "images | MB written | RSS 10% / 50% / 100% | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for scenario, label in SCENARIOS:
        results = [run(scenario, args.steps, args.call_kb, workdir)
                   for _ in range(args.rounds)]

        def med(key: str, rs: list[dict[str, object]] = results) -> float | None:
            vals = [r[key] for r in rs if isinstance(r[key], int | float)]
            return statistics.median(vals) if vals else None  # type: ignore[arg-type]

        rss = results[len(results) // 2]["rss"]
        assert isinstance(rss, dict)
        fmt = lambda v, unit="": "—" if v is None else f"{v:.2f}{unit}"  # noqa: E731
        print(f"| {label} | {fmt(med('wall_s'), ' s')} | {fmt(med('p50_ms'), ' ms')} | "
              f"{fmt(med('p99_ms'), ' ms')} | {fmt(med('cpu_ms'), ' ms')} | "
              f"{int(med('files') or 0)} | {int(med('images') or 0)} | {fmt(med('mb'))} | "
              f"{' / '.join(f'{v:.0f}' for v in rss.values())} | {fmt(med('peak_mb'))} |")


if __name__ == "__main__":
    main()
