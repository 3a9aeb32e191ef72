"""One side of a lockstep A/B (``ab_revisions.py --interleave step``): the same workload as
``sdk_worker.py --sdk ours``, one step per command, so that two revisions can take turns
step by step and see the same machine.

    python ab_worker.py --steps N --mode MODE --png-kb K --out DIR   (driven over stdin/stdout)

Protocol, one line each: the worker prints ``{"ready": ...}`` once the session is open; each
``step`` line on stdin runs the next step (two ``attach_observation``, one ``record_step``,
one ``record_event``) and prints its per-call times (wall and the agent thread's CPU time,
ns); ``close`` closes the session and prints ``{"closed": ns}``. Only the SDK calls are
inside the timers; the pipe round trips are not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sdk_worker import N_PNGS, RUN_ID, event_record, png_side, step_record


def send(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--mode", default="screenshots")
    parser.add_argument("--png-kb", type=int, default=1024)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import augur_sdk
    from augur_sdk import DebugSession
    from augur_sdk.testing import make_png

    side = png_side(args.png_kb)
    pngs = [make_png(side, side, seed=s, noise=True) for s in range(N_PNGS)] if args.png_kb else []
    session = DebugSession(run_id=RUN_ID, client_name="bench", client_version="1.0",
                           capture_mode=args.mode, out_dir=args.out, dsn="",
                           close_timeout_s=5.0)
    session.__enter__()
    send({"ready": True, "sdk_path": augur_sdk.__file__,
          "png_sha256": [hashlib.sha256(p).hexdigest()[:16] for p in pngs]})
    pc, cpu = time.perf_counter_ns, time.thread_time_ns
    for i in range(args.steps):
        if sys.stdin.readline().strip() != "step":
            raise SystemExit("ab_worker: expected 'step'")
        times: dict[str, list[int]] = {"attach_observation": [], "cpu_attach_observation": []}
        pre = post = None
        if pngs:
            a = bytes(memoryview(pngs[(2 * i) % N_PNGS]))  # a fresh screenshot object
            b = bytes(memoryview(pngs[(2 * i + 1) % N_PNGS]))
            c = cpu(); t = pc(); pre = session.attach_observation(step_index=i, kind="pre", png_bytes=a); w = pc() - t; u = cpu() - c
            times["attach_observation"].append(w); times["cpu_attach_observation"].append(u)
            c = cpu(); t = pc(); post = session.attach_observation(step_index=i, kind="post", png_bytes=b); w = pc() - t; u = cpu() - c
            times["attach_observation"].append(w); times["cpu_attach_observation"].append(u)
            del a, b
        rec = step_record(i, pre, post)
        c = cpu(); t = pc(); session.record_step(rec); w = pc() - t; u = cpu() - c
        times["record_step"], times["cpu_record_step"] = [w], [u]
        ev = event_record(i)
        c = cpu(); t = pc(); session.record_event(ev); w = pc() - t; u = cpu() - c
        times["record_event"], times["cpu_record_event"] = [w], [u]
        send(times)
    if sys.stdin.readline().strip() != "close":
        raise SystemExit("ab_worker: expected 'close'")
    t = pc()
    session.__exit__(None, None, None)
    send({"closed": pc() - t})


if __name__ == "__main__":
    main()
