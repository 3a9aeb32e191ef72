"""``augur serve`` under load: one server, then two replicas behind nginx (deploy/), as a table.

    .venv/bin/python benchmarks/bench_serve_load.py [--n 1,10,50] [--steps 8] [--png-kb 200]
        [--server-cpus 0] [--agent-cpus 1] [--out benchmarks/results/serve-load.md]

N agent processes (our SDK, ``AUGUR_DSN``) each record the seed loop for ``--steps`` steps:
two incompressible ``--png-kb`` KB screenshots, one step record and one event per step, as
the seed page does. Agents import and build their PNGs first, then start together. Per
configuration and N the table gives:

* steps/s and MB/s: every agent's steps (and PNG + step JSON bytes) over the wall time from
  the common start until the last agent closed its session: close() waits (up to
  ``--close-timeout``) until the stream delivered everything, so this is the rate at which
  the data reached the server;
* p50/p99 request latency: every HTTP attempt of the agents' stream clients, timed around
  urllib3's ``request`` in the agent (not the command long-poll, which the server holds);
* server RSS (peak, summed over the server processes: the replicas, and nginx's master and
  workers) and server CPU (user + system seconds over the wall time, in % of one core);
* 429: answers "busy, retry" (retried by the client, not lost);
* lost: steps and screenshots the agents recorded that are not in any replica's data
  directory afterwards (must be 0 below saturation), and requests the clients dropped;
* the floor: N processes writing the same bytes straight to disk (one atomic write per
  file, as the bundle writer does), no HTTP, no server.

Pinning: servers (and nginx) on ``--server-cpus``, agents on ``--agent-cpus`` (taskset's
sched_setaffinity). Every process started here is stopped by its pid.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "server"), str(ROOT / "tests")]

RUN_PREFIX = "load"


def png_side(png_kb: int) -> int:
    return int((png_kb * 1024 / 3) ** 0.5)


def _wait_for(path: Path, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} never appeared")
        time.sleep(0.005)


# ── one agent (a child process) ──────────────────────────────────────────────


def agent(args: argparse.Namespace) -> int:
    import urllib3

    from augur_sdk import CaptureMode, DebugSession
    from augur_sdk.testing import make_png

    from support import event_record, step_record

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    original = urllib3.PoolManager.request

    def timed(self: Any, method: str, url: str, *a: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        resp = original(self, method, url, *a, **kw)
        if not url.split("?", 1)[0].endswith("/commands"):  # a long-poll, held on purpose
            latencies.append(time.perf_counter() - started)
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
        return resp

    urllib3.PoolManager.request = timed  # type: ignore[method-assign]
    side = png_side(args.png_kb)
    pngs = [make_png(side, side, seed=args.seed * 1000 + k, noise=True)
            for k in range(2 * args.steps)]
    os.environ["AUGUR_DSN"] = args.url
    Path(args.ready).touch()
    _wait_for(Path(args.go))
    started = time.time()
    out = Path(args.out_dir)
    sent_bytes = 0
    with DebugSession(run_id=args.run_id, client_name="loadagent", client_version="1.0",
                      capture_mode=CaptureMode.SCREENSHOTS, out_dir=out,
                      close_timeout_s=args.close_timeout) as session:
        for i in range(args.steps):
            pre = session.attach_observation(step_index=i, kind="pre", png_bytes=pngs[2 * i])
            post = session.attach_observation(step_index=i, kind="post",
                                              png_bytes=pngs[2 * i + 1])
            step = step_record(args.run_id, i, pre=pre, post=post)
            session.record_step(step)
            session.record_event(event_record(i, 0))
            sent_bytes += len(pngs[2 * i]) + len(pngs[2 * i + 1]) + len(json.dumps(step))
    ended = time.time()
    try:
        stream = json.loads((out / "stream.json").read_text())
    except (OSError, ValueError):
        stream = {}
    Path(args.result).write_text(json.dumps({
        "started": started, "ended": ended, "latencies": latencies, "statuses": statuses,
        "bytes": sent_bytes, "stream": stream}))
    return 0


# ── the floor: the same bytes straight to disk ───────────────────────────────


def floor_writer(args: argparse.Namespace) -> int:
    from augur_sdk.testing import make_png

    side = png_side(args.png_kb)
    pngs = [make_png(side, side, seed=args.seed * 1000 + k, noise=True)
            for k in range(2 * args.steps)]
    step = json.dumps({"step_index": 0, "pad": "x" * 1500}).encode()
    out = Path(args.out_dir)
    (out / "screenshots").mkdir(parents=True, exist_ok=True)
    (out / "steps").mkdir(parents=True, exist_ok=True)
    Path(args.ready).touch()
    _wait_for(Path(args.go))
    started = time.time()
    total = 0
    for i in range(args.steps):
        for rel, data in ((f"screenshots/{i:04d}_pre.png", pngs[2 * i]),
                          (f"screenshots/{i:04d}_post.png", pngs[2 * i + 1]),
                          (f"steps/{i:04d}.json", step)):
            tmp = out / (rel + ".tmp")
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, out / rel)
            total += len(data)
    Path(args.result).write_text(json.dumps({"started": started, "ended": time.time(),
                                             "bytes": total}))
    return 0


# ── the parent ───────────────────────────────────────────────────────────────


def pin(cpus: str | None) -> Any:
    if not cpus:
        return None
    wanted = {int(c) for c in cpus.split(",")}
    return lambda: os.sched_setaffinity(0, wanted)


class Sampler:
    """RSS (summed) and CPU time of a set of processes, sampled on a thread."""

    def __init__(self, pids: list[int], every_s: float = 0.1) -> None:
        import psutil

        self.procs = [psutil.Process(p) for p in pids]
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.cpu0 = self.cpu()

    def cpu(self) -> float:
        total = 0.0
        for proc in self.procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except Exception:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = 0
            for proc in self.procs:
                try:
                    rss += proc.memory_info().rss
                except Exception:
                    continue
            self.peak = max(self.peak, rss)
            self._stop.wait(self.every_s)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)


def spawn_children(mode: str, n: int, work: Path, extra: list[str], cpus: str | None,
                   steps: int, png_kb: int) -> tuple[list[subprocess.Popen[bytes]], Path,
                                                     list[Path]]:
    go = work / "go"
    results = []
    procs = []
    for k in range(n):
        ready, result = work / f"ready-{k}", work / f"result-{k}.json"
        results.append(result)
        cmd = [sys.executable, __file__, mode, "--seed", str(k), "--steps", str(steps),
               "--png-kb", str(png_kb), "--ready", str(ready), "--go", str(go),
               "--result", str(result), "--out-dir", str(work / f"out-{k}"),
               "--run-id", f"{RUN_PREFIX}-{k:03d}", *extra]
        log = open(work / f"child-{k}.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, preexec_fn=pin(cpus)))
        log.close()
    deadline = time.monotonic() + 300
    while not all((work / f"ready-{k}").exists() for k in range(n)):
        if any(p.poll() not in (None, 0) for p in procs) or time.monotonic() > deadline:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
            raise SystemExit(f"a {mode} child failed: "
                             f"{(work / 'child-0.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.02)
    return procs, go, results


def wait_children(procs: list[subprocess.Popen[bytes]], timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, 9)
            proc.wait(10)


def count_on_servers(datas: list[Path], n: int) -> tuple[int, int]:
    """(steps, screenshots) of the load runs found in the replicas' data directories."""
    steps = shots = 0
    for data in datas:
        for k in range(n):
            root = data / "acme" / f"{RUN_PREFIX}-{k:03d}"
            if root.is_dir():
                steps += len(list((root / "steps").glob("*.json")))
                shots += len(list((root / "screenshots").glob("*.png")))
    return steps, shots


def wait_finished(datas: list[Path], n: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = sum((d / "acme" / f"{RUN_PREFIX}-{k:03d}" / "manifest.json").is_file()
                   and not (d / "acme" / f"{RUN_PREFIX}-{k:03d}" / "live.json").exists()
                   for d in datas for k in range(n))
        if done >= n:
            return
        time.sleep(0.1)


def measure(label: str, n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from deploykit import children_of, start_nginx
    from serverkit import ACME

    from conftest import start_server

    work.mkdir(parents=True)
    servers = []
    nginx = None
    try:
        replicas = 2 if label == "two replicas" else 1
        for r in range(replicas):
            servers.append(start_server(work / f"replica{r}", "--log-level", "error",
                                        preexec_fn=pin(args.server_cpus)))
        pids = [s.proc.pid for s in servers]
        url = servers[0].url
        if replicas > 1:
            nginx = start_nginx(work / "nginx", [f"127.0.0.1:{s.port}" for s in servers],
                                workers=1, cpus=args.server_cpus)
            pids += [nginx.proc.pid, *children_of(nginx.proc.pid)]
            url = nginx.url
        extra = ["--url", f"{url}?token={ACME}&tenant=acme",
                 "--close-timeout", str(args.close_timeout)]
        procs, go, results = spawn_children("--agent", n, work, extra, args.agent_cpus,
                                            args.steps, args.png_kb)
        with Sampler(pids) as sampler:
            go.touch()
            wait_children(procs)
            cpu = sampler.cpu() - sampler.cpu0
        datas = [s.data for s in servers]
        wait_finished(datas, n)
        got = [json.loads(r.read_text()) for r in results if r.exists()]
        started = min(g["started"] for g in got)
        wall = max(g["ended"] for g in got) - started
        latencies = sorted(x for g in got for x in g["latencies"])
        statuses: dict[str, int] = {}
        dropped = 0
        for g in got:
            for status, count in g["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
            dropped += sum((g["stream"].get("dropped") or {}).values()) \
                if isinstance(g["stream"].get("dropped"), dict) else 0
        steps, shots = count_on_servers(datas, n)
        want_steps, want_shots = n * args.steps, 2 * n * args.steps
        return {
            "config": label, "n": n, "agents_reported": len(got), "wall_s": wall,
            "steps_per_s": n * args.steps / wall,
            "mb_per_s": sum(g["bytes"] for g in got) / wall / 1e6,
            "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
            if latencies else None,
            "requests": len(latencies), "busy_429": statuses.get("429", 0),
            "rss_mb": sampler.peak / 2**20, "cpu_pct": 100 * cpu / wall,
            "lost_steps": want_steps - steps, "lost_screenshots": want_shots - shots,
            "dropped_requests": dropped,
        }
    finally:
        if nginx is not None:
            nginx.stop()
        for srv in servers:
            srv.stop()


def measure_floor(n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True)
    procs, go, results = spawn_children("--floor", n, work, [], args.server_cpus, args.steps,
                                        args.png_kb)
    go.touch()
    wait_children(procs)
    got = [json.loads(r.read_text()) for r in results]
    started = min(g["started"] for g in got)
    wall = max(g["ended"] for g in got) - started
    return {"config": "disk floor", "n": n, "wall_s": wall,
            "steps_per_s": n * args.steps / wall,
            "mb_per_s": sum(g["bytes"] for g in got) / wall / 1e6}


def fmt(row: dict[str, Any]) -> str:
    def num(key: str, spec: str) -> str:
        value = row.get(key)
        return "-" if value is None else format(value, spec)

    lost = "-" if "lost_steps" not in row else \
        f"{row['lost_steps']} / {row['lost_screenshots']} / {row['dropped_requests']}"
    return (f"| {row['config']} | {row['n']} | {num('steps_per_s', '.1f')} | "
            f"{num('mb_per_s', '.1f')} | {num('p50_ms', '.1f')} | {num('p99_ms', '.0f')} | "
            f"{num('rss_mb', '.0f')} | {num('cpu_pct', '.0f')} | "
            f"{row.get('busy_429', '-')} | {lost} |")


HEADER = ("| configuration | N agents | steps/s | MB/s | p50 ms | p99 ms | server RSS MB | "
          "server CPU % | 429s | lost steps / screenshots / dropped requests |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agent", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    for name in ("--url", "--ready", "--go", "--result", "--out-dir", "--run-id"):
        p.add_argument(name, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--n", default="1,10,50", help="agent counts (default 1,10,50)")
    p.add_argument("--steps", type=int, default=16, help="steps per agent (default 16)")
    p.add_argument("--png-kb", type=int, default=200, help="screenshot size (default 200)")
    p.add_argument("--close-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="each agent's close_timeout_s: how long close() may wait for the "
                        "stream to deliver what is queued (default 300; the SDK's default "
                        "of 5 drops what is still queued when the agents' core is saturated)")
    p.add_argument("--server-cpus", default="0", help="taskset list for servers and nginx")
    p.add_argument("--agent-cpus", default="1", help="taskset list for the agents")
    p.add_argument("--configs", default="one server,two replicas",
                   help="comma list of: one server, two replicas")
    p.add_argument("--out", type=Path, default=None, help="also write the table here")
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args()
    if args.agent:
        return agent(args)
    if args.floor:
        return floor_writer(args)
    ns = [int(x) for x in args.n.split(",")]
    base = args.workdir or Path(tempfile.mkdtemp(prefix="bench-serve-load-"))
    rows = []
    print(HEADER, flush=True)
    for n in ns:
        for label in [c.strip() for c in args.configs.split(",")]:
            row = measure(label, n, args, base / f"{label.replace(' ', '-')}-{n}")
            rows.append(row)
            print(fmt(row), flush=True)
        row = measure_floor(n, args, base / f"floor-{n}")
        rows.append(row)
        print(fmt(row), flush=True)
    text = (f"{HEADER}\n" + "\n".join(fmt(r) for r in rows) + "\n\n"
            f"{args.steps} steps per agent, two {args.png_kb} KB screenshots each; servers "
            f"on CPU {args.server_cpus}, agents on CPU {args.agent_cpus}; "
            f"{os.cpu_count()} CPUs.\n")
    if args.out is not None:
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
