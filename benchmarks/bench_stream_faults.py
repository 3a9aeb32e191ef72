"""Streaming against misbehaving servers: the agent's per-call cost, threads, sockets, memory
and close() time, next to the same run without a DSN (issue 5's fault benchmark).

    .venv/bin/python benchmarks/bench_stream_faults.py [--steps 300] [--png-kb 256] [--workdir DIR]

Each mode runs in its own worker process against tests/fault_server.py on 127.0.0.1 (closed
port, accept-and-never-answer, always 500, 429 with Retry-After, 256 KiB/s), stopped by pid.
The "ok" server logs every request body as JSON, so it is itself slow: with large
screenshots its queue fills and the client drops and counts, which the table shows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Prepended to a worker: times the stream's own code on the agent's thread (every call the
# session makes into the stream processor, which queues the request for the pool) into
# STREAM_NS. That is the direct cost of a DSN per call, free of the run-to-run noise.
STREAM_TIMER = r"""
import time as _time
from augur_sdk.stream import processor as _processor
STREAM_NS = [0]
def _timed_stream(fn):
    def timed(*args, **kwargs):
        t = _time.perf_counter_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            STREAM_NS[0] += _time.perf_counter_ns() - t
    return timed
for _name in ("on_start", "on_step", "on_event", "on_session_update", "send_screenshot", "on_end"):
    setattr(_processor.StreamSpanProcessor, _name,
            _timed_stream(getattr(_processor.StreamSpanProcessor, _name)))
"""
WORKER = STREAM_TIMER + r"""
import json, os, resource, sys, threading, time
from augur_sdk import DebugSession
from augur_sdk.testing import make_png
steps, png_kb, out, dsn = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] or ""
side = int((png_kb * 1024 / 3) ** 0.5)
pngs = [make_png(side, side, seed=s, noise=True) for s in range(4)]
calls = {"record_step": [], "attach_observation": [], "record_event": []}
pc = time.perf_counter_ns
max_threads = max_fds = 0
with DebugSession(run_id="bench", client_name="bench", capture_mode="screenshots",
                  out_dir=out, dsn=dsn, close_timeout_s=5.0) as s:
    stream_at_start = STREAM_NS[0]
    for i in range(steps):
        t = pc(); pre = s.attach_observation(step_index=i, kind="pre", png_bytes=pngs[i % 4]); calls["attach_observation"].append(pc() - t)
        t = pc(); post = s.attach_observation(step_index=i, kind="post", png_bytes=pngs[(i + 1) % 4]); calls["attach_observation"].append(pc() - t)
        t = pc(); s.record_step({"step_id": f"bench/step/{i:04d}", "step_index": i, "step_type": "click",
                                 "status": "succeeded", "started_at": "2026-05-19T00:00:00Z",
                                 "observation_pre": pre, "observation_post": post,
                                 "intent": "click OK"}); calls["record_step"].append(pc() - t)
        t = pc(); s.record_event({"ts": "2026-05-19T00:00:00.1Z", "step_index": i, "layer": "planner",
                                  "kind": "decision", "summary": "ok"}); calls["record_event"].append(pc() - t)
        max_threads = max(max_threads, threading.active_count())
        max_fds = max(max_fds, len(os.listdir("/proc/self/fd")))
    stream_in_calls = STREAM_NS[0] - stream_at_start  # inside the per-step calls only
    t_close = pc()
close_s = (pc() - t_close) / 1e9
stream = {}
if os.path.exists(os.path.join(out, "stream.json")):
    stream = json.load(open(os.path.join(out, "stream.json")))
print(json.dumps({"calls": calls, "close_s": close_s, "threads": max_threads, "fds": max_fds,
                  "stream_ns": stream_in_calls,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "sent": stream.get("sent"), "dropped": sum((stream.get("dropped") or {}).values())}))
"""


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def run(mode: str, steps: int, png_kb: int, work: Path) -> dict[str, object]:
    server = None
    dsn = ""
    try:
        if mode == "closed":
            dsn = f"http://127.0.0.1:{free_port()}/api?token=t"
        elif mode != "no DSN":
            port_file = work / f"{mode}.port"
            port_file.unlink(missing_ok=True)  # an earlier round's server is gone
            server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fault_server.py"),
                                       mode, str(port_file), str(work / f"{mode}.log")])
            while not port_file.exists():
                time.sleep(0.02)
            dsn = f"http://127.0.0.1:{port_file.read_text()}/api?token=t"
        out = work / mode.replace(" ", "_")
        proc = subprocess.run([sys.executable, "-c", WORKER, str(steps), str(png_kb), str(out),
                               dsn], capture_output=True, text=True, check=True, timeout=900)
        return json.loads(proc.stdout)
    finally:
        if server is not None:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--png-kb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3,
                        help="every mode runs once per round, the order reversed every other "
                             "round; medians over the rounds are reported")
    parser.add_argument("--workdir", default=None,
                        help="where the bundles go (default: a temp dir on the disk); "
                             "/dev/shm takes the disk's noise out of the comparison")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="augur-stream-bench-", dir=args.workdir))
    modes = ["no DSN", "ok", "closed", "hang", "error500", "throttle429", "slow"]
    runs: dict[str, list[dict[str, object]]] = {mode: [] for mode in modes}
    try:
        run("no DSN", args.steps, args.png_kb, work)  # warm-up (page cache, imports), discarded
        for n in range(args.rounds):
            for mode in (modes if n % 2 == 0 else modes[::-1]):
                runs[mode].append(run(mode, args.steps, args.png_kb, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def p50(r: dict[str, object], call: str) -> float:
        return statistics.median(r["calls"][call]) / 1000  # type: ignore[index]

    print(f"{args.steps} screenshot steps, 2 x {args.png_kb} KB PNG + 1 event each, "
          f"{args.rounds} round(s), bundles in {args.workdir or tempfile.gettempdir()}; "
          "per-call p50 and SDK call time per step (every call's time / steps) in µs, median "
          "over rounds (ratio to no DSN; per step also the median of each round's ratio to "
          "the no-DSN run of that round); stream code per step: the time of those calls spent "
          "in the stream's own code (share of the no-DSN call time per step); threads and "
          "fds: the most seen; sent/dropped: last round")
    print("| server | record_step | attach_observation | record_event | per step "
          "| stream code per step | close s | max threads | max fds | peak RSS MB | sent "
          "| dropped |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    calls = ("record_step", "attach_observation", "record_event")
    def per_step(r: dict[str, object]) -> float:
        return sum(sum(r["calls"][c]) for c in calls) / args.steps / 1000  # type: ignore[index]

    base = {call: statistics.median(p50(r, call) for r in runs["no DSN"]) for call in calls}
    base_step = statistics.median(per_step(r) for r in runs["no DSN"])
    for mode, rs in runs.items():
        cells = []
        for call in calls:
            value = statistics.median(p50(r, call) for r in rs)
            cells.append(f"{value:,.0f} ({value / base[call]:.2f}x)")
        step = statistics.median(per_step(r) for r in rs)
        # Each run against the no-DSN run of its own round: this VM's speed drifts between
        # rounds, and pairing takes most of that drift out.
        paired = [per_step(r) / per_step(b) for r, b in zip(rs, runs["no DSN"], strict=True)]
        cells.append(f"{step:,.0f} ({step / base_step:.2f}x; paired "
                     f"{statistics.median(paired):.2f}x)")
        # The stream's own code inside those calls: the direct cost of the DSN, as a share
        # of the no-DSN run's call time per step.
        own = statistics.median(float(r["stream_ns"]) for r in rs) / args.steps / 1000  # type: ignore[arg-type]
        cells.append(f"{own:,.0f} ({100 * own / base_step:.1f}%)")
        close = statistics.median(float(r["close_s"]) for r in rs)  # type: ignore[arg-type]
        threads = max(int(r["threads"]) for r in rs)  # type: ignore[call-overload]
        fds = max(int(r["fds"]) for r in rs)  # type: ignore[call-overload]
        rss = max(float(r["rss_mb"]) for r in rs)  # type: ignore[arg-type]
        last = rs[-1]
        print(f"| {mode} | " + " | ".join(cells) + f" | {close:.2f} | {threads} | {fds} | "
              f"{rss:.0f} | {last['sent']} | {last['dropped']} |")


if __name__ == "__main__":
    main()
