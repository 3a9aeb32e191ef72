"""The streaming sink against misbehaving loopback servers (issue 5): bounded threads, sockets
and memory, close() within its budget, nothing raised, and every request accounted for."""

from __future__ import annotations

import datetime
import email.utils
import functools
import json
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from augur_sdk import CaptureMode, DebugSession
from augur_sdk.bundle.files import SPARE_DEPTH
from augur_sdk.stream import client as stream_client
from augur_sdk.stream.client import (
    RETRY_AFTER_MAX_S,
    StreamClient,
    StreamOptions,
    client_for,
    configure_stream,
    parse_retry_after,
)
from augur_sdk.stream.dsn import parse_dsn
from augur_sdk.testing import make_png
from augur_sdk.validation import validate_bundle

from support import event_record, step_record

FaultServerFactory = Callable[[str], Any]  # conftest's fault_server fixture

RUN_ID = "run_fault"
CLIENT = "testagent"
WORKERS = StreamOptions().workers
# Threads a run may add on top of the process's own: the stream pool (workers + heartbeat),
# the bundle's two screenshot hashers and its spare-file helper, the short-lived flush
# helper at close, our sampler.
THREAD_ALLOWANCE = WORKERS + 1 + 2 + 1 + 1 + 1
# File descriptors: at most WORKERS sockets, plus the bundle's files being written, its
# spare files made ahead of time, and psutil's reads of /proc; a leak per request (160+
# requests a run) would blow through this.
FD_ALLOWANCE = 2 * WORKERS + 10 + SPARE_DEPTH
CLOSE_SLACK_S = 2.0  # the run's own bookkeeping at close on a loaded 2-core machine


@functools.cache
def _noise_pngs(count: int, side: int) -> tuple[bytes, ...]:
    """Incompressible PNGs of about 3 * side**2 bytes each."""
    return tuple(make_png(side, side, seed=n, noise=True) for n in range(count))


class Sampler:
    """Samples threads, fds, sockets to ``port`` and the client's queued bytes every 5 ms."""

    def __init__(self, port: int, client: StreamClient) -> None:
        self.port = port
        self.client = client
        self.proc = psutil.Process()
        self.threads: list[int] = []
        self.fds: list[int] = []
        self.sockets: list[int] = []
        self.queued_bytes: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-sampler")

    def sockets_to_server(self) -> int:
        return sum(1 for c in self.proc.net_connections("tcp")
                   if c.raddr and c.raddr.port == self.port)

    def sample(self) -> None:
        self.threads.append(threading.active_count())
        self.fds.append(self.proc.num_fds())
        self.sockets.append(self.sockets_to_server())
        with self.client._lock:
            self.queued_bytes.append(self.client._queued_bytes)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.sample()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Exceptions escaping any thread (a stream worker dying would land here)."""
    errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    return errors


def _server(kind: str, fault_server: FaultServerFactory, closed_port: int) -> tuple[str, int]:
    if kind == "closed":
        return f"http://127.0.0.1:{closed_port}/api/v1?token=t&tenant=acme", closed_port
    server = fault_server(kind)
    return server.dsn(), server.port


def _counting_client(dsn: str, monkeypatch: pytest.MonkeyPatch) -> tuple[StreamClient, list[int]]:
    """The client the session will use, with every submit() it gets counted (and checked:
    the queue's byte count right after an enqueue never exceeds its bound)."""
    client = client_for(parse_dsn(dsn), CLIENT)
    submitted: list[int] = []
    real_submit = client.submit

    def submit(request: stream_client.Request) -> bool:
        accepted = real_submit(request)
        with client._lock:
            submitted.append(client._queued_bytes)
        return accepted

    monkeypatch.setattr(client, "submit", submit)
    return client, submitted


def _record(out: Path, dsn: str, pngs: Callable[[int], tuple[bytes, bytes]], *, steps: int,
            close_timeout_s: float) -> float:
    """Record a run of ``steps`` screenshot steps (2 PNGs + 1 event each); return close() time."""
    session = DebugSession(run_id=RUN_ID, client_name=CLIENT, client_version="1.0",
                           capture_mode=CaptureMode.SCREENSHOTS, out_dir=out, dsn=dsn,
                           close_timeout_s=close_timeout_s)
    session.start()
    for i in range(steps):
        pre_png, post_png = pngs(i)
        pre = session.attach_observation(step_index=i, kind="pre", png_bytes=pre_png)
        post = session.attach_observation(step_index=i, kind="post", png_bytes=post_png)
        session.record_step(step_record(RUN_ID, i, pre=pre, post=post))
        session.record_event(event_record(i))
    start = time.monotonic()
    session.close()
    return time.monotonic() - start


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _report(out: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((out / "stream.json").read_text())
    return report


# ── 1. every fault kind: bounded, within budget, accounted for ──────────────────────────


@pytest.mark.parametrize("kind", ["closed", "hang", "error500", "throttle429", "slow"])
def test_fault_kind_keeps_threads_sockets_and_close_bounded_and_counts_every_loss(
    tmp_path: Path, fault_server: FaultServerFactory, closed_port: int, kind: str,
    monkeypatch: pytest.MonkeyPatch, thread_errors: list[BaseException],
) -> None:
    """40 screenshot steps (64 KiB PNGs) against each fault: nothing raises, close() keeps its
    2 s budget, threads/fds/sockets stay under fixed bounds during and after, the bundle
    validates and stream.json accounts for every request (sent + dropped, dropped > 0)."""
    dsn, port = _server(kind, fault_server, closed_port)
    threads_before = threading.active_count()
    fds_before = psutil.Process().num_fds()
    client, submitted = _counting_client(dsn, monkeypatch)
    pngs = _noise_pngs(80, 148)  # ~64 KiB each
    out = tmp_path / "b"
    with Sampler(port, client) as sampler:
        close_s = _record(out, dsn, lambda i: (pngs[2 * i], pngs[2 * i + 1]), steps=40,
                          close_timeout_s=2.0)
    assert close_s < 2.0 + CLOSE_SLACK_S
    assert max(sampler.threads) <= threads_before + THREAD_ALLOWANCE
    assert max(sampler.fds) <= fds_before + FD_ALLOWANCE
    assert max(sampler.sockets) <= WORKERS
    assert validate_bundle(out) == []
    report = _report(out)
    assert report["complete"] is False and sum(report["dropped"].values()) > 0
    assert report["sent"] + sum(report["dropped"].values()) == len(submitted) > 160
    # after the run only the shared pool is left (the hashers and the flush helper exit)
    assert _wait_for(lambda: threading.active_count() <= threads_before + WORKERS + 1, 10)
    assert psutil.Process().num_fds() <= fds_before + FD_ALLOWANCE
    assert sampler.sockets_to_server() <= WORKERS
    assert thread_errors == []


# ── 2. memory: the queue's byte bound holds ─────────────────────────────────────────────


def test_queued_bytes_never_exceed_the_bound_and_the_excess_is_dropped_as_queue_full(
    tmp_path: Path, fault_server: FaultServerFactory, monkeypatch: pytest.MonkeyPatch,
    thread_errors: list[BaseException],
) -> None:
    """Against a hanging server, 20 MiB of screenshots through a 1 MiB queue: the queued bytes
    never exceed max_queue_bytes, the excess is counted as queue_full, and the process's
    Python allocations peak far below what was offered."""
    bound = 2**20
    configure_stream(max_queue_bytes=bound)
    server = fault_server("hang")
    client, submitted = _counting_client(server.dsn(), monkeypatch)

    def fresh_pngs(i: int) -> tuple[bytes, bytes]:
        # new ~256 KiB objects every step, so anything the SDK kept would show in the peak
        return (make_png(296, 296, seed=2 * i, noise=True),
                make_png(296, 296, seed=2 * i + 1, noise=True))

    offered = 40 * 2 * len(fresh_pngs(0)[0])
    out = tmp_path / "b"
    tracemalloc.start()
    try:
        with Sampler(server.port, client) as sampler:
            _record(out, server.dsn(), fresh_pngs, steps=40, close_timeout_s=1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert offered > 20 * bound
    assert max(submitted) <= bound and max(sampler.queued_bytes) <= bound
    report = _report(out)
    assert report["dropped"].get("queue_full", 0) >= 60  # most of the 80 screenshots
    assert report["sent"] + sum(report["dropped"].values()) == len(submitted)
    assert peak < bound + 8 * 2**20 < offered / 2
    assert validate_bundle(out) == []
    assert thread_errors == []


def test_a_backlog_never_makes_the_agent_encode_steps_or_events(
    tmp_path: Path, fault_server: FaultServerFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a hanging server the run's worker has a backlog far past LAZY_ENCODE_MAX; step and
    event records still reach the queue unencoded (the worker encodes them, or nobody does),
    each counted at the size of its bundle file or line, which bounds its compact JSON."""
    server = fault_server("hang")
    client = client_for(parse_dsn(server.dsn()), CLIENT)
    seen: list[tuple[str, bool, int, int]] = []  # path, encoded by the agent, hint, real size
    real_submit = client.submit

    def submit(request: stream_client.Request) -> bool:
        if request.payload is not None or not request.fields:
            payload = request.payload if request.payload is not None else json.loads(
                request.body or b"null")
            real = len(json.dumps(payload, ensure_ascii=False,
                                  separators=(",", ":")).encode("utf-8"))
            seen.append((request.path, request.payload is None, request.size_hint, real))
        return real_submit(request)

    monkeypatch.setattr(client, "submit", submit)
    steps = stream_client.LAZY_ENCODE_MAX + 20
    with DebugSession(run_id=RUN_ID, client_name=CLIENT, capture_mode="trace",
                      out_dir=tmp_path / "b", dsn=server.dsn(), close_timeout_s=0.5) as s:
        for i in range(steps):
            s.record_step(step_record(RUN_ID, i))
            s.record_event(event_record(i))
    records = [r for r in seen if "/steps/" in r[0] or r[0].endswith("/events")]
    assert len(records) == 2 * steps  # well past the backlog limit of one worker
    assert [r for r in records if r[1]] == []  # none encoded on the agent's thread
    assert all(real <= hint for _, _, hint, real in records)


# ── 3. retry, then success ──────────────────────────────────────────────────────────────


@pytest.mark.parametrize("mode", ["flaky500:4", "flakyclose:4"])
def test_server_failing_the_first_requests_then_ok_receives_every_record_once(
    tmp_path: Path, fault_server: FaultServerFactory, mode: str,
    monkeypatch: pytest.MonkeyPatch, thread_errors: list[BaseException],
) -> None:
    """The first 4 requests get a 500 (or the connection closed unanswered), later ones 200:
    the failed requests are retried with their idempotency key and every record arrives."""
    configure_stream(backoff_base_s=0.05)  # four backoffs well inside the 10 s deadline
    server = fault_server(mode)
    _, submitted = _counting_client(server.dsn(), monkeypatch)
    pngs = _noise_pngs(16, 64)
    out = tmp_path / "b"
    _record(out, server.dsn(), lambda i: (pngs[2 * i], pngs[2 * i + 1]), steps=8,
            close_timeout_s=20.0)
    report = _report(out)
    assert report == {**report, "complete": True, "dropped": {}, "sent": len(submitted),
                      "server_down_at_close": False}  # it answered again: not down
    log = server.requests()
    failed = [r for r in log if r["failed"]]
    delivered = [r for r in log if not r["failed"]]
    assert len(failed) == 4 and len(delivered) == len(submitted)
    keys = [r["headers"]["Idempotency-Key"] for r in delivered]
    assert len(set(keys)) == len(keys)
    assert {r["headers"]["Idempotency-Key"] for r in failed} <= set(keys)
    paths = [f"{r['method']} {r['path']}" for r in delivered]
    run = f"/api/v1/runs/{RUN_ID}"
    assert [p for p in paths if "/steps/" in p] == [f"PUT {run}/steps/{i}" for i in range(8)]
    assert sorted(p for p in paths if "/screenshots/" in p) == sorted(
        f"POST {run}/screenshots/{i}/{kind}" for i in range(8) for kind in ("pre", "post"))
    assert paths.count(f"POST {run}/events") == 8
    assert paths[-2:] == ["POST /api/v1/runs", f"PUT {run}/trace"]
    for r in delivered:
        if "/steps/" in r["path"]:
            index = int(r["path"].rsplit("/", 1)[1])
            assert json.loads(r["body"]) == json.loads(
                (out / f"steps/{index:04d}.json").read_text())
    assert thread_errors == []


# ── 4. Retry-After is clamped ───────────────────────────────────────────────────────────


def test_parse_retry_after_clamps_to_0_to_30_seconds() -> None:
    """Retry-After seconds are clamped to 0-30 s; missing or unparsable values give the default."""
    assert RETRY_AFTER_MAX_S == 30.0
    assert parse_retry_after("3600") == 30.0
    assert parse_retry_after("1e9") == 30.0
    assert parse_retry_after("inf") == 30.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("nan", default=0.7) == 0.7
    assert parse_retry_after(None) == 1.0
    assert parse_retry_after("soon", default=0.7) == 0.7
    # the HTTP-date form: a past date means now, a future one the time left (clamped)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    soon = email.utils.format_datetime(
        datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=12),
        usegmt=True)
    assert 9.0 <= parse_retry_after(soon) <= 12.0
    assert parse_retry_after("Wed, 21 Oct 2099 07:28:00 GMT") == 30.0
    assert parse_retry_after("Wed, 32 Foo 2015 07:28:00 GMT", default=0.7) == 0.7


class _WaitRecorder(threading.Event):
    """The client's stop event: records how long a worker asks to sleep, and ends the retry
    loop there (as if close came), so a test sees the wait without spending it."""

    def __init__(self) -> None:
        super().__init__()
        self.worker_waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        name = threading.current_thread().name
        if name.startswith("augur-stream-") and name != "augur-stream-heartbeat":
            assert timeout is not None
            self.worker_waits.append(timeout)
            return True
        return super().wait(timeout)


class _RecordingClient(StreamClient):
    def _start_threads(self) -> None:
        self._stop = _WaitRecorder()
        super()._start_threads()


def test_retry_after_3600_makes_a_worker_wait_the_30_s_clamp_not_an_hour(
    fault_server: FaultServerFactory,
) -> None:
    """A 429 with Retry-After: 3600 makes the worker wait 30 s (the clamp) before retrying."""
    server = fault_server("throttle3600")
    client = _RecordingClient(parse_dsn(server.dsn()), StreamOptions(request_deadline_s=60.0))
    try:
        client.send_json("r", "PUT", "/runs/r/steps/0", {"step_index": 0})
        assert client.flush_run("r", 10.0)
        assert isinstance(client._stop, _WaitRecorder)
        assert client._stop.worker_waits == [RETRY_AFTER_MAX_S]
        assert client.stats("r").dropped == {"throttled": 1}
        assert len(server.requests()) == 1
    finally:
        client.shutdown()


def test_close_keeps_its_budget_against_retry_after_3600(
    tmp_path: Path, fault_server: FaultServerFactory, monkeypatch: pytest.MonkeyPatch,
    thread_errors: list[BaseException],
) -> None:
    """Every request answered 429 + Retry-After: 3600: close() keeps its 2 s budget and every
    request is counted as throttled or unsent (none waits an hour)."""
    server = fault_server("throttle3600")
    _, submitted = _counting_client(server.dsn(), monkeypatch)
    pngs = _noise_pngs(16, 64)
    out = tmp_path / "b"
    close_s = _record(out, server.dsn(), lambda i: (pngs[2 * i], pngs[2 * i + 1]), steps=8,
                      close_timeout_s=2.0)
    assert close_s < 2.0 + CLOSE_SLACK_S
    report = _report(out)
    assert report["sent"] == 0 and report["dropped"].get("throttled", 0) > 0
    assert set(report["dropped"]) <= {"throttled", "unsent_at_close"}
    assert sum(report["dropped"].values()) == len(submitted)
    assert validate_bundle(out) == []
    assert thread_errors == []


@pytest.mark.parametrize("kind", ["closed", "hang"])
def test_a_server_that_answers_nothing_cuts_the_close_wait_short(
    tmp_path: Path, fault_server: FaultServerFactory, closed_port: int, kind: str,
    monkeypatch: pytest.MonkeyPatch, thread_errors: list[BaseException],
) -> None:
    """A closed port, or a server that never answers: once the server counts as down (no
    HTTP answer to several attempts over DOWN_AFTER_S), close() waits DOWN_FLUSH_S, not its
    10 s budget; stream.json says the server was down and counts what was left unsent."""
    configure_stream(read_timeout_s=0.3, backoff_base_s=0.05)
    dsn, _ = _server(kind, fault_server, closed_port)
    client, submitted = _counting_client(dsn, monkeypatch)
    pngs = _noise_pngs(8, 64)
    out = tmp_path / "b"
    session = DebugSession(run_id=RUN_ID, client_name=CLIENT, capture_mode="screenshots",
                           out_dir=out, dsn=dsn, close_timeout_s=10.0)
    session.start()
    for i in range(4):
        pre = session.attach_observation(step_index=i, kind="pre", png_bytes=pngs[2 * i])
        session.record_step(step_record(RUN_ID, i, pre=pre))
        session.record_event(event_record(i))
    assert _wait_for(client.server_down, 10)
    start = time.monotonic()
    session.close()
    close_s = time.monotonic() - start
    assert close_s < stream_client.DOWN_FLUSH_S + CLOSE_SLACK_S < 10.0
    report = _report(out)
    assert report["server_down_at_close"] is True and report["sent"] == 0
    assert report["dropped"].get("unsent_at_close", 0) > 0
    assert sum(report["dropped"].values()) == len(submitted)
    assert validate_bundle(out) == []
    assert thread_errors == []


def test_a_server_answering_500_is_not_down_and_close_keeps_trying_for_its_budget(
    tmp_path: Path, fault_server: FaultServerFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every request answered 500: the server is up (it answers), so close() goes on
    retrying until its budget ends instead of giving up early."""
    configure_stream(backoff_base_s=0.05)
    server = fault_server("error500")
    client, _ = _counting_client(server.dsn(), monkeypatch)
    pngs = _noise_pngs(4, 64)
    close_s = _record(tmp_path / "b", server.dsn(), lambda i: (pngs[2 * i], pngs[2 * i + 1]),
                      steps=2, close_timeout_s=1.5)
    assert not client.server_down()
    assert _report(tmp_path / "b")["server_down_at_close"] is False
    assert close_s >= 1.5 - 0.1  # it used its budget (the 500s are retried until then)


# ── 5. per-run ordering ─────────────────────────────────────────────────────────────────


def _record_with_updates(out: Path, dsn: str, run_id: str, steps: int) -> None:
    """Each step: recorded, two events, recorded again (a later update), one more event."""
    with DebugSession(run_id=run_id, client_name=CLIENT, client_version="1.0",
                      capture_mode=CaptureMode.SCREENSHOTS, out_dir=out, dsn=dsn,
                      close_timeout_s=20.0) as session:
        for i in range(steps):
            session.record_step(step_record(run_id, i, intent=f"first {i}"))
            session.record_event(event_record(i, 0))
            session.record_event(event_record(i, 1))
            session.record_step(step_record(run_id, i, intent=f"update {i}"))
            session.record_event(event_record(i, 2))


def _step_and_event_sequence(log: list[dict[str, Any]], run_id: str) -> list[str]:
    sequence = []
    for r in log:
        if r["path"].startswith(f"/api/v1/runs/{run_id}/steps/"):
            sequence.append(f"step {json.loads(r['body'])['intent']}")
        elif r["path"] == f"/api/v1/runs/{run_id}/events":
            event = json.loads(r["body"])["events"][0]
            sequence.append(f"event {event['step_index']}.{event['detail']['n']}")
    return sequence


def test_a_runs_requests_arrive_in_order_with_later_step_updates_last(
    tmp_path: Path, fault_server: FaultServerFactory, thread_errors: list[BaseException],
) -> None:
    """Two runs recorded at once: each run's steps, events and later updates of a step arrive
    at the server in the order they were recorded, and the last PUT of a step is the bundle's."""
    server = fault_server("ok")
    runs = ["run_order_a", "run_order_b"]
    threads = [threading.Thread(target=_record_with_updates,
                                args=(tmp_path / run, server.dsn(), run, 20)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = server.requests()
    for run in runs:
        expected = []
        for i in range(20):
            expected += [f"step first {i}", f"event {i}.0", f"event {i}.1", f"step update {i}",
                         f"event {i}.2"]
        assert _step_and_event_sequence(log, run) == expected
        assert _report(tmp_path / run)["complete"] is True
        last_put = [r for r in log if r["path"] == f"/api/v1/runs/{run}/steps/19"][-1]
        assert json.loads(last_put["body"]) == json.loads(
            (tmp_path / run / "steps/0019.json").read_text())
        assert validate_bundle(tmp_path / run) == []
    assert thread_errors == []



# ── a run id used again in the same process ─────────────────────────────────────────────


def test_a_reused_run_id_gets_fresh_counts_after_the_earlier_run_was_forgotten(
    fault_server: FaultServerFactory,
) -> None:
    """Requests of a closed (forgotten) run that finish later count into that run, not into a
    new run with the same id: the new run's flush waits for its own request and its counts
    are its own."""
    server = fault_server("hang")
    client = StreamClient(parse_dsn(server.dsn()), StreamOptions(
        request_deadline_s=0.3, read_timeout_s=0.3, connect_timeout_s=0.3))
    try:
        for i in range(3):
            client.send_json("r", "PUT", f"/runs/r/steps/{i}", {"step_index": i})
        assert client.flush_run("r", 0.0) is False  # closed with 3 requests still queued
        client.forget_run("r")
        assert _wait_for(lambda: client._queued_count == 0, 10)
        assert "r" not in client._runs
        client.send_json("r", "PUT", "/runs/r/steps/0", {"step_index": 0})
        assert client.flush_run("r", 10.0)
        stats = client.stats("r")
        assert (stats.sent, stats.pending, dict(stats.dropped)) == (0, 0, {"unreachable": 1})
    finally:
        client.shutdown()


def test_an_idle_worker_is_woken_by_each_submit_not_by_its_poll(
    fault_server: FaultServerFactory,
) -> None:
    """A submit wakes the run's worker only when it waits for work: 40 requests, each sent
    once the worker is idle again, all arrive long before the worker's 0.5 s poll would have
    found them (a lost wake-up costs 0.25 s on average, 10 s for the 40)."""
    server = fault_server("ok")
    client = StreamClient(parse_dsn(server.dsn()), StreamOptions())
    try:
        worker = hash("wake-run") % len(client._queues)
        start = time.monotonic()
        for i in range(40):
            idle_by = time.monotonic() + 5.0
            while not client._waiting[worker]:  # back in its wait for work
                assert time.monotonic() < idle_by
                time.sleep(0.001)
            assert client.send_json("wake-run", "POST", "/heartbeat", {"n": i})
            assert client.flush_run("wake-run", timeout_s=5.0)
        elapsed = time.monotonic() - start
        assert client.stats("wake-run").sent == 40
        assert elapsed < 5.0, f"40 idle-worker requests took {elapsed:.1f} s"
    finally:
        client.shutdown()
