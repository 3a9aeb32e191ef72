"""Object-storage upload throughput next to the same bytes written to local disk (issue 23).

Records one real bundle with DebugSession (N steps, two incompressible PNG screenshots and
three decision events per step), then, in alternating rounds:

* **local disk**: every file of that bundle written again into a fresh directory the way the
  SDK writes (``.tmp`` + rename), without and with ``fsync``;
* **upload**: ``augur upload``'s code path (list, then PUT every file with J concurrent
  requests, manifest last) to a moto S3 server on loopback, for J = 1, 4, 8;
* **a live run**: the same workload recorded by DebugSession with and without
  ``S3Store(upload="live")``: time inside the SDK's calls on the agent's thread, ``close()``
  time, and when the remote copy was complete.

The agent loop here never waits between steps (the worst case for the uploader, which
competes for the two cores and the GIL); moto runs on the same machine. Run:

    pip install -e ".[dev]"     # boto3 and moto[server]
    python benchmarks/bench_upload.py                 # 200 steps, 256 KB screenshots, 3 rounds
    python benchmarks/bench_upload.py --steps 50 --rounds 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bench"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-c", "from moto.server import main; main()",
                                 "-H", "127.0.0.1", "-p", str(port)], stdout=fh,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).read()
            return proc
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("moto server did not start") from None
            time.sleep(0.1)


def record(out: Path, steps: int, shot: int, store: Any = None,
           pace_s: float = 0.0) -> dict[str, float]:
    """Record the workload; return the agent-side costs (seconds)."""
    from augur_sdk import DebugSession
    from augur_sdk.testing import make_png

    side = int((shot / 3) ** 0.5)
    pngs = [make_png(side, side, seed=i, noise=True) for i in range(8)]
    in_sdk = 0.0
    per_step = []
    session = DebugSession(run_id="bench_upload", client_name="bench", capture_mode="trace"
                           if shot == 0 else "screenshots", out_dir=out, store=store,
                           close_timeout_s=120)
    t0 = time.perf_counter()
    session.start()
    in_sdk += time.perf_counter() - t0
    for i in range(steps):
        t = time.perf_counter()
        pre = session.attach_observation(step_index=i, kind="pre", png_bytes=pngs[i % 8])
        post = session.attach_observation(step_index=i, kind="post", png_bytes=pngs[(i + 1) % 8])
        session.record_step({
            "step_id": f"bench_upload/step/{i:04d}", "step_index": i, "step_type": "click",
            "status": "succeeded", "started_at": "2026-05-19T00:00:00Z", "intent": f"step {i}",
            "observation_pre": pre, "observation_post": post,
            "action": {"type": "click", "params": {"x": i, "y": 2}}})
        for n in range(3):
            session.record_event({"ts": "2026-05-19T00:00:00.5Z", "step_index": i,
                                  "layer": "planner", "kind": "decision",
                                  "summary": f"event {n}", "detail": {"n": n}})
        dt = time.perf_counter() - t
        per_step.append(dt)
        in_sdk += dt
        if pace_s:
            time.sleep(pace_s)  # the agent's own work (model, browser): not SDK time
    t = time.perf_counter()
    session.close()
    close_s = time.perf_counter() - t
    return {"in_sdk": in_sdk, "p50_step": statistics.median(per_step),
            "p95_step": sorted(per_step)[int(len(per_step) * 0.95)], "close": close_s,
            "total": in_sdk + close_s}


def write_local(src: Path, dest: Path, *, fsync: bool) -> float:
    from augur_sdk.bundle.files import atomic_write
    from augur_sdk.stores.transfer import bundle_files

    files = sorted(bundle_files(src))
    t = time.perf_counter()
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, (src / rel).read_bytes(), fsync=fsync)
    return time.perf_counter() - t


def upload(src: Path, prefix: str, jobs: int, server_pid: int) -> tuple[float, float, float]:
    """(wall s, this process's CPU s, the server's CPU s)."""
    import psutil

    from augur_sdk.stores.s3 import ClientOptions, S3Location, shared_client
    from augur_sdk.stores.sync import upload_bundle

    location = S3Location(BUCKET, prefix, ClientOptions(max_connections=jobs + 2))
    shared_client(location.options)  # client setup is not part of the throughput
    server = psutil.Process(server_pid)
    server_cpu, cpu = sum(server.cpu_times()[:2]), time.process_time()
    t = time.perf_counter()
    result = upload_bundle(src, location, jobs=jobs)
    elapsed = time.perf_counter() - t
    cpu, server_cpu = time.process_time() - cpu, sum(server.cpu_times()[:2]) - server_cpu
    (src / "upload.json").unlink()
    if not result.report["complete"] or result.already:
        raise SystemExit(f"upload incomplete: {result.report}")
    return elapsed, cpu, server_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--shot-kb", type=int, default=256, help="screenshot size (KB)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", default=None, help="where bundles are written (default tmp)")
    ap.add_argument("--no-live", action="store_true", help="only the throughput table")
    ap.add_argument("--paces", default="0,50",
                    help="ms the agent spends between steps in the live runs (default 0,50)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-upload-", dir=args.workdir))
    port = free_port()
    os.environ.update({
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(work / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "none")})
    moto = start_moto(port, work / "moto.log")
    try:
        from augur_sdk import S3Store
        from augur_sdk.stores.s3 import ClientOptions, shared_client

        shared_client(ClientOptions()).create_bucket(Bucket=BUCKET)
        src = work / "bundle"
        record(src, args.steps, args.shot_kb * 1024)
        size = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
        nfiles = sum(1 for p in src.rglob("*") if p.is_file())
        rows: dict[str, list[tuple[float, float, float]]] = {}
        paces = [int(p) for p in args.paces.split(",")]
        live: dict[tuple[str, int], list[dict[str, float]]] = {}
        for r in range(args.rounds):
            for fsync in (False, True):
                dest = work / f"copy-{r}-{fsync}"
                cpu = time.process_time()
                wall = write_local(src, dest, fsync=fsync)
                rows.setdefault(f"local disk, .tmp + rename{' + fsync' if fsync else ''}",
                                []).append((wall, time.process_time() - cpu, 0.0))
                shutil.rmtree(dest)
            for jobs in (1, 4, 8):
                rows.setdefault(f"upload to moto, {jobs} concurrent PUT(s)", []).append(
                    upload(src, f"r{r}/j{jobs}", jobs, moto.pid))
            for pace in [] if args.no_live else paces:
                live.setdefault(("no store", pace), []).append(record(
                    work / f"plain-{r}", args.steps, args.shot_kb * 1024, pace_s=pace / 1000))
                shutil.rmtree(work / f"plain-{r}")
                for mode in ("live", "close"):
                    live.setdefault((f"S3Store upload={mode!r}", pace), []).append(record(
                        work / f"s3-{r}", args.steps, args.shot_kb * 1024, pace_s=pace / 1000,
                        store=S3Store(BUCKET, f"{mode}/{r}/{pace}", upload=mode,
                                      finish_timeout_s=300)))
                    report = (work / f"s3-{r}" / "upload.json").read_text()
                    if '"complete": true' not in report:
                        raise SystemExit(f"upload incomplete: {report}")
                    shutil.rmtree(work / f"s3-{r}")
    finally:
        moto.kill()
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"Bundle: {args.steps} steps, {nfiles} files, {size / 1e6:.1f} MB "
          f"({args.shot_kb} KB screenshots); median of {args.rounds} round(s); "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print("| the same bytes ... | time | MB/s | files/s | our CPU | server's CPU |")
    print("|---|---|---|---|---|---|")
    for name, runs in rows.items():
        t = statistics.median(x[0] for x in runs)
        cpu = statistics.median(x[1] for x in runs)
        server = statistics.median(x[2] for x in runs)
        print(f"| {name} | {t:.2f} s | {size / 1e6 / t:.1f} | {nfiles / t:.0f} | "
              f"{cpu:.2f} s | {f'{server:.2f} s' if server else '-'} |")
    if not live:
        return
    print("\n| recording the run | agent's pause between steps | SDK calls of a step, "
          "p50 / p95 | SDK time before close | close() (waits for the upload) |")
    print("|---|---|---|---|---|")
    for (name, pace), results in sorted(live.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        def med(key: str, results: list[dict[str, float]] = results) -> float:
            return statistics.median(x[key] for x in results)
        print(f"| {name} | {pace} ms | {med('p50_step') * 1000:.2f} / "
              f"{med('p95_step') * 1000:.2f} ms | {med('in_sdk'):.2f} s | "
              f"{med('close'):.2f} s |")


if __name__ == "__main__":
    main()
