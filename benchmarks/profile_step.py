"""Profile augur-otel's hot path: where the time of ``record_step`` (and of
``attach_observation`` / ``record_event``) goes, with cProfile switched on only inside the call.

    .venv/bin/python benchmarks/profile_step.py                   # 300 screenshot steps
    .venv/bin/python benchmarks/profile_step.py --mode metadata --steps 2000
    .venv/bin/python benchmarks/profile_step.py --top 30 --sort cumulative

Prints, per call, the functions with the highest own time (``tottime``) as
``file:line(function)`` and the share of the call they account for. Runs the same step and
event records and the same PNGs as ``sdk_worker.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sdk_worker import N_PNGS, RUN_ID, event_record, png_side, step_record

from augur_sdk import DebugSession
from augur_sdk.testing import make_png


def short(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def report(name: str, prof: cProfile.Profile, calls: int, total_ns: int, top: int,
           sort: str) -> str:
    stats = pstats.Stats(prof)
    rows = []
    for (path, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tottime, cumtime, ncalls, f"{short(path)}:{line}({func})"))
    key = 0 if sort == "tottime" else 1
    rows.sort(key=lambda r: r[key], reverse=True)
    profiled = sum(r[0] for r in rows)
    out = io.StringIO()
    out.write(f"\n## {name}: {calls} calls, {total_ns / calls / 1e3:.0f} µs/call wall (profiler on); "
              f"sum of own times {profiled / calls * 1e6:.0f} µs/call\n\n")
    out.write("| own µs/call | cum µs/call | % of call | calls/call | function |\n")
    out.write("|---:|---:|---:|---:|---|\n")
    for tottime, cumtime, ncalls, where in rows[:top]:
        out.write(f"| {tottime / calls * 1e6:.1f} | {cumtime / calls * 1e6:.1f} | "
                  f"{100 * tottime / profiled:.1f}% | {ncalls / calls:.1f} | `{where}` |\n")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--mode", default="screenshots")
    parser.add_argument("--png-kb", type=int, default=1024)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    parser.add_argument("--dsn", default="")
    args = parser.parse_args()
    shots = args.png_kb > 0 and args.mode != "metadata"
    side = png_side(args.png_kb)
    pngs = [make_png(side, side, seed=s, noise=True) for s in range(N_PNGS)] if shots else []
    profs = {name: cProfile.Profile() for name in ("record_step", "attach_observation",
                                                   "record_event")}
    wall = dict.fromkeys(profs, 0)
    count = dict.fromkeys(profs, 0)
    out = Path(tempfile.mkdtemp(prefix="augur-profile-"))
    pc = time.perf_counter_ns
    try:
        with DebugSession(run_id=RUN_ID, client_name="bench", capture_mode=args.mode,
                          out_dir=out / "b", dsn=args.dsn) as session:
            for i in range(args.steps):
                pre = post = None
                if shots:
                    for kind in ("pre", "post"):
                        data = bytes(memoryview(pngs[(2 * i + (kind == "post")) % N_PNGS]))
                        prof = profs["attach_observation"]
                        t = pc(); prof.enable()
                        path = session.attach_observation(step_index=i, kind=kind, png_bytes=data)
                        prof.disable(); wall["attach_observation"] += pc() - t
                        count["attach_observation"] += 1
                        pre, post = (path, post) if kind == "pre" else (pre, path)
                rec = step_record(i, pre, post)
                t = pc(); profs["record_step"].enable()
                session.record_step(rec)
                profs["record_step"].disable(); wall["record_step"] += pc() - t
                count["record_step"] += 1
                ev = event_record(i)
                t = pc(); profs["record_event"].enable()
                session.record_event(ev)
                profs["record_event"].disable(); wall["record_event"] += pc() - t
                count["record_event"] += 1
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"# augur-otel hot-path profile: {args.steps} steps, mode {args.mode} "
          f"(cProfile; times are inflated by profiling, shares are what matter)")
    for name, prof in profs.items():
        if count[name]:
            print(report(name, prof, count[name], wall[name], args.top, args.sort))


if __name__ == "__main__":
    main()
