"""One lockstep round of ``ab_revisions.py``: a worker per revision (``ab_worker.py``), both
alive at once, taking turns step by step (who goes first alternates every step), so that a
burst of load on the machine hits both sides alike. Returns each side's per-call p50s."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from compare import CALLS, worker_env

AB_WORKER = Path(__file__).resolve().parent / "ab_worker.py"
SIDES = ("base", "head")


def _read(proc: subprocess.Popen[str], side: str) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"{side} worker ended early (exit {proc.poll()}); see its stderr")
    reply: dict[str, Any] = json.loads(line)
    return reply


def _say(proc: subprocess.Popen[str], word: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(word + "\n")
    proc.stdin.flush()


def lockstep_round(srcs: dict[str, Path], steps: int, mode: str, png_kb: int, work: Path,
                   first: int, timeout_s: float) -> dict[str, dict[str, Any]]:
    """Run both sides step by step; ``first``: which side starts (0 base, 1 head)."""
    procs: dict[str, subprocess.Popen[str]] = {}
    timer = threading.Timer(timeout_s, lambda: [p.kill() for p in procs.values()])
    times: dict[str, dict[str, list[int]]] = {s: {} for s in SIDES}
    try:
        for side in SIDES:
            out = work / f"{side}-bundle"
            shutil.rmtree(out, ignore_errors=True)
            procs[side] = subprocess.Popen(
                [sys.executable, str(AB_WORKER), "--steps", str(steps), "--mode", mode,
                 "--png-kb", str(png_kb), "--out", str(out)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True, cwd=str(work), env=worker_env(srcs[side]))
        timer.start()
        ready = {side: _read(procs[side], side) for side in SIDES}
        for side in SIDES:
            if not str(ready[side]["sdk_path"]).startswith(str(srcs[side]) + "/"):
                raise SystemExit(f"{side} imported augur_sdk from {ready[side]['sdk_path']}")
        if ready["base"]["png_sha256"] != ready["head"]["png_sha256"]:
            raise SystemExit("the two revisions' make_png gave different PNGs")
        for i in range(steps):
            order = SIDES if (i + first) % 2 == 0 else SIDES[::-1]
            for side in order:
                _say(procs[side], "step")
                for key, values in _read(procs[side], side).items():
                    times[side].setdefault(key, []).extend(values)
        for side in SIDES:
            _say(procs[side], "close")
            _read(procs[side], side)
            procs[side].wait(timeout_s)
    finally:
        timer.cancel()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for side in SIDES:
            shutil.rmtree(work / f"{side}-bundle", ignore_errors=True)
    return {side: {call: {"p50_us": statistics.median(times[side][call]) / 1e3,
                          "cpu_p50_us": statistics.median(times[side][f"cpu_{call}"]) / 1e3}
                   for call in CALLS if times[side].get(call)}
            for side in SIDES}
