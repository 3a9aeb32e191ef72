"""What redaction costs: this tree against another (a base commit), and against detect-secrets.

    git worktree add --detach /tmp/augur-base <base commit>
    .venv/bin/python benchmarks/bench_redaction.py --base-src /tmp/augur-base/src [--rounds 8]

1. ``record_step`` / ``record_event`` / ``attach_observation`` p50 through the whole SDK: the
   same ``sdk_worker.py`` workloads (300 ``screenshots`` steps with two ~1 MB PNGs; 2,000
   ``metadata`` steps; 2,000 ``trace`` steps), each run in its own process with
   ``PYTHONPATH`` set to one tree's ``src``, the two trees alternating (order flipped every
   round), bundles on ``--workdir`` (default: /dev/shm when it exists, so the disk does not
   blur the difference). Medians over the rounds of each run's p50, and the median of the
   per-round ratios with its min-max.
2. The same step and event records through ``DebugSession`` in ``metadata`` and ``trace``
   mode, 2,000 steps, timing each call's wall time and the calling thread's CPU time
   (``thread_time``: what the SDK did on the agent's thread, less moved than wall time by
   other processes on a busy machine).
3. ``DefaultRedactionPolicy().apply`` alone on the benchmark's step and event records, and
   ``redact_string`` on long text (thread CPU time, medians of batches), per tree.
4. With ``--detect-secrets`` (``pip install detect-secrets``): what running Yelp's
   detect-secrets over every string of a step would cost (its ad-hoc ``scan_line`` with its
   filters, and its plugins called directly), which of our canary shapes it finds, and how
   many legitimate values it flags.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "sdk_worker.py"
WORKLOADS = (("shots-300", 300, "screenshots", 1024), ("meta-2000", 2000, "metadata", 0),
             ("trace-2000", 2000, "trace", 0))
CALLS = ("record_step", "record_event", "attach_observation")

CPU_WORKER = r"""
import json, shutil, statistics, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from sdk_worker import step_record, event_record, RUN_ID
from augur_sdk import DebugSession
mode, steps, out = sys.argv[2], int(sys.argv[3]), tempfile.mkdtemp(dir=sys.argv[4])
pc, cpu = time.perf_counter_ns, time.thread_time_ns
calls = {"record_step": ([], []), "record_event": ([], [])}
with DebugSession(run_id=RUN_ID, client_name="bench", capture_mode=mode, out_dir=out + "/b",
                  dsn="") as s:
    for i in range(steps):
        for name, fn, rec in (("record_step", s.record_step, step_record(i, None, None)),
                              ("record_event", s.record_event, event_record(i))):
            c, t = cpu(), pc()
            fn(rec)
            calls[name][0].append(pc() - t); calls[name][1].append(cpu() - c)
shutil.rmtree(out, ignore_errors=True)
print(json.dumps({k: [statistics.median(w) / 1000, statistics.median(c) / 1000]
                  for k, (w, c) in calls.items()}))
"""

MICRO = r"""
import json, random, sys, time, base64, statistics
sys.path.insert(0, sys.argv[1])
from sdk_worker import step_record, event_record
from augur_sdk.redaction import DefaultRedactionPolicy
p = DefaultRedactionPolicy()
tt = time.thread_time_ns
def med(fn, n, reps=25):
    xs = []
    for _ in range(reps):
        t = tt()
        for _ in range(n): fn()
        xs.append((tt() - t) / n)
    return statistics.median(xs) / 1000
step = step_record(5, "screenshots/0005_pre.png", "screenshots/0005_post.png")
event = event_record(5)
rng = random.Random(1)
words = "the quick brown fox clicked the submit button and waited for the page to load".split()
texts = {
    "1 MB base64 (a screenshot in a prompt)": base64.b64encode(rng.randbytes(750_000)).decode(),
    "100 KB prose": " ".join(rng.choice(words) for _ in range(18_000)),
    "5 KB prose ending 'key: Enter'": " ".join(rng.choice(words) for _ in range(900)) + " key: Enter",
    "6 KB JSON with timestamps": json.dumps({f"field_{i}": f"value {i} at 2026-05-19T00:00:{i % 60:02d}Z"
                                             for i in range(150)}),
    "20 KB prompt with 3 secrets": " ".join(rng.choice(words) for _ in range(3000))
        + " token=abc123 user@example.com sk-proj-" + "a" * 40,
}
out = {"apply(step)": med(lambda: p.apply(step), 500), "apply(event)": med(lambda: p.apply(event), 500)}
for name, text in texts.items():
    out[name] = med(lambda: p.redact_string(text), 1, reps=5)
print(json.dumps(out))
"""


def run_worker(src: Path, workload: tuple[str, int, str, int], workdir: Path) -> dict[str, float]:
    _, steps, mode, png_kb = workload
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        result = Path(tmp) / "result.json"
        subprocess.run([sys.executable, str(WORKER), "--sdk", "ours", "--steps", str(steps),
                        "--mode", mode, "--png-kb", str(png_kb), "--out", str(Path(tmp) / "b"),
                        "--result", str(result), "--dsn", ""],
                       check=True, env={**os.environ, "PYTHONPATH": str(src)},
                       stdout=subprocess.DEVNULL)
        raw = json.loads(result.read_text())
    return {call: statistics.median(raw[call]) / 1000 for call in CALLS if raw.get(call)}


def cpu_run(src: Path, mode: str, steps: int, workdir: Path) -> dict[str, list[float]]:
    out = subprocess.run([sys.executable, "-c", CPU_WORKER, str(HERE), mode, str(steps),
                          str(workdir)], check=True, text=True, capture_output=True,
                         env={**os.environ, "PYTHONPATH": str(src)})
    result: dict[str, list[float]] = json.loads(out.stdout)
    return result


def section_cpu(trees: dict[str, Path], rounds: int, workdir: Path) -> None:
    print("## The agent thread's CPU time per call (µs, p50; less moved than wall time by the "
          f"machine's other load), 2,000 steps without screenshots, {rounds} rounds\n")
    print("| mode | call | base wall p50 | this wall p50 | base CPU p50 | this CPU p50 "
          "| this / base CPU (median of rounds) | per-round min-max |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for mode in ("metadata", "trace"):
        runs: dict[str, list[dict[str, list[float]]]] = {name: [] for name in trees}
        for r in range(rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(list(trees)))
            for name in order:
                runs[name].append(cpu_run(trees[name], mode, 2000, workdir))
        for call in ("record_step", "record_event"):
            wall = {n: statistics.median(run[call][0] for run in runs[n]) for n in trees}
            used = {n: [run[call][1] for run in runs[n]] for n in trees}
            ratios = [t / b for t, b in zip(used["this"], used["base"], strict=True)]
            print(f"| {mode} | {call} | {wall['base']:,.0f} | {wall['this']:,.0f} | "
                  f"{statistics.median(used['base']):,.0f} | "
                  f"{statistics.median(used['this']):,.0f} | {statistics.median(ratios):.2f}x | "
                  f"{min(ratios):.2f}-{max(ratios):.2f} |")
    print()


def micro(src: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", MICRO, str(HERE)], check=True, text=True,
                         capture_output=True, env={**os.environ, "PYTHONPATH": str(src)})
    result: dict[str, float] = json.loads(out.stdout)
    return result


def section_sdk(trees: dict[str, Path], rounds: int, workdir: Path) -> None:
    print("## record_step / record_event / attach_observation p50 (µs), "
          f"{rounds} rounds, bundles on {workdir}\n")
    print("| workload | call | base p50 | this p50 | this / base (median of rounds) "
          "| per-round min-max |")
    print("|---|---|---:|---:|---:|---|")
    for workload in WORKLOADS:
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for r in range(rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(list(trees)))
            for name in order:
                runs[name].append(run_worker(trees[name], workload, workdir))
        for call in CALLS:
            if call not in runs["this"][0]:
                continue
            base = [run[call] for run in runs["base"]]
            this = [run[call] for run in runs["this"]]
            ratios = [t / b for t, b in zip(this, base, strict=True)]
            print(f"| {workload[0]} | {call} | {statistics.median(base):,.0f} | "
                  f"{statistics.median(this):,.0f} | {statistics.median(ratios):.2f}x | "
                  f"{min(ratios):.2f}-{max(ratios):.2f} |")
    print()


def section_micro(trees: dict[str, Path], rounds: int) -> None:
    print("## The redaction walk and long strings alone (thread CPU µs; medians over "
          f"{rounds} alternating rounds of each round's median batch)\n")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for r in range(rounds):
        for name in list(trees) if r % 2 == 0 else list(reversed(list(trees))):
            runs[name].append(micro(trees[name]))
    print("| input | base | this | this / base (median of rounds) | per-round min-max |")
    print("|---|---:|---:|---:|---|")
    for key in runs["base"][0]:
        base = [run[key] for run in runs["base"]]
        this = [run[key] for run in runs["this"]]
        ratios = [t / b for t, b in zip(this, base, strict=True)]
        print(f"| {key} | {statistics.median(base):,.1f} | {statistics.median(this):,.1f} | "
              f"{statistics.median(ratios):.2f}x | {min(ratios):.2f}-{max(ratios):.2f} |")
    print()


def section_detect_secrets() -> None:
    """detect-secrets over every string of a step: cost, recall on our shapes, flags on
    legitimate values."""
    import time

    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    sys.path.insert(0, str(ROOT / "tests" / "privacy"))
    sys.path.insert(0, str(HERE))
    from sdk_worker import event_record, step_record
    from secret_canaries import LEGITIMATE, SHAPES

    from augur_sdk.redaction import DefaultRedactionPolicy

    plugins = [cls() for cls in get_mapping_from_secret_type_to_class().values()]

    def by_plugins(text: str) -> list[str]:
        return [s for plugin in plugins for s in plugin.analyze_string(text) if s]

    def by_scan_line(text: str) -> list[str]:
        return [s.secret_value or "" for s in scan_line(text)]

    def strings(value: object) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [s for k, v in value.items() for s in (k, *strings(v))]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return []

    record = [*strings(step_record(5, "screenshots/0005_pre.png", "screenshots/0005_post.png")),
              *strings(event_record(5))]
    ours = DefaultRedactionPolicy()
    tt = time.thread_time_ns

    def per_record(fn: object) -> float:
        xs = []
        for _ in range(7):
            t = tt()
            for _ in range(5):
                for text in record:
                    fn(text)  # type: ignore[operator]
            xs.append((tt() - t) / 5 / 1000)
        return statistics.median(xs)

    def found(fn: object, planted: str, needle: str) -> bool:
        return any(needle in v or (len(v) >= 12 and v in needle)
                   for v in fn(f"note {planted} end"))  # type: ignore[operator]

    legit = [v for v in LEGITIMATE.values() if isinstance(v, str)]
    with default_settings():
        rows = [("our default shapes (redact_string)", ours.redact_string),
                ("detect-secrets plugins, called directly", by_plugins),
                ("detect-secrets scan_line (its filters on)", by_scan_line)]
        print("## detect-secrets against our shapes\n")
        print(f"Every string of the benchmark's step and event records ({len(record)} "
              "strings, keys included), scanned once; recall on the "
              f"{len(SHAPES)} canary shapes of tests/privacy/secret_canaries.py; legitimate "
              f"values flagged out of {len(legit)} (LEGITIMATE there).\n")
        print("| scanner | µs per step+event (thread CPU) | shapes found | legitimate values "
              "flagged |")
        print("|---|---:|---:|---:|")
        for name, fn in rows:
            if name.startswith("our"):
                hits = sum(shape.make("x")[1] not in fn(f"note {shape.make('x')[0]} end")
                           for shape in SHAPES)
                kept = ours.apply(LEGITIMATE)  # as records: ids are known by their keys
                flagged = sum(kept[k] != v for k, v in LEGITIMATE.items() if isinstance(v, str))
            else:
                hits = sum(found(fn, *shape.make("x")) for shape in SHAPES)
                flagged = sum(bool(fn(v)) for v in legit)
            print(f"| {name} | {per_record(fn):,.0f} | {hits} / {len(SHAPES)} | "
                  f"{flagged} / {len(legit)} |")
        missed = [shape.name for shape in SHAPES if not found(by_scan_line, *shape.make("x"))]
        print(f"\nMissed by scan_line: {', '.join(missed)}.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-src", type=Path, help="the base tree's src/ directory")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--detect-secrets", action="store_true")
    parser.add_argument("--skip-sdk", action="store_true", help="only the pure parts")
    args = parser.parse_args()
    workdir = args.workdir or (Path("/dev/shm") if Path("/dev/shm").is_dir() else
                               Path(tempfile.gettempdir()))
    if args.base_src:
        trees = {"base": args.base_src.resolve(), "this": (ROOT / "src").resolve()}
        if not args.skip_sdk:
            section_sdk(trees, args.rounds, workdir)
            section_cpu(trees, args.rounds, workdir)
        section_micro(trees, args.rounds)
    if args.detect_secrets:
        section_detect_secrets()


if __name__ == "__main__":
    main()
