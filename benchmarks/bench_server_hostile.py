"""``augur serve`` under the attacks of issue 25: time and memory, as a table.

    .venv/bin/python benchmarks/bench_server_hostile.py [--events 6000] [--src DIR]

Each measurement starts its own ``augur serve`` on 127.0.0.1 (stopped by pid) and reports:

* OTLP events arriving out of order: one OTLP/JSON request of N step spans, each with one
  event, whose events' ``augur.seq`` run backwards (and, for reference, forwards);
* 30 connections sending a 31 MiB body at once: the server's RSS before, at its peak and
  after;
* 1,100 connections that never finish their request head (server limited to 1,024 open
  files): the slowest ``/healthz`` meanwhile;
* 4,096 requests with distinct 200-byte Idempotency-Keys: RSS growth.

``--src DIR`` runs the server from another checkout's ``src`` (e.g. a worktree of the
commit before the hardening) to compare.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import urllib3

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "server"), str(ROOT / "tests")]

from hostilekit import (  # noqa: E402
    RssSampler,
    connect,
    mib,
    otlp_body,
    run_span,
    send_big,
    step_span,
)
from serverkit import ACME  # noqa: E402

from conftest import Server, start_server  # noqa: E402


def _server(base: Path, src: str | None, *args: str, **kwargs: Any) -> Server:
    env = {"PYTHONPATH": src} if src else None
    return start_server(base, *args, env=env, **kwargs)


def bench_otlp_order(base: Path, src: str | None, n: int) -> list[tuple[str, str]]:
    rows = []
    for label, backwards in (("in order", False), ("out of order", True)):
        srv = _server(base / f"otlp_{backwards}", src)
        try:
            run = "bench_order"
            spans = [step_span(run, 0, seq=k, span=k + 1,
                               events=[((n - k) if backwards else k + 1, k)])
                     for k in range(n)]
            http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(read=300.0))
            url = srv.url + "/v1/traces"
            hdrs = {"Content-Type": "application/json", "Authorization": f"Bearer {ACME}"}
            started = time.perf_counter()
            resp = http.request("POST", url, body=otlp_body(spans), headers=hdrs)
            took = time.perf_counter() - started
            finish = time.perf_counter()
            http.request("POST", url, body=otlp_body([run_span(run, seq=n + 1)]), headers=hdrs)
            done = time.perf_counter() - finish
            rows.append((f"OTLP: {n:,} events {label}, one request",
                         f"{took:.2f} s (HTTP {resp.status}); finishing the run {done:.2f} s"))
        finally:
            srv.stop()
    return rows


def bench_big_bodies(base: Path, src: str | None) -> list[tuple[str, str]]:
    srv = _server(base / "bodies", src)
    try:
        sampler = RssSampler(srv.proc.pid)
        srv.request("GET", "/healthz")
        before = sampler.rss()
        started = time.perf_counter()
        with sampler, ThreadPoolExecutor(30) as pool:
            statuses = list(pool.map(
                lambda k: send_big(srv.port, f"/runs/big_{k}/steps/0", 31 * 2**20), range(30)))
        took = time.perf_counter() - started
        time.sleep(1.0)
        after = sampler.rss()
        answers = ", ".join(f"{s if s > 0 else 'closed'} x{statuses.count(s)}"
                            for s in sorted(set(statuses)))
        return [("30 x 31 MiB bodies at once",
                 f"RSS {mib(before)} -> peak {mib(sampler.peak)} -> {mib(after)} after; "
                 f"{took:.1f} s; answers {answers}")]
    finally:
        srv.stop()


def _fd_limit_1024() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def bench_slow_connections(base: Path, src: str | None) -> list[tuple[str, str]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2400 <= hard or hard == resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (2400, hard))
    srv = _server(base / "slow", src, preexec_fn=_fd_limit_1024)
    held: list[socket.socket] = []
    health = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10.0,
                                                                         read=10.0))
    worst = 0.0
    failures = 0
    try:
        for k in range(1100):
            try:
                sock = connect(srv.port, 5.0)
                sock.sendall(b"POST /heartbeat HTTP/1.1\r\nHost: x\r\n")
                held.append(sock)
            except OSError:
                failures += 1
            if k % 100 == 99:
                started = time.perf_counter()
                try:
                    health.request("GET", srv.url + "/healthz", headers={"Connection": "close"})
                except urllib3.exceptions.HTTPError:  # a timeout is the finding itself
                    failures += 1
                worst = max(worst, time.perf_counter() - started)
        for _ in range(5):  # all of them open now
            started = time.perf_counter()
            try:
                health.request("GET", srv.url + "/healthz", headers={"Connection": "close"})
            except urllib3.exceptions.HTTPError:
                failures += 1
            worst = max(worst, time.perf_counter() - started)
        time.sleep(15.0)
        proc = psutil.Process(srv.proc.pid)
        still = sum(c.status == psutil.CONN_ESTABLISHED for c in proc.net_connections("tcp"))
        return [("1,100 idle connections, fd limit 1,024",
                 f"slowest /healthz {worst * 1000:.0f} ms (10 s timeout); {failures} failed "
                 f"connects or health checks; {still} still open on the server 15 s later")]
    finally:
        for sock in held:
            sock.close()
        srv.stop()


def bench_keys(base: Path, src: str | None) -> list[tuple[str, str]]:
    srv = _server(base / "keys", src, "--max-body-mb", "1")
    try:
        sampler = RssSampler(srv.proc.pid)
        srv.request("GET", "/healthz")
        before = sampler.rss()
        event = {"ts": "2026-05-19T00:00:00Z", "layer": "l", "kind": "k", "summary": "s"}

        def send(k: int) -> int:
            return int(srv.request("POST", f"/runs/keys_{k % 32}/events", {"events": [event]},
                                   headers={"Idempotency-Key": f"{k:06d}" + "k" * 194}).status)

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(send, range(4096)))
        time.sleep(1.0)
        big = srv.request("POST", "/runs/keys_big/events", {"events": [event]},
                          headers={"Idempotency-Key": "k" * 15_000}).status
        return [("4,096 distinct 200-byte Idempotency-Keys",
                 f"RSS +{mib(sampler.rss() - before)} ({statuses.count(200)} answered 200); "
                 f"a 15 KB key: HTTP {big}")]
    finally:
        srv.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--src", default=None, help="run the server from this src directory")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    src = str(Path(args.src).resolve()) if args.src else None
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        base = Path(tmp)
        rows = [*bench_otlp_order(base, src, args.events), *bench_big_bodies(base, src),
                *bench_slow_connections(base, src), *bench_keys(base, src)]
    print(f"\naugur serve under attack (server from {src or 'this checkout'}, "
          f"{os.cpu_count()} CPUs)\n")
    print("| attack | result |\n|---|---|")
    for name, result in rows:
        print(f"| {name} | {result} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
