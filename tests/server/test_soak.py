"""A bounded soak on loopback: the attacks of issue 25, all at once, from threads, for a
minute, while a normal client (this SDK, streaming by DSN) records two runs one after the
other. The normal runs must arrive whole, no request may get a 5xx, /healthz (on a new
connection each time) must keep answering and the server's RSS must stay bounded by its body memory budget. Prints a table
of what happened."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import urllib3
from hostilekit import (
    RssSampler,
    attr,
    closed_by_peer,
    connect,
    head,
    mib,
    otlp_body,
    read_status,
    run_span,
    send_big,
    step_span,
)
from serverkit import ACME, GLOBEX, event_files, read_json, screenshot_files, step_files

from augur_sdk import CaptureMode, DebugSession
from augur_sdk.testing import make_png
from augur_sdk.validation import validate_bundle

from support import event_record, step_record

SOAK_S = 60.0  # how long the attacks run
NORMAL_STEPS = 40  # per normal run; two runs take ~55 s
BUDGET_MIB = 256  # augur serve's default body memory


class Attacks:
    """Attack loops on threads until ``stop``; every answer counted per attack."""

    def __init__(self, port: int, deadline: float) -> None:
        self.port = port
        self.deadline = deadline
        self.stop = threading.Event()
        self.statuses: dict[str, Counter[int]] = {}
        self._lock = threading.Lock()
        self.http = urllib3.PoolManager(maxsize=16, retries=False,
                                        timeout=urllib3.Timeout(connect=5.0, read=60.0))
        self.threads: list[threading.Thread] = []

    def count(self, attack: str, status: int) -> None:
        with self._lock:
            self.statuses.setdefault(attack, Counter())[status] += 1

    def running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def request(self, attack: str, method: str, path: str, body: bytes, *,
                token: str = GLOBEX, headers: dict[str, str] | None = None) -> int:
        try:
            resp = self.http.request(method, f"http://127.0.0.1:{self.port}{path}", body=body,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json",
                                              **(headers or {})})
            status = int(resp.status)
        except urllib3.exceptions.HTTPError:
            status = -1
        self.count(attack, status)
        return status

    def start(self, name: str, loop: Callable[[], None], copies: int = 1) -> None:
        def run() -> None:
            while self.running():
                loop()

        for n in range(copies):
            thread = threading.Thread(target=run, name=f"{name}-{n}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)
        self.http.clear()


def _install(attacks: Attacks) -> list[socket.socket]:
    """Start every attack loop; returns the list the slowloris loop keeps its sockets in."""
    rng = random.Random(25)
    held: list[socket.socket] = []

    def big_bodies() -> None:  # 4. 31 MiB bodies, as fast as the server takes them
        path = rng.choice(["/runs/atk_big/steps/0", "/runs/atk_big/events", "/v1/traces"])
        attacks.count("31 MiB bodies", send_big(attacks.port, path, 31 * 2**20,
                                                method="PUT" if "steps" in path else "POST"))

    def slowloris() -> None:  # 6. heads that never end
        for sock in [s for s in held if closed_by_peer(s)]:
            sock.close()
            held.remove(sock)
        while len(held) < 300 and attacks.running():
            try:
                sock = connect(attacks.port, 5.0)
                sock.sendall(b"POST /heartbeat HTTP/1.1\r\nHost: x\r\n")
                held.append(sock)
                attacks.count("slow heads", 0)
            except OSError:
                attacks.count("slow heads", -1)
        time.sleep(0.5)

    def slow_body() -> None:  # 6. bodies that stall
        try:
            with connect(attacks.port, 60.0) as sock:
                sock.sendall(head("PUT", "/runs/atk_slow/steps/0", length=2**20, token=GLOBEX)
                             + b'{"step_index": 0, ')
                attacks.count("stalled bodies", read_status(sock, 60.0))
        except OSError:
            attacks.count("stalled bodies", -1)

    bad_json = [  # 1, 2, 3, 5, 10
        ("PUT", "/runs/atk_inf/costs", b'{"total_usd": 1e400}'),
        ("PUT", "/runs/atk_inf/steps/0", b'{"step_index": 0, "step_id": "a", "x": 1e999}'),
        ("POST", "/heartbeat", b'{"client_id": "\\ud800"}'),
        ("POST", "/runs/atk_surr/events", b'{"events": [{"summary": "\\udfff"}]}'),
        ("PUT", "/runs/" + "%F0%9F%98%80" * 60 + "/steps/0", b'{"step_index": 0}'),
        ("PUT", "/runs/" + "%C3%A9" * 128 + "/steps/0", b'{"step_index": 0}'),
    ]
    png = make_png(4, 4)
    bomb = png[:16] + (100_000).to_bytes(4, "big") * 2 + png[24:]

    def hostile_json() -> None:
        for method, path, raw in bad_json:
            attacks.request("hostile JSON, run ids", method, path, raw)
        attacks.request("hostile JSON, run ids", "POST", "/runs/atk_png/screenshots/0/pre",
                        bomb, headers={"Content-Type": "image/png"})
        nan = otlp_body([step_span("atk_nan", 0, seq=1, extra=[
            attr("augur.step.duration_ms", {"doubleValue": "NaN"})])])
        attacks.request("hostile JSON, run ids", "POST", "/v1/traces", nan)

    def keys() -> None:  # 5
        run = f"atk_keys_{rng.randrange(8)}"
        body = json.dumps({"events": [event_record(0, rng.randrange(10**6))]}).encode()
        key = "".join(rng.choices("abcdef0123456789", k=200))
        attacks.request("Idempotency-Keys", "POST", f"/runs/{run}/events", body,
                        headers={"Idempotency-Key": key})
        attacks.request("Idempotency-Keys", "POST", f"/runs/{run}/events", body,
                        headers={"Idempotency-Key": "k" * 15_000})
        attacks.request("Idempotency-Keys", "POST", f"/runs/{run}/reasoning", b'{"t": 1}',
                        headers={"Idempotency-Key": key})  # reused on another route: 422

    otlp_round = [0]

    def otlp_out_of_order() -> None:  # 7, 8
        otlp_round[0] += 1
        run, trace = f"atk_otlp_{otlp_round[0] % 3}", f"{otlp_round[0]:032x}"
        n = 500
        spans = [step_span(run, k % 5, seq=k, span=k + 1, trace=trace,
                           events=[(n - k, k)]) for k in range(n)]
        attacks.request("OTLP out of order, late data", "POST", "/v1/traces", otlp_body(spans))
        attacks.request("OTLP out of order, late data", "POST", "/v1/traces",
                        otlp_body([run_span(run, seq=n + 1, trace=trace,
                                            dsid=f"dbg_{otlp_round[0]:08d}")]))
        attacks.request("OTLP out of order, late data", "POST", "/v1/traces",
                        otlp_body(spans[:50]))  # late: merged or ignored, never destroys

    attacks.start("big", big_bodies, copies=4)
    attacks.start("slowloris", slowloris)
    attacks.start("slowbody", slow_body, copies=6)
    attacks.start("json", hostile_json)
    attacks.start("keys", keys)
    attacks.start("otlp", otlp_out_of_order)
    return held


def _normal_run(url: str, out: Path, run: str) -> float:
    """Record a run with this SDK, streamed to the server; returns how long it took."""
    started = time.monotonic()
    with DebugSession(run_id=run, client_name="normal", client_version="1.0",
                      capture_mode=CaptureMode.SCREENSHOTS, out_dir=out,
                      dsn=f"{url}/api/v1?token={ACME}&tenant=acme",
                      tags={"env": "soak"}) as session:
        for i in range(NORMAL_STEPS):
            pre = session.attach_observation(step_index=i, kind="pre",
                                             png_bytes=make_png(160, 120, seed=i, noise=True))
            session.record_step(step_record(run, i, pre=pre))
            for n in range(2):
                session.record_event(event_record(i, n))
            time.sleep(0.6)
    return time.monotonic() - started


@pytest.mark.slow
def test_soak_attacks_and_a_normal_client(make_server: Any, tmp_path: Path) -> None:
    """60 s of every attack of issue 25 at once while this SDK streams two 40-step runs:
    both arrive whole, nothing answers 5xx, /healthz stays up, RSS stays bounded and goes
    back down when the attacks stop."""
    srv = make_server("--header-timeout", "5", "--body-timeout", "10")
    deadline = time.monotonic() + SOAK_S
    sampler = RssSampler(srv.proc.pid, every_s=0.2)
    srv.json("PUT", "/runs/warm/steps/0", step_record("warm", 0))
    baseline = sampler.rss()
    health: list[float] = []
    attacks = Attacks(srv.port, deadline)

    def probe() -> None:
        while attacks.running():
            started = time.monotonic()
            try:
                ok = srv.request("GET", "/healthz", token=None,
                                 headers={"Connection": "close"}).status == 200
            except urllib3.exceptions.HTTPError:
                ok = False
            health.append(time.monotonic() - started if ok else float("inf"))
            time.sleep(0.5)

    runs = ["soak_normal_1", "soak_normal_2"]
    took: list[float] = []
    with sampler:
        held = _install(attacks)
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        try:
            time.sleep(2.0)  # the attacks are under way first
            for run in runs:
                took.append(_normal_run(srv.url, tmp_path / run, run))
            infos = [srv.wait_status(run, "finished", timeout_s=30.0) for run in runs]
            while attacks.running():  # the attacks go on for their minute
                time.sleep(0.2)
        finally:
            attacks.join()
            prober.join(10)
            for sock in held:
                sock.close()
        time.sleep(1.0)
        end_rss = sampler.rss()

    rows = [(name, sum(c.values()), ", ".join(f"{s if s else 'held'}: {n}" for s, n in
                                               sorted(c.items())))
            for name, c in sorted(attacks.statuses.items())]
    print(f"\nsoak: {SOAK_S:.0f} s of attacks; two normal runs of {NORMAL_STEPS} steps took "
          f"{took[0]:.1f} s and {took[1]:.1f} s")
    print(f"server RSS: baseline {mib(baseline)}, peak {mib(sampler.peak)}, "
          f"end {mib(end_rss)} (body memory budget {BUDGET_MIB} MiB)")
    print(f"/healthz: {len(health)} probes, slowest {max(health, default=0) * 1000:.0f} ms")
    print("| attack | requests | answers (status: count; -1 closed/reset) |\n|---|---|---|")
    for name, total, answers in rows:
        print(f"| {name} | {total} | {answers} |")

    for run, info in zip(runs, infos, strict=True):
        local, root = tmp_path / run, srv.run_dir(run)
        assert read_json(local / "stream.json")["complete"] is True
        assert validate_bundle(root) == []
        assert step_files(root) == step_files(local) and len(step_files(root)) == NORMAL_STEPS
        assert event_files(root) == event_files(local)
        assert screenshot_files(root) == screenshot_files(local)
        assert (root / "trace.json").read_bytes() == (local / "trace.json").read_bytes()
        assert info["step_count"] == NORMAL_STEPS
    five_xx = {name: [s for s in c if s >= 500] for name, c in attacks.statuses.items()}
    assert not any(five_xx.values()), five_xx
    assert all(h < 5.0 for h in health), max(health)
    assert sampler.peak - baseline < 1.5 * BUDGET_MIB * 2**20, mib(sampler.peak - baseline)
    assert end_rss - baseline < 100 * 2**20, mib(end_rss - baseline)  # freed bodies go back
    assert srv.request("GET", "/api/runs").status == 200
    assert srv.request("GET", "/api/clients").status == 200
    assert srv.proc.poll() is None
