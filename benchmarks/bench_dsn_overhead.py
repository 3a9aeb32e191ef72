"""What a DSN pointed at a dead or hanging Augur server costs the agent, per call.

    .venv/bin/python benchmarks/bench_dsn_overhead.py [--rounds 8] [--steps 300] [--workdir DIR]

An A/B in one run: every round records the same workload (two fresh ~1 MB PNGs, one step and
one event per step, ``screenshots`` mode) three times, each in its own process: without a
DSN, with a DSN at a closed loopback port, and with a DSN at ``hang_server.py`` (accepts and
never answers, started here and stopped by pid). The order rotates from round to round.
Prints per-call p50s, the SDK call time per step (the sum of every call's time, divided
by the steps), the CPU time the calls took on the agent's thread per step (``thread_time``:
the work the SDK does there, without the disk's waits) and ``close()``, as medians over the
rounds, with the ratio to the run without a DSN and the
spread (min-max of the per-round ratios), so that noise is visible next to the effect; then
the median per-round ratio with a bootstrap 95% interval (how sure that median is).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_stream_faults import STREAM_TIMER, free_port  # free_port: nothing listens there

ROOT = Path(__file__).resolve().parent.parent
WORKER = STREAM_TIMER + r"""
import json, shutil, statistics, sys, time
from augur_sdk import DebugSession
from augur_sdk.testing import make_png
dsn, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
pngs = [make_png(591, 591, seed=s, noise=True) for s in range(4)]
pc, cpu = time.perf_counter_ns, time.thread_time_ns
calls = {"record_step": [], "attach_observation": [], "record_event": []}
total = total_cpu = 0
def timed(name, fn, *args, **kwargs):
    global total, total_cpu
    c, t = cpu(), pc()
    result = fn(*args, **kwargs)
    elapsed, used = pc() - t, cpu() - c
    calls[name].append(elapsed); total += elapsed; total_cpu += used
    return result
s = DebugSession(run_id="r", client_name="bench", capture_mode="screenshots", out_dir=out,
                 dsn=dsn, close_timeout_s=5.0)
s.start()
stream_at_start = STREAM_NS[0]
for i in range(steps):
    pre_png, post_png = bytes(pngs[i % 4]), bytes(pngs[(i + 1) % 4])
    pre = timed("attach_observation", s.attach_observation, step_index=i, kind="pre", png_bytes=pre_png)
    post = timed("attach_observation", s.attach_observation, step_index=i, kind="post", png_bytes=post_png)
    timed("record_step", s.record_step, {"step_id": f"r/step/{i:04d}", "step_index": i, "step_type": "click",
                                         "status": "succeeded", "started_at": "2026-05-19T00:00:00Z",
                                         "observation_pre": pre, "observation_post": post,
                                         "intent": "click OK"})
    timed("record_event", s.record_event, {"ts": "2026-05-19T00:00:00.1Z", "step_index": i, "layer": "planner",
                                           "kind": "decision", "summary": "ok"})
stream_in_calls = STREAM_NS[0] - stream_at_start
t = pc(); s.close(); close_ns = pc() - t
shutil.rmtree(out, ignore_errors=True)
print(json.dumps({"per_step": total / steps / 1000, "cpu_per_step": total_cpu / steps / 1000,
                  "stream_per_step": stream_in_calls / steps / 1000,
                  "close": close_ns / 1000,
                  **{k: statistics.median(v) / 1000 for k, v in calls.items()}}))
"""
CALLS = ("record_step", "attach_observation", "record_event", "per_step", "cpu_per_step",
         "close")
HEADERS = {"per_step": "SDK call time per step", "cpu_per_step": "agent-thread CPU per step",
           "close": "close() (budget 5 s)"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--workdir", default=None,
                        help="where the bundles go (default: a temp dir on the disk); "
                             "/dev/shm takes the disk's noise out of the comparison")
    args = parser.parse_args()
    hang = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "hang_server.py")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert hang.stdout is not None
        hang_port = int(hang.stdout.readline())
        modes = {"no DSN": "", "closed port": f"http://127.0.0.1:{free_port()}/api?token=t",
                 "hanging server": f"http://127.0.0.1:{hang_port}/api?token=t"}
        names = list(modes)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        with tempfile.TemporaryDirectory(prefix="augur-dsn-ab-", dir=args.workdir) as work:
            for n in range(args.rounds):
                for name in names[n % 3:] + names[:n % 3]:
                    proc = subprocess.run(
                        [sys.executable, "-c", WORKER, modes[name], os.path.join(work, "b"),
                         str(args.steps)], capture_output=True, text=True, check=True,
                        timeout=900)
                    runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(f"round {n + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        os.kill(hang.pid, signal.SIGKILL)
        hang.wait()
    where = args.workdir or tempfile.gettempdir()
    print(f"{args.steps} steps x 2 x ~1 MB PNG + 1 event, {args.rounds} rounds, each run its own "
          f"process, bundles in {where}; µs, median over rounds (ratio to no DSN; min-max of "
          "per-round ratios)")
    print("| DSN | " + " | ".join(HEADERS.get(c, f"{c} p50") for c in CALLS) + " |")
    print("|---|" + "---|" * len(CALLS))
    for name in names:
        cells = []
        for call in CALLS:
            value = statistics.median(r[call] for r in runs[name])
            ratios = [r[call] / b[call] for r, b in zip(runs[name], runs["no DSN"], strict=True)]
            base = statistics.median(r[call] for r in runs["no DSN"])
            cells.append(f"{value:,.0f} ({value / base:.2f}x; {min(ratios):.2f}-{max(ratios):.2f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    # This VM's speed drifts by 20-50% within minutes, more than the effect: the per-round
    # ratio (each DSN run against the no-DSN run of its own round) cancels most of that, and
    # the bootstrap interval of its median says how sure the median is.
    print()
    print("Per-round ratio to the no-DSN run of the same round: median [95% bootstrap "
          "interval of the median]")
    print("| DSN | " + " | ".join(HEADERS.get(c, f"{c} p50") for c in CALLS) + " |")
    print("|---|" + "---|" * len(CALLS))
    rng = random.Random(5)
    for name in names[1:]:
        cells = []
        for call in CALLS:
            ratios = [r[call] / b[call] for r, b in zip(runs[name], runs["no DSN"], strict=True)]
            low, high = bootstrap_median_interval(ratios, rng)
            cells.append(f"{statistics.median(ratios):.3f}x [{low:.3f}-{high:.3f}]")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print("The stream's own code inside the SDK calls (the work a DSN adds on the agent's "
          "thread), µs per step, median over rounds, and its share of the no-DSN run's SDK "
          "call time per step in the same round:")
    print("| DSN | stream code per step | share of the call time per step |")
    print("|---|---|---|")
    for name in names[1:]:
        own = [r["stream_per_step"] for r in runs[name]]
        shares = [r["stream_per_step"] / b["per_step"]
                  for r, b in zip(runs[name], runs["no DSN"], strict=True)]
        print(f"| {name} | {statistics.median(own):,.1f} | {100 * statistics.median(shares):.1f}% "
              f"({100 * min(shares):.1f}-{100 * max(shares):.1f}%) |")


def bootstrap_median_interval(values: list[float], rng: random.Random,
                              resamples: int = 4000) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the median over resamples with replacement."""
    medians = sorted(statistics.median(rng.choices(values, k=len(values)))
                     for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


if __name__ == "__main__":
    main()
