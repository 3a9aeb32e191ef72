"""A/B two revisions of augur-otel: per-call p50 of record_step, record_event and
attach_observation, head against base, paired by round.

    .venv/bin/python benchmarks/ab_revisions.py --base HEAD~1 --head HEAD [--rounds 8] [--steps 300]

Each revision is checked out with ``git worktree add --detach`` into a temporary directory
(removed at the end); ``--head WORKTREE`` takes a snapshot of this working tree's ``src/``
instead. Workers are this checkout's (so both sides run the same workload), each in a fresh
interpreter of the current venv with ``PYTHONPATH`` set to its revision's ``src/`` (checked:
the worker reports where ``augur_sdk`` came from). Bundles go to tmpfs (``/dev/shm``) so the
disk's noise stays out. Every round runs the workload once per revision, alternating which
goes first: by default (``--interleave step``, ``ab_lockstep.py``) both workers are alive and
take turns step by step, so that the machine's load hits both alike; ``--interleave run``
runs ``sdk_worker.py --sdk ours`` for one revision, then the other. Per round and call the
p50 is taken; the ratio head/base of the same round cancels the machine's drift; a table gives the median of those ratios and a
bootstrap 95% interval of that median, and PASS when its upper bound is ≤ ``--bound`` (1.10).
Two tables: wall time per call (what the agent waits) and the agent thread's CPU time per
call (blind to time spent waiting for a core, so steadier on a loaded machine). Exit status
0 when every call passes in the ``--gate`` table (default: wall), 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ab_lockstep import SIDES, lockstep_round
from bench_dsn_overhead import bootstrap_median_interval
from compare import CALLS, ROOT, Workload, loadavg, machine_info, run_worker, snapshot_source

WORKTREE = "WORKTREE"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


def resolve(rev: str) -> str:
    """The full commit hash of ``rev`` (so that a moving HEAD cannot change the A/B)."""
    return WORKTREE if rev == WORKTREE else git("rev-parse", "--verify", f"{rev}^{{commit}}")


@contextmanager
def checkout(commit: str, parent: Path, name: str) -> Iterator[Path]:
    """The ``src/`` directory of ``commit``, in a detached worktree removed afterwards."""
    if commit == WORKTREE:
        yield snapshot_source(parent / name)
        return
    path = parent / name
    git("worktree", "add", "--detach", "--quiet", str(path), commit)
    try:
        yield path / "src"
    finally:
        git("worktree", "remove", "--force", str(path))


def one_run(side: str, src: Path, wl: Workload, args: argparse.Namespace,
            work: Path) -> dict[str, Any]:
    (work / side).mkdir(exist_ok=True)
    summary = run_worker(Path(sys.executable), "ours", wl, None, args, work / side, src)
    if not summary["ok"]:
        raise SystemExit(f"{side} run failed: {summary.get('error')}")
    if not str(summary.get("sdk_path", "")).startswith(str(src) + "/"):
        raise SystemExit(f"{side} run imported augur_sdk from {summary.get('sdk_path')}, "
                         f"not from {src}")
    return summary


METRICS = {"wall": ("p50_us", "wall time"), "cpu": ("cpu_p50_us", "agent-thread CPU time")}


def table(runs: dict[str, list[dict[str, Any]]], metric: str,
          bound: float) -> tuple[list[str], bool]:
    """The markdown table of one metric and whether every call passed."""
    key, _label = METRICS[metric]
    rng = random.Random(5)
    lines = [f"| call | base p50 µs | head p50 µs | median per-round ratio | "
             f"95% bootstrap interval | upper ≤ {bound:.2f} |",
             "|---|---:|---:|---:|---|---|"]
    all_ok = True
    for call in CALLS:
        base = [r[call][key] for r in runs["base"]]
        head = [r[call][key] for r in runs["head"]]
        ratios = [h / b for h, b in zip(head, base, strict=True)]
        low, high = bootstrap_median_interval(ratios, rng)
        ok = high <= bound
        all_ok = all_ok and ok
        lines.append(f"| {call} | {statistics.median(base):,.0f} | {statistics.median(head):,.0f}"
                     f" | {statistics.median(ratios):.3f} | {low:.3f}-{high:.3f} | "
                     f"{'PASS' if ok else 'FAIL'} |")
    return lines, all_ok


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="git revision (e.g. HEAD~1)")
    parser.add_argument("--head", required=True,
                        help=f"git revision, or {WORKTREE} for this working tree's src/")
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds (default 8)")
    parser.add_argument("--steps", type=int, default=300, help="steps per run (default 300)")
    parser.add_argument("--mode", default="screenshots", help="capture mode (default screenshots)")
    parser.add_argument("--png-kb", type=int, default=1024, help="PNG size (default 1024)")
    parser.add_argument("--bound", type=float, default=1.10,
                        help="PASS when the interval's upper bound is at most this (1.10)")
    parser.add_argument("--gate", choices=sorted(METRICS), default="wall",
                        help="the metric whose table decides the exit status (default wall; "
                             "cpu: the agent thread's CPU time, blind to waiting for a core)")
    parser.add_argument("--interleave", choices=("step", "run"), default="step",
                        help="step (default): per round, both revisions' workers run at once "
                             "and take turns step by step; run: one whole run after the other "
                             "(benchmarks/sdk_worker.py)")
    parser.add_argument("--workdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                        help="where the bundles go (default /dev/shm, tmpfs)")
    parser.add_argument("--timeout-s", type=float, default=900.0, help="per run")
    parser.add_argument("--close-timeout-s", type=float, default=5.0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.rounds < 2:
        raise SystemExit("--rounds: at least 2 (the bar asks for 8)")
    commits = {"base": resolve(args.base), "head": resolve(args.head)}
    wl = Workload("ab", args.steps, args.mode, args.png_kb, "ab")
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="augur-ab-", dir=args.workdir) as tmp, \
            tempfile.TemporaryDirectory(prefix="augur-ab-src-") as trees:
        work = Path(tmp)
        with checkout(commits["base"], Path(trees), "base") as base_src, \
                checkout(commits["head"], Path(trees), "head") as head_src:
            srcs = {"base": base_src, "head": head_src}
            for n in range(args.rounds):
                if args.interleave == "step":
                    pair = lockstep_round(srcs, args.steps, args.mode, args.png_kb, work, n % 2,
                                          args.timeout_s)
                    for side in SIDES:
                        runs[side].append(pair[side])
                    continue
                for side in SIDES if n % 2 == 0 else SIDES[::-1]:
                    runs[side].append(one_run(side, srcs[side], wl, args, work))
                print(f"round {n + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        info = machine_info(work)
    short = {side: c if c == WORKTREE else c[:10] for side, c in commits.items()}
    print(f"A/B base `{short['base']}` ({args.base}) vs head `{short['head']}` ({args.head}): "
          f"{args.rounds} alternating rounds (interleaved per {args.interleave}), "
          f"{args.steps} steps, mode {args.mode}, "
          f"{args.png_kb} KB PNGs, bundles in {args.workdir or tempfile.gettempdir()}; "
          f"load {load_before} -> {loadavg()}; {info.get('cpu', '?')}, {info['cores']} cores.")
    print("Ratio = head p50 / base p50 of the same round; interval: bootstrap of its median.")
    ok = True
    for metric, (_key, label) in METRICS.items():
        lines, passed = table(runs, metric, args.bound)
        gate = " (decides the exit status)" if metric == args.gate else ""
        print(f"\nPer-call {label}{gate}:\n")
        print("\n".join(lines))
        if metric == args.gate:
            ok = passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
